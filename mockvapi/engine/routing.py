"""Where one server message of a call goes: its server config, timeout and kind of delivery.

Pure, shared by every driver of a `CallSimulation`: the asyncio `CallPlayer` and the gevent Locust
user (`mockvapi.load`) route the same message to the same place with the same timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, get_args

from mockvapi.engine.assistant import ASSISTANT_REQUEST_TIMEOUT
from mockvapi.engine.events import AskKind, Event
from mockvapi.engine.simulator import CallSimulation

__all__ = ["ASKING", "DEFAULT_TIMEOUT", "Route", "route"]

#: Messages whose reply Vapi waits for (and feeds back into the call): the kinds a simulation asks about.
ASKING: frozenset[str] = frozenset(get_args(AskKind))
#: ``Server.timeoutSeconds`` default [SPEC].
DEFAULT_TIMEOUT = 20.0


class Route(NamedTuple):
    """`server`: the full config (with secrets) or None (Vapi sends nothing); `timeout` in call seconds;
    `kind`: "message", or the asking message's type."""

    server: Mapping[str, Any] | None
    timeout: float
    kind: str


def route(sim: CallSimulation, event: Event) -> Route:
    """The server config `event` goes to (tool's > assistant's > phone number's), its timeout and kind."""
    kind = event.message.type_name
    if kind == "tool-calls":
        calls = getattr(event.message, "tool_call_list", ())
        server = sim.server_for(calls[0].function.name if calls else "")
    elif kind == "assistant-request":
        # Vapi's fixed limit for assistant-request, whatever the server config says [EV].
        return Route(sim.phone_server() or sim.server_for(""), ASSISTANT_REQUEST_TIMEOUT, kind)
    elif kind == "knowledge-base-request":
        server = sim.knowledge_server()
    else:
        server = sim.server_for("")
    timeout = float(server.get("timeoutSeconds", DEFAULT_TIMEOUT)) if server else DEFAULT_TIMEOUT
    return Route(server, timeout, kind if kind in ASKING else "message")
