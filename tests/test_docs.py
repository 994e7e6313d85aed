"""Docs that cannot drift: every `ssamt ...` command shown in a code block of the README and
the guides names a subcommand and flags the CLI's parser has; relative links resolve; every
docs/DESIGN.md section the code cites exists; no issue number reaches product text."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from ssamt.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def command_lines(markdown: str) -> list[str]:
    """The `ssamt ...` commands of a page's code blocks, continuation lines joined, comments
    and shell prompts stripped."""
    out = []
    for block in FENCE.findall(markdown):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = " ".join(line.split()).removeprefix("$ ")
            for part in re.split(r"&&|\|\||;|\|", line):
                part = part.strip()
                if part.startswith("ssamt ") or re.match(r"^torchrun .* -m ssamt ", part):
                    out.append(part[part.index("ssamt "):] if part.startswith("torchrun")
                               else part)
    return out


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def problems(command: str, parser: argparse.ArgumentParser) -> list[str]:
    """What of `command` the parser does not know: its subcommand (and an analysis's name),
    or a flag; [] when every word checks."""
    words = shlex.split(command, comments=True)[1:]
    node, found = parser, []
    while words and not words[0].startswith("-"):
        subs = _subparsers(node)
        if not subs:
            break
        name = words.pop(0)
        if name not in subs:
            return [f"{command!r}: unknown command {name!r}"]
        node = subs[name]
    flags = {opt for action in node._actions for opt in action.option_strings}
    for word in words:
        flag = word.split("=", 1)[0]
        if flag.startswith("--") and flag not in flags:
            found.append(f"{command!r}: {flag} is not an option of "
                         f"{node.prog.removeprefix('ssamt ') or 'ssamt'}")
    return found


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_shown_exists(page, parser):
    commands = command_lines(page.read_text(encoding="utf-8"))
    wrong = [p for c in commands for p in problems(c, parser)]
    assert not wrong, "\n".join(wrong)


def test_the_readme_shows_commands(parser):
    commands = command_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    assert any(c.startswith("ssamt quickstart") for c in commands)
    assert any(c.startswith("ssamt train") for c in commands)


def test_the_check_finds_an_unknown_flag_and_command(parser):
    page = "```bash\nssamt train --config synthetic --no-such-flag 3 \\\n  --out r\n" \
           "ssamt trian --data d\nssamt analyze recipes --data d --out o --seeds 0 1\n```\n"
    commands = command_lines(page)
    assert commands[0] == "ssamt train --config synthetic --no-such-flag 3 --out r"
    assert problems(commands[0], parser) == [
        ("'ssamt train --config synthetic --no-such-flag 3 --out r': --no-such-flag is not "
        "an option of train")]
    assert "unknown command 'trian'" in problems(commands[1], parser)[0]
    assert problems(commands[2], parser) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces
    as hyphens."""
    heads = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("page", [*PAGES, ROOT / "BENCHMARKS.md"], ids=lambda p: p.name)
def test_link_anchors_name_headings(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or "#" not in target:
            continue
        file, anchor = target.split("#", 1)
        linked = (page.parent / file).resolve() if file else page
        if linked.suffix == ".md" and linked.is_file() and \
                anchor not in heading_anchors(linked.read_text(encoding="utf-8")):
            broken.append(target)
    assert not broken, f"{page.name}: links to no heading {broken}"


def test_benchmarks_sections_cited_exist():
    """Text that sends the reader to BENCHMARKS.md, "Section" names a heading there."""
    heads = [h.lower() for h in re.findall(r"^#+ (.+)$", (ROOT / "BENCHMARKS.md")
                                           .read_text(encoding="utf-8"), re.MULTILINE)]
    cite = re.compile(r'BENCHMARKS\.md(?:,|\s*\(|\s+section)\s*\[?"([^"]+)"')
    missing = []
    for path in [*PAGES, *sorted((ROOT / "src").rglob("*.py"))]:
        text = " ".join(path.read_text(encoding="utf-8").split())
        missing += [f"{path.name}: {name!r}" for name in cite.findall(text)
                    if not any(name.lower() in h for h in heads)]
    assert not missing, "sections cited but not in BENCHMARKS.md:\n" + "\n".join(missing)


def test_design_citations_resolve():
    headings = {int(n) for n in re.findall(r"^## (\d+)\.", (ROOT / "docs" / "DESIGN.md")
                                           .read_text(encoding="utf-8"), re.MULTILINE)}
    cited = set()
    for path in (ROOT / "src").rglob("*"):
        if path.suffix in (".py", ".yaml"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(?<![\w/])DESIGN\.md", text), f"{path}: cite docs/DESIGN.md"
            cited |= {int(n) for n in re.findall(r"docs/DESIGN\.md,? sections? (\d+)", text)}
    assert cited and cited <= headings, f"cited sections {sorted(cited - headings)} missing"


def test_no_issue_numbers_in_product_text():
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "src").rglob("*.py")), *sorted((ROOT / "src").rglob("*.yaml"))]
    found = [f"{p.relative_to(ROOT)}:{n}" for p in texts
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"issue ?#?\d+", line, re.IGNORECASE)]
    assert not found, "issue numbers in product text:\n" + "\n".join(found[:20])


def python_blocks(markdown: str) -> list[str]:
    """The ```python blocks of a page."""
    return re.findall(r"^```python\n(.*?)^```", markdown, re.DOTALL | re.MULTILINE)


@pytest.mark.usefixtures("one_thread")
def test_readme_python_example_runs(tmp_path, capsys):
    """The README's Python example, run as written on a tiny gallery (its run, data and
    index folders put where the example names the quick start's)."""
    pytest.importorskip("spacy")
    pytest.importorskip("faiss")
    from _gallery import make_gallery

    (example,) = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    gallery = make_gallery(tmp_path)
    paths = {"runs/quickstart/run": gallery["run"], "runs/quickstart/data": gallery["data"],
             "index/quickstart": gallery["index"]}
    for shown, real in paths.items():
        assert f'"{shown}"' in example, f"the README example no longer opens {shown}"
        example = example.replace(f'"{shown}"', repr(str(real)))
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 (the README's own code)
    recall, flagged = capsys.readouterr().out.splitlines()
    stage1, reranked = map(float, recall.split())
    assert 0 <= stage1 <= 600 and 0 <= reranked <= 600 and flagged.strip()
