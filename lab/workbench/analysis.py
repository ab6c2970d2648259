"""The numbers behind the notebooks: dataset statistics, frame-difference energy, class balance, worst errors,
threshold sweeps, per-group breakdowns and the temporal ablation (the same clips with their frames shuffled).

Everything here returns plain pandas / numpy objects; the matching figures are in `lab.workbench.plots`. The tables
the notebooks take from the stages below (`attach_manifest`, `shortcut_table`, `decision_threshold`) are here too.
"""
from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from lab.config import Config
from lab.data.dataset import CLASSES, FrameSequenceDataset, build_dataset, make_weighted_sampler, resolve_num_workers
from lab.data.video import FrameSource, is_video
from lab.evaluation.groups import attach_manifest  # noqa: F401  (re-exported: the notebooks call analysis.attach_manifest)
from lab.evaluation.metrics import binary_metrics, both_classes
from lab.evaluation.shortcuts import shortcut_table, shuffle_time  # noqa: F401  (re-exported for the notebooks)
from lab.scoring.aggregate import decision_threshold, frame_scores  # noqa: F401  (decision_threshold: re-exported)
from lab.scoring.windows import score_clips

SPLITS: tuple[str, ...] = ("train", "val", "test")
METRIC_KEYS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "eer", "ece")

# --------------------------------------------------------------------------------------------- datasets


def load_splits(data_dir: str | Path, cfg: Config, splits: Sequence[str] = SPLITS) -> dict[str, FrameSequenceDataset]:
    """One evaluation-mode dataset (no augmentation) per split folder `data_dir/<split>`, windowed by `cfg.sequence`."""
    root = Path(data_dir)
    return {s: build_dataset(root / s, cfg.sequence, cfg.image, cfg.augmentation, train=False,
                             cache=cfg.data.cache) for s in splits}


def ensure_real_footage(data_dir: str | Path, items: Sequence[int] = (64, 16, 24)) -> int:
    """Write the real-footage development set of the embedded clips (`lab synth --real-footage --footage embedded`)
    into `data_dir` with `items` per class for train, val and test, unless `data_dir` exists. Returns how many items were written (0: it was there)."""
    from lab.data.footage import FootageSpec, generate_footage

    if Path(data_dir).exists():
        return 0
    train, val, test = items
    return len(generate_footage(data_dir, FootageSpec(train=train, val=val, test=test, footage="embedded")))


def _storage(name: str) -> str:
    return Path(name).suffix.lstrip(".").lower() if is_video(name) else "frames"


def item_table(datasets: Mapping[str, FrameSequenceDataset]) -> pd.DataFrame:
    """One row per item: split, item, label, class, family, frames, fps, height, width, storage (mp4 / frames ...).
    Height and width come from decoding each item's first frame."""
    rows = []
    for split, ds in datasets.items():
        windows = pd.Series([w.item for w in ds.windows]).value_counts()
        for item in ds.items:
            height, width = ds.source(item.name).read(0, 1).shape[1:3]
            rows.append({"split": split, "item": item.name, "label": item.label, "class": CLASSES[item.label],
                         "family": item.family, "frames": item.num_frames, "windows": int(windows.get(item.name, 0)),
                         "fps": item.fps, "height": height, "width": width, "storage": _storage(item.name)})
    table = pd.DataFrame(rows)
    table["split"] = pd.Categorical(table["split"], categories=list(datasets), ordered=True)  # keep split order
    table["class"] = pd.Categorical(table["class"], categories=list(CLASSES), ordered=True)
    return table


def split_summary(items: pd.DataFrame) -> pd.DataFrame:
    """Per split and class: videos, windows, frame counts (min / median / max) and the resolutions seen."""
    def resolutions(group: pd.DataFrame) -> str:
        sizes = (group["width"].astype(str) + "x" + group["height"].astype(str)).value_counts()
        return ", ".join(f"{size} ({n})" for size, n in sizes.items())

    grouped = items.groupby(["split", "class"], sort=True, observed=True)
    table = grouped.agg(videos=("item", "size"), windows=("windows", "sum"), frames_min=("frames", "min"),
                        frames_median=("frames", "median"), frames_max=("frames", "max"))
    table["resolutions"] = grouped[["width", "height"]].apply(resolutions)
    return table


def spread(n_total: int, k: int) -> list[int]:
    """`k` indices spread evenly over range(n_total) (all of them when k >= n_total)."""
    if k >= n_total:
        return list(range(n_total))
    return [int((j + 0.5) * n_total / k) for j in range(k)]


def sample_items(ds: FrameSequenceDataset, per_class: int) -> list:
    """Up to `per_class` items of each class, spread evenly over the class (so several families show up)."""
    chosen = []
    for label in range(len(CLASSES)):
        items = [i for i in ds.items if i.label == label]
        chosen += [items[j] for j in spread(len(items), per_class)]
    return chosen


def family_examples(ds: FrameSequenceDataset) -> list:
    """The first item of each family (real families first), e.g. one real video and one fake per manipulation."""
    first: dict[str, object] = {}
    for item in sorted(ds.items, key=lambda i: i.label):
        first.setdefault(item.family, item)
    return list(first.values())


def shrink(frame: np.ndarray, max_side: int | None) -> np.ndarray:
    """A frame scaled down (area interpolation) so its longer side is at most `max_side`; None: unchanged."""
    height, width = frame.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return frame
    scale = max_side / max(height, width)
    return cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)


def iter_item(ds: FrameSequenceDataset, name: str, max_frames: int | None = None,
              max_side: int | None = None) -> Iterator[np.ndarray]:
    """An item's frames one at a time (the first `max_frames`), each shrunk to `max_side`: bounded memory."""
    return (shrink(frame, max_side) for frame in islice(ds.source(name).iter_frames(), max_frames))


def read_item(ds: FrameSequenceDataset, name: str, max_frames: int | None = None,
              max_side: int | None = None) -> np.ndarray:
    """Frames of one item as uint8 `(T, H, W, 3)`: the first `max_frames`, longer side at most `max_side`
    (None: all frames, native size; mind the memory on HD video: 600 frames of 720p are 1.6 GB)."""
    return np.stack(list(iter_item(ds, name, max_frames, max_side)))


def read_spread(source: FrameSource, count: int) -> np.ndarray:
    """`count` frames spread evenly over an item, read one by one (never the whole item), uint8 (k, H, W, 3)."""
    return np.stack([source.read(i, 1)[0] for i in spread(source.num_frames, count)])


# -------------------------------------------------------------------------------- where time carries signal


def frame_difference_energy(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Frames (an array `(T, H, W, C)` or any iterable of `(H, W, C)`) -> `(T-1,)` mean squared change between
    consecutive frames, in grey levels^2. Streams: holds two frames at a time."""
    energy, previous = [], None
    for frame in frames:
        current = np.asarray(frame, dtype=np.float32)
        if current.ndim != 3:
            raise ValueError(f"need (H, W, C) frames, got shape {current.shape}")
        if previous is not None:
            energy.append(float(np.square(current - previous).mean()))
        previous = current
    if not energy:
        raise ValueError("need at least 2 frames for a frame difference")
    return np.asarray(energy)


def difference_map(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Frames (`(T, H, W, C)` or an iterable of `(H, W, C)`) -> `(H, W)` mean absolute change between
    consecutive frames: where things move. Streams: holds two frames and the running sum."""
    total, previous, pairs = None, None, 0
    for frame in frames:
        current = np.asarray(frame, dtype=np.float32)
        if current.ndim != 3:
            raise ValueError(f"need (H, W, C) frames, got shape {current.shape}")
        if previous is not None:
            change = np.abs(current - previous).mean(axis=2)
            total = change if total is None else total + change
            pairs += 1
        previous = current
    if not pairs:
        raise ValueError("need at least 2 frames for a frame difference")
    return total / pairs


def difference_energy_table(ds: FrameSequenceDataset, per_class: int = 8, max_frames: int | None = None,
                            max_side: int | None = None) -> pd.DataFrame:
    """Long table (item, label, class, family, t, energy) of `frame_difference_energy` for up to `per_class`
    items of each class, streamed frame by frame (first `max_frames`, shrunk to `max_side`); `t` is the
    index of the later frame of each consecutive pair."""
    rows = []
    for item in sample_items(ds, per_class):
        energy = frame_difference_energy(iter_item(ds, item.name, max_frames, max_side))
        rows += [{"item": item.name, "label": item.label, "class": CLASSES[item.label], "family": item.family,
                  "t": t, "energy": float(e)} for t, e in enumerate(energy, start=1)]
    return pd.DataFrame(rows)


def temporal_contrast(frames: np.ndarray, order: int = 2) -> tuple[float, float]:
    """(energy, contrast) of uint8 or float frames `(T, H, W, C)`: the mean squared `order`-th frame difference
    (grey levels^2), and the mean |order-th difference| in the centre half of the frame (each side halved)
    over the same in the whole frame. The contrast weighs an edit near the centre (where the real-footage set
    and face crops put it) against the clip's own motion, which moves the whole frame."""
    grey = np.asarray(frames, dtype=np.float32).mean(axis=-1)
    if len(grey) <= order:
        raise ValueError(f"need more than {order} frames for an order-{order} difference, got {len(grey)}")
    change = np.diff(grey, n=order, axis=0)
    h, w = grey.shape[1:]
    centre = np.abs(change[:, h // 4: h - h // 4, w // 4: w - w // 4]).mean()
    return float(np.square(change).mean()), float(centre / (np.abs(change).mean() + 1e-3))


def signal_by_resolution(ds: FrameSequenceDataset, sizes: Mapping[str, tuple[int, int] | None], per_class: int = 16,
                         max_frames: int | None = None, orders: Sequence[int] = (1, 2)) -> pd.DataFrame:
    """Where the frame-to-frame signal lives, before and after the model's resize. For up to `per_class` items
    of each class, one row per item, size and difference order: item, label, class, family, size, order,
    energy, contrast (`temporal_contrast`). `sizes` maps a label to an (height, width) the frames are resized
    to, as the model's input is (its centred crop of that aspect, area interpolation), or None for native."""
    from lab.data.transforms import centred_box

    rows = []
    for item in sample_items(ds, per_class):
        native = read_item(ds, item.name, max_frames)
        for label, size in sizes.items():
            frames = native
            if size is not None:
                top, left, bh, bw = centred_box(size, *native.shape[1:3])
                frames = np.stack([cv2.resize(f[top:top + bh, left:left + bw], (size[1], size[0]),
                                              interpolation=cv2.INTER_AREA) for f in native])
            for order in orders:
                energy, contrast = temporal_contrast(frames, order)
                rows.append({"item": item.name, "label": item.label, "class": CLASSES[item.label],
                             "family": item.family, "size": label, "order": order, "energy": energy,
                             "contrast": contrast})
    return pd.DataFrame(rows)


def separability(table: pd.DataFrame, value: str = "contrast") -> pd.DataFrame:
    """ROC-AUC of `value` as a real-vs-fake score, per (size, order): over all fakes, and per fake family
    (that family's fakes against every real). Rows: (size, order); columns: all, then one per family."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for key, group in table.groupby(["size", "order"], sort=False):
        reals, fakes = group[group.label == 0], group[group.label == 1]
        row = {"all": roc_auc_score(group.label, group[value]) if both_classes(group.label) else np.nan}
        for family, fam in fakes.groupby("family"):
            both = pd.concat([reals, fam])
            row[family] = roc_auc_score(both.label, both[value]) if both_classes(both.label) else np.nan
        out[key] = row
    return pd.DataFrame(out).T.rename_axis(["size", "order"])


def class_balance(labels: Sequence[int], draws: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Windows per class in the data next to what `make_weighted_sampler` draws from it (`draws` samples,
    default one epoch). Index: class; columns: windows, share, sampled, sampled_share."""
    labels = np.asarray(labels, dtype=np.int64)
    sampler = make_weighted_sampler(labels, num_samples=draws, generator=torch.Generator().manual_seed(seed))
    drawn = labels[np.fromiter(iter(sampler), dtype=np.int64)]
    have, got = np.bincount(labels, minlength=len(CLASSES)), np.bincount(drawn, minlength=len(CLASSES))
    return pd.DataFrame({"windows": have, "share": have / have.sum(), "sampled": got, "sampled_share": got / got.sum()},
                        index=pd.Index(CLASSES, name="class"))


# ---------------------------------------------------------------------------------------------- results


def metrics_table(metrics: Mapping) -> pd.DataFrame:
    """`Evaluation.metrics` as one row per level: clips, then videos under each aggregation strategy."""
    rows = {"clips": metrics["clip"], **{f"videos ({k})": m for k, m in metrics["video"].items()}}
    return pd.DataFrame({name: {k: m.get(k, np.nan) for k in ("n", *METRIC_KEYS)} for name, m in rows.items()}).T


def frame_timeline(windows: pd.DataFrame, item: str) -> pd.Series:
    """Per-frame P(fake) of one item from its windows' per-timestep timelines (mean over covering windows),
    indexed by frame number. `windows` is `Evaluation.windows` (timeline: space-separated probabilities)."""
    rows = windows[windows["item"] == item]
    if rows.empty:
        raise KeyError(f"no windows of item {item!r}")
    timelines = [[float(p) for p in str(t).split()] for t in rows["timeline"]]
    num_frames = int(rows["num_frames"].iloc[0]) if "num_frames" in rows else None  # padding is no frame
    scores = frame_scores(rows["start"].astype(int).tolist(), timelines, num_frames)
    frames = np.flatnonzero(~np.isnan(scores))
    return pd.Series(scores[frames], index=pd.Index(frames, name="frame"), name=item)


def worst_errors(videos: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """The `k` real videos scored most fake and the `k` fake videos scored most real, worst first.

    `kind` says which ("false positive" / "false negative"); `error` says whether the video actually crossed
    the decision (`pred` differs from `label`), so a well-trained model shows its closest calls instead."""
    reals = videos[videos["label"] == 0].sort_values("score", ascending=False).head(k)
    fakes = videos[videos["label"] == 1].sort_values("score", ascending=True).head(k)
    out = pd.concat([reals.assign(kind="false positive"), fakes.assign(kind="false negative")], ignore_index=True)
    out["error"] = out["pred"] != out["label"]
    return out


def threshold_sweep(labels: Sequence[int], scores: Sequence[float],
                    thresholds: Sequence[float] | None = None) -> pd.DataFrame:
    """Precision, recall, F1, accuracy and false-positive rate of `scores >= t` for each threshold t."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    grid = np.linspace(0.0, 1.0, 101) if thresholds is None else np.asarray(thresholds, dtype=float)
    rows = []
    for t in grid:
        pred = s >= t
        tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
        fn, tn = int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
        precision = tp / (tp + fp) if tp + fp else np.nan  # undefined when nothing is called fake
        recall = tp / (tp + fn) if tp + fn else np.nan
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan
        rows.append({"threshold": float(t), "precision": precision, "recall": recall, "f1": f1,
                     "accuracy": (tp + tn) / len(y), "fpr": fp / (fp + tn) if fp + tn else np.nan})
    return pd.DataFrame(rows)


def best_f1_threshold(val_labels: Sequence[int], val_scores: Sequence[float], labels: Sequence[int],
                      scores: Sequence[float]) -> pd.DataFrame:
    """The best-F1 threshold of a sweep on *validation*, and precision / recall / F1 / accuracy / FPR at that
    threshold on validation and on the evaluated split, which never chooses it (that would select on test)."""
    sweep = threshold_sweep(val_labels, val_scores)
    chosen = float(sweep.loc[sweep["f1"].idxmax(), "threshold"])
    rows = {"validation (chosen here)": sweep.loc[sweep["f1"].idxmax()],
            "evaluated split (applied)": threshold_sweep(labels, scores, [chosen]).iloc[0]}
    return pd.DataFrame(rows).T


def breakdown(videos: pd.DataFrame, by: str = "family", threshold: float = 0.5) -> pd.DataFrame:
    """Per value of column `by`: counts, accuracy, mean score per class, and a ROC-AUC.

    AUC: within the group when it holds both classes; otherwise the group's videos against every video of
    the class it lacks (a fake family against all reals), which is how per-family results are usually read."""
    rows = []
    for group, part in videos.groupby(by, sort=True):
        if both_classes(part["label"]):
            scored = part
        else:
            other = videos[videos["label"] != part["label"].iloc[0]]
            scored = pd.concat([part, other])
        auc = binary_metrics(scored["label"], scored["score"], threshold)["roc_auc"] if both_classes(scored["label"]) \
            else np.nan
        pred = part["score"] >= threshold
        rows.append({by: group, "n_real": int((part["label"] == 0).sum()), "n_fake": int((part["label"] == 1).sum()),
                     "accuracy": float((pred == part["label"].astype(bool)).mean()),
                     "mean_score_real": part.loc[part["label"] == 0, "score"].mean(),
                     "mean_score_fake": part.loc[part["label"] == 1, "score"].mean(), "roc_auc": auc})
    return pd.DataFrame(rows).set_index(by)


# -------------------------------------------------------------------------------------- temporal ablation


@torch.no_grad()
def temporal_ablation(model: torch.nn.Module, cfg: Config, data_dir: str | Path, device: torch.device | str = "cpu",
                      seed: int = 0) -> pd.DataFrame:
    """Score every window of `data_dir` as it is and with its frames shuffled in time.

    One row per window: item, label, family, start, prob_fake, prob_fake_shuffled. A model that uses temporal
    order moves when the order is destroyed; the frame-only baseline must not move at all."""
    device = torch.device(device)
    ds = build_dataset(data_dir, cfg.sequence, cfg.image, cfg.augmentation, train=False, cache=cfg.data.cache)
    loader = DataLoader(ds, batch_size=cfg.inference.batch_size, shuffle=False,
                        num_workers=resolve_num_workers(cfg.data.num_workers))
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    original, shuffled = [], []
    for clips, _ in loader:
        clips = clips.to(device)
        original.append(score_clips(model, clips)[0].softmax(-1)[:, 1].cpu())
        shuffled.append(score_clips(model, shuffle_time(clips.cpu(), generator).to(device))[0].softmax(-1)[:, 1].cpu())
    table = ds.metadata()[["item", "label", "family", "start"]].copy()
    table["prob_fake"] = torch.cat(original).numpy()
    table["prob_fake_shuffled"] = torch.cat(shuffled).numpy()
    return table


def ablation_summary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per model (key of `tables`, each a `temporal_ablation` result) and input order: clip ROC-AUC, mean
    P(fake) of real and of fake clips, and how far scores sit from chance (mean |P(fake) - 0.5|)."""
    rows = []
    for model, table in tables.items():
        for order, column in (("original", "prob_fake"), ("shuffled", "prob_fake_shuffled")):
            y, p = table["label"].to_numpy(), table[column].to_numpy()
            rows.append({"model": model, "frame order": order,
                         "clip ROC-AUC": binary_metrics(y, p)["roc_auc"] if both_classes(y) else np.nan,
                         "mean P(fake) real": p[y == 0].mean(), "mean P(fake) fake": p[y == 1].mean(),
                         "mean |P(fake) - 0.5|": np.abs(p - 0.5).mean(),
                         "mean |change| vs original": np.abs(p - table["prob_fake"].to_numpy()).mean()})
    return pd.DataFrame(rows).set_index(["model", "frame order"])
