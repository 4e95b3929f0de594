"""Fuzzing the template language: whatever expression a scenario writes, checking it and rendering it
with a real seeded Faker raise nothing but TemplateError, and what comes out is bounded by the limit.

Expressions are built from the grammar's own pieces (names the language knows, Faker providers and
machinery, string methods, dunders, random names; literal strings, ints of any size, floats), so most
examples get past the parser and exercise the evaluator, plus raw text for the parser.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockvapi.scenario import templating
from mockvapi.scenario.templating import Budget, TemplateError, check_expression, render
from tests.scenario.test_fuzz import HOSTILE_WORK_BOUND, work_bound
from tests.scenario.test_templating import context

LIMIT = 2_000
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_FAKER = sorted(templating.faker_names())
_NAMES = st.one_of(
    st.sampled_from([*templating.ROOTS, "os", "open", "__import__", "self"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
)
_ATTRS = st.one_of(
    st.sampled_from(_FAKER),
    st.sampled_from(sorted(templating._STRING_METHODS)),
    st.sampled_from(
        ["format", "format_map", "parse", "random", "seed_instance", "getrandbits", "providers", "name", "number",
         "email", "id", "json", "result", "status", "lookup", "slots", "isoformat", "strftime", "year",
         "__class__", "__dict__", "__globals__", "mro", "items", "keys"]
    ),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
)  # fmt: skip
_INTS = st.one_of(st.integers(-5, 50), st.integers(-(10**30), 10**30), st.sampled_from([10**9, 2**31, 10**5, 2000]))
_LITERALS = st.one_of(
    _INTS.map(str),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6).map(lambda f: f"{f:.3f}"),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).map(repr),
    st.sampled_from(["'{{name}}'", "'__setattr__'", "'%A %c'", "'\\t'", "''", "'tuesday'", "'x' "]),
)


_SIZED = ["ljust", "rjust", "center", "zfill", "expandtabs", "pystr", "password", "words", "paragraphs",
          "random_letters", "random_number", "texts", "sentences", "random_elements"]  # fmt: skip
_BIG = st.sampled_from([10**5, 10**6, 10**7, 10**8])


@st.composite
def accesses(draw: st.DrawFn, sized: bool = False) -> str:
    kind = "sized" if sized else draw(st.sampled_from(["attr", "attr", "call", "index", "sized"]))
    if kind == "sized":  # an argument that sizes the output, often far past the limit
        args = draw(st.lists(st.one_of(_BIG, _INTS).map(str), min_size=1, max_size=2))
        return "." + draw(st.sampled_from(_SIZED)) + "(" + ", ".join(args) + ")"
    if kind == "attr":
        return "." + draw(_ATTRS)
    if kind == "index":
        return "[" + draw(_LITERALS) + "]"
    return "(" + ", ".join(draw(st.lists(_LITERALS, max_size=3))) + ")"


@st.composite
def expressions(draw: st.DrawFn) -> str:
    start = draw(st.one_of(_NAMES, _PREFIXES))
    if draw(st.booleans()):  # a value, then something that sizes the output
        start = draw(_PREFIXES) + draw(accesses(sized=True))
    return start + "".join(draw(st.lists(accesses(), max_size=5)))


# Starts that reach a value, so the accesses after them exercise the evaluator, not only the name check.
_PREFIXES = st.sampled_from(
    ["faker", "customer.name", "assistant.name", "call.id", "tools.lookup.result", "tools.lookup.json.slots[0]",
     "tools.lookup.json", "today", "next_weekday('friday')", "faker.date_object()", "faker.name", "faker"]
)  # fmt: skip


@contextmanager
def template_limit(chars: int) -> Iterator[None]:
    old = os.environ.get("MOCKVAPI_TEMPLATE_MAX_CHARS")
    os.environ["MOCKVAPI_TEMPLATE_MAX_CHARS"] = str(chars)
    try:
        yield
    finally:
        if old is None:
            del os.environ["MOCKVAPI_TEMPLATE_MAX_CHARS"]
        else:
            os.environ["MOCKVAPI_TEMPLATE_MAX_CHARS"] = old


def _ctx() -> dict[str, Any]:
    reply = {"result": "ok\tthere", "json": {"slots": ["09:00", {"a": [1, 2.5, None]}]}, "status": 200}
    return context(3, lookup=reply)


@FUZZ
@given(st.lists(expressions(), min_size=1, max_size=3), st.text(max_size=20))
def test_any_expression_renders_or_raises_template_error_within_the_limit(sources: list[str], filler: str) -> None:
    filler = filler.replace("{", "").replace("}", "")
    text = filler.join("{{ " + s + " }}" for s in sources)
    with template_limit(LIMIT):
        for source in sources:
            with suppress(TemplateError):
                check_expression(source, tools={"lookup"})
        ctx = _ctx()
        tracemalloc.start()
        try:
            with work_bound(HOSTILE_WORK_BOUND):  # an unbounded Faker call would run on for minutes
                out = render(text, ctx, budget=Budget())
        except TemplateError:
            out = None
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    assert peak < 10_000_000
    if out is not None:
        assert len(out) <= len(text) + LIMIT * len(sources)


@FUZZ
@given(st.text(max_size=60))
def test_any_text_renders_or_raises_template_error(text: str) -> None:
    with template_limit(LIMIT):
        try:
            out = render(text, _ctx(), budget=Budget())
        except TemplateError:
            return
    assert len(out) <= len(text) + LIMIT * text.count("{{")


@FUZZ
@given(st.text(alphabet="{}ab.()[]'0_ ", max_size=80))
def test_braces_and_punctuation_never_escape_the_parser(text: str) -> None:
    # Syntax errors are raised even with on_error (such a scenario cannot load); nothing else is.
    with template_limit(LIMIT), suppress(TemplateError):
        render(text, _ctx(), budget=Budget(), on_error=lambda exc: "")
