"""pytest plugin for mockvapi: the `mockvapi` fixture, the `mockvapi_call` factory, a marker and options.

Registered through the `pytest11` entry point. Each test gets a fresh `MockVapi` on a virtual clock
(a 10-minute call plays in milliseconds), a port-0 server when it serves, and a check at teardown
that no problem was recorded (non-200 replies, bad tool results, timeouts, unmet `expect` blocks).

In sync tests the fixture runs its loop in a background thread (`play_sync`); in async tests it runs
on the test's own loop (`await mockvapi.play(...)`). An `async def` test that uses mockvapi (its
fixtures or marker, or a test module that imports from mockvapi) needs no other plugin and no
configuration: when no async plugin claims it (pytest-asyncio in auto mode, or an `asyncio`, `anyio`
or `trio` marker), this plugin runs it on a fresh asyncio event loop instead of letting pytest fail it, so an
example copied from the README passes as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import math
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeGuard

import pytest

if TYPE_CHECKING:
    from mockvapi.testing import Call, MockVapi

# `mockvapi.testing` (the engine, its pydantic models: ~150 ms) is imported when a test first uses a
# fixture, not when pytest loads this plugin: every pytest run where mockvapi is installed loads it.


def _is_mockvapi(value: object) -> TypeGuard[MockVapi]:
    """Whether `value` is a MockVapi, without importing mockvapi.testing (none exists before it is imported)."""
    testing = sys.modules.get("mockvapi.testing")
    return testing is not None and isinstance(value, testing.MockVapi)

MARKER_HELP = (
    "mockvapi(scenario=None, seed=None, speed=None, profile=None, strict=True, webhook=None, "
    "webhook_path='/', serve=False): configure the mockvapi fixture for this test"
)
_OPTION_KEYS = frozenset(
    {"scenario", "seed", "speed", "profile", "strict", "webhook", "webhook_path", "serve", "token", "clock"}
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockvapi")
    group.addoption(
        "--mockvapi-seed",
        type=int,
        default=None,
        help="seed for every mockvapi call (default: each scenario's own seed)",
    )
    group.addoption(
        "--mockvapi-speed",
        type=speed_option,
        default=None,
        help=f"play calls on a real clock at this speed, above 0 and at most {MAX_SPEED:g} (default: virtual time)",
    )


MAX_SPEED = 1000.0


def speed_option(text: str) -> float:
    """`--mockvapi-speed`: a finite speed above 0 (argparse turns the error into a usage error, once,
    instead of a ValueError in every test's fixture)."""
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 10, got {text!r}") from None
    if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise argparse.ArgumentTypeError(f"the speed must be above 0 and at most {MAX_SPEED:g}, got {text!r}")
    return speed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("--mockvapi-seed")
    speed = config.getoption("--mockvapi-speed")
    clock = "virtual" if speed is None else f"real x{speed:g}"
    return f"mockvapi: seed={'scenario default' if seed is None else seed}, clock={clock}"


@pytest.fixture
def mockvapi_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Keyword arguments for the test's MockVapi (command line, then the marker). Override to customise."""
    options: dict[str, Any] = {}
    seed = request.config.getoption("--mockvapi-seed")
    speed = request.config.getoption("--mockvapi-speed")
    if seed is not None:
        options["seed"] = seed
    if speed is not None:
        options["clock"], options["speed"] = "real", speed
    marker = request.node.get_closest_marker("mockvapi")
    if marker is not None:
        unknown = set(marker.kwargs) - _OPTION_KEYS
        if unknown or marker.args:
            raise pytest.UsageError(
                f"mockvapi marker: unknown arguments {sorted(unknown) or marker.args}; {MARKER_HELP}"
            )
        for key, value in marker.kwargs.items():
            if value is None:
                continue
            if key == "scenario":
                options["default_scenario"] = value
            elif key == "speed":
                options["clock"], options["speed"] = "real", value
            else:
                options[key] = value
    return options


def _is_async(request: pytest.FixtureRequest) -> bool:
    function = getattr(request, "function", None)
    return function is not None and inspect.iscoroutinefunction(function)


# Markers with which another plugin runs an async test on its own loop (pytest-asyncio, anyio, pytest-trio).
_ASYNC_RUNNER_MARKERS = ("asyncio", "anyio", "trio")


def _runs_here(item: pytest.Item) -> bool:
    """An `async def` test using mockvapi that no other plugin claims: this plugin runs it."""
    return (
        isinstance(item, pytest.Function)
        and inspect.iscoroutinefunction(item.obj)
        and not any(item.get_closest_marker(name) for name in _ASYNC_RUNNER_MARKERS)
        and (
            not {"mockvapi", "mockvapi_call"}.isdisjoint(item.fixturenames)
            or item.get_closest_marker("mockvapi") is not None
            or _imports_mockvapi(item.module)
        )
    )


def _imports_mockvapi(module: object) -> bool:
    for value in vars(module).values() if module is not None else ():
        name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        if isinstance(name, str) and name.partition(".")[0] == "mockvapi":
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not _runs_here(pyfuncitem):
        return None
    vapi = pyfuncitem.funcargs.get("mockvapi")
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(_run_on_loop(pyfuncitem.obj, arguments, vapi))
    return True


async def _run_on_loop(
    test: Callable[..., Coroutine[Any, Any, object]], arguments: dict[str, Any], vapi: object
) -> None:
    """The test on this loop, with the fixture's MockVapi (if it uses one) started on it and closed after it."""
    if not _is_mockvapi(vapi):
        await test(**arguments)
        return
    await vapi.start()
    try:
        await test(**arguments)
    finally:
        await vapi.aclose()


try:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def _mockvapi_async(mockvapi_options: dict[str, Any]) -> Any:
        from mockvapi.testing import MockVapi

        vapi = MockVapi(**mockvapi_options)
        await vapi.start()
        try:
            yield vapi
        finally:
            await vapi.aclose()

except ImportError:  # pragma: no cover - async tests need pytest-asyncio
    pass


@pytest.fixture
def mockvapi(request: pytest.FixtureRequest, mockvapi_options: dict[str, Any]) -> Iterator[MockVapi]:
    """A fresh MockVapi for this test; fails the test at teardown if problems were recorded (strict)."""
    from mockvapi.testing import MockVapi

    if _runs_here(request.node):
        vapi: MockVapi = MockVapi(**mockvapi_options)  # started on the test's loop by pytest_pyfunc_call
    elif _is_async(request):
        vapi = request.getfixturevalue("_mockvapi_async")
    else:
        vapi = MockVapi(**mockvapi_options).start_sync()
        request.addfinalizer(vapi.stop)
    yield vapi
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        return  # the test already failed; its own message is the one to read
    vapi.check()


@pytest.fixture
def mockvapi_call(mockvapi: MockVapi, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Factory: `mockvapi_call("barge-in", webhook=app)` plays a call and returns it (awaitable in async tests)."""
    if _is_async(request):
        return mockvapi.play

    def play(scenario: Any = None, **options: Any) -> Call:
        return mockvapi.play_sync(scenario, **options)

    return play


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        # Remember the call-phase report so the fixture does not pile a teardown error on a failed test.
        item.rep_call = report  # type: ignore[attr-defined]
    if report.failed:
        vapi = getattr(item, "funcargs", {}).get("mockvapi")
        if _is_mockvapi(vapi) and vapi.calls:
            report.sections.append(("mockvapi", _replay_hint(vapi)))
    return report


def _replay_hint(vapi: MockVapi) -> str:
    """The seeds a failed test played with (every failure shows them), and how to play them again."""
    lines = [repr(c) for c in vapi.calls[:10]]
    if len(vapi.calls) > 10:
        lines.append(f"... and {len(vapi.calls) - 10} more")
    if vapi.forgotten_calls:
        lines.append(f"(and {vapi.forgotten_calls} earlier calls, forgotten past max_calls={vapi.max_calls})")
    seeds = sorted({c.seed for c in vapi.calls})
    if vapi.seed is not None:
        lines.append(f"seed {vapi.seed} for every call: rerun with --mockvapi-seed={vapi.seed}")
    else:
        lines.append(f"seed {', '.join(map(str, seeds))} (the scenario's own): a rerun plays the same calls")
    return "\n".join(lines)
