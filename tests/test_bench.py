"""`python -m benchmarks --quick` (what `lab bench --quick` runs) covers every case end to end and writes its report.
No speed assertions: timing targets live in the benchmark's printed ratios, never in unit tests."""
import json
import math

import pytest

from _fixtures import ROOT


@pytest.mark.slow
def test_quick_bench_covers_every_case_and_writes_reports(tmp_path, monkeypatch):
    from benchmarks.run import CASES, COLUMNS, format_table, run_bench

    monkeypatch.chdir(ROOT)  # the demo config paths are relative to the repository, as for `lab demo`
    table = run_bench(quick=True, out_dir=tmp_path)

    assert list(table.columns) == list(COLUMNS)
    expected = set(CASES) - ({"gpu forward"} if "cuda" not in set(table["device"]) else set())
    assert set(table["case"]) == expected
    assert len(table[table["case"] == "convlstm input conv"]) >= 4  # 4x4, 7x7, 14x14, 28x28
    faces = table[table["case"] == "face detector"].set_index("unit")
    assert set(faces.index) == {"ms/frame", "frames with a face"}  # Haar vs dlib on real footage
    for column in ("a_value", "b_value", "ratio"):
        assert all(math.isfinite(v) and v > 0 for v in table[column]), table[["case", column]]
    assert set(table["ratio_is"]) <= {"speed-up", "b / a"}

    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["quick"] is True and len(saved["rows"]) == len(table)
    keyed = table.dropna(subset=["key"])
    assert set(saved["ratios"]) == set(keyed["key"])  # one flat number per headline key, the worst of its rows
    for key, value in saved["ratios"].items():
        assert value in set(keyed[keyed["key"] == key]["ratio"])
    assert {"torch", "cpu_count", "devices"} <= set(saved["machine"])
    md = (tmp_path / "bench.md").read_text()
    assert all(case in md for case in expected)
    assert all(case in format_table(table) for case in expected)


def test_headline_ratios_keep_the_worst_row_per_key():
    from benchmarks.run import headline_ratios
    from benchmarks.timing import row as _row
    import pandas as pd

    rows = [_row("c", "7x7", "cpu", "a", "b", "ms", 30.0, 10.0, key="speed"),  # 3.0x
            _row("c", "56x56", "cpu", "a", "b", "ms", 12.0, 10.0, key="speed"),  # 1.2x: the worst speed-up
            _row("m", "short", "cpu", "a", "b", "MiB", 100.0, 110.0, "b / a", key="growth"),  # 1.1
            _row("m", "long", "cpu", "a", "b", "MiB", 100.0, 150.0, "b / a", key="growth"),  # 1.5: the worst growth
            _row("x", "", "cpu", "a", "b", "ms", 1.0, 2.0)]  # no key: not a headline
    assert headline_ratios(pd.DataFrame(rows)) == pytest.approx({"speed": 1.2, "growth": 1.5})
