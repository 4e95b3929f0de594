"""CI acceptance: the README's Quick start, on a clean clone with no ../shared beside it.

A user has nothing but the repository and the README, so this clones the committed checkout (HEAD)
into a fresh temporary folder (which has no ``shared/`` beside it) and runs the README's two Quick
start commands there exactly as written, each in a fresh virtualenv. The commands are read from
README.md, so they cannot drift from what users are told.

It fails unless both commands exit 0, and the second (the test suite) ran tests with 0 failed,
0 errors and no test skipped for want of a file (the spec, the validator, anything in ../shared).
The one exception: a check that a shipped extract still equals a fresh extract from the spec may
skip there (it is recognised by its name: ``test_...shipped...`` or ``test_...extract...``, then
``spec`` or ``fresh``, e.g. ``test_shipped_extract_equals_a_fresh_extract_from_the_spec``).
pytest's own text stays as it is; the verdict is read from a JUnit XML report asked for through
``PYTEST_ADDOPTS``, together with ``-rs`` so the log lists every skip and its reason.

Run: ``python tools/ci_acceptance.py`` (``--keep`` leaves the temporary folder for a look).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK_START = re.compile(r"^## Quick start\n(?P<body>.*?)(?=^## |\Z)", re.S | re.M)
SH_BLOCK = re.compile(r"^```sh\n(?P<code>.*?)^```", re.S | re.M)
# A skip reason that says a file was missing: the spec, the validator, ../shared, a browser binary.
WANT_OF_A_FILE = re.compile(
    r"shared/|\bspec\b|validat|not found|not available|absent|no such file|missing|chromium|\.json\b|\.py\b",
    re.I,
)
# The one kind of test allowed to skip without the spec: shipped extract == fresh extract.
EXTRACT_CHECK = re.compile(r"^test_\w*(shipped|extract)\w*(spec|fresh)", re.I)
# Environment that would point the clone back at this machine's files or interpreter.
DROPPED_ENV = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTEST_ADDOPTS", "PIP_REQUIRE_VIRTUALENV")
COMMAND_TIMEOUT_S = 45 * 60


def quick_start_commands(readme: str) -> list[str]:
    """The shell commands of README's Quick start section, one per ``sh`` block."""
    section = QUICK_START.search(readme)
    if section is None:
        raise ValueError("README.md has no '## Quick start' section")
    return [block["code"].strip() for block in SH_BLOCK.finditer(section["body"])]


@dataclass(frozen=True)
class Skip:
    test: str  # module::name
    reason: str

    @property
    def for_want_of_a_file(self) -> bool:
        return bool(WANT_OF_A_FILE.search(self.reason))

    @property
    def is_extract_check(self) -> bool:
        return bool(EXTRACT_CHECK.match(self.test.rpartition("::")[2]))


@dataclass(frozen=True)
class Outcome:
    """What a JUnit XML report says about a pytest run."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skips: list[Skip] = field(default_factory=list)


def read_junit(path: Path) -> Outcome:
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failures = sum(int(s.get("failures", 0)) for s in suites)
    errors = sum(int(s.get("errors", 0)) for s in suites)
    skips = []
    for case in root.iter("testcase"):
        skipped = case.find("skipped")
        if skipped is not None and skipped.get("type") != "pytest.xfail":
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            skips.append(Skip(name, skipped.get("message", "")))
    return Outcome(tests, failures, errors, skips)


def suite_problems(returncode: int, outcome: Outcome | None) -> list[str]:
    """Why the README's test command does not count as green (empty: it does)."""
    if returncode == 5:
        return ["pytest collected no tests (exit 5): that is a failure here, not a pass"]
    problems = []
    if outcome is None:
        return [f"pytest wrote no JUnit report (exit {returncode})"]
    if returncode != 0:
        problems.append(f"the command exited {returncode}")
    if outcome.tests == 0:
        problems.append("no tests ran")
    if outcome.failures or outcome.errors:
        problems.append(f"{outcome.failures} failed, {outcome.errors} errors")
    for skip in outcome.skips:
        if skip.for_want_of_a_file and not skip.is_extract_check:
            problems.append(f"skipped for want of a file: {skip.test}: {skip.reason}")
    return problems


def clean_env(venv: Path, junit: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV and not k.startswith("MOCKVAPI_")}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if junit is not None:
        env["PYTEST_ADDOPTS"] = f"-rs --junitxml={junit}"
    return env


def run_command(command: str, clone: Path, venv: Path, junit: Path | None, *, with_pip: bool = True) -> int:
    subprocess.run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(venv)], check=True)
    print(f"\nCI acceptance: $ {command}   (in {clone}, venv {venv.name})", flush=True)
    try:
        done = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=clean_env(venv, junit), timeout=COMMAND_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        print(f"CI acceptance: timed out after {COMMAND_TIMEOUT_S} s", flush=True)
        return 124
    return done.returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Run the README's Quick start on a clean clone without ../shared.")
    parser.add_argument("--keep", action="store_true", help="leave the temporary folder (default: remove it)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository to clone (default: %(default)s)")
    parser.add_argument("--without-pip", action="store_true", help="virtualenvs without pip (tests of this script)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mockvapi-acceptance-"))
    clone = work / "mockvapi"
    try:
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(args.repo), str(clone)], check=True)
        if (clone.parent / "shared").exists():
            print(f"CI acceptance: {clone.parent / 'shared'} exists; the clone must have no ../shared", file=sys.stderr)
            return 1
        commands = quick_start_commands((clone / "README.md").read_text(encoding="utf-8"))  # as committed
        if len(commands) != 2:
            print(f"CI acceptance: Quick start has {len(commands)} commands, expected 2: {commands}", file=sys.stderr)
            return 1
        problems: list[str] = []
        first, second = commands
        status = run_command(first, clone, work / "venv-1", None, with_pip=not args.without_pip)
        if status != 0:
            problems.append(f"{first!r} exited {status}")
        junit = work / "junit.xml"
        status = run_command(second, clone, work / "venv-2", junit, with_pip=not args.without_pip)
        outcome = read_junit(junit) if junit.is_file() else None
        problems += [f"{second!r}: {p}" for p in suite_problems(status, outcome)]
        if outcome is not None:
            allowed = [s for s in outcome.skips if s.for_want_of_a_file and s.is_extract_check]
            print(
                f"\nCI acceptance: {outcome.tests} tests, {outcome.failures} failed, {outcome.errors} errors, "
                f"{len(outcome.skips)} skipped ({len(allowed)} extract-equals-spec checks, allowed)"
            )
        for problem in problems:
            print(f"CI acceptance: FAILED: {problem}", file=sys.stderr)
        if not problems:
            print("CI acceptance: both Quick start commands are green on a clean clone without ../shared")
        return 1 if problems else 0
    finally:
        if args.keep:
            print(f"CI acceptance: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
