"""`lab summary`: the parameter and FLOP counts of the model a config builds."""
from __future__ import annotations

import argparse

from lab.cli.common import add_common_flags, add_config_flags, load_cli_config


def summary_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `lab summary`."""
    add_config_flags(p)
    add_common_flags(p)


def cmd_summary(args: argparse.Namespace) -> int:
    from lab.models.classifier import build_model
    from lab.models.summary import summarize

    cfg = load_cli_config(args)
    # The counts do not depend on the weights: no ImageNet file is needed to see them.
    model = build_model(cfg.replace("model.pretrained=false").model)
    print(summarize(model, (1, cfg.sequence.length, cfg.image.channels, cfg.image.height, cfg.image.width)))
    return 0
