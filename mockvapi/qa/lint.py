"""`mockvapi lint`: warnings for scenarios that are legal but probably not what the author meant.

Each warning has a code (to `--disable` it), a message saying what will happen and why, and the
file:line:col of the value to look at. Checks that depend on timing run the scenario through the
simulator with its own seed, so "later than the text lasts" means what the scenario will really do.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mockvapi.engine.simulator import CallSimulation, StepError, simulate
from mockvapi.errors import ScenarioError, SourceLocation
from mockvapi.models.enums import CLIENT_MESSAGE_NAMES, SERVER_MESSAGE_NAMES
from mockvapi.models.messages import (
    ALWAYS_SENT_SERVER,
    DEFAULT_CLIENT_MESSAGES,
    DEFAULT_SERVER_MESSAGES,
    MESSAGE_TYPES,
    ConversationUpdate,
    StatusUpdate,
    subscribed,
)
from mockvapi.scenario.faults import Fault
from mockvapi.scenario.loader import LoadedScenario, PathKey
from mockvapi.scenario.schema import AssistantTurn, End, Scenario, Server, Silence, Step, ToolStep, UserTurn
from mockvapi.scenario.squad import unreached_members

__all__ = ["CODES", "LintWarning", "lint"]

DEFAULT_TIMEOUT = 20.0  # server.timeoutSeconds when no server sets it (PROTOCOL.md 1a)
TOKEN_RATE = (5.0, 300.0)  # tokens/s a real LLM stream plausibly has
SPEECH_RATE = (80.0, 260.0)  # words/minute a human or TTS voice plausibly speaks
KNOWN_TYPES = SERVER_MESSAGE_NAMES | CLIENT_MESSAGE_NAMES | ALWAYS_SENT_SERVER | frozenset(MESSAGE_TYPES)

CODES: dict[str, str] = {
    "late-interruption": "a time-based interruption comes after the assistant has finished speaking",
    "hang-after-timeout": "hang_after is not shorter than the server timeout, so hang can never be sent",
    "unused-tool": "a tool is declared in assistant.tools but no step calls it",
    "token-rate": "timing.tokens_per_second is outside a realistic 5-300 tokens/s",
    "speech-rate": "a words_per_minute is outside a realistic 80-260",
    "reply-within-hang": "expect_reply.within is longer than hang_after: a reply in time can still cause hang",
    "reply-within-latency": "expect_reply.within is shorter than the step's latency, which is a floor",
    "latency-timeout": "a tool step's latency is not shorter than the server timeout",
    "error-ignored": "a tool step scripts both `error` and a non-200 status; Vapi ignores non-200 replies",
    "never-delivered": "expect.delivered lists a message type no webhook receives",
    "always-absent": "expect.not_delivered lists a message type no webhook receives",
    "unknown-message-type": "expect lists a name that is not a Vapi message type",
    "ended-reason-mismatch": "with its scripted replies the call ends differently from expect.ended_reason",
    "fault-never-matches": "a fault selects messages no channel of this call receives, so it is never injected",
    "ended-by-setting": "steps never play: an assistant setting (max duration, silence timeout, end-call phrase) "
    "ends the call first",
    "voicemail-undetected": "an `end: voicemail` on a call where Vapi detects no voicemail (outbound + "
    "voicemailDetection)",
    "speaks-before-user": "firstMessageMode assistant-waits-for-user, but the assistant speaks before the user",
    "customer-number-not-e164": "a phone call's customer.number is not in E.164 form (+ and up to 15 digits)",
    "unreached-member": "a squad member no step ever hands the call to",
}

# The endings an assistant setting decides (engine/endings.py), and the setting that decides each.
_SETTING_ENDINGS = {
    "exceeded-max-duration": "assistant.maxDurationSeconds (default 600 s)",
    "silence-timed-out": "assistant.silenceTimeoutSeconds (default 30 s)",
    "assistant-said-end-call-phrase": "assistant.endCallPhrases",
}
# E.164: a + then the country code and number, 15 digits at most, no spaces or punctuation.
E164 = re.compile(r"^\+[1-9]\d{1,14}$")


@dataclass(frozen=True)
class LintWarning:
    location: SourceLocation
    code: str
    message: str
    step: str | None = None

    def __str__(self) -> str:
        where = f" (step {self.step})" if self.step else ""
        return f"{self.location}: warning: {self.message}{where} [{self.code}]"


def lint(loaded: LoadedScenario, *, disabled: frozenset[str] = frozenset()) -> list[LintWarning]:
    """Every warning for one valid scenario, in file order (minus `disabled` codes)."""
    found: list[LintWarning] = []
    seen: set[str] = set()
    for path, code, message in _checks(loaded):
        if code in disabled:
            continue
        problem = loaded.problem(path, message)
        warning = LintWarning(problem.location, code, message, problem.step)
        if str(warning) not in seen:
            seen.add(str(warning))
            found.append(warning)
    return sorted(found, key=lambda w: (w.location.line, w.location.column))


Check = Iterator[tuple[PathKey, str, str]]


def _checks(loaded: LoadedScenario) -> Check:
    s = loaded.scenario
    yield from _rates(s)
    yield from _tools(s)
    yield from _hang_and_timeouts(s)
    yield from _expectations(s)
    yield from _interruptions(s)
    yield from _faults(s)
    yield from _squad(s)
    yield from _settings(s)
    yield from _customer_number(loaded)


def _customer_number(loaded: LoadedScenario) -> Check:
    """Vapi's phone calls carry E.164 numbers: a customer.number that renders to anything else (e.g.
    `{{ faker.phone_number }}`, `(269)575-9870`) is not what a handler will see from Vapi."""
    s = loaded.scenario
    if s.call.type not in ("inboundPhoneCall", "outboundPhoneCall") or not s.call.customer.number:
        return
    try:
        customer = CallSimulation(loaded).context.customer or {}
    except (ScenarioError, StepError):
        return  # `validate` reports what cannot be rendered
    number = customer.get("number")
    if isinstance(number, str) and not E164.match(number):
        yield (
            ("call", "customer", "number"),
            "customer-number-not-e164",
            f"customer.number renders as {number!r}, not E.164 (Vapi sends e.g. '+14155550123'); "
            "use {{ e164_phone_number }} for a fake one",
        )


def _rates(s: Scenario) -> Check:
    rate = s.timing.tokens_per_second
    if not TOKEN_RATE[0] <= rate <= TOKEN_RATE[1]:
        yield (
            ("timing", "tokens_per_second"),
            "token-rate",
            f"tokens_per_second {rate:g} is unrealistic: live LLM streams run at about "
            f"{TOKEN_RATE[0]:g}-{TOKEN_RATE[1]:g} tokens/s",
        )
    for key in ("words_per_minute", "user_words_per_minute"):
        wpm = float(getattr(s.timing, key))
        if not SPEECH_RATE[0] <= wpm <= SPEECH_RATE[1]:
            yield (
                ("timing", key),
                "speech-rate",
                f"{key} {wpm:g} is unrealistic: people and TTS voices speak about "
                f"{SPEECH_RATE[0]:g}-{SPEECH_RATE[1]:g} words per minute",
            )


def _tool_steps(s: Scenario) -> Iterator[tuple[int, ToolStep]]:
    for index, step in enumerate(s.steps):
        if isinstance(step.body, ToolStep):
            yield index, step.body


def _tools(s: Scenario) -> Check:
    used = {tool.name for _, tool in _tool_steps(s)}
    for index, tool in enumerate(s.assistant.tools):
        if tool.name not in used:
            yield (
                ("assistant", "tools", index, "name"),
                "unused-tool",
                f"tool {tool.name!r} is declared but no step calls it",
            )


def _squad(s: Scenario) -> Check:
    for member in unreached_members(s):
        yield (
            ("squad", "members", member.index),
            "unreached-member",
            f"squad member {member.name!r} never takes the call: no handoff step reaches it",
        )


def _server_for(s: Scenario, tool_name: str | None, tool_servers: dict[str, Server] | None = None) -> Server | None:
    """tool's server > assistant's > phone number's, as Vapi routes tool-calls (PROTOCOL.md 1a)."""
    servers = tool_servers if tool_servers is not None else _tool_servers(s)
    if tool_name is not None and tool_name in servers:
        return servers[tool_name]
    if s.assistant.server is not None:
        return s.assistant.server
    return s.call.phoneNumber.server if s.call.phoneNumber is not None else None


def _tool_servers(s: Scenario) -> dict[str, Server]:
    """The first declared server of each tool name (one lookup per tool step, not a scan of every tool)."""
    servers: dict[str, Server] = {}
    for tool in s.assistant.tools:
        if tool.server is not None:
            servers.setdefault(tool.name, tool.server)
    return servers


def _timeout(server: Server | None) -> float:
    return server.timeoutSeconds if server is not None else DEFAULT_TIMEOUT


def _hang_and_timeouts(s: Scenario) -> Check:
    timing_hang = s.timing.hang_after
    tools = list(_tool_steps(s))
    servers = _tool_servers(s)
    for index, step in tools:
        timeout = _timeout(_server_for(s, step.name, servers))
        hang = timing_hang if step.hang_after is None else step.hang_after
        where: PathKey = (
            ("steps", index, "tool", "hang_after")
            if step.hang_after is not None
            else (
                "timing",
                "hang_after",
            )
        )
        if hang >= timeout:
            yield (
                where,
                "hang-after-timeout",
                f"hang_after {hang:g}s is not shorter than the server timeout ({timeout:g}s) of tool "
                f"{step.name!r}: Vapi gives up on the reply before it would send hang",
            )
        if step.latency >= timeout:
            yield (
                ("steps", index, "tool", "latency"),
                "latency-timeout",
                f"latency {step.latency:g}s is not shorter than the server timeout ({timeout:g}s): a real "
                "reply counts as at least this slow, so the tool call would time out",
            )
        expect = step.expect_reply
        if expect is not None and expect.within is not None:
            if expect.within > hang:
                yield (
                    ("steps", index, "tool", "expect_reply", "within"),
                    "reply-within-hang",
                    f"expect_reply.within {expect.within:g}s is longer than hang_after {hang:g}s: a reply that "
                    "meets the expectation can still make Vapi send hang",
                )
            if expect.within < step.latency:
                yield (
                    ("steps", index, "tool", "expect_reply", "within"),
                    "reply-within-latency",
                    f"expect_reply.within {expect.within:g}s can never hold: the step's latency "
                    f"{step.latency:g}s is a floor for every reply, scripted or real",
                )
        if step.error is not None and not 200 <= step.status < 300:
            yield (
                ("steps", index, "tool", "error"),
                "error-ignored",
                f"status {step.status} makes Vapi ignore the reply, so this error text is never seen",
            )
    if not tools:
        timeout = _timeout(_server_for(s, None))
        if timing_hang >= timeout:
            yield (
                ("timing", "hang_after"),
                "hang-after-timeout",
                f"hang_after {timing_hang:g}s is not shorter than the server timeout ({timeout:g}s): Vapi "
                "gives up on the server before it would send hang",
            )


def _expectations(s: Scenario) -> Check:
    expect = s.expect
    if expect is None:
        return
    subscription = tuple(s.assistant.serverMessages) if s.assistant.serverMessages else DEFAULT_SERVER_MESSAGES
    clients = tuple(s.assistant.clientMessages) if s.assistant.clientMessages else DEFAULT_CLIENT_MESSAGES
    for key in ("delivered", "not_delivered"):
        for index, name in enumerate(getattr(expect, key) or []):
            path: PathKey = ("expect", key, index)
            if name not in KNOWN_TYPES:
                near = difflib.get_close_matches(name, sorted(KNOWN_TYPES), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                yield path, "unknown-message-type", f"{name!r} is not a Vapi message type{hint}"
                continue
            if subscribed(name, subscription, "server"):
                continue
            why = (
                f"{name!r} goes only to clients (clientMessages), never to the server URL"
                if subscribed(name, clients, "client")
                else f"{name!r} is not in the assistant's serverMessages"
            )
            if key == "delivered":
                yield path, "never-delivered", f"{why}, so no webhook receives it and this expectation always fails"
            else:
                yield path, "always-absent", f"{why}, so no webhook receives it and this expectation always holds"
    if expect.ended_reason is not None:
        try:
            timeline = simulate(s)
        except ScenarioError:
            return
        if timeline.ended_reason != expect.ended_reason:
            yield (
                ("expect", "ended_reason"),
                "ended-reason-mismatch",
                f"with its scripted replies the call ends with {timeline.ended_reason!r}, not {expect.ended_reason!r}",
            )


def _interruptions(s: Scenario) -> Check:
    """Time-based interruptions that fall after the speech they interrupt has ended.

    The scenario is simulated once without those interruptions; each one's `after` is compared with
    how long that answer then takes to say (the same seed, so the same speech rate and jitter)."""
    timed = {
        index: step.body
        for index, step in enumerate(s.steps)
        if isinstance(step.body, AssistantTurn)
        and step.body.interrupted is not None
        and step.body.interrupted.after[0] == "seconds"
    }
    if not timed:
        return
    steps: list[Step] = [
        step.model_copy(update={"assistant": turn.model_copy(update={"interrupted": None})})
        if (turn := timed.get(index)) is not None
        else step
        for index, step in enumerate(s.steps)
    ]
    try:
        timeline = simulate(s.model_copy(update={"steps": steps}))
    except ScenarioError:
        return
    spoken: dict[int, float] = {}
    for event in timeline.events:
        message = event.message
        if event.step in timed and isinstance(message, ConversationUpdate) and message.messages:
            last = message.messages[-1]
            if last.get("role") == "bot":
                spoken[event.step] = float(last.get("duration") or 0) / 1000
    for index, turn in timed.items():
        assert turn.interrupted is not None
        after = turn.interrupted.after[1]
        lasts = spoken.get(index)
        if lasts is not None and after >= lasts:
            yield (
                ("steps", index, "assistant", "interrupted", "after"),
                "late-interruption",
                f"the interruption comes {after:g}s after the assistant starts speaking, but this answer "
                f"takes only about {lasts:.1f}s to say: the user would cut in after it has finished",
            )


# What a fault kind is triggered by, when it names no `type` itself.
_FAULT_TRIGGERS = {"stale-token": "user-interrupted", "update-after-hang": "hang"}
_FAULT_CHANNELS = {"close-websocket": ("websocket",), "wrong-secret": ("webhook",), "retry-5xx": ("webhook",)}


def _faults(s: Scenario) -> Check:
    """Faults whose message type reaches none of the channels they apply to (given the subscriptions)."""
    server = tuple(s.assistant.serverMessages) if s.assistant.serverMessages else DEFAULT_SERVER_MESSAGES
    clients = tuple(s.assistant.clientMessages) if s.assistant.clientMessages else DEFAULT_CLIENT_MESSAGES
    places: list[tuple[PathKey, Fault]] = [(("faults", i), f) for i, f in enumerate(s.faults)]
    for index, step in enumerate(s.steps):
        places += [(("steps", index, "faults", i), f) for i, f in enumerate(step.faults)]
    for path, fault in places:
        body = fault.body
        wanted = [_FAULT_TRIGGERS[fault.kind]] if fault.kind in _FAULT_TRIGGERS else []
        wanted += ["model-output"] if fault.kind == "stale-token" else []
        kind_type = getattr(body, "type", None)
        wanted += [str(kind_type)] if kind_type else []
        channel = getattr(body, "channel", None)
        channels = _FAULT_CHANNELS.get(fault.kind) or ((channel,) if channel else ("webhook", "websocket"))
        for name in wanted:
            reaches = [
                c
                for c in channels
                if (subscribed(name, server, "server") if c == "webhook" else subscribed(name, clients, "client"))
            ]
            if not reaches:
                where = " and ".join("the server URL" if c == "webhook" else "clients" for c in channels)
                yield (
                    (*path, fault.kind),
                    "fault-never-matches",
                    f"{fault.kind} needs {name!r} delivered to {where}, but the assistant is not subscribed to it "
                    "(serverMessages/clientMessages), so this fault is never injected",
                )
                break


def _settings(s: Scenario) -> Check:
    """Steps an assistant setting keeps from playing, and settings the script contradicts."""
    a = s.assistant
    for index, step in enumerate(s.steps):
        body = step.body
        if isinstance(body, End) and body.reason == "voicemail":
            detecting = a.voicemailDetection is not None and a.voicemailDetection != "off"
            if not detecting or s.call.type != "outboundPhoneCall":
                yield (
                    ("steps", index, "end"),
                    "voicemail-undetected",
                    "Vapi ends a call `voicemail` only when assistant.voicemailDetection is on for an outbound "
                    "phone call; this call would go on talking to the machine",
                )
    if a.firstMessageMode == "assistant-waits-for-user" and s.steps:
        first = s.steps[0].body
        if not isinstance(first, UserTurn | Silence | End):
            yield (
                ("steps", 0),
                "speaks-before-user",
                "the assistant waits for the user to speak first (firstMessageMode assistant-waits-for-user), "
                "but this step has it act before the user has said anything",
            )
    try:
        timeline = simulate(s)
    except ScenarioError:
        return
    reason = timeline.ended_reason
    setting = _SETTING_ENDINGS.get(reason or "")
    if setting is None:
        return
    ended = next(
        (e for e in timeline.events if isinstance(e.message, StatusUpdate) and e.message.status == "ended"), None
    )
    at_step = ended.step if ended is not None and ended.step is not None else -1
    if at_step + 1 < len(s.steps):
        at = (ended.at_ms / 1000) if ended is not None else 0.0
        yield (
            ("steps", at_step + 1),
            "ended-by-setting",
            f"this step and the {len(s.steps) - at_step - 2} after it never play: the call ends {reason!r} at "
            f"{at:.1f}s, as {setting} decides",
        )
