"""mockvapi: a scriptable test double for the Vapi voice-AI platform.

`MockVapi` is the one entry point (also the `mockvapi` pytest fixture); `simulate` turns a scenario
into its messages without any I/O; `load_scenario` reads one (file, bundled name or YAML text).
"""

from __future__ import annotations

from mockvapi.engine.simulator import simulate
from mockvapi.engine.timeline import Timeline
from mockvapi.errors import (
    ApiError,
    DeliveryError,
    ExpectationFailed,
    MockVapiError,
    ScenarioError,
)
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
