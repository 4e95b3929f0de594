"""`--set key.path=value` overrides: change a scenario without editing its file (like Stripe CLI's
`--override`).

A path is dotted keys into the scenario's YAML (`timing.tokens_per_second`, `steps.3.assistant.delay`,
`call.customer.name`), checked against the scenario language itself, so a typo is an error that names
the path even where the file leaves the key out. The value is read as YAML (`80`, `1.4s`, `true`,
`[hang, tool-calls]`). Overrides apply to the YAML data before validation: an overridden value is
validated like any other, and a problem with it points at the `--set` that put it there.
"""

from __future__ import annotations

import difflib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from mockvapi.errors import MockVapiError, ScenarioError, ScenarioProblem, SourceLocation
from mockvapi.library import bundled_dir, unknown_scenario
from mockvapi.scenario import loader as _loader
from mockvapi.scenario.loader import LoadedScenario, PathKey, SourceMap, parse_yaml
from mockvapi.scenario.schema import AssistantTurn, End, Scenario, Silence, UserTurn

__all__ = [
    "Override",
    "OverrideError",
    "apply_overrides",
    "load_scenario",
    "load_text_with",
    "parse_override",
    "with_default_server",
]

# Step bodies that may be written as a bare scalar, and the key that scalar stands for.
_SHORTHANDS: dict[type[BaseModel], str] = {UserTurn: "say", AssistantTurn: "say", Silence: "duration", End: "reason"}


class OverrideError(MockVapiError, ValueError):
    """A `--set` that cannot apply: bad syntax, or a path the scenario language does not have."""


@dataclass(frozen=True)
class Override:
    """One `--set path=value`."""

    path: tuple[str, ...]
    value: Any
    text: str

    def __str__(self) -> str:
        return f"--set {self.text}"


def parse_override(text: str) -> Override:
    """`timing.tokens_per_second=80` -> Override(("timing", "tokens_per_second"), 80)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise OverrideError(f"--set {text}: expected key.path=value, e.g. timing.tokens_per_second=80")
    parts = tuple(key.split("."))
    if any(not p for p in parts):
        raise OverrideError(f"--set {text}: empty key in path {key!r}")
    try:
        # The scenario loader's own reader: the same limits and checks (finite numbers) as a file.
        value = parse_yaml(raw, f"--set {key}")[0] if raw.strip() else None
    except ScenarioError as exc:
        reason = "; ".join(problem.message for problem in exc.problems)
        raise OverrideError(f"--set {text}: {reason}") from None
    return Override(parts, value, text)


# ---------------------------------------------------------------------------------------------
# What the scenario language allows at each place


@dataclass(frozen=True)
class _Shape:
    kind: str  # "model" | "list" | "mapping" | "value"
    model: type[BaseModel] | None = None
    item: Any = None


def _shape(annotation: Any) -> _Shape:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _shape(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        shapes = [_shape(a) for a in get_args(annotation) if a is not type(None)]
        for kind in ("model", "list", "mapping"):
            for shape in shapes:
                if shape.kind == kind:
                    return shape
        return _Shape("value")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _Shape("model", annotation)
    if origin is list:
        args = get_args(annotation)
        return _Shape("list", item=args[0] if args else Any)
    if origin is dict or annotation is Any:
        return _Shape("mapping")
    return _Shape("value")


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {(info.alias or name): info.annotation for name, info in model.model_fields.items()}


def apply_overrides(data: dict[str, Any], overrides: list[Override]) -> dict[str, Any]:
    """A copy of the scenario `data` with every override applied. Raises OverrideError."""
    import copy

    out = copy.deepcopy(data)
    for override in overrides:
        _apply(out, override)
    return out


def _apply(data: dict[str, Any], override: Override) -> None:
    node: Any = data
    shape = _Shape("model", Scenario)
    parts = override.path
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the top level"
        last = depth == len(parts) - 1
        key: str | int
        if shape.kind == "model":
            assert shape.model is not None
            fields = _fields(shape.model)
            if part not in fields:
                near = difflib.get_close_matches(part, list(fields), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else f"; known keys: {', '.join(fields)}"
                raise OverrideError(f"{override}: unknown key {part!r} under {where}{hint}")
            key = part
            child = _shape(fields[part])
        elif shape.kind == "list":
            if not part.lstrip("-").isdigit():
                raise OverrideError(f"{override}: {where} is a list; expected an index there, got {part!r}")
            index = int(part)
            size = len(node) if isinstance(node, list) else 0
            if not -size <= index < size:
                raise OverrideError(f"{override}: {where} has {size} item(s); there is no item {index}")
            key = index % size
            child = _shape(shape.item)
        elif shape.kind == "mapping":
            key = part
            child = _Shape("mapping")
        else:
            raise OverrideError(f"{override}: {where} is a single value; it has no key {part!r}")
        if last:
            _put(node, key, override.value)
            return
        current = node.get(key) if isinstance(node, dict) else node[key] if isinstance(key, int) else None
        if child.model in _SHORTHANDS and current is not None and not isinstance(current, dict):
            current = {_SHORTHANDS[child.model]: current}  # `assistant: "Hi"` -> `{say: "Hi"}`
        here = ".".join(parts[: depth + 1])
        if current is None:
            if child.kind == "list":
                raise OverrideError(f"{override}: {here} is not in this scenario")
            current = {}
        if not isinstance(current, list if child.kind == "list" else dict):
            raise OverrideError(f"{override}: {here} is {current!r:.40} in this scenario, not a mapping")
        _put(node, key, current)
        node = current
        shape = child


def _put(node: Any, key: str | int, value: Any) -> None:
    if isinstance(node, list):
        node[int(key)] = value  # list keys are indexes already
    elif isinstance(node, dict):
        node[key] = value


# ---------------------------------------------------------------------------------------------
# Loading with overrides


def with_default_server(data: dict[str, Any], url: str) -> dict[str, Any]:
    """`mockvapi run --to URL`: `url` becomes the call's default server (the assistant's, and the phone
    number's where the scenario gives it one), keeping what else that server block says (its `secret`,
    `headers`, `credential`... travel with it). A tool's own server keeps its URL; a tool server block
    without one (a secret alone) gets `url` too, so its secret is sent where its messages go."""
    import copy

    out = copy.deepcopy(data)
    squad = out.get("squad")
    if isinstance(squad, dict) and "assistant" not in out:
        # A squad call starts with its first member and has no `assistant:`: every member's assistant (inline,
        # or in `assistants:`) gets the server.
        members = squad.get("members")
        for member in members if isinstance(members, list) else ():
            if isinstance(member, dict) and isinstance(member.get("assistant"), dict):
                _serve_at(member["assistant"], url)
        named = out.get("assistants")
        for assistant in named.values() if isinstance(named, dict) else ():
            if isinstance(assistant, dict):
                _serve_at(assistant, url)
    else:
        assistant = out.get("assistant")
        if not isinstance(assistant, dict):
            assistant = out["assistant"] = {} if assistant is None else assistant
        if isinstance(assistant, dict):
            _serve_at(assistant, url)
    call = out.get("call")
    phone = call.get("phoneNumber") if isinstance(call, dict) else None
    if isinstance(phone, dict) and isinstance(phone.get("server"), dict):
        phone["server"] = {**phone["server"], "url": url}
    return out


def _serve_at(assistant: dict[str, Any], url: str) -> None:
    """The assistant's server goes to `url`; so does a tool server block that has no URL of its own."""
    server = assistant.get("server")
    assistant["server"] = {**server, "url": url} if isinstance(server, dict) else {"url": url}
    for tool in assistant.get("tools") or []:
        if isinstance(tool, dict) and isinstance(tool.get("server"), dict) and not tool["server"].get("url"):
            tool["server"] = {**tool["server"], "url": url}


def load_scenario(
    spec: str | Path, overrides: list[Override] | None = None, *, default_server: str | None = None
) -> LoadedScenario:
    """Load a scenario (a path or a bundled name) with `--set` overrides applied before validation.

    `default_server`: a URL that becomes the call's default server (`mockvapi run --to`, see
    `with_default_server`); `--set` overrides apply after it, so they can still change any server.

    Raises ScenarioError (problems point into the file, or at the `--set` for overridden values) or
    OverrideError (a path the language does not have)."""
    path = Path(spec)
    if not path.exists():
        bundled = bundled_dir() / f"{str(spec).removesuffix('.yaml')}.yaml"
        if not bundled.exists():
            raise ScenarioError([ScenarioProblem(SourceLocation(str(spec), 0, 0), unknown_scenario(str(spec)))])
        path = bundled
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([ScenarioProblem(SourceLocation(file, 1, 1), f"cannot read file: {exc}")]) from None
    return load_text_with(text, file, overrides, default_server=default_server)


def load_text_with(
    text: str, file: str, overrides: list[Override] | None = None, *, default_server: str | None = None
) -> LoadedScenario:
    """`load_scenario` for YAML text already read (`file` names it in problems)."""
    if not overrides and default_server is None:
        return _loader.load_text(text, file)
    data, smap = parse_yaml(text, file)
    if not isinstance(data, dict):
        return _loader.load_text(text, file)  # the loader explains what is wrong with the document
    if default_server is not None:
        data = with_default_server(data, default_server)
    data = apply_overrides(data, overrides or [])
    _point_at_overrides(smap, overrides or [])
    return validate(data, smap, text)


def _point_at_overrides(smap: SourceMap, overrides: list[Override]) -> None:
    """Problems with an overridden value name the `--set` (at the key's place in the file, if any)."""
    for override in overrides:
        path: PathKey = tuple(int(p) if p.lstrip("-").isdigit() else p for p in override.path)
        near = smap.locate(path)
        where = SourceLocation(f"{smap.file} ({override})", near.line, near.column)
        smap.values[path] = where
        smap.keys[path] = where


def validate(data: dict[str, Any], smap: SourceMap, text: str) -> LoadedScenario:
    """Validate scenario data already parsed (and changed) into a LoadedScenario, as the loader does."""
    return _loader.validate(data, smap, text)
