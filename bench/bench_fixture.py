"""What the `mockvapi` fixture costs a test: set-up plus tear-down, and with one short scenario played.

pytest, in process: `pytest.main` on a generated module of N tests, per variant, each session run
R times (best kept). Floor: N empty tests. Variants: a sync test and an async test requesting the
fixture and doing nothing; the same playing one short call (a 3-step scenario into a callable
webhook). Per-test cost = session time / N, so session start-up is spread over N tests alike for
floor and variants; overhead = variant - floor.

Direct: `MockVapi().start_sync()` + `stop()` (what a sync test pays: a loop in a thread), and
`async with MockVapi()` on a running loop (what an async test pays), with and without the short call.

Prints ms per test, the overhead over the floor and the ratio. Goal: under 10 ms of overhead for a
test playing one short scenario. Exits non-zero if that overhead (sync or async) is 50 ms or more.

    .venv/bin/python bench/bench_fixture.py [--tests N] [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mockvapi.library import resolve
from mockvapi.scenario.loader import load_text
from mockvapi.testing import MockVapi

GOAL_MS = 10.0
LIMIT_MS = 50.0

SHORT = """
version: 1
name: short
steps:
  - user: "Are you open on Sunday?"
  - assistant: "Yes, from eight to two."
  - end: customer-ended-call
"""

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

HEADER = f'''
import pytest
from mockvapi.scenario.loader import load_text

SHORT = load_text("""{SHORT}""", "<short>")

def hook(body, headers):
    return {{}}
'''

VARIANTS: dict[str, str] = {
    "empty test (floor)": "def test_{i}():\n    pass\n",
    "sync, fixture only": "def test_{i}(mockvapi):\n    pass\n",
    "async, fixture only": "async def test_{i}(mockvapi):\n    pass\n",
    "sync, one short call": "def test_{i}(mockvapi):\n    mockvapi.play_sync(SHORT, webhook=hook)\n",
    "async, one short call": "async def test_{i}(mockvapi):\n    await mockvapi.play(SHORT, webhook=hook)\n",
}
GATED = ("sync, one short call", "async, one short call")


def run_session(folder: Path, tests: int, body: str, repeat: int) -> float:
    """Best seconds for one in-process pytest session over `tests` copies of `body`."""
    module = folder / "test_bench.py"
    module.write_text(HEADER + "\n\n".join(body.format(i=i) for i in range(tests)))
    args = [str(module), "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-c", str(folder / "pytest.ini")]
    best = float("inf")
    for _ in range(repeat):
        sys.modules.pop("test_bench", None)
        with contextlib.redirect_stdout(io.StringIO()) as out:
            start = time.perf_counter()
            code = pytest.main(args)
            took = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"bench session failed ({code}):\n{out.getvalue()[-3000:]}")
        best = min(best, took)
    return best


def bench_pytest(tests: int, repeat: int) -> dict[str, float]:
    """ms per test for each variant."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pytest.ini").write_text(INI)
        run_session(folder, 5, VARIANTS["async, one short call"], 1)  # warm imports and plugins
        return {name: run_session(folder, tests, body, repeat) / tests * 1000 for name, body in VARIANTS.items()}


def timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(best, median) ms of `fn()` over n runs."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return min(samples), statistics.median(samples)


def bench_direct(n: int) -> dict[str, tuple[float, float]]:
    short = load_text(SHORT, "<short>")
    resolve("happy-path")  # warm the loader

    def sync_bare() -> None:
        MockVapi().start_sync().stop()

    def sync_call() -> None:
        vapi = MockVapi(webhook=lambda body, headers: {}).start_sync()
        vapi.play_sync(short)
        vapi.check()
        vapi.stop()

    async def async_bare() -> None:
        async with MockVapi():
            pass

    async def async_call() -> None:
        async with MockVapi(webhook=lambda body, headers: {}) as vapi:
            await vapi.play(short)
            vapi.check()

    def on_a_loop(make: Callable[[], object]) -> Callable[[], object]:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        return lambda: loop.run_until_complete(make())  # type: ignore[arg-type]

    loops: list[asyncio.AbstractEventLoop] = []
    try:
        results = {
            "start_sync() + stop()": timed(sync_bare, n),
            "start_sync() + one short call + stop()": timed(sync_call, n),
            "async with MockVapi()": timed(on_a_loop(async_bare), n),
            "async with + one short call": timed(on_a_loop(async_call), n),
        }
    finally:
        for loop in loops:
            loop.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200, help="tests per generated pytest session")
    parser.add_argument("--repeat", type=int, default=3, help="sessions per variant (best kept)")
    parser.add_argument("--direct", type=int, default=200, help="runs of each direct measurement")
    options = parser.parse_args(argv)

    per_test = bench_pytest(options.tests, options.repeat)
    floor = per_test["empty test (floor)"]
    print(f"pytest in process, {options.tests} tests per session, best of {options.repeat} sessions:")
    print(f"  {'variant':<24}{'ms/test':>9}{'overhead':>10}{'ratio':>8}")
    for name, ms in per_test.items():
        print(f"  {name:<24}{ms:9.2f}{ms - floor:9.2f} {ms / floor:7.1f}x")

    print(f"\ndirect, {options.direct} runs each (best / median ms):")
    for name, (best, median) in bench_direct(options.direct).items():
        print(f"  {name:<40}{best:7.2f} / {median:6.2f}")

    worst = max(per_test[name] - floor for name in GATED)
    verdict = "ok" if worst < GOAL_MS else ("over the goal" if worst < LIMIT_MS else "over the limit")
    print(f"\nfixture + one short call: {worst:.2f} ms over an empty test (goal < {GOAL_MS:g} ms, "
          f"limit {LIMIT_MS:g} ms): {verdict}")
    return 0 if worst < LIMIT_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
