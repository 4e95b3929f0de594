"""CI and the pinned test environment: constraints/test.txt pins every test and bench dependency, the
README's test command and .ci/run install through it, and the acceptance step (tools/ci_acceptance.py)
reads the README's Quick start and judges the test run the way the issue asks."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints" / "test.txt"
README = (REPO / "README.md").read_text(encoding="utf-8")
CI = (REPO / ".ci" / "run").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _load_acceptance() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_acceptance", REPO / "tools" / "ci_acceptance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


acceptance = _load_acceptance()


def pins() -> dict[str, Version]:
    pinned: dict[str, Version] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        name, sep, version = text.partition("==")
        assert sep and name.strip() and version.strip(), f"not an exact pin: {line!r}"
        pinned[canonicalize_name(name.strip())] = Version(version.strip())
    return pinned


# --- the pinned environment ---------------------------------------------------------------------


def test_the_readme_test_command_installs_the_pinned_environment() -> None:
    first, second = acceptance.quick_start_commands(README)
    assert first == "pip install . && mockvapi run scenarios/"
    assert second == "pip install -c constraints/test.txt -e '.[test]' && pytest"
    assert CONSTRAINTS.is_file()
    assert "pip install --quiet -c constraints/test.txt -e '.[test]'" in CI


def test_the_constraints_file_says_how_to_regenerate_it() -> None:
    header = [line for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines() if line.startswith("#")][:2]
    command = header[1].lstrip("# ")
    assert command.startswith("uv pip compile pyproject.toml --extra test ")
    assert "--python-version 3.11" in command and "-o constraints/test.txt" in command


def _project_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    listed = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    return [r for r in map(Requirement, listed) if canonicalize_name(r.name) != "mockvapi"]


def test_every_dependency_of_the_test_environment_is_pinned_within_its_range() -> None:
    pinned = pins()
    requirements = _project_requirements()
    assert len(requirements) >= 20
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not pinned in {CONSTRAINTS.name}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (str(requirement), pinned[name])


def test_the_package_dependencies_stay_ranges() -> None:
    for requirement in map(Requirement, PYPROJECT["project"]["dependencies"]):
        assert not any(spec.operator in ("==", "===") for spec in requirement.specifier), requirement


def _third_party_imports(folder: Path) -> set[str]:
    local = {"mockvapi", "tests", "bench", "tools", "conftest"}
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {n.split(".")[0] for n in names} - local - set(sys.stdlib_module_names)
    return found


@pytest.mark.parametrize("folder", ["tests", "bench", "tools"])
def test_everything_tests_and_bench_import_is_pinned(folder: str) -> None:
    pinned = pins()
    distributions = metadata.packages_distributions()
    imported = _third_party_imports(REPO / folder)
    if folder != "tools":
        assert imported, folder
    for module in sorted(imported):
        dists = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert dists, f"{folder} imports {module!r}, which no installed distribution provides"
        assert dists & pinned.keys(), f"{folder} imports {module!r} ({sorted(dists)}), not pinned in {CONSTRAINTS.name}"


# --- the acceptance step ------------------------------------------------------------------------


def test_ci_runs_the_acceptance_after_the_tests_and_before_the_bench_smoke() -> None:
    tests, accept, bench = (CI.index(s) for s in ("python -m pytest", "tools/ci_acceptance.py", "python -m bench"))
    assert tests < accept < bench
    assert "pip install -e '.[test]' && pytest" not in CI  # no copy of the README's commands


def test_quick_start_commands_are_read_from_their_section_only() -> None:
    readme = "# x\n\n```sh\nnot this\n```\n\n## Quick start\n\n```sh\none\n```\n\ntext\n\n"
    readme += "```sh\ntwo\n```\n\n## Next\n\n```sh\nnor this\n```\n"
    assert acceptance.quick_start_commands(readme) == ["one", "two"]
    with pytest.raises(ValueError, match="Quick start"):
        acceptance.quick_start_commands("# nothing here\n")


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="{errors}"
failures="{failures}" skipped="{skipped}" tests="{tests}">
<testcase classname="tests.test_a" name="test_ok" />
{cases}
</testsuite></testsuites>"""


def _outcome(tmp_path: Path, cases: str = "", *, tests: int = 3, failures: int = 0, errors: int = 0) -> object:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT.format(cases=cases, tests=tests, failures=failures, errors=errors, skipped=0))
    return acceptance.read_junit(path)


def _skip(name: str, reason: str, kind: str = "pytest.skip") -> str:
    skipped = f'<skipped type="{kind}" message="{reason}" />'
    return f'<testcase classname="tests.server.test_x" name="{name}">{skipped}</testcase>'


def test_a_clean_run_with_harmless_skips_is_green(tmp_path: Path) -> None:
    cases = _skip("test_ipv6", "no IPv6 loopback here") + _skip("test_strict", "known bug", kind="pytest.xfail")
    assert acceptance.suite_problems(0, _outcome(tmp_path, cases)) == []


def test_a_skip_for_want_of_the_spec_fails_the_acceptance(tmp_path: Path) -> None:
    cases = _skip("test_dto_table_matches_the_spec[CreateCallDTO]", "official spec not available at ../shared/vapi")
    problems = acceptance.suite_problems(0, _outcome(tmp_path, cases))
    assert problems == [
        "skipped for want of a file: tests.server.test_x::test_dto_table_matches_the_spec[CreateCallDTO]: "
        "official spec not available at ../shared/vapi"
    ]


@pytest.mark.parametrize(
    "reason",
    [
        "the official validator is not available (/x/shared/vapi/validate.py is absent)",
        "needs Debian's chromium (apt-get install -y chromium)",
        "[Errno 2] No such file or directory: 'fixtures/call.json'",
        "spec file not found",
    ],
)
def test_every_kind_of_missing_file_counts(tmp_path: Path, reason: str) -> None:
    assert acceptance.suite_problems(0, _outcome(tmp_path, _skip("test_thing", reason)))


def test_only_the_extract_equals_spec_checks_may_skip_without_the_spec(tmp_path: Path) -> None:
    reason = "official spec not available at /tmp/shared/vapi/openapi.json"
    cases = _skip("test_shipped_extract_equals_a_fresh_extract_from_the_spec", reason)
    cases += _skip("test_shipped_schemas_are_up_to_date_with_the_spec", reason)
    cases += _skip("test_conformance_extract_matches_the_spec", reason)
    assert acceptance.suite_problems(0, _outcome(tmp_path, cases)) == []
    others = _skip("test_bundled_scenario_messages_match_the_spec[happy-path]", reason)
    others += _skip("test_spec_checker_is_active", reason)
    assert len(acceptance.suite_problems(0, _outcome(tmp_path, others))) == 2


def test_failures_errors_no_tests_and_exit_5_are_red(tmp_path: Path) -> None:
    problems = acceptance.suite_problems
    assert problems(1, _outcome(tmp_path, failures=1)) == ["the command exited 1", "1 failed, 0 errors"]
    assert problems(1, _outcome(tmp_path, errors=2)) == ["the command exited 1", "0 failed, 2 errors"]
    assert problems(0, _outcome(tmp_path, tests=0)) == ["no tests ran"]
    assert problems(5, None) == ["pytest collected no tests (exit 5): that is a failure here, not a pass"]
    assert problems(2, None) == ["pytest wrote no JUnit report (exit 2)"]


def _tiny_repo(path: Path, test_body: str) -> Path:
    """A git repository whose README's Quick start runs this interpreter's pytest on one test."""
    path.mkdir()
    python = sys.executable
    first, second = "test ! -e ../shared && echo first", f"{python} -m pytest -p no:cacheprovider"
    readme = f"# tiny\n\n## Quick start\n\n```sh\n{first}\n```\n\n```sh\n{second}\n```\n"
    (path / "README.md").write_text(readme)
    (path / "test_tiny.py").write_text(f"import pytest\n\n\n{test_body}\n")
    (path / "pytest.ini").write_text("[pytest]\n")
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *command], cwd=path, check=True, capture_output=True)
    return path


@pytest.mark.parametrize(
    ("test_body", "green"),
    [
        ("def test_fine():\n    pass", True),
        ("def test_shipped_extract_equals_the_spec():\n    pytest.skip('official spec not available')", True),
        ("def test_needs_shared():\n    pytest.skip('official spec not available at ../shared')", False),
        ("", False),  # no tests: exit 5
    ],
    ids=["green", "allowed-skip", "skip-for-a-file", "no-tests"],
)
def test_the_acceptance_clones_and_runs_both_commands(tmp_path: Path, test_body: str, green: bool) -> None:
    repo = _tiny_repo(tmp_path / "repo", test_body)
    (tmp_path / "shared").mkdir()  # beside the repository, not beside the clone
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "ci_acceptance.py"), "--repo", str(repo), "--without-pip"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == (0 if green else 1), done.stdout + done.stderr
    assert "first" in done.stdout  # the first command ran, and found no ../shared beside the clone
    assert ("both Quick start commands are green" in done.stdout) is green


def test_test_modules_import_each_other_under_a_plain_pytest() -> None:
    # The README runs `pytest`, not `python -m pytest`: the repository root is on sys.path only because
    # tests/ is a package (rootdir-based module names), so `from tests.engine.invariants import ...`
    # resolves on a fresh clone. A folder of tests without __init__.py would be imported under its own
    # basename instead, and such an import would fail there (it did, in CI).
    folders = {path.parent for path in (REPO / "tests").rglob("*.py") if "node_modules" not in path.parts}
    missing = sorted(str(folder.relative_to(REPO)) for folder in folders if not (folder / "__init__.py").is_file())
    assert missing == []
