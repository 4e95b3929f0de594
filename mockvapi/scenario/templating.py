"""`{{ ... }}` templates in scenario strings.

A deliberately small language: a dotted path with optional `[index]` and calls with literal
arguments, e.g. `{{ faker.name }}`, `{{ next_weekday('tuesday') }}`,
`{{ tools.check_availability.json.slots[0] }}`. A value that is a function with no arguments is
called, so `faker.name` and `faker.name()` are the same. Names starting with `_` are refused, and an
unknown name is an error, never left in the text as it was.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[.\[\](),])
      | (?P<literal>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE,
)


class TemplateError(ValueError):
    """A template that does not parse or refers to something that does not exist."""


@dataclass(frozen=True)
class _Access:
    kind: str  # "attr" | "index" | "call"
    value: Any


@dataclass(frozen=True)
class Expression:
    source: str
    root: str
    accesses: tuple[_Access, ...]

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        if self.root not in context:
            known = ", ".join(sorted(context))
            raise TemplateError(f"unknown name {self.root!r} in {{{{{self.source}}}}} (known: {known})")
        value = context[self.root]
        for access in self.accesses:
            value = _apply(value, access, self.source)
        if callable(value) and not isinstance(value, type):
            value = _call(value, (), self.source)
        return value


def _apply(value: Any, access: _Access, source: str) -> Any:
    if access.kind == "call":
        return _call(value, access.value, source)
    if callable(value) and not isinstance(value, Mapping):
        value = _call(value, (), source)
    if access.kind == "index":
        try:
            return value[access.value]
        except (LookupError, TypeError):
            raise TemplateError(
                f"no item [{access.value!r}] in {{{{{source}}}}} (value: {value!r:.60})"
            ) from None
    name = access.value
    if isinstance(value, Mapping):
        if name not in value:
            raise TemplateError(
                f"no {name!r} in {{{{{source}}}}} (has: {', '.join(map(str, value)) or 'nothing'})"
            )
        return value[name]
    if not hasattr(value, name):
        raise TemplateError(f"no {name!r} in {{{{{source}}}}}")
    return getattr(value, name)


def _call(function: Callable[..., Any], args: tuple[Any, ...], source: str) -> Any:
    if not callable(function):
        raise TemplateError(f"{{{{{source}}}}} calls something that is not a function")
    try:
        return function(*args)
    except TemplateError:
        raise
    except Exception as exc:  # a faker provider or helper rejecting its arguments
        raise TemplateError(f"{{{{{source}}}}} failed: {exc}") from None


def parse_expression(source: str) -> Expression:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = source.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise TemplateError(f"cannot read {{{{{source}}}}} at {text[pos:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if not tokens or tokens[0][0] != "name":
        raise TemplateError(f"{{{{{source}}}}} must start with a name")
    root = tokens[0][1]
    accesses: list[_Access] = []
    i = 1

    def expect(kind: str, value: str | None = None) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i][0] != kind or (value is not None and tokens[i][1] != value):
            raise TemplateError(f"cannot read {{{{{source}}}}}: expected {value or kind}")
        i += 1
        return tokens[i - 1][1]

    while i < len(tokens):
        kind, value = tokens[i]
        if value == ".":
            i += 1
            accesses.append(_Access("attr", expect("name")))
        elif value == "[":
            i += 1
            accesses.append(_Access("index", ast.literal_eval(expect("literal"))))
            expect("punct", "]")
        elif value == "(":
            i += 1
            args: list[Any] = []
            while i < len(tokens) and tokens[i][1] != ")":
                args.append(ast.literal_eval(expect("literal")))
                if i < len(tokens) and tokens[i][1] == ",":
                    i += 1
            expect("punct", ")")
            accesses.append(_Access("call", tuple(args)))
        else:
            raise TemplateError(f"cannot read {{{{{source}}}}} at {value!r}")
    for access in accesses:
        if access.kind == "attr" and str(access.value).startswith("_"):
            raise TemplateError(f"{{{{{source}}}}}: names starting with '_' are not allowed")
    if root.startswith("_"):
        raise TemplateError(f"{{{{{source}}}}}: names starting with '_' are not allowed")
    return Expression(source.strip(), root, tuple(accesses))


def has_template(text: str) -> bool:
    return "{{" in text


def check(text: str) -> None:
    """Raise TemplateError if any template in `text` does not parse (names are checked when rendered)."""
    for match in _TEMPLATE.finditer(text):
        parse_expression(match.group(1))
    if "{{" in _TEMPLATE.sub("", text):
        raise TemplateError(f"unclosed '{{{{' in {text!r:.60}")


OnError = Callable[[TemplateError], str]


def render(text: str, context: Mapping[str, Any], on_error: OnError | None = None) -> str:
    """Replace every `{{ expr }}` in `text`. A failing expression raises TemplateError, unless
    `on_error` is given: then it is told, and its return value stands in for the expression."""
    if "{{" not in text:
        return text
    check(text)

    def substitute(match: re.Match[str]) -> str:
        try:
            value = parse_expression(match.group(1)).evaluate(context)
        except TemplateError as exc:
            if on_error is None:
                raise
            return on_error(exc)
        return (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if isinstance(value, dict | list)
            else str(value)
        )

    return _TEMPLATE.sub(substitute, text)


def render_value(value: Any, context: Mapping[str, Any], on_error: OnError | None = None) -> Any:
    """Render templates inside any YAML value (strings in mappings and lists too)."""
    if isinstance(value, str):
        return render(value, context, on_error)
    if isinstance(value, dict):
        return {k: render_value(v, context, on_error) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context, on_error) for v in value]
    return value
