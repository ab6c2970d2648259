"""The CLI error contract as test helpers: run an entry point in-process and check that it failed with exit code 2
and one line `error: <what> (<which file or key>): <what to do>`, no traceback (or that it worked)."""
from __future__ import annotations

import re

CONTRACT = re.compile(r"^error: (?P<what>.+) \((?P<where>[^()]+(?:\([^()]*\)[^()]*)*)\): (?P<fix>.+)$")
SIDE_LINES = ("warning: ", "notice: ", "note: ")


def call(capsys, entry, *args) -> tuple[int, str, str]:
    try:
        code = entry([str(a) for a in args])
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_contract(result, *fragments: str) -> re.Match:
    code, _, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert all(line.startswith(SIDE_LINES) for line in lines[:-1]), err
    match = CONTRACT.match(errors[0])
    assert match, f"not `error: <what> (<where>): <what to do>`: {errors[0]}"
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return match


def assert_works(result) -> str:
    code, out, err = result
    assert code == 0, err
    assert "Traceback" not in err and "error:" not in err
    return out
