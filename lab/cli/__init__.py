"""The command line, `lab <command>` and the seed's train.py/test.py: command handlers only, one rule for where each lives.

`main.py` builds the parser (the list of commands) and dispatches; `common.py` holds what every command shares
(the argument parser with the one-line error contract, `guard`, the common flags); every other module holds the
flags and handler of one command or one family of commands: `train.py` (lab train, train.py), `evaluate.py`
(lab eval, test.py), `predict.py`, `calibrate.py`, `data.py` (synth, extract, prepare, cache), `experiment.py`
(leave-one-out, robustness), `fetch.py` (lab footage, lab weights), `summary.py`, `export.py`, `demo.py`, `notebooks.py`
and `bench.py` (which runs the top-level `benchmarks` package). The work itself is in the stages below; a handler
parses, calls, prints.
"""
