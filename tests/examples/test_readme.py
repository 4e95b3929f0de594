"""Every README code block marked `<!-- example: tests/examples/<file> -->` is that file, or a
contiguous excerpt of it (dedented as a whole), verbatim: the README's examples are these tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MARKED_BLOCK = re.compile(r"<!-- example: (?P<path>\S+) -->\s*\n```[\w-]*\n(?P<code>.*?)^```", re.S | re.M)


def marked_blocks() -> list[tuple[str, str]]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return [(m["path"], m["code"]) for m in MARKED_BLOCK.finditer(readme)]


def is_excerpt(block: list[str], source: list[str]) -> bool:
    """`block` equals a run of `source` lines with one common indent removed (blank lines match blank)."""
    if not block:
        return False
    for start in range(len(source) - len(block) + 1):
        first = source[start]
        indent = first[: len(first) - len(first.lstrip())]
        if all(
            (line == "" and text.strip() == "") or text == indent + line
            for line, text in zip(block, source[start : start + len(block)], strict=True)
        ):
            return True
    return False


def test_readme_has_example_blocks() -> None:
    assert marked_blocks(), "README.md has no `<!-- example: tests/examples/... -->` code blocks"


@pytest.mark.parametrize(("path", "code"), marked_blocks(), ids=[p for p, _ in marked_blocks()])
def test_readme_example_is_verbatim_from_its_file(path: str, code: str) -> None:
    # The web app's examples are JavaScript run in a browser or by a bundler: examples/web, tests/web.
    assert path.startswith(("tests/examples/", "tests/web/", "examples/web/")), f"{path}: not an example folder"
    source = (REPO / path).read_text(encoding="utf-8").splitlines()
    assert is_excerpt(code.splitlines(), source), f"README block marked {path} is not verbatim from that file"
