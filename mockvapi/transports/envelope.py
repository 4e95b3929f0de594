"""The pure parts of a webhook delivery: body, headers, and the answer in the simulation's terms.

No I/O and no event loop: the asyncio `WebhookSink` and the gevent Locust user (`mockvapi.load`)
build byte-identical requests from the same message and read answers into the same `Reply`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from mockvapi.engine.events import Reply
from mockvapi.models.encoding import WireEncoder, compact
from mockvapi.transports.auth import webhook_headers

__all__ = [
    "delivery_headers",
    "envelope_body",
    "envelope_text",
    "finite_float",
    "loads_json",
    "parse_json",
    "reply_of",
]


def envelope_body(wire: Mapping[str, Any], encoder: WireEncoder | None = None) -> bytes:
    """The POST body: `{"message": wire}`, compact, UTF-8. A call's own `encoder` reuses its history's
    encoding from earlier messages (same bytes)."""
    return envelope_text(wire, encoder).encode()


def envelope_text(wire: Mapping[str, Any], encoder: WireEncoder | None = None) -> str:
    """`envelope_body` before UTF-8 encoding: what the journal keeps as the request body (taking it
    from here spares decoding the bytes again)."""
    if encoder is None:
        return '{"message":' + compact(wire) + "}"
    return "".join(['{"message":', *encoder.encode_parts(wire), "}"])  # one copy of a large history, not three


def delivery_headers(server: Mapping[str, Any], body: bytes, wire: Mapping[str, Any]) -> dict[str, str]:
    """The headers of the POST of `body` to `server` (secret, credential, custom headers); see auth.py."""
    credential = server.get("credential") if isinstance(server.get("credential"), Mapping) else None
    return webhook_headers(server, body, timestamp_ms=int(wire.get("timestamp", 0)), credential=credential)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def finite_float(text: str) -> float:
    """A JSON number as a float, refusing one too large for a float (`1e999` would become infinity,
    which JSON cannot carry back out: everything mockvapi emits must stay JSON)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


# One decoder: json.loads with these options builds a new JSONDecoder per call (5 us, twice per webhook).
_STRICT = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=finite_float)


def loads_json(text: str | bytes) -> Any:
    """Strict JSON: `NaN`, `Infinity` and numbers beyond a float's range are ValueErrors, as they
    are to every JSON parser outside Python. Absurd nesting is a RecursionError."""
    if isinstance(text, bytes | bytearray):
        text = text.decode(json.detect_encoding(text), "surrogatepass")  # as json.loads does
    elif not isinstance(text, str):
        raise TypeError(f"the JSON object must be str, bytes or bytearray, not {type(text).__name__}")
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _STRICT.decode(text)


def parse_json(body: bytes) -> Any:
    """The parsed body, or None if it is empty or not (strict) JSON (never raises)."""
    if not body:
        return None
    try:
        return loads_json(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None


def reply_of(
    status: int | None, body: Any, latency: float, *, failure: str | None = None, error: str | None = None
) -> Reply:
    """A delivery's outcome as the simulation's `Reply` (latency in call seconds).

    With no HTTP answer (`status` None), `failure` is the last attempt's kind ("timeout",
    "connection", "app-error") and `error` the outcome's one-line error.
    """
    if status is None:
        kind = failure or "connection"
        return Reply(None, None, latency, error="timeout" if kind == "timeout" else (error or kind))
    return Reply(status, body, latency)
