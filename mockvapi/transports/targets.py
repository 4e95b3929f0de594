"""What a user hands mockvapi as a webhook destination, as an ``HttpTarget``: a URL (a real socket,
:mod:`mockvapi.transports.http`) or an app served in-process (:mod:`mockvapi.transports.inprocess`).

Its own module because it picks between the two, and in-process targets build on the HTTP one: in
http.py it would need an import circle."""

from __future__ import annotations

import yarl

from mockvapi.transports.http import HttpTarget, UrlTarget
from mockvapi.transports.inprocess import resolve_app

__all__ = ["resolve_target"]


def resolve_target(target: object, *, path: str = "/") -> HttpTarget:
    """Turn a URL, an app or a callable into an ``HttpTarget``.

    ``path`` is where in-process apps are addressed when a request has no url of its own; URLs
    carry their own path. See :func:`mockvapi.transports.inprocess.resolve_app` for app detection.
    """
    if isinstance(target, HttpTarget):
        return target
    if isinstance(target, str | yarl.URL):
        return UrlTarget(str(target))
    return resolve_app(target, path=path)
