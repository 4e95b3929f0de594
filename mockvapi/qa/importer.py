"""`mockvapi import`: a real Vapi call, replayable as a scenario.

Input: a call record (`GET /call/{id}`: `messages` or `artifact.messages`, `customer`, `type`,
`endedReason`...) or an end-of-call-report message (bare, or as delivered: `{"message": {...}}`).

The conversation history becomes steps: the first bot item is the `firstMessage`, user items are
`user` steps, bot items `assistant` steps, a `tool_calls` item with its `tool_call_result` a `tool`
step with the recorded result, and `endedReason` the final `end` (a forwarded call ends with a
`transfer`). A squad's call (more than one member in `artifact.assistantActivations`) becomes a `squad:`
whose members carry the prompts, greetings and tools the history shows them with, and its handoff tool
calls `handoff` steps (static, via transferCall, or dynamic with the server's reply as the scripted one);
when a member's contextEngineeringPlan dropped the handoffs from the history, what it holds is replayed
as one assistant's call. A bot item whose next user item starts before the bot item ends was interrupted: the
history only has the words spoken, so the step says them plus "…" and is cut after exactly those
tokens, `by` the user's words.

Personal data never reaches the scenario: the customer's name (and its parts), phone numbers, email
addresses and UUIDs are replaced everywhere (texts, tool arguments and results) by fakes drawn from a
seeded Faker, the same fake for the same original. `ImportedScenario.substitute()` applies the same
replacement to any text, so a test can compare a replay with the original.
"""

from __future__ import annotations

import json
import random
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faker import Faker

from mockvapi.engine.handoff import HANDOFF_FAILED_RESULT
from mockvapi.engine.simulator import simulate
from mockvapi.engine.speech import tokenize
from mockvapi.errors import MockVapiError, ScenarioError
from mockvapi.fakes import Fakes
from mockvapi.models.enums import ENDED_REASONS
from mockvapi.models.messages import compact_json
from mockvapi.models.nesting import MAX_JSON_DEPTH, nested_deeper_than
from mockvapi.scenario.loader import load_text

__all__ = ["CallImportError", "ImportedScenario", "import_call"]

NO_RESULT = "No result returned."
CALL_TYPES = ("webCall", "inboundPhoneCall", "outboundPhoneCall", "vapi.websocketCall")
REST = " …"  # stands for the words an interrupted answer never got to say
_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_-]")


class CallImportError(MockVapiError, ValueError):
    """The input is not a call record or end-of-call-report this importer can read."""


# ---------------------------------------------------------------------------------------------
# Fakes


_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_TITLES = frozenset({"Mr", "Mrs", "Ms", "Miss", "Dr", "Jr", "Sr", "II", "III", "IV", "MD", "DDS", "DVM", "PhD"})
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{7,}\d(?!\w)")


class Anonymizer:
    """Real names, numbers, emails and ids -> seeded fakes, the same fake for the same original."""

    def __init__(self, seed: int) -> None:
        self.faker = Faker("en_US")
        self.faker.seed_instance(seed)
        self.fakes = Fakes(seed)
        self.digits = random.Random(f"mockvapi-import:{seed}:digits")
        self.replacements: dict[str, str] = {}
        self._names: list[tuple[re.Pattern[str], str]] = []

    def person(self, full_name: str) -> str:
        """Register a person's name; its parts are replaced too ("Jane" in "Thanks, Jane")."""
        if full_name in self.replacements:
            return self.replacements[full_name]
        # "Mrs. Jane Doe MD": the given and family names are "Jane" and "Doe"; titles stay as they are.
        parts = [p for p in full_name.split() if p.isalpha() and len(p) > 1 and p not in _TITLES]
        first, last = self.faker.first_name(), self.faker.last_name()
        fake = f"{first} {last}" if len(parts) > 1 else first
        self._name(full_name, fake)
        if len(parts) > 1:
            self._name(parts[0], first)
            self._name(parts[-1], last)
        elif parts:
            self._name(parts[0], first)
        return fake

    def _name(self, real: str, fake: str) -> None:
        if len(real) < 2 or real in self.replacements:
            return
        self.replacements[real] = fake
        self._names.append((re.compile(rf"(?<!\w){re.escape(real)}(?!\w)"), fake))
        self._names.sort(key=lambda pair: -len(pair[0].pattern))  # full names before their parts

    def number(self, real: str) -> str:
        if real not in self.replacements:
            self.replacements[real] = self.fakes.e164() if real.startswith("+") else self._digits(real)
        return self.replacements[real]

    def _digits(self, real: str) -> str:
        # Same shape (spaces, dashes, brackets), other digits: "720 555 0188" -> "413 872 0915".
        return "".join(str(self.digits.randint(0, 9)) if c.isdigit() else c for c in real)

    def email(self, real: str) -> str:
        if real not in self.replacements:
            self.replacements[real] = f"{self.faker.user_name()}@example.com"
        return self.replacements[real]

    def ident(self, real: str) -> str:
        if real not in self.replacements:
            self.replacements[real] = self.fakes.uuid()
        return self.replacements[real]

    def text(self, value: str) -> str:
        """`value` with every personal detail replaced."""
        out = _UUID.sub(lambda m: self.ident(m.group(0)), value)
        out = _EMAIL.sub(lambda m: self.email(m.group(0)), out)
        out = _PHONE.sub(lambda m: self.number(m.group(0)) if _is_phone(m.group(0)) else m.group(0), out)
        for pattern, fake in self._names:
            out = pattern.sub(fake, out)
        return out

    def value(self, value: Any) -> Any:
        """Anonymize strings inside any JSON value."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


def _is_phone(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return 10 <= digits <= 15


# ---------------------------------------------------------------------------------------------
# Reading the input


@dataclass
class _Source:
    kind: str  # "call record" | "end-of-call-report"
    history: list[dict[str, Any]]
    call: dict[str, Any]
    customer: dict[str, Any]
    phone_number: dict[str, Any]
    assistant: dict[str, Any]
    ended_reason: str | None
    destination: dict[str, Any] | None
    # Who was active, in order (artifact.assistantActivations): more than one name is a squad's call.
    activations: list[str] = field(default_factory=list)


def _read(data: Any) -> _Source:
    if isinstance(data, list):
        if len(data) != 1:
            raise CallImportError(f"expected one call, got a list of {len(data)}")
        data = data[0]
    if not isinstance(data, dict):
        raise CallImportError(f"expected a JSON object (a call or an end-of-call-report), got {type(data).__name__}")
    if isinstance(data.get("message"), dict):
        data = data["message"]
    report = data.get("type") == "end-of-call-report"
    artifact = data.get("artifact") if isinstance(data.get("artifact"), dict) else {}
    history = artifact.get("messages") if isinstance(artifact.get("messages"), list) else data.get("messages")
    if not isinstance(history, list):
        raise CallImportError(
            "no conversation found: expected `artifact.messages` or `messages` (a GET /call/{id} record "
            "or an end-of-call-report)"
        )
    call = data.get("call") if report and isinstance(data.get("call"), dict) else data

    def obj(key: str) -> dict[str, Any]:
        for holder in (data, call):
            value = holder.get(key)
            if isinstance(value, dict):
                return value
        return {}

    ended = data.get("endedReason") or call.get("endedReason")
    destination = data.get("destination") if isinstance(data.get("destination"), dict) else None
    return _Source(
        kind="end-of-call-report" if report else "call record",
        history=[item for item in history if isinstance(item, dict)],
        call=call,
        customer=obj("customer"),
        phone_number=obj("phoneNumber"),
        assistant=obj("assistant"),
        ended_reason=ended if isinstance(ended, str) else None,
        destination=destination,
        activations=[str(a["assistantName"]) for a in artifact.get("assistantActivations") or []
                     if isinstance(a, dict) and isinstance(a.get("assistantName"), str)],
    )


# ---------------------------------------------------------------------------------------------
# Building the scenario


@dataclass
class ImportedScenario:
    """The scenario text and how it was made."""

    yaml: str
    replacements: dict[str, str]
    steps: int
    ended_reason: str
    substitute: Callable[[str], str] = field(repr=False)

    def __repr__(self) -> str:
        return f"ImportedScenario({self.steps} steps, ended {self.ended_reason}, {len(self.replacements)} fakes)"


def _q(value: Any) -> str:
    """A YAML scalar or flow collection: JSON is valid YAML, and quoting every string keeps `yes`,
    `1.0` or `: ` in a transcript from meaning anything else."""
    return json.dumps(value, ensure_ascii=False)


def _safe(text: str) -> str:
    # Scenario strings are templates; a literal "{{" in a transcript must not become one.
    return text.replace("{{", "{ {").replace("}}", "} }")


def _ms(item: dict[str, Any], key: str) -> int | None:
    value = item.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {"input": raw}
        return parsed if isinstance(parsed, dict) else {"input": parsed}
    return {}







def import_call(data: Any, *, seed: int = 0, name: str | None = None, source: str | None = None) -> ImportedScenario:
    """Turn a call record or end-of-call-report (parsed JSON) into a scenario. Raises CallImportError."""
    if nested_deeper_than(data):
        raise CallImportError(f"nested more than {MAX_JSON_DEPTH} levels deep; a Vapi call record is not")
    src = _read(data)
    anon = Anonymizer(seed)
    customer_lines: list[str] = []
    if isinstance(src.customer.get("name"), str) and src.customer["name"].strip():
        customer_lines.append(f"    name: {_q(anon.person(src.customer['name'].strip()))}")
    if isinstance(src.customer.get("number"), str) and src.customer["number"]:
        customer_lines.append(f"    number: {_q(anon.number(src.customer['number']))}")
    if isinstance(src.customer.get("email"), str) and src.customer["email"]:
        customer_lines.append(f"    email: {_q(anon.email(src.customer['email']))}")

    system = next((str(i.get("message")) for i in src.history if i.get("role") == "system" and i.get("message")), None)
    squad = _Squad.of(src, anon)
    trimmed = squad is not None and not _Squad.whole(src)
    if trimmed:
        squad = None  # some handoffs are not in the history: replay what it holds, as one assistant's call
    kept = ("bot", "user", "tool_calls", "tool_call_result", *(("system",) if squad is not None else ()))
    convo = [i for i in src.history if i.get("role") in kept]
    if squad is not None and convo and convo[0].get("role") == "system":
        convo = convo[1:]  # the first member's prompt (`system` above)
    results = {str(i.get("toolCallId")): i for i in convo if i.get("role") == "tool_call_result"}
    tool_defs = _tool_definitions(src.assistant)
    tools_used: dict[str, dict[str, Any]] = {}
    if squad is not None:
        tools_used = squad.members[0].tools
    steps: list[str] = []
    first_message: str | None = None
    index = 0
    if convo and convo[0].get("role") == "bot" and str(convo[0].get("message") or "").strip():
        first_message = anon.text(str(convo[0]["message"]).strip())
        index = 1
    previous_end: int | None = _ms(convo[0], "endTime") if first_message is not None else None
    bot_rates: list[float] = []
    user_rates: list[float] = []
    while index < len(convo):
        item = convo[index]
        role = item.get("role")
        text = anon.text(str(item.get("message") or "").strip())
        start, end = _ms(item, "time"), _ms(item, "endTime")
        if role in ("bot", "user") and start is not None and end is not None and end > start and text:
            (bot_rates if role == "bot" else user_rates).append(len(text.split()) * 60000 / (end - start))
        if role == "bot" and text:
            following = convo[index + 1] if index + 1 < len(convo) else None
            follow_start = _ms(following, "time") if following is not None else None
            if (
                following is not None
                and following.get("role") == "user"
                and str(following.get("message") or "").strip()
                and end is not None
                and follow_start is not None
                and follow_start < end
            ):
                by = anon.text(str(following["message"]).strip())
                count = len(tokenize(text))
                steps += [
                    "  # Interrupted: the recording has only the words spoken before the caller cut in;",
                    '  # "…" stands for the rest of the answer, never heard.',
                    "  - assistant:",
                    f"      say: {_q(_safe(text) + REST)}",
                    "      interrupted:",
                    f"        after: {count} token{'s' if count != 1 else ''}",
                    f"        by: {_q(_safe(by))}",
                ]
                previous_end = _ms(following, "endTime")
                index += 2
                continue
            steps.append(f"  - assistant: {_q(_safe(text))}")
        elif role == "user" and text:
            gap = (start - previous_end) / 1000 if start is not None and previous_end is not None else 0.0
            if gap > 3.0:
                steps += ["  - user:", f"      say: {_q(_safe(text))}", f"      after: {gap:.1f}s"]
            else:
                steps.append(f"  - user: {_q(_safe(text))}")
        elif role == "system" and squad is not None:
            # A member's prompt: a handoff without a tool call in the record (or a second prompt); the member
            # greets with the bot item right after it.
            member = squad.active
            member.system = member.system or anon.text(str(item.get("message") or ""))
            tools_used = member.tools
        elif role == "tool_calls" and squad is not None and squad.is_handoff(item):
            skip, lines = squad.handoff(convo, index, anon)
            steps += lines
            tools_used = squad.active.tools
            previous_end = _ms(convo[index + skip], "endTime") or _ms(convo[index + skip], "time") or previous_end
            index += skip + 1
            continue
        elif role == "tool_calls":
            for call in item.get("toolCalls") or []:
                if isinstance(call, dict):
                    steps += _tool_step(call, item, results, anon, tools_used)
        if end is not None or start is not None:
            previous_end = end if end is not None else start
        index += 1

    reason = src.ended_reason if src.ended_reason in ENDED_REASONS else None
    ending: list[str] = []
    if reason == "assistant-forwarded-call" and steps and steps[-1].startswith("  - assistant: "):
        spoken = json.loads(steps.pop()[len("  - assistant: ") :])
        raw_number = (src.destination or {}).get("number")
        number = anon.number(raw_number) if isinstance(raw_number, str) else anon.fakes.e164()
        ending = [
            "  - transfer:",
            f"      number: {_q(number)}",
            f"      message: {_q(spoken)}",
        ]
    else:
        if src.ended_reason is None:
            ending.append("  # The record has no endedReason (the call had not ended?): ending as the customer.")
        elif reason is None:
            ending.append(f"  # endedReason {src.ended_reason!r} is not one mockvapi knows: ending as the customer.")
        ending.append(f"  - end: {reason or 'customer-ended-call'}")
    steps += ending
    if not any(line.startswith("  - ") for line in steps[: len(steps) - len(ending)]) and first_message is None:
        raise CallImportError("the call has no conversation to replay (no bot, user or tool items)")

    call_type = src.call.get("type") if src.call.get("type") in CALL_TYPES else "webCall"
    scenario_name = name or _scenario_name(src, anon)
    lines = [
        f"# Imported by `mockvapi import` from {source or 'a Vapi call'} ({src.kind}).",
        f"# Names, phone numbers, emails and ids are seeded fakes (seed {seed}); the conversation is as recorded.",
        *(["# A squad's call whose history starts after a handoff (a member's contextEngineeringPlan trimmed it):",
           "# what the record holds, replayed as one assistant's call."] if trimmed else []),
        "version: 1",
        f"name: {_q(scenario_name)}",
        f"description: {_q(f'Replay of a recorded Vapi call ({src.kind}), ended with {src.ended_reason}.')}",
        f"seed: {seed}",
        "",
        "call:",
        f"  type: {call_type}",
    ]
    if customer_lines:
        lines += ["  customer:", *customer_lines]
    phone = src.phone_number
    if call_type in ("inboundPhoneCall", "outboundPhoneCall") and isinstance(phone.get("number"), str):
        lines += ["  phoneNumber:", f"    number: {_q(anon.number(phone['number']))}"]
        if isinstance(phone.get("name"), str):
            lines.append(f"    name: {_q(anon.text(phone['name']))}")
    if squad is not None:
        first = squad.members[0]
        first.first_message, first.system = first_message, anon.text(system) if system else None
        lines += ["", "# A squad's call (artifact.assistantActivations): its members as the record shows them.",
                  "squad:", "  members:"]
        for member in squad.members:
            lines += _assistant_lines(member.name, member.first_message, member.system, member.tools, tool_defs,
                                      anon, "        ", first=member is first,
                                      max_duration=src.assistant.get("maxDurationSeconds"))
            if member.destinations:
                lines.append("      assistantDestinations:")
                for target, message in member.destinations.items():
                    lines.append(f"        - assistantName: {_q(target)}")
                    if message is not None:
                        lines.append(f"          message: {_q(_safe(message))}")
    else:
        assistant_name = src.assistant.get("name")
        lines += ["", "assistant:"]
        lines += _assistant_lines(anon.text(assistant_name) if isinstance(assistant_name, str) else "Riley",
                                  first_message, anon.text(system) if system else None, tools_used, tool_defs, anon,
                                  "  ", first=True, max_duration=src.assistant.get("maxDurationSeconds"))
    timing = _timing(bot_rates, user_rates)
    if timing:
        lines += ["", "timing:                           # estimated from the recording", *timing]
    lines += ["", "steps:", *steps, "", "expect:", f"  ended_reason: {reason or 'customer-ended-call'}", ""]
    text = "\n".join(lines)
    try:
        simulate(load_text(text, "<imported>"))
    except ScenarioError as exc:  # a bug here, not in the input: say what and keep the text
        raise CallImportError(f"the imported scenario does not play ({exc}); scenario:\n{text}") from None
    return ImportedScenario(
        yaml=text,
        replacements=dict(anon.replacements),
        steps=sum(1 for line in steps if line.startswith("  - ")),
        ended_reason=reason or "customer-ended-call",
        substitute=anon.text,
    )


def _assistant_lines(name: str, first_message: str | None, system: str | None, tools_used: dict[str, dict[str, Any]],
                     tool_defs: dict[str, dict[str, Any]], anon: Anonymizer, indent: str, *, first: bool,
                     max_duration: Any) -> list[str]:
    """One assistant's block (the call's, or a squad member's under `- assistant:`)."""
    lines = [f"{indent[:-4]}- assistant:"] if indent != "  " else []  # a squad member's
    lines.append(f"{indent}name: {_q(name)}")
    if first_message is not None:
        lines.append(f"{indent}firstMessage: {_q(_safe(first_message))}")
    elif first:
        lines.append(f"{indent}firstMessageMode: assistant-waits-for-user")
    if system:
        lines.append(f"{indent}system: {_q(_safe(system))}")
    if first and isinstance(max_duration, int | float) and not isinstance(max_duration, bool) and (
            10 <= max_duration <= 43200):
        lines.append(f"{indent}maxDurationSeconds: {max_duration:g}")  # the replay may last as long as the call could
    if tools_used:
        lines.append(f"{indent}tools:")
        for tool_name, args in tools_used.items():
            lines.append(f"{indent}  - name: {tool_name}")
            definition = tool_defs.get(tool_name)
            if definition is not None and definition.get("description"):
                lines.append(f"{indent}    description: {_q(anon.text(str(definition['description'])))}")
            parameters = definition.get("parameters") if definition is not None else None
            if isinstance(parameters, dict) and parameters.get("type") == "object":
                lines.append(f"{indent}    parameters: {_q(parameters)}")
            else:
                lines.append(f"{indent}    parameters: {_q({k: _json_type(v) for k, v in args.items()})}")
    return lines


HANDED_OFF = re.compile(r"^handoff_to_(.+)$")


@dataclass
class _Member:
    name: str
    system: str | None = None
    first_message: str | None = None
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    destinations: dict[str, str | None] = field(default_factory=dict)  # member name -> message said before


@dataclass
class _Squad:
    """A squad's call being imported: its members (the names artifact.assistantActivations gives, in
    order), who is active, and what each handoff tool call in the history becomes."""

    members: list[_Member]
    activations: list[str]
    raw: dict[str, str]  # a member's name as the record has it -> as the scenario has it (anonymized)
    active_index: int = 0
    handed: int = 0  # handoffs made so far (the next member is activations[handed + 1])

    @classmethod
    def of(cls, src: _Source, anon: Anonymizer) -> _Squad | None:
        raw = {name: anon.text(name) for name in src.activations}
        unique = list(dict.fromkeys(raw.values()))
        if len(unique) < 2:
            return None
        return cls([_Member(name) for name in unique], [raw[name] for name in src.activations], raw)

    @classmethod
    def whole(cls, src: _Source) -> bool:
        """Whether the history shows every handoff the activations count (a member's contextEngineeringPlan
        may have dropped the start of the call, and the handoffs with it, from what the record holds)."""
        anon = Anonymizer(0)  # a dry run: the real one's fakes stay in the order the scenario meets them
        squad = cls.of(src, anon)
        if squad is None:
            return False
        convo = [i for i in src.history if i.get("role") in ("bot", "user", "tool_calls", "tool_call_result", "system")]
        index = 0
        while index < len(convo):
            if convo[index].get("role") == "tool_calls" and squad.is_handoff(convo[index]):
                index += squad.handoff(convo, index, anon)[0]
            index += 1
        return squad.handed == len(squad.activations) - 1

    @property
    def active(self) -> _Member:
        return self.members[self.active_index]

    def _names(self) -> list[str]:
        return [m.name for m in self.members]

    def is_handoff(self, item: dict[str, Any]) -> bool:
        calls = [c for c in item.get("toolCalls") or [] if isinstance(c, dict)]
        return len(calls) == 1 and self._target(calls[0]) is not None

    def _target(self, call: dict[str, Any]) -> tuple[str, str | None] | None:
        """(how, the member named) for a handoff tool call: static by the tool's name or transferCall's
        destination, or dynamic (`handoff`, the member decided by the server)."""
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        name = str(function.get("name") or "")
        match = HANDED_OFF.match(name)
        if match and match.group(1) in self.raw:
            return "static", self.raw[match.group(1)]
        if name == "transferCall":
            destination = _arguments(function.get("arguments")).get("destination")
            return ("transferCall", self.raw[destination]) if destination in self.raw else None
        return ("dynamic", None) if name == "handoff" else None

    def handoff(self, convo: list[dict[str, Any]], index: int, anon: Anonymizer) -> tuple[int, list[str]]:
        """The handoff step for convo[index] and how many items after it it covers (its result, the
        message said before the next member, the next member's prompt and greeting)."""
        call = next(c for c in convo[index].get("toolCalls") or [] if isinstance(c, dict))
        how, target = self._target(call) or ("dynamic", None)
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        arguments = anon.value(_arguments(function.get("arguments")))
        if how == "transferCall":
            arguments.pop("destination", None)  # the step's `to`

        def at(k: int) -> dict[str, Any]:
            return convo[index + k] if index + k < len(convo) else {}

        skip = 0
        result: str | None = None
        if at(1).get("role") == "tool_call_result" and at(1).get("toolCallId") == call.get("id"):
            skip = 1
            raw = at(1).get("result")
            result = anon.text(raw) if isinstance(raw, str) else None
        said = str(at(skip + 1).get("message") or "") if at(skip + 1).get("role") == "bot" else None
        failed = how == "dynamic" and (result == HANDOFF_FAILED_RESULT or (said is not None and said == result))
        if how == "dynamic" and not failed:
            nxt = self.activations[self.handed + 1] if self.handed + 1 < len(self.activations) else None
            target = nxt if nxt in self._names() and nxt != self.active.name else None
            failed = target is None
        lines: list[str]
        if failed or target is None:
            # The member stayed: the server's answer could not be used, or was an error the member said.
            unusable = {"destination": {"type": "assistant", "assistantName": "(no member)"}}
            refused = {"error": said if said is not None else (result or "")}
            reply: dict[str, Any] = unusable if result == HANDOFF_FAILED_RESULT else refused
            lines = ["  # A handoff the server refused (or answered with no usable member): the member stays.",
                     "  - handoff:", f"      reply: {_q(reply)}"]
            if arguments:
                lines.append(f"      arguments: {_q(arguments)}")
            return skip + (1 if said is not None else 0), lines
        current = self.active
        message = None
        if said is not None and at(skip + 2).get("role") == "system":
            message, skip = anon.text(said), skip + 1
        current.destinations.setdefault(target, message)
        if how == "dynamic":
            body: dict[str, Any] = {"destination": {"type": "assistant", "assistantName": target}}
            if result is not None and result != f"Handed off to {target}.":
                body["result"] = result
            lines = ["  - handoff:", f"      reply: {_q(body)}"]
        elif how == "transferCall":
            lines = ["  - handoff:", f"      to: {_q(target)}", "      via: transferCall"]
        else:
            lines = [f"  - handoff: {_q(target)}"] if not arguments else ["  - handoff:", f"      to: {_q(target)}"]
        if arguments:
            lines.append(f"      arguments: {_q(arguments)}")
        self.active_index = self._names().index(target)
        self.handed += 1
        member = self.active
        if at(skip + 1).get("role") == "system":
            skip += 1
            member.system = member.system or anon.text(str(at(skip).get("message") or ""))
        greeting = at(skip + 1)
        if greeting.get("role") == "bot" and str(greeting.get("message") or "").strip():
            text = anon.text(str(greeting["message"]).strip())
            if member.first_message in (None, text):
                member.first_message = text
                skip += 1
        return skip, lines


def _scenario_name(src: _Source, anon: Anonymizer) -> str:
    name = src.call.get("name")
    if isinstance(name, str) and name.strip():
        return anon.text(name.strip())
    call_id = src.call.get("id")
    if isinstance(call_id, str) and call_id:
        return f"imported-call-{anon.ident(call_id)[:8]}"
    return "imported-call"


def _tool_definitions(assistant: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tool name -> its `function` definition, from the assistant's model.tools."""
    model: dict[str, Any] = assistant["model"] if isinstance(assistant.get("model"), dict) else {}
    out: dict[str, dict[str, Any]] = {}
    for tool in model.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            out[_TOOL_NAME.sub("_", function["name"])[:64]] = function
    return out


def _tool_step(
    call: dict[str, Any],
    item: dict[str, Any],
    results: dict[str, dict[str, Any]],
    anon: Anonymizer,
    tools_used: dict[str, dict[str, Any]],
) -> list[str]:
    function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
    tool_name = _TOOL_NAME.sub("_", str(function.get("name") or "tool"))[:64] or "tool"
    arguments = anon.value(_arguments(function.get("arguments")))
    tools_used.setdefault(tool_name, arguments)
    lines = ["  - tool:", f"      name: {tool_name}", f"      arguments: {_q(arguments)}"]
    result_item = results.get(str(call.get("id")))
    if result_item is None:
        lines.append("      # The recording has no result for this call.")
        lines.append("      status: 500")
        return lines
    result = result_item.get("result")
    text = anon.text(result if isinstance(result, str) else compact_json(result))
    if text == NO_RESULT:
        lines.append(f"      # Vapi recorded {NO_RESULT!r}: the server's reply was not usable.")
        lines.append("      status: 500")
    else:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        use_json = parsed is not None and isinstance(parsed, dict | list) and compact_json(parsed) == text
        lines.append(f"      result: {_q(parsed if use_json else _safe(text))}")
    asked, answered = _ms(item, "time"), _ms(result_item, "time")
    if asked is not None and answered is not None and answered >= asked:
        lines.append(f"      latency: {max(0, answered - asked - 20) / 1000:.2f}s")
    return lines


def _timing(bot_rates: list[float], user_rates: list[float]) -> list[str]:
    out = []
    if len(bot_rates) >= 2:
        out.append(f"  words_per_minute: {min(400.0, max(60.0, statistics.median(bot_rates))):.0f}")
    if len(user_rates) >= 2:
        out.append(f"  user_words_per_minute: {min(400.0, max(60.0, statistics.median(user_rates))):.0f}")
    return out
