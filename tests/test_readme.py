"""The README's non-Python examples are true: its scenario YAML plays, its commands exist, and the
Quick start has exactly the two commands CI relies on. (Python blocks: tests/examples/test_readme.py.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from mockvapi.cli import build_parser
from mockvapi.engine.simulator import simulate
from mockvapi.scenario.loader import load_text

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(?P<lang>\w*)\n(?P<code>.*?)^```", re.S | re.M)


def blocks(lang: str) -> list[str]:
    return [m["code"] for m in BLOCK.finditer(README) if m["lang"] == lang]


def test_every_yaml_example_is_a_playable_scenario() -> None:
    assert blocks("yaml")
    for code in blocks("yaml"):
        timeline = simulate(load_text(code, "README.md"))
        assert timeline.ended_reason is not None


def test_every_mockvapi_command_in_the_readme_exists() -> None:
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    seen = 0
    for code in blocks("sh"):
        for line in code.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part.split("#")[0])
                if words[:1] == ["mockvapi"]:
                    seen += 1
                    assert words[1] in subcommands, line
    assert seen >= 5


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [b.strip() for b in BLOCK.findall(quick) for b in [b[1]]]
    assert commands == [
        "pip install . && mockvapi run scenarios/",
        "pip install -c constraints/test.txt -e '.[test]' && pytest",
    ]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet -c constraints/test.txt -e '.[test]'" in ci and "python -m pytest" in ci
