"""Secrets out of what mockvapi shows: URL credentials, secret-named fields, and header values.

The in-process journal keeps what was really sent (a test may assert its `X-Vapi-Secret`); what leaves
the process through the control plane, and every log line, goes through here first. The rules are by
name, so they catch what a user configured under any spelling: a key whose name says secret, password,
token, API key, private key, authorization, signature or cookie; every header value except a few
harmless ones; the userinfo of any URL (``http://user:pass@host``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "is_secret_name", "redact_headers", "redact_json", "redact_text", "redact_url"]

REDACTED = "[redacted]"

# Userinfo of a URL anywhere in a text: scheme://USERINFO@host.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@\"'<>]+@")
# Compared against a name lower-cased with '-', '_', '.' and spaces removed.
_SECRET_PARTS = ("secret", "password", "passwd", "passphrase")
_SECRET_ENDINGS = ("token", "apikey", "privatekey", "authorization", "signature", "cookie", "credential")
# Header values that cannot carry a secret and help reading a journal.
_PLAIN_HEADERS = frozenset({
    "accept", "accept-encoding", "connection", "content-length", "content-type", "date", "host", "user-agent",
    "x-call-id",
})


@functools.lru_cache(maxsize=4096)  # a journal repeats the same few hundred names many times over
def is_secret_name(name: str) -> bool:
    """Whether a field or header named ``name`` holds a secret (``maxTokens`` does not; ``authToken`` does)."""
    key = re.sub(r"[-_.\s]", "", name.lower())
    return any(part in key for part in _SECRET_PARTS) or key.endswith(_SECRET_ENDINGS)


def redact_url(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced: ``http://[redacted]@host/``."""
    if "@" not in text:  # nearly every text: skip the regex
        return text
    return _URL_USERINFO.sub(rf"\1{REDACTED}@", text)


def redact_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """Header values replaced, except those of a few harmless headers (Content-Type, User-Agent...)."""
    return {
        str(name): redact_url(str(value)) if str(name).lower() in _PLAIN_HEADERS else REDACTED
        for name, value in headers.items()
    }


def redact_json(value: Any) -> Any:
    """A copy of a JSON value with secret-named fields, every ``headers`` object and URL credentials redacted."""
    kind = type(value)  # exact types: this walks whole journals, and JSON values are plain dicts and lists
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if type(item) is str:
                out[key] = REDACTED if is_secret_name(name) else redact_url(item)
            elif isinstance(item, Mapping) and name.lower() == "headers":
                out[key] = redact_headers(item)
            elif is_secret_name(name) and isinstance(item, int | float) and not isinstance(item, bool):
                out[key] = REDACTED
            else:
                out[key] = redact_json(item)
        return out
    if kind is list:
        return [redact_json(item) for item in value]
    if kind is str:
        return redact_url(value)
    if isinstance(value, Mapping | list | tuple) and not isinstance(value, str):
        return redact_json(dict(value) if isinstance(value, Mapping) else list(value))
    return value


def redact_text(text: str | None, known: tuple[Any, Any] | None = None) -> str | None:
    """A body as text: redacted as JSON when it is JSON (re-serialised), else only its URL credentials.

    ``known``: a (value, its redaction) pair already computed; a body whose JSON equals ``{"message":
    value}`` (a webhook's envelope of the message it carries) reuses it instead of walking it again."""
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return redact_url(text)
    if not isinstance(parsed, dict | list):
        return redact_url(text)
    if known is not None and isinstance(parsed, dict) and parsed.keys() == {"message"} \
            and parsed["message"] == known[0]:
        return json.dumps({"message": known[1]}, ensure_ascii=False)
    return json.dumps(redact_json(parsed), ensure_ascii=False)
