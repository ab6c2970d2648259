"""The benchmarks: each fast path of `lab` against its baseline, timed side by side in one run and reported as
ratios (`python -m benchmarks [--quick] [--out DIR]` from the repository root; `make bench` and `lab bench` run it).

`run` is the driver and report, `timing` the harness (sizes, interleaved timer, rows), `reference` the usual
ConvLSTM the project's layer is compared against, and each other module one family of cases. docs/benchmarks.md
says what each case measures.
"""
