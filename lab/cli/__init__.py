"""The command line: `lab <command>` (`lab.cli.main`), the seed's train.py/test.py handlers (`lab.cli.commands`), the demo and the benchmark."""
