"""The documentation keeps its promises: a short README, links that resolve, and every `lab` command, flag and
config key named in docs/. Each check is a function returning the problems it found, shown failing on a broken
input below."""
from __future__ import annotations

import argparse
import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README_MAX_LINES = 200

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`[^`]*`")
# cli.md's section for the flags most commands take (--debug, --set, ...): named there once, not per command
SHARED_FLAGS = re.compile(r"^Flags most commands share$")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


# ------------------------------------------------------------------------------------------ markdown reading


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def headings(text: str) -> list[tuple[int, str]]:
    """(level, rendered text) of every heading outside code blocks."""
    found = []
    for _, line in prose_lines(text):
        match = HEADING.match(line)
        if match:
            rendered = LINK.sub(lambda m: m.group(0)[1:m.group(0).index("]")], match.group(2))
            found.append((len(match.group(1)), rendered.replace("`", "")))
    return found


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation other than '-' and '_' dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for _, heading in headings(text):
        slug = github_slug(heading)
        out.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return out


def section(text: str, heading_pattern: re.Pattern) -> str | None:
    """The text under the first heading matching `heading_pattern`, down to the next heading of its level or
    above; None when no heading matches."""
    lines = text.splitlines()
    start = level = None
    fenced = False
    for index, line in enumerate(lines):
        if FENCE.match(line):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if not match:
            continue
        depth = len(match.group(1))
        if start is not None and depth <= level:
            return "\n".join(lines[start:index])
        if start is None and heading_pattern.search(match.group(2).replace("`", "")):
            start, level = index + 1, depth
    return None if start is None else "\n".join(lines[start:])


# ----------------------------------------------------------------------------------------------- the checks


def link_problems(path: Path) -> list[str]:
    """Relative links (and images) of one markdown file whose file or `#anchor` does not exist."""
    problems = []
    for number, line in prose_lines(path.read_text()):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{number}: {target}"
            if not linked.exists():
                problems.append(f"{where}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
                problems.append(f"{where}: no heading with the anchor #{anchor} in {linked.name}")
    return problems


def lab_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("lab",)
                 ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every subcommand under `parser`, nested ones too: (("lab", "experiment", "robustness"), its parser)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield path + (name,), sub
                yield from lab_commands(sub, path + (name,))


def is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def cli_problems(parser: argparse.ArgumentParser, cli_doc: str) -> list[str]:
    """Subcommands not named in the CLI page, leaf commands without a heading of their own, and flags named
    neither in their command's section nor in the shared-flags section."""
    problems = []
    shared = section(cli_doc, SHARED_FLAGS) or ""
    for path, sub in lab_commands(parser):
        name = " ".join(path)
        pattern = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        if not pattern.search(cli_doc):
            problems.append(f"`{name}` is not named")
            continue
        if not is_leaf(sub):
            continue
        text = section(cli_doc, pattern)
        if text is None:
            problems.append(f"`{name}` has no heading of its own")
            continue
        text += "\n" + shared
        for action in sub._actions:
            flags = [o for o in action.option_strings if o.startswith("--")]
            if isinstance(action, argparse._HelpAction) or not flags:
                continue
            if not any(re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) for flag in flags):
                problems.append(f"`{name}`: its section does not name {' / '.join(flags)}")
    return problems


def config_keys(cls: type, prefix: str = "") -> Iterator[str]:
    """Every leaf key of a config dataclass, dotted: `model.convlstm.hidden_channels`."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            yield from config_keys(kind, f"{prefix}{field.name}.")
        else:
            yield prefix + field.name


def config_problems(config_cls: type, config_doc: str) -> list[str]:
    """Dotted keys not named (in backticks) in the configuration page."""
    return [f"`{key}` is not named" for key in config_keys(config_cls) if f"`{key}`" not in config_doc]


def top_level_problems(config_cls: type, docs_text: str) -> list[str]:
    """Top-level keys named nowhere in the docs, as `key` or as the start of a dotted `key.path`."""
    return [f"`{f.name}` is named nowhere in docs/" for f in dataclasses.fields(config_cls)
            if not re.search(rf"`{re.escape(f.name)}[`.]", docs_text)]


# ---------------------------------------------------------------------------------------- the real documents


def test_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert "make demo" in text and "make test" in text


def test_every_link_and_anchor_resolves():
    problems = [p for path in doc_files() for p in link_problems(path)]
    assert not problems, "\n".join(problems)


def test_every_lab_command_and_flag_is_in_the_cli_page():
    from lab.cli.main import build_parser

    parser = build_parser()
    assert len(list(lab_commands(parser))) >= 15  # the walk reaches the nested commands too
    problems = cli_problems(parser, (DOCS / "cli.md").read_text())
    assert not problems, "\n".join(problems)


def test_every_config_key_is_in_the_configuration_page():
    from lab.config import Config

    assert "model.convlstm.hidden_channels" in set(config_keys(Config))
    problems = config_problems(Config, (DOCS / "configuration.md").read_text())
    assert not problems, "\n".join(problems)


def test_every_top_level_config_key_is_named_in_the_docs():
    from lab.config import Config

    docs_text = "\n".join(path.read_text() for path in sorted(DOCS.rglob("*.md")))
    problems = top_level_problems(Config, docs_text)
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------- each check fails on broken input


def test_slugs_follow_github():
    assert github_slug("`lab synth`") == "lab-synth"
    assert github_slug("What \"exact\" means") == "what-exact-means"
    assert github_slug("The real-footage set: lab synth --real-footage") == "the-real-footage-set-lab-synth---real-footage"
    assert anchors("# Notes\n## Notes\n```\n# not a heading\n```\n## `a.b` [link](x.md)\n") == {
        "notes", "notes-1", "ab-link"}


def test_a_dead_link_or_anchor_is_reported(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n")
    doc = tmp_path / "doc.md"
    doc.write_text("# Doc\n\n[fine](other.md#a-section) [self](#doc) [web](https://example.org)\n"
                   "`[in code](gone.md)`\n```\n[in a block](gone.md)\n```\n"
                   "[dead](missing.md) [bad anchor](other.md#no-such-section) ![img](pic.png)\n")
    problems = link_problems(doc)
    assert len(problems) == 3, problems
    assert "missing.md: no such file" in problems[0]
    assert "#no-such-section" in problems[1]
    assert "pic.png: no such file" in problems[2]


def _toy_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="lab")
    sub = root.add_subparsers()
    sub.add_parser("train").add_argument("--epochs")
    family = sub.add_parser("experiment").add_subparsers()
    robustness = family.add_parser("robustness")
    robustness.add_argument("--data-dir", "--data_dir")
    robustness.add_argument("--quick", action="store_true")
    return root


def test_a_command_or_flag_missing_from_the_cli_page_is_reported():
    parser = _toy_parser()
    complete = ("## `lab train`\n\n`--epochs N`\n\n## `lab experiment robustness`\n\n`--data_dir`, `--quick`\n"
                "`lab experiment` is a family.\n")
    assert cli_problems(parser, complete) == []
    assert cli_problems(parser, complete.replace("## `lab train`", "## Training")) == [
        "`lab train` is not named"]
    assert cli_problems(parser, complete.replace(", `--quick`", "")) == [
        "`lab experiment robustness`: its section does not name --quick"]
    # a flag named only under another command's heading does not count for this one
    moved = "## `lab train`\n\n`--epochs N`, `--quick`\n\n## `lab experiment robustness`\n\n`--data-dir`\n"
    assert cli_problems(parser, moved) == ["`lab experiment robustness`: its section does not name --quick"]
    assert cli_problems(parser, "## `lab train`\n`--epochs`\n\nSee `lab experiment robustness` too.\n") == [
        "`lab experiment robustness` has no heading of its own"]
    shared = "## Flags most commands share\n\n`--quick`\n\n" + complete.replace(", `--quick`", "")
    assert cli_problems(parser, shared) == []


@dataclasses.dataclass(frozen=True)
class _ToyModel:
    hidden_channels: int = 1


@dataclasses.dataclass(frozen=True)
class _ToyConfig:
    model: _ToyModel = dataclasses.field(default_factory=_ToyModel)
    seed: int = 42


def test_a_config_key_missing_from_the_docs_is_reported():
    Toy = _ToyConfig
    assert list(config_keys(Toy)) == ["model.hidden_channels", "seed"]
    assert config_problems(Toy, "`model.hidden_channels` and `seed`") == []
    assert config_problems(Toy, "`model.hidden_channels` and the seed") == ["`seed` is not named"]
    assert top_level_problems(Toy, "`model.hidden_channels`, `seed`") == []
    assert top_level_problems(Toy, "the model and its seed") == ["`model` is named nowhere in docs/",
                                                                 "`seed` is named nowhere in docs/"]
