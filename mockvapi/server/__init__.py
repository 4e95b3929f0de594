"""The fake Vapi REST API: `create_app()` builds it, `Backend` holds its state.

The call engine plugs in through the hooks of `create_app` (or ``app[HOOKS_KEY]``); see
`mockvapi.server.handlers.Hooks`.
"""

from __future__ import annotations

from mockvapi.server.app import (
    BACKEND_KEY,
    ERRORS_KEY,
    HOOKS_KEY,
    OPENAPI_KEY,
    TOKENS_KEY,
    create_app,
)
from mockvapi.server.backend import CALL_STATUS_TRANSITIONS, Backend, CallCreation, CallRecord
from mockvapi.server.handlers import CallCreatedHook, CallRequestHook, Hooks, no_live_call, requires_auth

__all__ = [
    "BACKEND_KEY",
    "CALL_STATUS_TRANSITIONS",
    "ERRORS_KEY",
    "HOOKS_KEY",
    "OPENAPI_KEY",
    "TOKENS_KEY",
    "Backend",
    "CallCreatedHook",
    "CallCreation",
    "CallRecord",
    "CallRequestHook",
    "Hooks",
    "create_app",
    "no_live_call",
    "requires_auth",
]
