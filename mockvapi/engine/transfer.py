"""Transfers: the assistant hands the call to a number or SIP address (the scenario's, or the one the
server answers to transfer-destination-request), says its message, and the call ends forwarded."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from mockvapi.engine.assistant import destination_errors
from mockvapi.engine.context import server_for
from mockvapi.engine.events import Ask, Event, Reply, Waiting, floored
from mockvapi.engine.lifecycle import Lifecycle
from mockvapi.engine.speech import Speech
from mockvapi.engine.state import CallState
from mockvapi.models.messages import StatusUpdate, TransferDestinationRequest, TransferUpdate
from mockvapi.scenario.schema import Transfer

__all__ = ["DEFAULT_TRANSFER_MESSAGE", "TRANSFER_FAILED", "Transfers"]

Steps = Generator[Event | Ask, Reply | Waiting | None, None]
# How long Vapi waits for the answer to transfer-destination-request.
DESTINATION_REQUEST_TIMEOUT = 20.0
# What Vapi says before connecting when neither the destination nor the transfer's messages say anything
# (the spec's TransferDestinationNumber.message / TransferDestinationSip.message; docs/fidelity.md).
DEFAULT_TRANSFER_MESSAGE = "Transferring the call now"
# The spec's endedReason for a transfer that cannot be made.
TRANSFER_FAILED = "call.in-progress.error-transfer-failed"


class Transfers:
    def __init__(self, call: CallState, speech: Speech, lifecycle: Lifecycle) -> None:
        self.call = call
        self.speech = speech
        self.lifecycle = lifecycle

    def step(self, step: Transfer) -> Steps:
        """A `transfer:` step; without a number or SIP address the server is asked for the destination.

        What is said before connecting is the destination's `message` (TransferDestinationNumber.message,
        TransferDestinationSip.message: a string or a CustomMessage), else the reply's `message`, else the
        spec's default, "Transferring the call now"; an empty message transfers silently. An invalid
        destination fails the transfer (`call.in-progress.error-transfer-failed`, recorded); a reply with
        `error` (no transfer should be made) lets the call go on."""
        call = self.call
        t = call.cursor
        if call.past_deadline(t):
            return  # the call reaches maxDurationSeconds first
        destination: dict[str, Any] | None = None
        if step.number:
            destination = {"type": "number", "number": call.render(step.number, ("transfer", "number"))}
        elif step.sip:
            destination = {"type": "sip", "sipUri": call.render(step.sip, ("transfer", "sip"))}
        scripted_message = call.render(step.message, ("transfer", "message")) if step.message is not None else None
        spoken: Any = None
        if destination is not None:
            spoken = scripted_message
        else:
            asked = call.emit(t, TransferDestinationRequest())
            yield from call.flush()
            offered: dict[str, Any] = {"type": "number", "number": call.fakes.e164()}
            if scripted_message is not None:
                offered["message"] = scripted_message
            scripted = Reply(200, {"destination": offered}, 0.3, scripted=True)
            server = server_for(call.scenario, call.servers, "", call.assistant_tools)
            answer = yield Ask(
                "transfer-destination-request", asked, DESTINATION_REQUEST_TIMEOUT, None, scripted, server
            )
            reply = answer if isinstance(answer, Reply) else scripted
            t = asked.at_ms + int(floored(reply, scripted) * 1000)
            body = reply.body if isinstance(reply.body, dict) else {}
            if reply.ok and isinstance(body.get("error"), str) and body.get("destination") is None:
                call.cursor = t  # the server said no transfer: the call goes on
                return
            if not (reply.ok and isinstance(body.get("destination"), dict)):
                call.problem(
                    "bad-transfer-destination",
                    f"transfer-destination-request reply has no destination: {reply.error or body!r:.80}",
                    t,
                )
                yield from self.lifecycle.end(t + 200, TRANSFER_FAILED, None)
                return
            destination = dict(body["destination"])
            spoken = destination.get("message", _content(body.get("message")))
        problems = destination_errors(destination)
        if problems:
            call.problem("bad-transfer-destination", "the transfer destination is invalid: " + "; ".join(problems), t)
            yield from self.lifecycle.end(t + 200, TRANSFER_FAILED, None)
            return
        text = _content(spoken)
        message = DEFAULT_TRANSFER_MESSAGE if text is None else text
        yield from self.forward(t, destination, message or None, step.reason)

    def forward(self, at_ms: float, destination: dict[str, Any], message: str | None, reason: str) -> Steps:
        """Say `message` (if any), then transfer-update, the forwarding status, and the end."""
        t = self.speech.speak(message, at_ms, streamed=False) if message else at_ms
        call = self.call
        call.destination = destination
        call.emit(t, TransferUpdate(destination=destination))
        call.emit(t + 100, StatusUpdate(status="forwarding", destination=destination))
        yield from self.lifecycle.end(t + 1000, reason, None)


def _content(message: Any) -> str | None:
    """The words of a transfer message: a string, or a CustomMessage/ToolMessageStart's `content`."""
    if isinstance(message, str):
        return message
    if isinstance(message, dict) and isinstance(message.get("content"), str):
        return str(message["content"])
    return None
