"""Problems as a reader should see them: in time order, and one line for a target that failed every time.

A webhook at the wrong path answers 404 to each of a call's 29 deliveries, and a server that is not
running refuses each of them: 29 identical lines hide the one fact (and any other problem among them).
`digest` folds every problem caused by such a target into one line that says what to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mockvapi.engine.journal import Delivery, Problem

__all__ = ["DigestLine", "TargetFailure", "digest", "failing_targets"]

_EXPECTATION = "expectation"  # as engine.expectations.EXPECTATION (not imported: that module imports schema)


@dataclass(frozen=True)
class TargetFailure:
    """A target that failed every delivery of a call the same way."""

    target: str
    deliveries: int
    status: int | None  # the HTTP status every delivery got, or None: no answer at all
    cause: str  # "connection refused", "HTTP 404", ...

    @property
    def unreachable(self) -> bool:
        return self.status is None

    def __str__(self) -> str:
        if self.unreachable:
            return f"target unreachable: {self.target} ({self.cause})"
        hint = _HINTS.get(self.status or 0, "")
        return f"every delivery to {self.target} answered HTTP {self.status} ({self.deliveries} deliveries){hint}"


_HINTS = {
    404: "; nothing is routed at that path: check webhook_path (in-process apps) or the server URL's path",
    405: "; the path does not take POST: check webhook_path or the server URL's path",
    401: "; the target refuses the request's credentials: check the server's secret or credential",
}


@dataclass(frozen=True)
class DigestLine:
    """One line of a digest: a problem, or one `TargetFailure` standing for all it caused."""

    at: float
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:.3f}s: {self.detail}"


def _cause(delivery: Delivery) -> tuple[int | None, str] | None:
    """(status, cause) of a failed delivery, or None if it did not fail."""
    if delivery.ok or not delivery.sent:
        return None
    if delivery.status is not None:
        return delivery.status, f"HTTP {delivery.status}"
    error = delivery.error or "no answer"
    if "refused" in error.lower() or "connect call failed" in error.lower():
        return None, "connection refused"
    if error.startswith("timeout"):
        return None, "no answer: timeout"
    return None, error.split(": ", 1)[0]


def failing_targets(deliveries: Sequence[Delivery], *, minimum: int = 2) -> list[TargetFailure]:
    """Webhook targets whose every delivery (at least `minimum`) failed with the same cause."""
    causes: dict[str, set[tuple[int | None, str] | None]] = {}
    counts: dict[str, int] = {}
    for delivery in deliveries:
        if delivery.channel != "webhook" or not delivery.sent:
            continue
        causes.setdefault(delivery.target, set()).add(_cause(delivery))
        counts[delivery.target] = counts.get(delivery.target, 0) + 1
    out = []
    for target, seen in causes.items():
        if len(seen) == 1 and counts[target] >= minimum:
            only = next(iter(seen))
            if only is not None:
                out.append(TargetFailure(target, counts[target], only[0], only[1]))
    return out


def digest(problems: Sequence[Problem], deliveries: Sequence[Delivery]) -> list[DigestLine]:
    """Every problem except the scenario's own expectations, in time order, with the problems caused by a
    target that failed every delivery folded into one line (at the first of them)."""
    failed = failing_targets(deliveries)
    by_seq = {d.seq: d.target for d in deliveries}
    folded: dict[str, list[Problem]] = {f.target: [] for f in failed}
    kept: list[DigestLine] = []
    for problem in sorted((p for p in problems if p.kind != _EXPECTATION), key=lambda p: p.at):
        target = by_seq.get(problem.delivery_seq) if problem.delivery_seq is not None else None
        if target not in folded:
            # A tool's reply failing names the target only in its text.
            target = next((t for t in folded if t in problem.detail), None)
        if target is not None:
            folded[target].append(problem)
        else:
            kept.append(DigestLine(problem.at, problem.kind, problem.detail))
    for failure in failed:
        caused = folded[failure.target]
        if caused:
            more = f" [{len(caused)} problem(s)]" if len(caused) != failure.deliveries else ""
            kept.append(DigestLine(caused[0].at, caused[0].kind, f"{failure}{more}"))
    return sorted(kept, key=lambda line: line.at)
