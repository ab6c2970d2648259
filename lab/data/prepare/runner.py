"""`lab prepare`: a downloaded dataset -> the seed's layout, in parallel over videos, resumable, with a report.

    plan (format module) -> claim OUT -> skip finished items -> write the rest (worker processes, one tqdm bar
    over the whole dataset) -> manifests and failed.csv rebuilt from disk -> report

With `shard=(K, N)` the run does its 1/N of the plan and writes its manifest part instead (`shards.py`).

A video that fails (unreadable, no face) is listed with its reason and the run goes on; the caller decides the
exit status from `Report.failed`.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from lab.errors import DataError
from lab.data.prepare.formats import make_plan, resolve
from lab.data.prepare.item import Outcome, finished_items, job_name_of, process
from lab.data.prepare.output import (LOCK_FILE, claim, failure_rows, locked, remove_partial_items, write_failures,
                                     write_manifests)
from lab.data.prepare.plan import CLASSES, SPLITS, Job, Plan, Settings, shard_of
from lab.data.prepare.shards import lock_name, write_part

SHOWN_FAILURES = 20  # report lines; failed.csv has them all


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)  # the run was killed (even by SIGKILL): do not linger as an orphan still writing into OUT


def _init_worker(parent: int) -> None:
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it lets running jobs end
    import cv2

    cv2.setNumThreads(1)  # the pool already uses every core; OpenCV's own threads would oversubscribe them


def run_jobs(jobs: Sequence[Job], settings: Settings, out: Path, workers: int = 1,
             progress: bool = True) -> list[Outcome]:
    """Every job's Outcome. `workers` > 1 runs them in that many processes; one bar with ETA over all jobs."""
    outcomes: list[Outcome] = []
    bar = tqdm(total=len(jobs), unit="video", desc="prepare", disable=not progress, dynamic_ncols=True)

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        bar.update()
        if not outcome.ok:
            bar.set_postfix(failed=sum(not o.ok for o in outcomes))

    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                record(process(job, settings, out))
            return outcomes
        # spawn, not fork: a forked worker inherits the caller's OpenCV thread pool mid-state and can hang in
        # its first cv2 call (a notebook that used cv2, then prepared); spawned workers start clean.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context, initializer=_init_worker,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(process, job, settings, out): job for job in jobs}
            try:
                for future in as_completed(futures):
                    try:
                        record(future.result())
                    except BrokenProcessPool:
                        record(Outcome(futures[future], False, reason="a worker process died while this video was "
                                       "pending (a crash in decoding or detection): run again to retry it"))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return outcomes
    finally:
        bar.close()


@dataclass
class Report:
    out: Path
    format: str
    planned: int
    already_done: int
    failed: list[Outcome]
    items: dict[tuple[str, str], tuple[int, int]]  # (split, class) -> (items, frames) finished on disk
    faces_missed: int = 0
    videos_with_missed: int = 0
    faces_interpolated: int = 0
    face_crop: bool = False
    notes: list[str] = field(default_factory=list)
    partial_removed: int = 0
    failed_file: Path | None = None
    seconds: float = 0.0
    workers: int = 1
    shard: tuple[int, int] | None = None
    total: int = 0  # jobs in the whole plan (= planned unless sharded)

    @property
    def written(self) -> int:
        return self.planned - self.already_done - len(self.failed)

    def lines(self) -> list[str]:
        frames = sum(f for _, f in self.items.values())
        out = [f"prepared {self.format} into {self.out}"]
        if self.shard:
            out.append(f"shard {self.shard[0]}/{self.shard[1]}: {self.planned} of the plan's {self.total} videos; "
                       f"its manifest part is {self.failed_file}; merge the "
                       "parts with lab prepare-merge once every shard has run")
        out.append(f"  {'split':6s} {'real':>6s} {'fake':>6s} {'frames':>8s}")
        for split in SPLITS:
            cells = [self.items.get((split, c), (0, 0)) for c in CLASSES]
            if any(n for n, _ in cells):
                out.append(f"  {split:6s} {cells[0][0]:6d} {cells[1][0]:6d} {sum(f for _, f in cells):8d}")
        out.append(f"videos: {self.planned} planned, {self.written} written now, {self.already_done} already done, "
                   f"{len(self.failed)} failed")
        out.append(f"frames: {frames} in {sum(n for n, _ in self.items.values())} items")
        if self.face_crop:
            out.append(f"faces: {self.faces_missed} frames missed in {self.videos_with_missed} videos (kept, listed "
                       f"in each item.json), {self.faces_interpolated} interpolated from neighbouring frames")
        out += [f"note: {note}" for note in self.notes]
        if self.partial_removed:
            out.append(f"note: removed {self.partial_removed} partial item(s) left by an interrupted run")
        if self.failed:
            out.append(f"failed: {len(self.failed)} (all in {self.failed_file})")
            for o in self.failed[:SHOWN_FAILURES]:
                out.append(f"  {o.job.split}/{o.job.item} ({o.job.video}): {o.reason}")
            if len(self.failed) > SHOWN_FAILURES:
                out.append(f"  ... and {len(self.failed) - SHOWN_FAILURES} more")
        out.append(f"time: {self.seconds:.1f} s with {self.workers} worker(s)")
        return out


def _unplanned(out: Path, plan: Plan) -> int:
    """Item folders in OUT that this plan does not make (their videos left SOURCE?): no manifest lists them."""
    planned = {(j.split, j.item) for j in plan.jobs}
    return sum(1 for split in SPLITS for p in (out / split).glob("*/*")
               if p.is_dir() and not p.name.startswith(".") and p.parent.name in CLASSES
               and not {(split, f"{p.parent.name}/{name}") for name in (p.name, job_name_of(p.name))} & planned)


def _tally(out: Path, plan: Plan, jobs: Sequence[Job], settings: Settings, report: Report) -> None:
    unplanned = _unplanned(out, plan)
    if unplanned:
        report.notes.append(f"{unplanned} item folder(s) in {out} are not in this plan (their videos left the "
                            "source?) and no manifest lists them: delete them")
    for job in jobs:
        for _, meta in finished_items(out, job, settings) or ():
            key = (job.split, CLASSES[job.label])
            n, f = report.items.get(key, (0, 0))
            report.items[key] = (n + 1, f + meta["frames"])
            report.faces_missed += meta["faces_missed"] or 0
            report.videos_with_missed += bool(meta["faces_missed"])
            report.faces_interpolated += meta["faces_interpolated"] or 0


def run_prepare(source: str | Path, out: str | Path, settings: Settings, *, workers: int = 1,
                progress: bool = True, shard: tuple[int, int] | None = None) -> Report:
    """Prepare SOURCE (in `settings.format`) into OUT. Finished items are skipped, so running it again after
    an interruption completes the output; a run with other settings into the same OUT is refused. With
    `shard=(K, N)` only the K-th of N shares of the plan is prepared, and its manifest part written."""
    start = time.perf_counter()
    source, out = Path(source).resolve(), Path(out).resolve()
    if out == source:
        raise DataError("output folder is the source", out, "choose another folder")
    settings = resolve(source, settings)
    plan = make_plan(source, settings)
    if not plan.jobs:
        raise DataError(f"nothing to prepare, {'; '.join(plan.notes) or 'no videos'}", source,
                        "point SOURCE at a tree holding videos that the split rules keep")
    jobs = plan.jobs if shard is None else shard_of(plan.jobs, *shard)
    claim(out, source, settings)
    with locked(out, LOCK_FILE if shard is None else lock_name(shard)):
        removed = remove_partial_items(out, None if shard is None else jobs)
        todo = [job for job in jobs if finished_items(out, job, settings) is None]
        outcomes = run_jobs(todo, settings, out, workers, progress)
        failed = sorted((o for o in outcomes if not o.ok), key=lambda o: (o.job.split, o.job.item))
        if shard is None:
            write_manifests(out, plan.jobs, settings)
            failed_file = write_failures(out, failure_rows(failed))
        else:
            failed_file = write_part(out, shard, jobs, settings, failed)
        report = Report(out, settings.format, len(jobs), len(jobs) - len(todo), failed, {},
                        face_crop=settings.face_crop, notes=list(plan.notes), partial_removed=removed,
                        failed_file=failed_file, workers=workers, shard=shard, total=len(plan.jobs))
        _tally(out, plan, jobs, settings, report)
    report.seconds = time.perf_counter() - start
    return report
