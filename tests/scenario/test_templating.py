"""The template language: an allow-list with bounded sizes (issue 14, items 6 and 7).

Each attack the security review used is here, both as the loader sees it (`check_expression`, which
`mockvapi validate` reports at file:line:col) and as the simulator renders it at play time (`render`
with a real seeded Faker), so neither path can regress alone.
"""

from __future__ import annotations

import datetime
import tracemalloc
from typing import Any

import pytest

from mockvapi.fakes import Fakes
from mockvapi.scenario import templating
from mockvapi.scenario.templating import Budget, TemplateError, check_expression, render, render_value


def context(seed: int = 0, **tools: Any) -> dict[str, Any]:
    """What the simulator hands `render` (engine/simulator.py `_template_context`)."""
    start = datetime.date(2026, 1, 5)
    return {
        "faker": Fakes(seed).faker,
        "customer": {"name": "Ada Lovelace {0.__class__}", "number": "+15555550100"},
        "assistant": {"name": "Riley"},
        "call": {"id": "call-1"},
        "tools": dict(tools),
        "next_weekday": lambda day: (start + datetime.timedelta(days=1)).isoformat(),
        "today": lambda: start.isoformat(),
    }


# -- what still works ----------------------------------------------------------------------------


def test_documented_templates_render() -> None:
    ctx = context(lookup={"result": '{"slots": ["09:00"]}', "json": {"slots": ["09:00", "10:00"]}, "status": 200})
    text = (
        "{{ faker.name }}|{{ customer.name.upper() }}|{{ next_weekday('tuesday') }}|{{ today }}|"
        "{{ tools.lookup.json.slots[1] }}|{{ tools.lookup.status }}|{{ tools.lookup.json.slots }}|"
        "{{ faker.pystr(3, 3).lower() }}|{{ customer.number.replace('+1', '') }}|{{ assistant.name.ljust(7, '.') }}"
    )
    parts = render(text, ctx).split("|")
    assert parts[0] == Fakes(0).faker.name()
    assert parts[1] == "ADA LOVELACE {0.__CLASS__}"
    assert parts[2:6] == ["2026-01-06", "2026-01-05", "10:00", "200"]
    assert parts[6] == '["09:00", "10:00"]'
    assert len(parts[7]) == 3 and parts[7] == parts[7].lower()
    assert parts[8:] == ["5555550100", "Riley.."]


def test_same_seed_same_text() -> None:
    text = "{{ faker.name }} {{ faker.date_object().strftime('%A') }} {{ faker.words(3) }} {{ faker.latitude }}"
    assert render(text, context(7)) == render(text, context(7))


def test_render_value_renders_inside_data() -> None:
    assert render_value({"a": ["{{ assistant.name }}", 3]}, context()) == {"a": ["Riley", 3]}


# -- escapes (item 6) ------------------------------------------------------------------------------

ESCAPES = [
    "faker.format('__getattribute__', '__dict__')",
    "faker.format('__setattr__', 'name', 'pwned')",
    "faker.format('__reduce_ex__', 2)",
    "faker.parse('{{__init__}}')",
    "faker.pystr_format('{{seed_instance}}')",
    "faker.seed_instance(1)",
    "faker.add_provider('x')",
    "faker.providers",
    "faker.random.getrandbits(100000)",
    "faker.unique.name",
    "faker.pyobject",
    "faker.profile",
    "customer.name.format(1)",
    "customer.name.format_map('x')",
    "customer.name.encode",
    "customer.name.__class__",
    "customer['__class__']",
    "customer.items",
    "customer.keys()",
    "assistant.name.join('ab')",
    "today.__globals__",
    "next_weekday.__code__",
    "faker._factories",
    "__import__('os')",
    "open('/etc/passwd')",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escapes_are_refused_at_load_and_at_play(source: str) -> None:
    with pytest.raises(TemplateError):
        check_expression(source)
    ctx = context()
    with pytest.raises(TemplateError):
        render("{{ " + source + " }}", ctx)
    assert render("{{ faker.first_name }}", ctx) != "pwned"


def test_faker_format_cannot_rewrite_faker() -> None:
    ctx = context()
    with pytest.raises(TemplateError, match="machinery"):
        render("{{ faker.format('__setattr__', 'name', 'pwned') }}", ctx)
    assert render("{{ faker.name }}", ctx) != "pwned"


def test_str_format_on_a_customer_name_does_not_walk_objects() -> None:
    with pytest.raises(TemplateError, match="no 'format' that templates allow"):
        render("{{ customer.name.format(1) }}", context())


@pytest.mark.parametrize(
    ("source", "kind"),
    [("faker.md5(1)", "bytes"), ("faker.time_delta", "timedelta"), ("faker.uuid4(0)", "failed")],
)
def test_results_are_text_numbers_dates_and_lists(source: str, kind: str) -> None:
    with pytest.raises(TemplateError, match=kind):
        render("{{ " + source + " }}", context())


def test_unknown_tool_and_field_are_load_errors() -> None:
    with pytest.raises(TemplateError, match="no tool step calls 'lokup'; did you mean 'lookup'"):
        check_expression("tools.lokup.json.x", tools={"lookup"})
    with pytest.raises(TemplateError, match="has result, json, status"):
        check_expression("tools.lookup.body", tools={"lookup"})
    check_expression("tools.lookup.json.any.key[0].upper()", tools={"lookup"})


# -- bombs (item 7) ------------------------------------------------------------------------------

BOMBS = [
    "assistant.name.ljust(2000000000)",
    "assistant.name.center(300000000, 'x')",
    "assistant.name.zfill(1000000000)",
    "assistant.name.expandtabs(1000000000)",
    "faker.pystr(1, 1000000000)",
    "faker.password(1000000000)",
    "faker.texts(1000, 100000)",
    "faker.paragraphs(1000000)",
    "faker.random_number(100000)",
    "faker.random_letters(1000000000)",
    "faker.words(999999999999999999)",
    "faker.pyint(0, 99999999999999999999999)",
]


@pytest.mark.parametrize("source", BOMBS)
def test_size_bombs_are_refused_before_they_allocate(source: str) -> None:
    with pytest.raises(TemplateError, match="limit|too large|more than"):
        check_expression(source)
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError):
            render("{{ " + source + " }}", context())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000


def test_growth_past_the_limit_at_play_time_names_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKVAPI_TEMPLATE_MAX_CHARS", "1000")
    ctx = context(t={"result": "\t" * 500, "json": None, "status": 200})
    with pytest.raises(TemplateError, match="1,000 characters"):
        render("{{ tools.t.result.expandtabs(8) }}", ctx)
    with pytest.raises(TemplateError, match="1,000 characters"):
        render("{{ tools.t.result.replace('', 'abc') }}", ctx)
    assert len(render("{{ faker.pystr(1000, 1000) }}", ctx)) == 1000
    with pytest.raises(TemplateError, match="more than the 1,000 .*MOCKVAPI_TEMPLATE_MAX_CHARS"):
        render("{{ faker.paragraph(200) }}", ctx)


def test_the_templates_of_one_call_share_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKVAPI_SCENARIO_MAX_BYTES", "5000")
    ctx = context()
    call_budget = Budget()  # what a call's CallState passes to every render of that call
    with pytest.raises(TemplateError, match="produced more than 5,000 characters"):
        for _ in range(100):
            render("{{ faker.pystr(100, 100) }}", ctx, budget=call_budget)
    budget = Budget()
    render("{{ faker.pystr(100, 100) }}", context(), budget=budget)
    assert budget.remaining == 4900


def test_an_unclosed_brace_run_is_refused_in_linear_time() -> None:
    with pytest.raises(TemplateError, match="unclosed"):
        render("{{ " * 300_000, context())
    assert list(templating.expressions("a {{x}} b {{ y }}")) == [(2, "x"), (10, " y ")]


def test_huge_number_literals_are_template_errors() -> None:
    with pytest.raises(TemplateError, match="too large"):
        check_expression("faker.pyint(0, " + "9" * 5000 + ")")
    with pytest.raises(TemplateError, match="bad literal"):
        check_expression("faker.pystr('\\N{nope}')")


def test_a_template_rendered_again_is_not_parsed_again_and_leaves_no_cyclic_garbage() -> None:
    import gc

    text = "{{ result.slots[0] }} at {{ call.id }} on {{ now.strftime('%A') }}"
    context = {"result": {"slots": ["09:00"]}, "call": {"id": "c1"}, "now": datetime.datetime(2026, 1, 2)}
    assert render(text, context) == "09:00 at c1 on Friday"
    assert templating.parse_expression(" result.slots[0] ") is templating.parse_expression(" result.slots[0] ")
    enabled = gc.isenabled()
    gc.disable()  # parsing a literal with ast.literal_eval left cycles for the collector, per render
    try:
        gc.collect()
        for _ in range(20):
            render(text, context)
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()
