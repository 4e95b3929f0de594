"""Checking a scenario's `expect` block against what a call did; one rule set for the harness and `mockvapi run`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mockvapi.scenario.schema import Expect

# Problems that are the scenario's own expectations (reported as such), not faults of the target.
EXPECTATION = "expectation"


def expect_failures(
    expect: Expect | None,
    *,
    ended_reason: str | None,
    delivered: Iterable[str],
    problems: Sequence[tuple[str, str]],
    reply_latencies: Iterable[tuple[str, float]] = (),
    problem_budget: bool = True,
) -> list[str]:
    """The `expect` rules (and `expect_reply` problems) that did not hold, as sentences.

    `problems` are (kind, detail) pairs; `reply_latencies` (message type, seconds) of webhook replies.
    `problem_budget=False` leaves out `expect.problems`, for callers that apply their own.
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
        failures.append(f"{len(faults)} problem(s) recorded, at most {expect.problems} expected: "
                        + "; ".join(f"{kind}: {detail}" for kind, detail in faults[:3]))
    return failures
