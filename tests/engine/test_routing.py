"""engine.routing: where a message goes, with which timeout, as what kind of delivery."""

from __future__ import annotations

from mockvapi.engine.routing import ASKING, route
from mockvapi.engine.simulator import CallSimulation, drive
from mockvapi.library import resolve


def routes(name: str) -> dict[str, tuple[object, float, str]]:
    sim = CallSimulation(resolve(name))
    drive(sim)
    return {e.type: tuple(route(sim, e)) for e in sim.events}


def test_messages_tools_and_assistant_requests_route_with_their_timeouts() -> None:
    tool = routes("tool-call")
    assert tool["tool-calls"][1:] == (20.0, "tool-calls")
    assert tool["status-update"][1:] == (20.0, "message")
    inbound = routes("inbound-assistant-request")
    assert inbound["assistant-request"][1:] == (7.5, "assistant-request")  # Vapi's fixed limit
    assert {"tool-calls", "assistant-request", "transfer-destination-request", "call.endpointing.request",
            "knowledge-base-request", "handoff-destination-request"} == ASKING
