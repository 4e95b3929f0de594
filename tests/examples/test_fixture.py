"""The fixture, its factory and its marker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mockvapi.testing import Call, MockVapi


@pytest.mark.mockvapi(scenario="barge-in", seed=7)
def test_marker_and_factory(mockvapi: MockVapi, mockvapi_call: Callable[..., Call]) -> None:
    call = mockvapi.play_sync()  # the marker's scenario and seed
    other = mockvapi_call("tool-call")  # the factory: more calls in the same test
    assert (call.name, call.seed, other.seed) == ("barge-in", 7, 7)
    call.assert_delivered("model-output", "user-interrupted")  # no webhook: what Vapi would send


def down(body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    return 503, {"error": "maintenance"}


@pytest.mark.mockvapi(strict=False)  # recorded problems do not fail this test
async def test_a_webhook_that_is_down(mockvapi: MockVapi) -> None:
    call = await mockvapi.play("happy-path", webhook=down)
    call.assert_replied("end-of-call-report", status=503)
    assert {p.kind for p in call.problems} == {"delivery-failed"}
