"""Async tests copied from the README pass in a user's project that has no asyncio configuration.

The user installed mockvapi as the README says and copied its examples; their project has no
`asyncio_mode` and may not have pytest-asyncio at all. The mockvapi plugin runs an `async def` test
that uses its fixture when no asyncio plugin claims it; with pytest-asyncio in auto mode (this
project's own configuration) pytest-asyncio runs it, as every other test here shows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent / "examples"
# The README's examples with async tests (test_official_sdk is left out: it takes a minute).
COPIED_TESTS = (
    "test_fixture.py",
    "test_webhooks.py",
    "test_fault_injection.py",
    "test_client_stream.py",
    "test_websocket_client.py",
    "test_without_pytest.py",
)
NO_PYTEST_ASYNCIO = ("-p", "no:asyncio")
WITH_PYTEST_ASYNCIO_STRICT: tuple[str, ...] = ()  # its default mode: only marked tests are its own


def _user_project(pytester: pytest.Pytester) -> Path:
    """A project with the README's examples and an empty pytest configuration."""
    package = pytester.path / "examples"
    package.mkdir()
    for path in EXAMPLES.iterdir():
        if path.suffix in (".py", ".yaml") and (not path.name.startswith("test_") or path.name in COPIED_TESTS):
            shutil.copy(path, package / path.name)
    pytester.makeini("[pytest]\n")
    return package


def _count_tests(package: Path) -> tuple[int, int]:
    """(all tests, async tests) in the copied modules."""
    texts = [(package / name).read_text(encoding="utf-8") for name in COPIED_TESTS]
    return sum(t.count("\ndef test_") + t.count("\nasync def test_") for t in texts), sum(
        t.count("\nasync def test_") for t in texts
    )


@pytest.mark.parametrize("plugins", [NO_PYTEST_ASYNCIO, WITH_PYTEST_ASYNCIO_STRICT], ids=["alone", "strict"])
def test_the_readme_async_examples_pass_without_any_configuration(
    pytester: pytest.Pytester, plugins: tuple[str, ...]
) -> None:
    package = _user_project(pytester)
    total, async_tests = _count_tests(package)
    assert async_tests >= 6
    warnings = ("-W", "error::RuntimeWarning")  # a coroutine never awaited
    result = pytester.runpytest_subprocess(*plugins, "-p", "no:cacheprovider", *warnings, "examples")
    result.assert_outcomes(passed=total)


ASYNC_TESTS = """
import asyncio

import pytest


def down(body, headers):
    return 503, {"error": "maintenance"}


async def test_plays_on_the_tests_own_loop(mockvapi):
    call = await mockvapi.play("happy-path")
    assert asyncio.get_running_loop() is mockvapi._loop
    assert call.ended_reason == "customer-ended-call"


async def test_factory(mockvapi_call):
    call = await mockvapi_call("tool-call")
    assert call.name == "tool-call"


async def test_strict_by_default(mockvapi):
    await mockvapi.play("happy-path", webhook=down)


async def test_not_ours():
    pass
"""


def test_the_plugin_runs_only_async_tests_that_use_its_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_async=ASYNC_TESTS)
    result = pytester.runpytest_subprocess(*NO_PYTEST_ASYNCIO, "-p", "no:cacheprovider", "-rA")
    # The strict teardown check still holds, and an async test without the fixture is left to pytest.
    result.assert_outcomes(passed=3, failed=1, errors=1)
    result.stdout.re_match_lines([r"ERROR test_async.py::test_strict_by_default - mockvapi.errors.Expectation.*"])
    result.stdout.re_match_lines([r"FAILED test_async.py::test_not_ours.*"])
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])


def test_pytest_asyncio_keeps_the_tests_it_claims(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_async=ASYNC_TESTS.replace("async def test_not_ours", "async def test_asyncio_runs_it"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=1)
