"""Write an evaluation to `reports/<run>/<split>/`: metrics.json, per_item.csv, figures and report.md.

Reports are keyed by the run and the evaluated split, and a folder holding another checkpoint's or split's
report is refused unless `overwrite` (`lab.outputs.claim_report_folder`)."""
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
from lab.outputs import claim_report_folder, write_text

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


def split_name(data_dir: str | Path, cfg: Config) -> str:
    """`test` / `val` / `train` when `data_dir` is one of the config's splits, else `<parent>-<folder>`
    (`/data/other_set/test` -> `other_set-test`), so evaluating another dataset never lands on this one's report."""
    folder = Path(data_dir).resolve()
    for name in ("test", "val", "train"):
        if Path(getattr(cfg.data, f"{name}_dir")).resolve() == folder:
            return name
    return f"{folder.parent.name}-{folder.name}" if folder.parent.name else folder.name


def default_report_dir(run_name: str, data_dir: str | Path, cfg: Config, root: str | Path = "reports") -> Path:
    """`reports/<run>/<split>`: one folder per run and evaluated split."""
    return Path(root) / run_name / split_name(data_dir, cfg)


def write_report(ev: Evaluation, out_dir: str | Path, *, cfg: Config, checkpoint: str | Path,
                 title: str = "Evaluation", overwrite: bool = False) -> Path:
    """Write every report file into `out_dir`; returns the path of report.md. A folder holding the report of
    another checkpoint or split is refused unless `overwrite`."""
    out = claim_report_folder(out_dir, checkpoint=checkpoint, data_dir=ev.metrics["data_dir"], overwrite=overwrite)
    meta = {"checkpoint": str(checkpoint), **ev.metrics}
    write_text(out / "per_item.csv", ev.videos.to_csv(index=False))
    write_text(out / "per_window.csv", ev.windows.to_csv(index=False))

    y, s = ev.videos["label"].to_numpy(), ev.videos["score"].to_numpy()
    figures = {"confusion_matrix.png": plot_confusion(y, ev.videos["pred"], out / "confusion_matrix.png",
                                                      title=f"Video level ({ev.aggregation})")}
    if both_classes(y):
        figures["roc.png"] = plot_roc(y, s, out / "roc.png", title=f"ROC, video level ({ev.aggregation})")
        figures["pr.png"] = plot_pr(y, s, out / "pr.png", title=f"Precision-recall, video level ({ev.aggregation})")
        cal = ev.metrics.get("calibration") or {}
        scaled = cal.get("temperature", 1.0) != 1.0 and "prob_fake_raw" in ev.windows
        figures["reliability.png"] = plot_reliability(
            ev.windows["label"], ev.windows["prob_fake"], out / "reliability.png", title="Reliability (clips)",
            before=ev.windows["prob_fake_raw"] if scaled else None,
            label=f"T={cal['temperature']:.3g} (ECE {cal['ece_calibrated']:.3f})" if scaled else "model",
            before_label=f"T=1 (ECE {cal['ece_raw']:.3f})" if scaled else "")
    for fig in figures.values():
        plt.close(fig)

    keys = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "eer", "ece")
    rows = [("clips", ev.metrics["clip"])] + [(f"videos ({k})", m) for k, m in ev.metrics["video"].items()]
    lines = [f"# {title}", "",
             f"- checkpoint: `{checkpoint}`", f"- data: `{ev.metrics['data_dir']}` "
             f"({ev.metrics['n_videos']} videos, {ev.metrics['n_windows']} windows)",
             f"- decision threshold (chosen on validation): {ev.threshold:.4f}; "
             f"video aggregation: {ev.aggregation}",
             *_calibration_lines(ev), "",
             "| level | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(_fmt(m.get(k)) for k in keys) + " |" for name, m in rows]
    if ev.metrics.get("per_family"):
        lines += ["", "## Per manipulation family (each family's videos against all real videos)", "",
                  "| family | fakes | ROC-AUC | recall |", "|---|---|---|---|"]
        lines += [f"| {f} | {int(m['n_fake'])} | {_fmt(m['roc_auc'])} | {_fmt(m['recall'])} |"
                  for f, m in ev.metrics["per_family"].items()]
    for column, groups in ev.metrics.get("groups", {}).items():
        if column == "family":
            continue  # the table above
        lines += ["", f"## By {column} (a one-class group is scored against every video of the other class)", "",
                  f"| {column} | reals | fakes | ROC-AUC | AP | fake recall | real FPR |", "|---" * 7 + "|"]
        lines += [f"| {value} | {int(m['n_real'])} | {int(m['n_fake'])} | {_fmt(m['roc_auc'])} | {_fmt(m['ap'])} | "
                  f"{_fmt(m['fake_recall'])} | {_fmt(m['real_fpr'])} |" for value, m in groups.items()]
    lines += shortcut_lines(ev.metrics.get("shortcuts"))
    lines += ["", "## Figures", ""] + [f"![{name}]({name})" for name in figures] + [
        "", "## Files", "", "- `per_item.csv`: every video with its true label, score, prediction, window scores and its manifest columns",
        "- `per_window.csv`: every window with its start frame, P(fake) and per-timestep timeline", "",
        "## Config", "", "```yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False).rstrip(), "```", ""]
    path = write_text(out / "report.md", "\n".join(lines))
    write_text(out / "metrics.json", json.dumps(_clean(meta), indent=2))  # last: it marks a finished report
    return path


def _calibration_lines(ev: Evaluation) -> list[str]:
    """The decision rule and the clip ECE before and after temperature scaling, on the evaluated split."""
    lines = [f"- decision: {ev.decision.describe()}"] if ev.decision is not None else []
    cal = ev.metrics.get("calibration")
    if cal:
        lines.append(f"- temperature {cal['temperature']:.4g}: clip ECE {_fmt(cal['ece_raw'])} before "
                     f"(ece_raw), {_fmt(cal['ece_calibrated'])} after (ece_calibrated); clip NLL "
                     f"{_fmt(cal['nll_raw'])} -> {_fmt(cal['nll_calibrated'])}")
    return lines


def shortcut_lines(checks: dict | None) -> list[str]:
    """The report's "Shortcut checks" section (empty without checks): warnings first, then the table."""
    if not checks:
        return []
    model = checks["model"]
    lines = ["", "## Shortcut checks", ""]
    lines += [f"**warning:** {w}" for w in checks["warnings"]] + ([""] if checks["warnings"] else [])
    lines += [f"Trivial predictors score each video by one property; AUC is {checks['orientation']}. "
              f"A temporal model should fall toward 0.5 on frame-shuffled windows.", "",
              "| predictor | video ROC-AUC | fakes score | videos |", "|---|---|---|---|"]
    lines += [f"| {name} | {_fmt(m['auc'])} | {m['fake_side']} | {m['n']} |" for name, m in checks["trivial"].items()]
    lines += [f"| **the model** (videos) | {_fmt(model['video_auc'])} | higher | |",
              f"| **the model** (clips, frames in order) | {_fmt(model['clip_auc'])} | higher | |",
              f"| **the model** (clips, frames shuffled in time) | {_fmt(model['clip_auc_frames_shuffled'])} | higher | |"]
    return lines
