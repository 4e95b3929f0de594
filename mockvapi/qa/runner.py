"""`mockvapi run`: play scenario files against a live target and judge each call.

A scenario passes when its `expect` block and its `expect_reply` checks hold and no other problem was
recorded (beyond what `expect.problems` allows; without an `expect` block, none). Without a target the
calls are played with their scripted replies, which checks the scenarios themselves.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mockvapi.engine.digest import failing_targets
from mockvapi.engine.expectations import EXPECTATION, at_step, expect_failures
from mockvapi.engine.simulator import simulate
from mockvapi.engine.timeline import Timeline
from mockvapi.errors import ScenarioError
from mockvapi.models.messages import Profile
from mockvapi.qa.trace import CallTrace, build_trace
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.scenario.schema import Expect, Scenario
from mockvapi.testing import Call, MockVapi

__all__ = ["RunOptions", "ScenarioResult", "collect", "run", "run_scenarios"]

Status = Literal["passed", "failed", "error"]
_IDS = uuid.UUID("8f1c2a5e-6b7d-4e3f-9a10-2b3c4d5e6f70")  # namespace for per-run call ids


@dataclass
class RunOptions:
    target: object | None = None  # a URL or an in-process app every message goes to
    # Play against the servers the scenarios name (as `mockvapi run --to` writes them in) without a
    # target that takes every message; with neither, scripted replies only.
    live: bool = False
    seed: int | None = None
    profile: Profile = "realistic"
    jobs: int = 1
    fail_fast: bool = False  # stop starting scenarios once one has not passed


@dataclass
class ScenarioResult:
    """How one scenario went."""

    name: str
    file: str
    status: Status
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # every recorded problem, failing or not
    call_duration: float = 0.0  # seconds of call time
    wall: float = 0.0  # real seconds the run took
    deliveries: int = 0
    ended_reason: str | None = None
    seed: int | None = None
    call_id: str | None = None
    excerpt: str = ""  # the timeline around the first failure
    trace: CallTrace | None = None
    excerpts: list[str] = field(default_factory=list)  # the timeline around each failure, as `failures`
    # "target unreachable: URL (connection refused)" for each target that answered no delivery at all
    unreachable: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __repr__(self) -> str:
        return f"ScenarioResult({self.name!r}, {self.status}, {len(self.failures)} failure(s))"


def collect(specs: Iterable[str | Path]) -> list[Path]:
    """Scenario files from files and folders (a folder: its *.yaml and *.yml, sorted, not recursive)."""
    out: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
        else:
            out.append(path)
    return out


Progress = Callable[[ScenarioResult, int, int], None]


async def run_scenarios(
    scenarios: Sequence[LoadedScenario], options: RunOptions, progress: Progress | None = None
) -> list[ScenarioResult]:
    """Play every scenario; results come back in the given order, `progress` hears of each as it ends."""
    total = len(scenarios)
    done = 0
    results: list[ScenarioResult | None] = [None] * total

    def finished(index: int, result: ScenarioResult) -> None:
        nonlocal done
        done += 1
        results[index] = result
        if progress is not None:
            progress(result, done, total)

    def stopping() -> bool:
        return options.fail_fast and any(r is not None and not r.passed for r in results)

    if options.target is None and not options.live:
        for index, loaded in enumerate(scenarios):
            if stopping():
                break
            finished(index, _scripted(loaded, options))
            await asyncio.sleep(0)
    else:
        gate = asyncio.Semaphore(max(1, options.jobs))
        async with MockVapi(webhook=options.target, seed=options.seed, profile=options.profile) as vapi:

            async def one(index: int, loaded: LoadedScenario) -> None:
                async with gate:
                    if not stopping():  # scenarios already playing finish; no new one starts
                        finished(index, await _live(vapi, index, loaded, options))

            await asyncio.gather(*(one(i, s) for i, s in enumerate(scenarios)))
    return [r for r in results if r is not None]


def run(
    scenarios: Sequence[LoadedScenario], options: RunOptions, progress: Progress | None = None
) -> list[ScenarioResult]:
    """`run_scenarios` from sync code."""
    return asyncio.run(run_scenarios(scenarios, options, progress))


async def _live(vapi: MockVapi, index: int, loaded: LoadedScenario, options: RunOptions) -> ScenarioResult:
    start = time.perf_counter()
    call_id = str(uuid.uuid5(_IDS, f"{index}:{loaded.file}"))
    call: Call | None = None
    try:
        call = vapi.start_call(loaded, call_id=call_id, client=False)
        await call.wait()
    except ScenarioError as exc:
        # The target's answers led the call somewhere the script cannot follow.
        return _errored(loaded, call, str(exc), start)
    except Exception as exc:  # never a traceback: a broken run is a result like any other
        return _errored(loaded, call, f"internal error: {exc!r}", start)
    failures = call.expectation_failures()
    faults = [p for p in call.problems if p.kind != EXPECTATION]
    if loaded.scenario.expect is None and faults:
        failures += [f"{line.kind}: {line.detail}" for line in call.problem_digest()]
    problems = [(p.at, p.kind, p.detail) for p in sorted(call.problems, key=lambda p: p.at)]
    timeline = call.timeline
    trace = build_trace(timeline, profile=options.profile, deliveries=call.deliveries(), problems=problems)
    webhook = call.deliveries(channel="webhook")
    result = _finished(loaded, start, timeline, trace, failures, problems, len(webhook))
    result.unreachable = [str(f) for f in failing_targets(webhook, minimum=1) if f.unreachable]
    return result


def _finished(
    loaded: LoadedScenario,
    start: float,
    timeline: Timeline,
    trace: CallTrace,
    failures: list[str],
    problems: list[tuple[float, str, str]],
    deliveries: int,
) -> ScenarioResult:
    """The result of a call that was played to its end (live or scripted)."""
    return ScenarioResult(
        name=loaded.scenario.name,
        file=loaded.file,
        status="failed" if failures else "passed",
        failures=failures,
        problems=[f"{kind}: {detail}" for _, kind, detail in problems],
        call_duration=timeline.duration,
        wall=time.perf_counter() - start,
        deliveries=deliveries,
        ended_reason=timeline.ended_reason,
        seed=timeline.seed,
        call_id=str(timeline.context.call["id"]),
        excerpt=trace.excerpt(_focus(problems, timeline, failures)),
        trace=trace,
        excerpts=[trace.excerpt(failure_at(failure, problems, timeline.duration)) for failure in failures],
    )


def _errored(loaded: LoadedScenario, call: Call | None, message: str, start: float) -> ScenarioResult:
    result = ScenarioResult(
        name=loaded.scenario.name,
        file=loaded.file,
        status="error",
        failures=[message],
        wall=time.perf_counter() - start,
    )
    if call is not None:
        timeline = call.timeline
        problems = [(p.at, p.kind, p.detail) for p in call.problems]
        result.trace = build_trace(timeline, deliveries=call.deliveries(), problems=problems)
        result.call_duration = timeline.duration
        result.deliveries = len(call.deliveries(channel="webhook"))
        result.ended_reason = call.ended_reason
        result.seed = call.seed
        result.call_id = call.id
        result.excerpt = result.trace.excerpt()
        result.excerpts = [result.excerpt]
        result.problems = [f"{kind}: {detail}" for _, kind, detail in problems]
    return result


def _scripted(loaded: LoadedScenario, options: RunOptions) -> ScenarioResult:
    start = time.perf_counter()
    try:
        timeline = simulate(loaded, seed=options.seed)
    except ScenarioError as exc:
        return _errored(loaded, None, str(exc), start)
    failures = scripted_failures(loaded.scenario.expect, timeline, loaded.scenario)
    problems = [(p.at, p.kind, p.detail) for p in timeline.problems]
    trace = build_trace(timeline, profile=options.profile, problems=problems)
    return _finished(loaded, start, timeline, trace, failures, problems, len(timeline.messages(side="server")))


def scripted_failures(expect: Expect | None, timeline: Timeline, scenario: Scenario | None = None) -> list[str]:
    """`Call.expectation_failures()` for a call played with scripted replies: what the server would
    have been sent stands for what was delivered."""
    # Without an expect block, a scripted call must still record no problem (Expect() allows none).
    return expect_failures(
        expect if expect is not None else Expect(),
        ended_reason=timeline.ended_reason,
        delivered=[m["type"] for _, m in timeline.messages(side="server")],
        problems=[(p.kind, at_step(p.kind, p.detail, p.step, scenario) if scenario else p.detail)
                  for p in timeline.problems],
    )


def _focus(problems: list[tuple[float, str, str]], timeline: Timeline, failures: list[str]) -> float | None:
    """Where the excerpt of a failed call should look: its first problem, else its end."""
    if not failures:
        return None
    if problems:
        return problems[0][0]
    return timeline.duration


def failure_at(failure: str, problems: Sequence[tuple[float, str, str]], end: float) -> float:
    """When in the call a failure happened: the problem it reports, the first problem for a count of
    them, else the end of the call (what was, or was not, delivered by then)."""
    for at, kind, detail in problems:
        if f"{kind}: {detail}" in failure or (detail and detail in failure):
            return at
    if " problem(s) recorded" in failure:
        faults = [at for at, kind, _ in problems if kind != EXPECTATION]
        if faults:
            return min(faults)
    # A digest line ("delivery-failed: every delivery to ... answered HTTP 404") stands for its kind's first.
    same_kind = [at for at, kind, _ in problems if failure.startswith(f"{kind}: ")]
    return min(same_kind) if same_kind else end
