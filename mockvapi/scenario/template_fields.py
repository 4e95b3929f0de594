"""Which strings of a scenario are templates, and checking all of them when the file loads.

The simulator renders these fields when it plays the call; everything a template's text alone decides
(its syntax, names, methods, size arguments, which tool it reads) is checked here first, so the error
names file:line:col before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mockvapi.scenario import templating
from mockvapi.scenario.schema import AssistantTurn, End, Scenario, ToolStep, Transfer, UserTurn

__all__ = ["template_problems", "templated_strings"]

Path = tuple[str | int, ...]


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Every string inside a value (a tool's arguments or result), with its path; iterative (deep data)."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            stack.extend(((*where, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*where, index), child) for index, child in reversed(list(enumerate(item))))


def templated_strings(scenario: Scenario) -> Iterator[tuple[Path, str]]:
    """(path, text) of every string the simulator renders as a template, in file order."""
    customer = scenario.call.customer
    for key in ("name", "number", "email"):
        if (text := getattr(customer, key)) is not None:
            yield ("call", "customer", key), text
    for key in ("system", "firstMessage"):
        if (text := getattr(scenario.assistant, key)) is not None:
            yield ("assistant", key), text
    for index, step in enumerate(scenario.steps):
        body = step.body
        at: Path = ("steps", index, step.kind)
        if isinstance(body, UserTurn | End) and body.say is not None:
            yield (*at, "say"), body.say
        elif isinstance(body, AssistantTurn):
            yield (*at, "say"), body.say
            if body.interrupted is not None and body.interrupted.by is not None:
                yield (*at, "interrupted", "by"), body.interrupted.by
        elif isinstance(body, ToolStep):
            yield from _strings(body.arguments, (*at, "arguments"))
            if body.error is not None:
                yield (*at, "error"), body.error
            yield from _strings(body.result, (*at, "result"))
        elif isinstance(body, Transfer):
            for key in ("number", "sip", "message"):
                if (text := getattr(body, key)) is not None:
                    yield (*at, key), text


def template_problems(scenario: Scenario) -> list[tuple[Path, int, str]]:
    """(path, offset of the `{{` in the string, message) for every template that cannot work."""
    tools = {step.body.name for step in scenario.steps if isinstance(step.body, ToolStep)}
    if scenario.assistant.knowledgeBase is not None:
        # A custom knowledge base's last reply is read as tools.knowledge_base (engine/knowledge.py).
        tools.add("knowledge_base")
    found: list[tuple[Path, int, str]] = []
    for path, text in templated_strings(scenario):
        if "{{" not in text:
            continue
        try:
            for offset, source in templating.expressions(text):
                try:
                    templating.check_expression(source, tools=tools)
                except templating.TemplateError as exc:
                    found.append((path, offset, str(exc)))
        except templating.TemplateError as exc:  # an unclosed `{{`
            found.append((path, text.find("{{"), str(exc)))
    return found
