"""fixture: what the `mockvapi` pytest fixture adds to a test, against an empty test.

In-process `pytest.main` sessions over a generated module of N tests, per variant, best of R sessions;
per-test cost = session time / N (start-up spread alike over floor and variants). Variants: sync and
async tests requesting the fixture and doing nothing, and the same playing one short call (3 steps into
a callable webhook). Goal: under 10 ms added per test.
Peer (issue 17): pytest-httpserver's `httpserver` fixture answering one request per test (urllib POST),
the per-test cost of the nearest common test double; the mockvapi fixture playing one short call per
test is compared with it in CPU time (`time.process_time`, every thread of the process: the fixture's
loop thread, the server's thread), which a shared machine disturbs less than wall time.
Goal: at most 2x.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bench._core import Figure, best_of

NAME = "fixture"
GOAL_MS = 10.0
PEER_GOAL_RATIO = 2.0

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
PEER_HEADER = """
import urllib.request
"""

FLOOR = "def test_{i}():\n    pass\n"
PEER = ('def test_{i}(httpserver):\n    httpserver.expect_request("/hook", method="POST").respond_with_json({{}})\n'
        '    urllib.request.urlopen(httpserver.url_for("/hook"), data=b"{{}}").read()\n')
VARIANTS: dict[str, str] = {
    "sync test, fixture only": "def test_{i}(mockvapi):\n    pass\n",
    "async test, fixture only": "async def test_{i}(mockvapi):\n    pass\n",
    "sync test, one short call": "def test_{i}(mockvapi):\n    mockvapi.play_sync(SHORT, webhook=hook)\n",
    "async test, one short call": "async def test_{i}(mockvapi):\n    await mockvapi.play(SHORT, webhook=hook)\n",
}


def session_seconds(folder: Path, tests: int, body: str, repeat: int) -> float:
    """Best seconds for one in-process pytest session over `tests` copies of `body`."""
    return session_times(folder, tests, body, repeat)[0]


def session_times(folder: Path, tests: int, body: str, repeat: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of in-process pytest sessions over `tests` copies of `body`."""
    module = folder / "test_fixture_bench.py"
    module.write_text(HEADER + PEER_HEADER + "\n\n".join(body.format(i=i) for i in range(tests)))
    args = [str(module), "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-c", str(folder / "pytest.ini")]

    def session() -> None:
        sys.modules.pop("test_fixture_bench", None)
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = pytest.main(args)
        if code != 0:
            raise RuntimeError(f"bench session failed ({code}):\n{out.getvalue()[-3000:]}")

    cpu: list[float] = []

    def timed() -> None:
        started = time.process_time()
        session()
        cpu.append(time.process_time() - started)

    return best_of(repeat, timed), min(cpu)


def run(quick: bool) -> list[Figure]:
    tests, repeat = (40, 2) if quick else (200, 3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pytest.ini").write_text(INI)
        session_seconds(folder, 5, VARIANTS["async test, one short call"], 1)  # warm imports and plugins
        floor = session_seconds(folder, tests, FLOOR, repeat) / tests * 1000
        per_test = {name: session_seconds(folder, tests, body, repeat) / tests * 1000
                    for name, body in VARIANTS.items()}
        session_times(folder, 5, PEER, 1)  # the peer's plugin and server warm too
        peer_wall, peer_cpu = (t / tests * 1000 for t in session_times(folder, tests, PEER, repeat))
        ours_wall, ours_cpu = (t / tests * 1000 for t in
                               session_times(folder, tests, VARIANTS["sync test, one short call"], repeat))
    peer = [Figure(NAME, "sync test, one short call vs pytest-httpserver one request: CPU per test",
                   round(ours_cpu, 2), "ms", round(peer_cpu, 2), round(ours_cpu / peer_cpu, 2), "≤ 2× peer",
                   ours_cpu / peer_cpu <= PEER_GOAL_RATIO,
                   f"wall {ours_wall:.2f} ms vs {peer_wall:.2f} ms ({ours_wall / peer_wall:.2f}x); "
                   f"{tests} tests per session, best of {repeat}",
                   {"wall_ms": ours_wall, "peer_wall_ms": peer_wall})]
    return peer + [
        Figure(NAME, f"{name}: per test", round(ms, 2), "ms", round(floor, 2), round(ms / floor, 2),
               "< floor + 10 ms", ms - floor < GOAL_MS,
               f"+{ms - floor:.2f} ms; {tests} tests per session, best of {repeat}", {"added_ms": ms - floor})
        for name, ms in per_test.items()
    ]
