"""Load generation through Locust (the `load` extra): `VapiCallUser`, `mockvapi load`.

Light on purpose: `mockvapi.load.command` (the CLI) must not import locust, which monkey-patches the
process for gevent on import. `VapiCallUser` and friends are imported on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mockvapi.load.calls import CallResult, DeliveryRecord, GeventCall, WebhookClient
    from mockvapi.load.user import VapiCallUser

__all__ = ["CallResult", "DeliveryRecord", "GeventCall", "VapiCallUser", "WebhookClient"]

_WHERE = {
    "CallResult": "mockvapi.load.calls",
    "DeliveryRecord": "mockvapi.load.calls",
    "GeventCall": "mockvapi.load.calls",
    "WebhookClient": "mockvapi.load.calls",
    "VapiCallUser": "mockvapi.load.user",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'mockvapi.load' has no attribute {name!r}")
