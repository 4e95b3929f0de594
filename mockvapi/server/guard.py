"""What keeps the web pages in a developer's browser out of a local mockvapi server.

A page can make the browser send requests to 127.0.0.1 (forms, `fetch` in no-cors mode, `<img>`), and
a page whose DNS name is rebound to 127.0.0.1 can even read the answers. So:

* every request must be addressed by a ``Host`` that cannot be rebound: an IP literal, ``localhost``
  (or a ``*.localhost`` name) or the host of the configured public URL (`host_allowed`);
* the control plane refuses anything a browser marks as coming from another site (``Origin`` other than
  the server's own, ``Sec-Fetch-Site: cross-site``/``same-site``) and bodies of the types a page may post
  without a CORS preflight (``text/plain``, forms): JSON or YAML only (`check_control_request`);
* tokens are compared in constant time (`token_matches`).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from mockvapi.errors import Forbidden, UnsupportedMediaType

__all__ = [
    "BODY_TYPES", "carries_body", "check_control_request", "declared_type", "host_allowed", "host_name",
    "token_matches",
]

# Body types the control plane reads; none of them can be sent by a page without a CORS preflight.
BODY_TYPES = frozenset({
    "application/json", "text/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
})


def token_matches(given: str, accepted: Iterable[str]) -> bool:
    """Whether ``given`` is one of ``accepted``, in time that does not depend on where they differ."""
    raw = given.encode()
    found = False
    for token in accepted:
        found |= hmac.compare_digest(raw, token.encode())
    return found


def host_name(authority: str) -> str:
    """The host part of a ``Host`` header or URL authority, lower-cased, without port or brackets."""
    text = authority.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") > 1:  # a bare IPv6 literal
        return text
    return text.partition(":")[0]


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(authority: str, names: Iterable[str] = ()) -> bool:
    """A ``Host`` that DNS rebinding cannot produce: an IP literal, localhost, or one of ``names``."""
    name = host_name(authority).rstrip(".")
    if not name:
        return False
    return _is_ip(name) or name == "localhost" or name.endswith(".localhost") or name in set(names)


def _same_origin(origin: str, request: web.Request, public_url: str | None) -> bool:
    parts = urlsplit(origin.strip().lower())
    if not parts.scheme or not parts.netloc:
        return False  # "null" (sandboxed frames, file: pages) and garbage
    own = {f"{request.scheme}://{request.host.lower()}"}
    if public_url:
        public = urlsplit(public_url.lower())
        own.add(f"{public.scheme}://{public.netloc}")
    return f"{parts.scheme}://{parts.netloc}" in own


def carries_body(request: web.Request) -> bool:
    """Whether the request sends a body (announced or chunked)."""
    return request.body_exists or request.content_length not in (None, 0)


def declared_type(request: web.Request) -> str:
    """The body's declared media type, or "none" without a Content-Type header."""
    return request.content_type if hdrs.CONTENT_TYPE in request.headers else "none"


def check_control_request(request: web.Request, public_url: str | None = None) -> None:
    """Raise Forbidden (403) or UnsupportedMediaType (415) for a request a browser page could have forged."""
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if site in ("cross-site", "same-site"):
        raise Forbidden(f"control plane: requests from other sites are refused (Sec-Fetch-Site: {site})")
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and not _same_origin(origin, request, public_url):
        raise Forbidden("control plane: cross-origin requests are refused (Origin is not this server)")
    if request.method in ("POST", "PUT", "PATCH") and carries_body(request):  # an empty body is harmless
        kind = declared_type(request)
        if kind not in BODY_TYPES and not kind.endswith("+json"):
            raise UnsupportedMediaType(
                f"control plane: a body must be sent as application/json (or YAML where YAML is read), got {kind!r}"
            )
