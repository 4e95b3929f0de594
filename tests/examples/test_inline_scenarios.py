"""Scenarios written in the test itself: a mapping, or YAML text."""

from __future__ import annotations

import pytest

from mockvapi.testing import MockVapi

CANCELLATION = {
    "version": 1,
    "name": "cancel-appointment",
    "steps": [
        {"user": "I need to cancel my appointment on Friday."},
        {"assistant": "Done: your Friday appointment is cancelled."},
        {"end": "customer-ended-call"},
    ],
}


def test_a_mapping(mockvapi: MockVapi) -> None:
    call = mockvapi.play_sync(CANCELLATION)
    assert call.name == "cancel-appointment"
    assert "AI: Done: your Friday appointment is cancelled." in call.transcript


def test_yaml_text(mockvapi: MockVapi) -> None:
    call = mockvapi.play_sync(
        """
        version: 1
        name: wrong-number
        steps:
          - user: "Sorry, wrong number."
          - end: customer-ended-call
        """
    )
    assert (call.name, call.ended_reason) == ("wrong-number", "customer-ended-call")


@pytest.mark.mockvapi(scenario=CANCELLATION)
async def test_the_marker_takes_either(mockvapi: MockVapi) -> None:
    call = await mockvapi.play()  # no scenario: the marker's (without a marker: "happy-path")
    assert call.name == "cancel-appointment"
