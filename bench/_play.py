"""Shared pieces: playing one call in virtual time into a webhook target that costs nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.transports.http import HttpRequest, HttpResponse
from mockvapi.transports.webhook import TargetPool, WebhookSink

_EMPTY: Mapping[str, str] = {}


class NullTarget:
    """A webhook target that answers 200 at once: what is left is mockvapi's own cost per delivery."""

    description = "null"

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        self.requests += 1
        self.bytes += len(request.body)
        return HttpResponse(200, _EMPTY, b"", 0.0)

    async def aclose(self) -> None:
        pass


async def play_null(loaded: LoadedScenario, clock: VirtualClock, target: NullTarget) -> None:
    """One call on `clock` (virtual) with every server message POSTed to `target`."""
    journal = Journal()
    pool = TargetPool(target)
    await CallPlayer(loaded, clock=clock, journal=journal, server=WebhookSink(pool, journal, clock)).run()


def envelopes(loaded: LoadedScenario) -> list[dict[str, Any]]:
    """The webhook bodies of the call, as dicts (what any delivery must serialise)."""
    from mockvapi.engine.simulator import simulate

    return [{"message": m} for _, m in simulate(loaded).messages(side="server")]


def dumps(bodies: list[dict[str, Any]]) -> int:
    """The floor's work: serialise every body as the webhook does. Returns the bytes."""
    return sum(len(json.dumps(b, separators=(",", ":"), ensure_ascii=False).encode()) for b in bodies)
