"""mockvapi: a scriptable test double for the Vapi voice-AI platform.

`MockVapi` is the one entry point (also the `mockvapi` pytest fixture); `simulate` turns a scenario
into its messages without any I/O; `load_scenario` reads one (file, bundled name or YAML text).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mockvapi.errors import (
    ApiError,
    DeliveryError,
    ExpectationFailed,
    MockVapiError,
    ScenarioError,
)

if TYPE_CHECKING:
    from mockvapi.engine.simulator import simulate
    from mockvapi.engine.timeline import Timeline
    from mockvapi.library import resolve as load_scenario
    from mockvapi.testing import Call, MockVapi

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "Call",
    "DeliveryError",
    "ExpectationFailed",
    "MockVapi",
    "MockVapiError",
    "ScenarioError",
    "Timeline",
    "load_scenario",
    "simulate",
]

# Imported on first use: the engine and its pydantic models take ~150 ms to import, which the pytest
# plugin (loaded by every pytest run where mockvapi is installed) should not pay unless a test uses them.
_LAZY = {
    "Call": ("mockvapi.testing", "Call"),
    "MockVapi": ("mockvapi.testing", "MockVapi"),
    "Timeline": ("mockvapi.engine.timeline", "Timeline"),
    "load_scenario": ("mockvapi.library", "resolve"),
    "simulate": ("mockvapi.engine.simulator", "simulate"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups find it without this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
