"""`digest`: problems in time order, a target that failed every delivery said once."""

from __future__ import annotations

from mockvapi.engine.digest import digest, failing_targets
from mockvapi.engine.journal import Delivery, Problem

URL = "http://127.0.0.1:9/hook"


def delivery(seq: int, at: float, *, status: int | None = None, error: str | None = None,
             target: str = URL) -> Delivery:
    return Delivery(seq=seq, call_id="c", channel="webhook", target=target, message_type="status-update",
                    message={}, at=at, status=status, error=error)


REFUSED = f"connection: {URL}: ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 9)"


def test_a_refusing_target_is_one_line_at_its_first_problem() -> None:
    deliveries = [delivery(n, n * 1.0, error=REFUSED) for n in range(1, 4)]
    problems = [Problem("c", "delivery-failed", f"status-update -> {URL}: {REFUSED}", n * 1.0, n) for n in (3, 1, 2)]
    problems.append(Problem("c", "delivery-failed", f"tool 'book' got no reply: {REFUSED}", 2.5))
    problems.append(Problem("c", "bad-tool-result", "tool 'x' reply has no `results` list", 0.5))
    lines = [str(line) for line in digest(problems, deliveries)]
    assert lines == [
        "bad-tool-result at 0.500s: tool 'x' reply has no `results` list",
        f"delivery-failed at 1.000s: target unreachable: {URL} (connection refused) [4 problem(s)]",
    ]


def test_a_target_that_answered_once_is_not_folded_and_problems_come_in_time_order() -> None:
    deliveries = [delivery(1, 1.0, status=404), delivery(2, 2.0, status=200), delivery(3, 3.0, status=404)]
    problems = [Problem("c", "delivery-failed", "b", 3.0, 3), Problem("c", "delivery-failed", "a", 1.0, 1)]
    assert [line.detail for line in digest(problems, deliveries)] == ["a", "b"]
    assert failing_targets(deliveries) == []


def test_mixed_causes_are_not_folded_and_expectations_are_left_out() -> None:
    deliveries = [delivery(1, 1.0, status=404), delivery(2, 2.0, status=500)]
    problems = [Problem("c", "delivery-failed", "x", 1.0, 1), Problem("c", "expectation", "y", 0.1)]
    assert [line.detail for line in digest(problems, deliveries)] == ["x"]
    [only] = failing_targets([delivery(1, 1.0, status=405), delivery(2, 2.0, status=405)])
    assert str(only) == (f"every delivery to {URL} answered HTTP 405 (2 deliveries); the path does not take POST: "
                         "check webhook_path or the server URL's path")
