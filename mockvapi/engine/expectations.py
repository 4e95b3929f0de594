"""Checking a scenario's `expect` block against what a call did; one rule set for the harness and `mockvapi run`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mockvapi.scenario.schema import Expect, Scenario

# Problems that are the scenario's own expectations (reported as such), not faults of the target.
EXPECTATION = "expectation"


def at_step(kind: str, detail: str, step: int | None, scenario: Scenario) -> str:
    """An `expect_reply` failure says which step it checks: its `id` when it has one, else its number
    (a scenario may call the same tool from several steps)."""
    if kind != EXPECTATION or step is None or not 0 <= step < len(scenario.steps):
        return detail
    step_id = scenario.steps[step].id
    return f"step {step_id!r}: {detail}" if step_id else f"step #{step + 1}: {detail}"


def expect_failures(
    expect: Expect | None,
    *,
    ended_reason: str | None,
    delivered: Iterable[str],
    problems: Sequence[tuple[str, str]],
    reply_latencies: Iterable[tuple[str, float]] = (),
    problem_budget: bool = True,
    listed: Sequence[str] | None = None,
) -> list[str]:
    """The `expect` rules (and `expect_reply` problems) that did not hold, as sentences.

    `problems` are (kind, detail) pairs; `reply_latencies` (message type, seconds) of webhook replies.
    `problem_budget=False` leaves out `expect.problems`, for callers that apply their own. `listed`: the
    problems as the over-budget sentence should show them (default: the first three as recorded).
    """
    failures = [f"{kind}: {detail}" for kind, detail in problems if kind == EXPECTATION]
    if expect is None:
        return failures
    if expect.ended_reason is not None and ended_reason != expect.ended_reason:
        failures.append(f"ended with {ended_reason!r}, expected {expect.ended_reason!r}")
    seen = set(delivered)
    failures += [f"{kind!r} was never delivered" for kind in expect.delivered or [] if kind not in seen]
    failures += [f"{kind!r} was delivered but should not be" for kind in expect.not_delivered or [] if kind in seen]
    if expect.max_reply_latency is not None:
        failures += [f"{kind} reply took {latency:.3f}s > {expect.max_reply_latency}s"
                     for kind, latency in reply_latencies if latency > expect.max_reply_latency]
    faults = [(kind, detail) for kind, detail in problems if kind != EXPECTATION]
    if problem_budget and expect.problems is not None and len(faults) > expect.problems:
        shown = list(listed) if listed is not None else [f"{kind}: {detail}" for kind, detail in faults]
        failures.append(f"{len(faults)} problem(s) recorded, at most {expect.problems} expected: "
                        + "; ".join(shown[:3]) + (f"; ... and {len(shown) - 3} more" if len(shown) > 3 else ""))
    return failures
