"""How deep JSON data may nest where mockvapi accepts it (REST bodies, websocket controls, imported call
records): 64 levels, past which data is refused rather than walked (and the scenario loader could not
load it back)."""

from __future__ import annotations

__all__ = ["MAX_JSON_DEPTH", "nested_deeper_than"]

MAX_JSON_DEPTH = 64


def nested_deeper_than(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value`'s objects and arrays nest more than `limit` levels deep. Iterative: the data may be
    deeper than Python's stack."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False
