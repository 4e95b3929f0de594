"""Malformed scenarios: each gets a precise file:line:col, an actionable message, and no traceback.

Every file in `malformed/` starts with `# expect: <line>:<col> <substring>`. A second line
`# xfail: <reason>` marks a file whose message or location is not yet what a QA author needs
(strict: the test fails once the loader is fixed, so the marker gets removed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mockvapi import cli

HERE = Path(__file__).parent / "malformed"
_EXPECT = re.compile(r"^# expect: (\d+):(\d+) (.+)$")
_XFAIL = re.compile(r"^# xfail: (.+)$")


@dataclass(frozen=True)
class Case:
    path: Path
    line: int
    column: int
    substring: str
    xfail: str | None


def read_case(path: Path) -> Case:
    first, second, *_ = path.read_text(encoding="utf-8").split("\n") + ["", ""]
    match = _EXPECT.match(first)
    assert match, f"{path.name} must start with `# expect: <line>:<col> <substring>`"
    xfail = _XFAIL.match(second)
    return Case(path, int(match[1]), int(match[2]), match[3], xfail[1] if xfail else None)


CASES = [read_case(p) for p in sorted(HERE.glob("*.yaml"))]


def _params() -> list[object]:
    return [
        pytest.param(case, id=case.path.stem,
                     marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [])
        for case in CASES
    ]


def test_there_are_enough_malformed_files() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", _params())
def test_malformed_scenario_is_reported_at_its_place(case: Case, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(case.path)
    code = cli.main(["validate", path])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == 1, output
    assert "Traceback" not in output
    where = f"{path}:{case.line}:{case.column}:"
    lines = [line for line in output.splitlines() if line.startswith(where)]
    assert lines, f"nothing reported at {where}\n{output}"
    assert any(case.substring in line for line in lines), f"{case.substring!r} not in:\n{output}"


def test_console_script_reports_without_traceback() -> None:
    script = shutil.which("mockvapi", path=str(Path(sys.executable).parent))
    assert script is not None, "the mockvapi console script is not installed in this environment"
    case = next(c for c in CASES if c.path.stem == "unknown-key")
    done = subprocess.run([script, "validate", str(case.path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert f"{case.path}:{case.line}:{case.column}: " in done.stdout
    assert "did you mean 'firstMessage'?" in done.stdout


def test_validate_reports_every_bad_file_and_keeps_going(capsys: pytest.CaptureFixture[str]) -> None:
    good = [c for c in CASES if c.xfail is None][:3]
    code = cli.main(["validate", *(str(c.path) for c in good)])
    out = capsys.readouterr().out
    assert code == 1
    for case in good:
        assert f"{case.path}:{case.line}:{case.column}:" in out
