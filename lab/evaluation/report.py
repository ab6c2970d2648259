"""Write an evaluation to `reports/<run>/`: metrics.json, per_item.csv, figures and report.md."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import yaml

from lab.config import Config, to_dict
from lab.evaluation.evaluate import Evaluation
from lab.evaluation.metrics import both_classes
from lab.evaluation.viz import plot_confusion, plot_pr, plot_reliability, plot_roc

REPORT_FILES = ("metrics.json", "per_item.csv", "roc.png", "pr.png", "confusion_matrix.png", "report.md")


def _clean(obj):
    """JSON-safe: NaN becomes null."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def write_report(ev: Evaluation, out_dir: str | Path, *, cfg: Config, checkpoint: str | Path,
                 title: str = "Evaluation") -> Path:
    """Write every report file into `out_dir`; returns the path of report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"checkpoint": str(checkpoint), **ev.metrics}
    (out / "metrics.json").write_text(json.dumps(_clean(meta), indent=2))
    ev.videos.to_csv(out / "per_item.csv", index=False)
    ev.windows.to_csv(out / "per_window.csv", index=False)

    y, s = ev.videos["label"].to_numpy(), ev.videos["score"].to_numpy()
    figures = {"confusion_matrix.png": plot_confusion(y, ev.videos["pred"], out / "confusion_matrix.png",
                                                      title=f"Video level ({ev.aggregation})")}
    if both_classes(y):
        figures["roc.png"] = plot_roc(y, s, out / "roc.png", title=f"ROC, video level ({ev.aggregation})")
        figures["pr.png"] = plot_pr(y, s, out / "pr.png", title=f"Precision-recall, video level ({ev.aggregation})")
        figures["reliability.png"] = plot_reliability(ev.windows["label"], ev.windows["prob_fake"],
                                                      out / "reliability.png", title="Reliability (clips)")
    for fig in figures.values():
        plt.close(fig)

    keys = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "eer", "ece")
    rows = [("clips", ev.metrics["clip"])] + [(f"videos ({k})", m) for k, m in ev.metrics["video"].items()]
    lines = [f"# {title}", "",
             f"- checkpoint: `{checkpoint}`", f"- data: `{ev.metrics['data_dir']}` "
             f"({ev.metrics['n_videos']} videos, {ev.metrics['n_windows']} windows)",
             f"- decision threshold (chosen on validation): {ev.threshold:.4f}; "
             f"video aggregation: {ev.aggregation}", "",
             "| level | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(_fmt(m.get(k)) for k in keys) + " |" for name, m in rows]
    if ev.metrics.get("per_family"):
        lines += ["", "## Per manipulation family (each family's videos against all real videos)", "",
                  "| family | fakes | ROC-AUC | recall |", "|---|---|---|---|"]
        lines += [f"| {f} | {int(m['n_fake'])} | {_fmt(m['roc_auc'])} | {_fmt(m['recall'])} |"
                  for f, m in ev.metrics["per_family"].items()]
    lines += ["", "## Figures", ""] + [f"![{name}]({name})" for name in figures] + [
        "", "## Files", "", "- `per_item.csv`: every video with its true label, score, prediction and window scores",
        "- `per_window.csv`: every window with its start frame, P(fake) and per-timestep timeline", "",
        "## Config", "", "```yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False).rstrip(), "```", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
