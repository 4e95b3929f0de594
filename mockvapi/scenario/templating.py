"""`{{ ... }}` templates in scenario strings.

A deliberately small language: a name, then `.field`, `[index]` and calls with literal arguments,
e.g. `{{ faker.name }}`, `{{ next_weekday('tuesday') }}`, `{{ tools.check_availability.json.slots[0] }}`,
`{{ customer.name.upper() }}`. A function with no arguments may be written without `()`.

It is an allow-list, not Python: a template reaches only

- the names the call provides (`faker`, `customer`, `assistant`, `call`, `tools`, `next_weekday`,
  `today`), and within them only their fields;
- Faker's data providers (`faker.name`, `faker.pystr(5, 10)`, ...), never its machinery (`format`,
  `parse`, `random`, `seed_instance`, `add_provider`, ...) nor providers that take types or format
  strings or produce bytes and objects;
- string methods that neither walk objects nor grow without bound (`upper`, `strip`, `replace`, `ljust`,
  ...; never `format` or `format_map`), and a date's `isoformat`/`strftime`/`year`/...;
- JSON data (a tool's reply) by key and index.

A template's value is text, a number, a boolean, a date, or a list/mapping of those; anything else is an
error. Sizes are bounded (`MAX_CHARS` per value, with every argument that sizes an output checked
before the call), and so is everything the templates of one call produce together (`budget_chars`).
Names starting with `_` are refused. `check_expression` does all the checks a scenario file allows
before the call, so the loader reports them at file:line:col; `render` enforces them all again.
"""

from __future__ import annotations

import ast
import datetime
import decimal
import difflib
import functools
import inspect
import json
import math
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_CHARS",
    "ROOTS",
    "Budget",
    "Expression",
    "TemplateError",
    "budget_chars",
    "check",
    "check_expression",
    "expressions",
    "faker_names",
    "has_template",
    "max_chars",
    "parse_expression",
    "render",
    "render_value",
]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[.\[\](),])
      | (?P<literal>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE | re.DOTALL,
)

MAX_CHARS = 100_000
_MAX_LITERAL_DIGITS = 18  # a number literal fits in 64 bits
_MAX_DATE_FORMAT = 200  # strftime output grows with its format: a date format is short
_MAX_DEPTH = 64  # nesting of a value (a tool's JSON reply) a template may render
_MAX_NUMBER_DIGITS = 100  # a number a template produces (faker.random_number(100) at most)
_MAX_COUNT = 1_000  # a Faker argument counting things (words, sentences, elements): each thing is text


def max_chars() -> int:
    """The most characters one template value (and one rendered string) may have:
    `MOCKVAPI_TEMPLATE_MAX_CHARS`, default 100,000."""
    raw = os.environ.get("MOCKVAPI_TEMPLATE_MAX_CHARS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_CHARS


def budget_chars() -> int:
    """What the templates of one call may produce together: no more than a scenario file may hold
    (`MOCKVAPI_SCENARIO_MAX_BYTES`, default 4 MiB), so a template cannot do what the file could not."""
    raw = os.environ.get("MOCKVAPI_SCENARIO_MAX_BYTES", "").strip()
    return int(raw) if raw.isdigit() else 4 * 1024 * 1024


class TemplateError(ValueError):
    """A template that does not parse, refers to something that does not exist or is not allowed,
    or would produce a value too large or of a kind templates do not produce."""


# ---------------------------------------------------------------------------------------------
# What a template may reach

ROOTS: dict[str, str] = {
    "faker": "seeded fake data: faker.name, faker.phone_number, faker.pystr(5, 10), ...",
    "customer": "the call's customer: customer.name, customer.number, customer.email",
    "assistant": "the assistant: assistant.name",
    "call": "the call: call.id",
    "tools": "a tool step's reply: tools.NAME.result, tools.NAME.json.FIELD, tools.NAME.status",
    "next_weekday": "next_weekday('tuesday'): the date of the next such day",
    "today": "today: the call's date",
    "e164_phone_number": "a fake phone number in E.164 form (+14155550123), as Vapi's phone calls carry them",
}
_FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("name", "number", "email"),
    "assistant": ("name",),
    "call": ("id",),
}
_TOOL_FIELDS = ("result", "json", "status")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Faker names that are not data: its machinery, and providers that interpret format strings
# (`{{name}}` inside them calls any attribute), take types, or produce bytes, objects or files.
_FAKER_REFUSED = frozenset(
    {
        "add_provider", "cache_pattern", "del_arguments", "factories", "format", "generator",
        "generator_attrs", "get_arguments", "get_formatter", "get_providers", "items", "locales",
        "optional", "parse", "provider", "providers", "random", "seed", "seed_instance", "seed_locale",
        "set_arguments", "set_formatter", "unique", "weights",
        "binary", "csv", "dsv", "enum", "fixed_width", "get_words_list", "image", "json", "json_bytes",
        "language_locale_codes", "profile", "psv", "pydict", "pyiterable", "pylist", "pyobject", "pyset",
        "pystr_format", "pystruct", "pytimezone", "pytuple", "simple_profile", "tar", "time_series", "tsv",
        "xml", "zip",
    }
)  # fmt: skip
# Parameter names of Faker providers that size their output (a count, a length, a number of digits).
_SIZING = re.compile(r"(^|_)(length|nb|chars|digits|elements|count|rows|files|levels|depth|deep|size|texts)($|_)")


def _size_bound(param: str, limit: int) -> int:
    if "digits" in param:
        return _MAX_NUMBER_DIGITS
    if param in ("levels", "depth", "deep"):
        return 100
    if "chars" in param or "length" in param or "size" in param:
        return limit
    return _MAX_COUNT


@functools.cache
def _faker_instance() -> Any:
    from faker import Faker

    return Faker("en_US")


@functools.cache
def faker_names() -> frozenset[str]:
    """Faker's data providers a template may call (those of the en_US locale mockvapi uses)."""
    generator = _faker_instance()._factories[0]
    names = set()
    for provider in generator.providers:
        for name in dir(provider):
            if name.startswith("_") or name in _FAKER_REFUSED:
                continue
            if callable(getattr(provider, name, None)):
                names.add(name)
    return frozenset(names)


@functools.cache
def _faker_signature(name: str) -> inspect.Signature | None:
    try:
        return inspect.signature(getattr(_faker_instance(), name))
    except (TypeError, ValueError, AttributeError):
        return None


# String methods: name -> how to check the call before making it (None: nothing can grow).
def _width(s: str, args: tuple[Any, ...], limit: int) -> None:
    if args and isinstance(args[0], int) and args[0] > limit:
        raise _TooLarge(f"width {args[0]:,} is larger than the {limit:,} characters a template value may have")


def _tabs(s: str, args: tuple[Any, ...], limit: int) -> None:
    size = args[0] if args else 8
    if isinstance(size, int) and len(s) + s.count("\t") * max(size, 0) > limit:
        raise _TooLarge(f"expandtabs({size:,}) would make more than the {limit:,} characters a template value may have")


def _replace(s: str, args: tuple[Any, ...], limit: int) -> None:
    if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        hits = s.count(old) if old else len(s) + 1
        if len(args) >= 3 and isinstance(args[2], int) and args[2] >= 0:
            hits = min(hits, args[2])
        if len(s) + hits * (len(new) - len(old)) > limit:
            raise _TooLarge(f"replace() would make more than the {limit:,} characters a template value may have")


_Sizer = Callable[[str, tuple[Any, ...], int], None]
_STRING_METHODS: dict[str, _Sizer | None] = {
    **dict.fromkeys(
        (
            "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha", "isascii",
            "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "lower", "lstrip",
            "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip",
            "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper",
        ),
        None,
    ),
    "center": _width,
    "ljust": _width,
    "rjust": _width,
    "zfill": _width,
    "expandtabs": _tabs,
    "replace": _replace,
}  # fmt: skip
_DATE_METHODS = frozenset({"isoformat", "strftime", "weekday", "isoweekday"})
_DATE_FIELDS = frozenset({"year", "month", "day", "hour", "minute", "second"})
_METHODS = frozenset(_STRING_METHODS) | _DATE_METHODS
_SIZED_METHODS = {"center": 0, "ljust": 0, "rjust": 0, "zfill": 0, "expandtabs": 0}


class _TooLarge(Exception):
    """A value or argument past a size limit (a TemplateError once the expression is known)."""


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class _Access:
    kind: str  # "attr" | "index" | "call"
    value: Any


@dataclass
class Budget:
    """Characters the templates of one call may still produce (see `budget_chars`)."""

    remaining: int = field(default_factory=budget_chars)

    def spend(self, chars: int, source: str) -> None:
        self.remaining -= chars
        if self.remaining < 0:
            raise TemplateError(
                f"{{{{{source}}}}}: the templates of this call produced more than {budget_chars():,} characters,"
                " the limit (MOCKVAPI_SCENARIO_MAX_BYTES)"
            )



@dataclass(frozen=True)
class Expression:
    source: str
    root: str
    accesses: tuple[_Access, ...]

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The expression's value in `context`, within the allow-list and the size limits."""
        try:
            return _Evaluation(self, context, max_chars()).run()
        except _TooLarge as exc:
            raise TemplateError(f"{{{{{self.source}}}}}: {exc}") from None


def _literal(text: str, source: str) -> Any:
    if text[0] not in "'\"" and len(text.lstrip("-").split(".")[0]) > _MAX_LITERAL_DIGITS:
        raise TemplateError(f"{{{{{source}}}}}: the number {text[:30]} is too large for a template")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise TemplateError(f"cannot read {{{{{source}}}}}: bad literal {text[:30]} ({exc})") from None


# A call renders the same few templates again and again (every tool call's reply), and parsing one runs
# ast.literal_eval on its literals, which leaves cyclic garbage behind: parse each source once.
@functools.lru_cache(maxsize=1024)
def parse_expression(source: str) -> Expression:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = source.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise TemplateError(f"cannot read {{{{{source:.200}}}}} at {text[pos:pos + 40]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if not tokens or tokens[0][0] != "name":
        raise TemplateError(f"{{{{{source:.200}}}}} must start with a name")
    root = tokens[0][1]
    accesses: list[_Access] = []
    i = 1

    def expect(kind: str, value: str | None = None) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i][0] != kind or (value is not None and tokens[i][1] != value):
            raise TemplateError(f"cannot read {{{{{source:.200}}}}}: expected {value or kind}")
        i += 1
        return tokens[i - 1][1]

    while i < len(tokens):
        kind, value = tokens[i]
        if value == ".":
            i += 1
            accesses.append(_Access("attr", expect("name")))
        elif value == "[":
            i += 1
            accesses.append(_Access("index", _literal(expect("literal"), source)))
            expect("punct", "]")
        elif value == "(":
            i += 1
            args: list[Any] = []
            while i < len(tokens) and tokens[i][1] != ")":
                args.append(_literal(expect("literal"), source))
                if i < len(tokens) and tokens[i][1] == ",":
                    i += 1
            expect("punct", ")")
            accesses.append(_Access("call", tuple(args)))
        else:
            raise TemplateError(f"cannot read {{{{{source:.200}}}}} at {value[:40]!r}")
    names = [root] + [str(a.value) for a in accesses if a.kind == "attr"]
    names += [a.value for a in accesses if a.kind == "index" and isinstance(a.value, str)]
    if any(name.startswith("_") for name in names):
        raise TemplateError(f"{{{{{source:.200}}}}}: names starting with '_' are not allowed")
    return Expression(source.strip(), root, tuple(accesses))


def expressions(text: str) -> Iterator[tuple[int, str]]:
    """(offset, source) of every `{{ source }}` in `text`; TemplateError for an unclosed `{{`.

    Found with str.find, not a lazy regex: `.*?` rescans the rest of the text for every `{{` that is
    never closed, which is quadratic in a long hostile string."""
    pos = 0
    while (start := text.find("{{", pos)) != -1:
        end = text.find("}}", start + 2)
        if end == -1:
            raise TemplateError(f"unclosed '{{{{' in {text[start:start + 60]!r}")
        yield start, text[start + 2 : end]
        pos = end + 2


def has_template(text: str) -> bool:
    return "{{" in text


def check(text: str) -> None:
    """Raise TemplateError if any template in `text` does not parse (names are checked when rendered)."""
    for _, source in expressions(text):
        parse_expression(source)


# ---------------------------------------------------------------------------------------------
# Checking before the call (what a scenario file alone decides)


def _near(name: str, known: Collection[str]) -> str:
    near = difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def check_expression(source: str, *, tools: Collection[str] | None = None) -> None:
    """Raise TemplateError for what is wrong with `{{ source }}` whatever the call: a name outside the
    allow-list, a Faker name that is not a data provider, a method templates do not have, an argument
    past a size limit. `tools` are the scenario's tool step names (None: not checked)."""
    expr = parse_expression(source)
    src = expr.source
    limit = max_chars()
    if expr.root not in ROOTS:
        raise TemplateError(
            f"unknown name {expr.root!r} in {{{{{src}}}}}{_near(expr.root, ROOTS)} (known: {', '.join(ROOTS)})"
        )
    rest = list(expr.accesses)
    data = False
    if expr.root == "faker":
        if not rest or rest[0].kind != "attr":
            raise TemplateError(f"{{{{{src}}}}}: use a Faker provider, like faker.name")
        name = str(rest.pop(0).value)
        if name not in faker_names():
            raise TemplateError(f"{{{{{src}}}}}: {_not_a_provider(name)}")
        if rest and rest[0].kind == "call":
            try:
                _check_faker_args(name, rest.pop(0).value, limit)
            except TemplateError as exc:
                raise TemplateError(f"{{{{{src}}}}}: {exc}") from None
    elif expr.root in _FIELDS:
        if rest:
            first = rest.pop(0)
            if first.kind == "call" or str(first.value) not in _FIELDS[expr.root]:
                known = _FIELDS[expr.root]
                raise TemplateError(
                    f"{{{{{src}}}}}: {expr.root} has no {first.value!r}{_near(str(first.value), known)}"
                    f" (it has: {', '.join(known)})"
                )
    elif expr.root == "tools":
        if len(rest) < 2 or rest[0].kind == "call" or rest[1].kind == "call":
            raise TemplateError(f"{{{{{src}}}}}: write tools.NAME.result, tools.NAME.json.FIELD or tools.NAME.status")
        tool, part = str(rest[0].value), str(rest[1].value)
        if tools is not None and tool not in tools:
            hint = _near(tool, tools) or (f" (tool steps: {', '.join(sorted(tools))})" if tools else "")
            raise TemplateError(f"{{{{{src}}}}}: no tool step calls {tool!r}{hint}")
        if part not in _TOOL_FIELDS:
            raise TemplateError(f"{{{{{src}}}}}: a tool's reply has {', '.join(_TOOL_FIELDS)}, not {part!r}")
        rest = rest[2:]
        data = part == "json"
    elif expr.root == "next_weekday":
        if not rest or rest[0].kind != "call" or len(rest[0].value) != 1 or not isinstance(rest[0].value[0], str):
            raise TemplateError(f"{{{{{src}}}}}: write next_weekday('tuesday')")
        day = rest.pop(0).value[0]
        if day.strip().lower() not in _WEEKDAYS:
            raise TemplateError(f"{{{{{src}}}}}: next_weekday wants a day name like 'tuesday', got {day!r}")
    elif expr.root == "today" and rest and rest[0].kind == "call":
        call = rest.pop(0)
        if call.value:
            raise TemplateError(f"{{{{{src}}}}}: today takes no arguments")
    _check_chain(rest, src, limit, data=data)


def _not_a_provider(name: str) -> str:
    if name in _FAKER_REFUSED:
        return f"{name!r} is Faker machinery or not plain data, not for templates"
    return f"{name!r} is not a Faker data provider{_near(name, faker_names())}"


def _check_faker_args(name: str, args: tuple[Any, ...], limit: int) -> None:
    signature = _faker_signature(name)
    if signature is None:
        return
    try:
        bound = signature.bind(*args)
    except TypeError as exc:
        raise TemplateError(f"faker.{name}{signature}: {exc}") from None
    _check_sizes(name, bound.arguments, limit)


def _check_sizes(name: str, arguments: Mapping[str, Any], limit: int) -> None:
    product = 1
    for param, value in arguments.items():
        if not _SIZING.search(param) or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        bound = _size_bound(param, limit)
        if value > bound:
            raise TemplateError(f"faker.{name}: {param}={value:,} is more than {bound:,}, the limit for a template")
        if not param.startswith("min_"):
            product *= max(int(value), 1)
    if product > limit * 10:
        raise TemplateError(
            f"faker.{name}: its size arguments together ask for more than the {limit:,} characters a template"
            " value may have"
        )


def _check_chain(rest: list[_Access], src: str, limit: int, *, data: bool) -> None:
    """Accesses after the name's own part: methods on the value (and keys, in a tool's JSON)."""
    previous: _Access | None = None
    for access in rest:
        if access.kind == "attr":
            name = str(access.value)
            if name not in _METHODS and name not in _DATE_FIELDS and not data:
                raise TemplateError(
                    f"{{{{{src}}}}}: {name!r} is not a method templates allow{_near(name, _METHODS)}"
                    " (text methods such as upper, strip, replace, ljust; a date's isoformat or strftime)"
                )
        elif access.kind == "call":
            if previous is None or previous.kind != "attr" or str(previous.value) not in _METHODS:
                raise TemplateError(f"{{{{{src}}}}}: only a method can be called here")
            _check_method_args(str(previous.value), access.value, limit, src)
            data = False
        previous = access


def _check_method_args(name: str, args: tuple[Any, ...], limit: int, src: str) -> None:
    if name in _SIZED_METHODS and args and isinstance(args[0], int) and args[0] > limit:
        raise TemplateError(
            f"{{{{{src}}}}}: {name}({args[0]:,}) asks for more than the {limit:,} characters a template value may have"
        )
    if name == "strftime" and args and isinstance(args[0], str) and len(args[0]) > _MAX_DATE_FORMAT:
        raise TemplateError(f"{{{{{src}}}}}: a strftime format may have at most {_MAX_DATE_FORMAT} characters")


# ---------------------------------------------------------------------------------------------
# Evaluating


@dataclass(frozen=True)
class _Method:
    """A method of a value, allowed and not yet called."""

    owner: Any
    name: str


_SCALARS = (str, bool, int, float, decimal.Decimal, datetime.date, datetime.time)


@dataclass
class _Evaluation:
    expr: Expression
    context: Mapping[str, Any]
    limit: int

    def fail(self, message: str) -> TemplateError:
        return TemplateError(f"{{{{{self.expr.source}}}}}{message}")

    def run(self) -> Any:
        expr = self.expr
        if expr.root not in self.context:
            known = ", ".join(sorted(self.context))
            raise TemplateError(f"unknown name {expr.root!r} in {{{{{expr.source}}}}} (known: {known})")
        value = self.context[expr.root]
        rest = list(expr.accesses)
        if expr.root == "faker":
            value = self.faker(value, rest)
        elif callable(value) and not isinstance(value, Mapping):
            args = rest.pop(0).value if rest and rest[0].kind == "call" else ()
            value = self.call(value, args)
        for access in rest:
            value = self.step(value, access)
        if isinstance(value, _Method):
            value = self.invoke(value, ())
        self.check_value(value, 0)
        return value

    def faker(self, faker: Any, rest: list[_Access]) -> Any:
        if not rest or rest[0].kind != "attr":
            raise self.fail(": use a Faker provider, like faker.name")
        name = str(rest.pop(0).value)
        if name not in faker_names():
            raise self.fail(f": {_not_a_provider(name)}")
        args: tuple[Any, ...] = rest.pop(0).value if rest and rest[0].kind == "call" else ()
        try:
            _check_faker_args(name, args, self.limit)
        except TemplateError as exc:
            raise self.fail(f": {exc}") from None
        return self.call(getattr(faker, name), args)

    def call(self, function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        try:
            return function(*args)
        except TemplateError:
            raise
        except Exception as exc:  # a provider or helper rejecting its arguments
            raise self.fail(f" failed: {str(exc)[:200]}") from None

    def step(self, value: Any, access: _Access) -> Any:
        if isinstance(value, _Method):
            if access.kind == "call":
                return self.invoke(value, access.value)
            value = self.invoke(value, ())
        if access.kind == "call":
            raise self.fail(": only a method can be called here")
        key = access.value
        if isinstance(value, Mapping):
            if key not in value:
                shown = ", ".join(map(str, list(value)[:20])) or "nothing"
                raise self.fail(f": no {key!r} (has: {shown})")
            return value[key]
        if access.kind == "index":
            if isinstance(value, list | tuple | str) and isinstance(key, int) and not isinstance(key, bool):
                try:
                    return value[key]
                except IndexError:
                    raise self.fail(f": no item [{key}] (it has {len(value)})") from None
            raise self.fail(f": no item [{key!r}] in a {type(value).__name__}")
        name = str(key)
        if isinstance(value, str) and name in _STRING_METHODS:
            return _Method(value, name)
        if isinstance(value, datetime.date | datetime.time):
            if name in _DATE_METHODS:
                return _Method(value, name)
            if name in _DATE_FIELDS and hasattr(value, name):
                return getattr(value, name)
        raise self.fail(f": a {_kind(value)} has no {name!r} that templates allow")

    def invoke(self, method: _Method, args: tuple[Any, ...]) -> Any:
        owner, name = method.owner, method.name
        _check_method_args(name, args, self.limit, self.expr.source)
        if isinstance(owner, str):
            if len(owner) > self.limit:
                raise _TooLarge(f"the text is longer than the {self.limit:,} characters a template value may have")
            sizer = _STRING_METHODS[name]
            if sizer is not None:
                sizer(owner, args, self.limit)
        return self.call(getattr(owner, name), args)

    def check_value(self, value: Any, depth: int) -> None:
        """Templates produce text, numbers, booleans, dates, and lists or mappings of those (a tool's JSON)."""
        if depth > _MAX_DEPTH:
            raise self.fail(f": the value is nested more than {_MAX_DEPTH} levels deep")
        if value is None or isinstance(value, str | bool):
            return
        if isinstance(value, int):
            if abs(value) >= 10**_MAX_NUMBER_DIGITS:
                raise self.fail(f": the number is longer than {_MAX_NUMBER_DIGITS} digits")
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(f": {value} is not a finite number")
            return
        if isinstance(value, decimal.Decimal):
            if not value.is_finite() or value.adjusted() >= _MAX_NUMBER_DIGITS:
                raise self.fail(f": {value:.20} is not a finite number of at most {_MAX_NUMBER_DIGITS} digits")
            return
        if isinstance(value, datetime.date | datetime.time):
            return
        if isinstance(value, list | tuple):
            if len(value) > self.limit:
                raise _TooLarge(f"a list of {len(value):,} items is more than a template value may have")
            for item in value:
                self.check_value(item, depth + 1)
            return
        if isinstance(value, dict):
            if len(value) > self.limit:
                raise _TooLarge(f"a mapping of {len(value):,} items is more than a template value may have")
            for key, item in value.items():
                if not isinstance(key, str):
                    raise self.fail(": a mapping with keys that are not text")
                self.check_value(item, depth + 1)
            return
        raise self.fail(f": a template cannot produce a {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, _Method):
        return "method"
    return type(value).__name__


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, allow_nan=False, ensure_ascii=False)
    return str(value)


# ---------------------------------------------------------------------------------------------
# Rendering


OnError = Callable[[TemplateError], str]


def render(
    text: str, context: Mapping[str, Any], on_error: OnError | None = None, *, budget: Budget | None = None
) -> str:
    """Replace every `{{ expr }}` in `text`. A failing expression raises TemplateError, unless
    `on_error` is given: then it is told, and its return value stands in for the expression.
    What the expressions produce is charged to `budget` (a call passes its own; by default, a fresh one)."""
    if "{{" not in text:
        return text
    found = list(expressions(text))
    for _, source in found:
        parse_expression(source)
    budget = budget if budget is not None else Budget()
    limit = max_chars()
    parts: list[str] = []
    pos = 0
    for start, source in found:
        parts.append(text[pos:start])
        pos = start + len(source) + 4
        try:
            value = _text(parse_expression(source).evaluate(context))
            if len(value) > limit:
                raise TemplateError(
                    f"{{{{{source.strip()}}}}}: the value has {len(value):,} characters, more than the {limit:,}"
                    " a template value may have (MOCKVAPI_TEMPLATE_MAX_CHARS)"
                )
            budget.spend(len(value), source.strip())
        except (ValueError, TypeError, RecursionError) as exc:  # json.dumps and str() of odd values too
            error = exc if isinstance(exc, TemplateError) else TemplateError(f"{{{{{source.strip()}}}}}: {exc}")
            if on_error is None:
                raise error from None
            value = on_error(error)
        parts.append(value)
    parts.append(text[pos:])
    return "".join(parts)


def render_value(
    value: Any, context: Mapping[str, Any], on_error: OnError | None = None, *, budget: Budget | None = None
) -> Any:
    """Render templates inside any YAML value (strings in mappings and lists too)."""
    budget = budget if budget is not None else Budget()
    if isinstance(value, str):
        return render(value, context, on_error, budget=budget)
    if isinstance(value, dict):
        return {k: render_value(v, context, on_error, budget=budget) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context, on_error, budget=budget) for v in value]
    return value
