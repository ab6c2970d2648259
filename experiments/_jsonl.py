"""Rows of a long measurement, one JSON object a line, printed and appended to a file as they come: a run cut short
keeps what it measured, and a part that fails logs its error while the next part runs. Used by gpu_bench.py and
checks.py (imported from beside them)."""
from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Callable

JSON_TYPES = (int, bool, str, list, dict, type(None))


class Rows:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, **row) -> None:
        """One row: floats to 4 places, anything not JSON as its string."""
        row = {k: round(v, 4) if isinstance(v, float) else v if isinstance(v, JSON_TYPES) else str(v)
               for k, v in row.items()}
        print(json.dumps(row), flush=True)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def part(self, name: str, fn: Callable[[], None]) -> None:
        """Run one part; its row says whether it finished and how long it took (and, if not, the error)."""
        t0 = time.perf_counter()
        try:
            fn()
            self.log(part=name, ok=True, seconds=time.perf_counter() - t0)
        except Exception as exc:  # the next part still runs; the traceback is on stderr
            traceback.print_exc()
            self.log(part=name, ok=False, error=f"{type(exc).__name__}: {exc}"[:400], seconds=time.perf_counter() - t0)
