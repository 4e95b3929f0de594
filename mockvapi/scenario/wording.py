"""Validation errors in words a QA author can act on: pydantic's errors as sentences, and for an unknown
key the nearest known one. Shared by the scenario loader and fault plans (it imports neither, so both
can use it without an import circle)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel

__all__ = ["describe", "suggest"]


def describe(error: Any) -> str:
    """A pydantic error as a sentence a QA author can act on."""
    kind = error["type"]
    loc = error["loc"]
    msg = str(error["msg"])
    if kind == "extra_forbidden":
        name = str(loc[-1])
        return f"unknown key {name!r}"
    if kind == "missing":
        return f"missing required key {str(loc[-1])!r}"
    if kind == "literal_error" and loc and loc[-1] == "version":
        return "unsupported version: expected `version: 1`"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{msg} (got {error.get('input')!r:.60})" if kind.endswith("_type") else msg


def suggest(error: Any, root: type[BaseModel], step_kinds: Sequence[str] = ()) -> str:
    """For an unknown key, the nearest known key at that level of `root` (a step's keys: `step_kinds`)."""
    if error["type"] != "extra_forbidden":
        return ""
    loc = error["loc"]
    name = str(loc[-1])
    candidates: list[str] = list(step_kinds) + ["id", "faults"] if (len(loc) == 3 and loc[0] == "steps") else []
    if not candidates:
        model: Any = root
        for part in loc[:-1]:
            if isinstance(part, int):
                continue
            field_info = getattr(model, "model_fields", {}).get(part)
            if field_info is None:
                model = None
                break
            model = _model_of(field_info.annotation)
        if model is not None:
            candidates = [f.alias or n for n, f in model.model_fields.items()]
    near = difflib.get_close_matches(name, candidates, n=1)
    return (
        f"; did you mean {near[0]!r}?"
        if near
        else (f"; expected one of: {', '.join(candidates)}" if candidates else "")
    )


def _model_of(annotation: Any) -> Any:
    """The pydantic model inside an annotation like `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
