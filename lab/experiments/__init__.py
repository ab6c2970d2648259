"""Studies built from many training or evaluation runs: leave-one-family-out and robustness to degradations, with their tables and figures."""
