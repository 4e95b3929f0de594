"""Transfers: the assistant hands the call to a number or SIP address (the scenario's, or the one the
server answers to transfer-destination-request), says its message, and the call ends forwarded."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from mockvapi.engine.context import server_for
from mockvapi.engine.events import Ask, Event, Reply, Waiting, floored
from mockvapi.engine.lifecycle import Lifecycle
from mockvapi.engine.speech import Speech
from mockvapi.engine.state import CallState
from mockvapi.models.messages import StatusUpdate, TransferDestinationRequest, TransferUpdate
from mockvapi.scenario.schema import Transfer

__all__ = ["Transfers"]

Steps = Generator[Event | Ask, Reply | Waiting | None, None]
# How long Vapi waits for the answer to transfer-destination-request.
DESTINATION_REQUEST_TIMEOUT = 20.0


class Transfers:
    def __init__(self, call: CallState, speech: Speech, lifecycle: Lifecycle) -> None:
        self.call = call
        self.speech = speech
        self.lifecycle = lifecycle

    def step(self, step: Transfer) -> Steps:
        """A `transfer:` step; without a number or SIP address the server is asked for the destination."""
        call = self.call
        t = call.cursor
        destination: dict[str, Any] | None = None
        if step.number:
            destination = {"type": "number", "number": call.render(step.number, ("transfer", "number"))}
        elif step.sip:
            destination = {"type": "sip", "sipUri": call.render(step.sip, ("transfer", "sip"))}
        message = call.render(step.message, ("transfer", "message")) if step.message else None
        if destination is None:
            asked = call.emit(t, TransferDestinationRequest())
            yield from call.flush()
            scripted = Reply(
                200, {"destination": {"type": "number", "number": call.fakes.e164()}}, 0.3, scripted=True
            )
            server = server_for(call.scenario, call.servers, "")
            answer = yield Ask(
                "transfer-destination-request", asked, DESTINATION_REQUEST_TIMEOUT, None, scripted, server
            )
            reply = answer if isinstance(answer, Reply) else scripted
            t = asked.at_ms + int(floored(reply, scripted) * 1000)
            body = reply.body if isinstance(reply.body, dict) else {}
            if reply.ok and isinstance(body.get("destination"), dict):
                destination = body["destination"]
                spoken = body.get("message")
                if isinstance(spoken, dict) and isinstance(spoken.get("content"), str):
                    message = spoken["content"]
            else:
                call.problem(
                    "bad-transfer-destination",
                    f"transfer-destination-request reply has no destination: {reply.error or body!r:.80}",
                    t,
                )
                yield from self.lifecycle.end(t + 200, "call.in-progress.error-transfer-failed", None)
                return
        yield from self.forward(t, destination, message, step.reason)

    def forward(self, at_ms: float, destination: dict[str, Any], message: str | None, reason: str) -> Steps:
        """Say `message` (if any), then transfer-update, the forwarding status, and the end."""
        t = self.speech.speak(message, at_ms, streamed=False) if message else at_ms
        call = self.call
        call.destination = destination
        call.emit(t, TransferUpdate(destination=destination))
        call.emit(t + 100, StatusUpdate(status="forwarding", destination=destination))
        yield from self.lifecycle.end(t + 1000, reason, None)
