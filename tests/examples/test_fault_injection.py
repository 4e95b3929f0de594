"""A webhook that must stay correct when Vapi retries after a 5xx and delivers twice."""

from __future__ import annotations

from typing import Any

from mockvapi.testing import MockVapi

reports: dict[str, dict[str, Any]] = {}
busy = [503]  # the database is busy for the first report


def webhook(body: dict[str, Any]) -> Any:
    """The code under test: stores each call's report once, however often it arrives."""
    message = body["message"]
    if message["type"] == "end-of-call-report":
        if busy:
            return (busy.pop(), "")
        reports.setdefault(message["call"]["id"], message)
    return None


async def test_the_report_is_stored_once_despite_retries_and_duplicates() -> None:
    faults = ["retry-5xx:end-of-call-report,delay=2s", "duplicate:end-of-call-report"]
    async with MockVapi(webhook=webhook, faults=faults) as vapi:
        call = await vapi.play("happy-path")

    sent = [(d.status, d.injected) for d in call.deliveries(type="end-of-call-report")]
    assert sent == [(503, None), (200, "retry-5xx 1/2"), (200, "duplicate")]
    assert list(reports) == [call.id]
    call.assert_no_problems()
