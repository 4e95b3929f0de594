"""What the HTTP server needs of the object that hosts it (`mockvapi.testing.MockVapi`), as protocols.

The server sits below `testing` in the layers, so it names what it uses here instead of importing
`MockVapi` and `Call` (which would point an import up a layer and close a circle).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mockvapi.engine.clock import Clock
from mockvapi.engine.context import CallOverrides
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import CallPlayer
from mockvapi.scenario.faults import FaultPlan
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.scenario.schema import Scenario

__all__ = ["CallT", "Host", "HostedCall"]


class HostedCall(Protocol):
    """One call the host plays."""

    @property
    def player(self) -> CallPlayer: ...

    @property
    def task(self) -> asyncio.Task[Any] | None: ...


CallT = TypeVar("CallT", bound=HostedCall)


class Host(Protocol[CallT]):
    """The host's settings, journal and calls, and how it starts one."""

    @property
    def seed(self) -> int | None: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def token(self) -> str | None: ...

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def scenarios_dir(self) -> Path | None: ...

    @property
    def scenario_folders(self) -> tuple[Path, ...]: ...

    @property
    def public_url(self) -> str | None: ...

    @property
    def running_calls(self) -> int: ...

    @property
    def max_running_calls(self) -> int: ...

    @property
    def default_scenario(self) -> str: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def max_calls(self) -> int: ...

    @property
    def calls(self) -> list[CallT]: ...

    forgotten_calls: int

    @property
    def faults(self) -> FaultPlan: ...

    @faults.setter
    def faults(self, value: FaultPlan) -> None: ...

    def load(self, scenario: LoadedScenario | str) -> Scenario | LoadedScenario: ...

    def find_call(self, call_id: str) -> CallT | None: ...

    def start_call(
        self,
        scenario: Scenario | LoadedScenario,
        *,
        call_id: str | None,
        overrides: CallOverrides | None,
        listeners: Sequence[Any],
        wait_for_client: float | None,
    ) -> CallT: ...
