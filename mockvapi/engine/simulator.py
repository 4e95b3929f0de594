"""The call simulator: a scenario plus a seed becomes the ordered messages of one call.

Pure and synchronous. `CallSimulation.run()` is a generator that yields `Event`s in time order and,
where Vapi would wait for the customer's server (tool-calls, assistant-request,
transfer-destination-request), an `Ask`; whoever drives the generator sends back a `Reply`. The
`simulate()` function drives it with the scenario's scripted replies; the player (next layer) drives
it with what a real target answers, so both share one model of the conversation.

Timing follows PROTOCOL.md section 3: user speech -> partial/final transcripts -> endpointing wait
-> model tokens (one `turnId` per LLM response) -> voice-input per sentence -> assistant speech ->
conversation-update. All times are integer milliseconds from call start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from mockvapi.errors import ScenarioError, ScenarioProblem
from mockvapi.fakes import Fakes
from mockvapi.models.messages import (
    DEFAULT_CLIENT_MESSAGES,
    DEFAULT_SERVER_MESSAGES,
    AssistantRequest,
    AssistantStarted,
    BotMessage,
    ConversationUpdate,
    EndOfCallReport,
    Hang,
    HistoryItem,
    Message,
    ModelOutput,
    Profile,
    Side,
    SpeechUpdate,
    StatusUpdate,
    SystemMessage,
    ToolCall,
    ToolCallFunction,
    ToolCallMessage,
    ToolCallResultMessage,
    ToolCalls,
    ToolCallsResult,
    Transcript,
    TransferDestinationRequest,
    TransferUpdate,
    UserInterrupted,
    UserMessage,
    VoiceInput,
    compact_json,
    openai_format,
    subscribed,
)
from mockvapi.scenario import templating
from mockvapi.scenario.loader import LoadedScenario, load_text
from mockvapi.scenario.schema import (
    AssistantTurn,
    End,
    Scenario,
    Silence,
    Step,
    ToolStep,
    Transfer,
    UserTurn,
)

# 2026-01-05T09:00:00Z: a Monday morning, so default timestamps look like a real office call.
DEFAULT_START_MS = 1_767_603_600_000
NO_RESULT = "No result returned."
ASSISTANT_REQUEST_TIMEOUT = 7.5

AskKind = Literal["tool-calls", "assistant-request", "transfer-destination-request"]


@dataclass(frozen=True, slots=True)
class Event:
    """One message at one moment of the call."""

    at_ms: int
    message: Message
    history_len: int
    step: int | None
    seq: int

    @property
    def at(self) -> float:
        return self.at_ms / 1000

    @property
    def type(self) -> str:
        return self.message.type_name

    def __repr__(self) -> str:
        return f"Event({self.at:.3f}s {self.type} step={self.step})"


@dataclass(frozen=True)
class Ask:
    """The call waits for the customer's server to answer `event` (at most `timeout` seconds)."""

    kind: AskKind
    event: Event
    timeout: float
    hang_after: float | None
    scripted: Reply
    server: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Reply:
    """What the customer's server answered (or failed to)."""

    status: int | None
    body: Any
    latency: float
    error: str | None = None
    scripted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Waiting:
    """Sent instead of a Reply when none has come within the hang threshold; the call sends `hang`
    and asks again."""

    elapsed: float


@dataclass(frozen=True)
class SimProblem:
    """Something the system under test did that Vapi would not accept, or an unmet expectation."""

    kind: str
    detail: str
    at: float
    step: int | None = None

    def __str__(self) -> str:
        where = f" (step #{self.step + 1})" if self.step is not None else ""
        return f"{self.kind} at {self.at:.3f}s{where}: {self.detail}"


class StepError(Exception):
    """A scenario step that cannot be played; `path` is relative to the step."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class CallOverrides:
    """What the REST API (or a test) decided about a call before it plays: these replace the scenario's."""

    call: Mapping[str, Any] | None = None  # the Call object as created (id, type, customer, transport...)
    assistant: Mapping[str, Any] | None = None  # the assistant the call runs, merged over the scenario's
    phone_number: Mapping[str, Any] | None = None
    assistant_request: bool | None = None  # ask the server for the assistant first (inbound calls)


@dataclass
class CallContext:
    """The objects every message of one call carries, built once per call."""

    call: dict[str, Any]
    customer: dict[str, Any] | None
    phone_number: dict[str, Any] | None
    assistant: dict[str, Any] | None
    start_ms: int
    server_messages: tuple[str, ...] = DEFAULT_SERVER_MESSAGES
    client_messages: tuple[str, ...] = DEFAULT_CLIENT_MESSAGES

    def wants(self, message: Message, side: Side) -> bool:
        if side not in message.sides:
            return False
        subscription = self.server_messages if side == "server" else self.client_messages
        if isinstance(message, Transcript) and message.transcript_type == "partial":
            return "transcript" in subscription
        return subscribed(message.type_name, subscription, side)


_TOKEN_RE = re.compile(r"\s*(?:<[^>]*>|[\w'’]+|[^\w\s])")
_SENTENCE_END = frozenset(".!?;:")


def tokenize(text: str) -> list[str]:
    """Split text the way an LLM streams it: words with their leading space, punctuation apart."""
    tokens = _TOKEN_RE.findall(text.strip())
    assert "".join(tokens) == text.strip(), "tokens must concatenate to the text"
    return tokens


def _chunks(tokens: list[str]) -> list[tuple[str, int]]:
    """Sentence chunks as TTS receives them: (text, index of the chunk's last token)."""
    out: list[tuple[str, int]] = []
    start = 0
    for i, token in enumerate(tokens):
        if (
            token.strip()
            and token.strip()[-1] in _SENTENCE_END
            and (i + 1 == len(tokens) or tokens[i + 1].startswith(" "))
        ):
            out.append(("".join(tokens[start : i + 1]).strip(), i))
            start = i + 1
    if start < len(tokens):
        out.append(("".join(tokens[start:]).strip(), len(tokens) - 1))
    return [(text, i) for text, i in out if text]


def _tokens_for_words(tokens: list[str], words: int) -> int:
    """How many tokens make up the first `words` words (with the punctuation that follows them)."""
    seen = 0
    for i, token in enumerate(tokens):
        if i == 0 or token[:1].isspace():
            if seen == words:
                return i
            seen += 1
    return len(tokens)


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class CallSimulation:
    """One call, step by step. Iterate `run()`; answer each `Ask` with `generator.send(Reply)`."""

    def __init__(
        self,
        scenario: Scenario | LoadedScenario,
        *,
        seed: int | None = None,
        start_ms: int | None = None,
        call_id: str | None = None,
        lenient_templates: bool = False,
        overrides: CallOverrides | None = None,
    ) -> None:
        self.lenient_templates = lenient_templates
        self.overrides = overrides or CallOverrides()
        self.loaded = scenario if isinstance(scenario, LoadedScenario) else None
        self.scenario = scenario.scenario if isinstance(scenario, LoadedScenario) else scenario
        self.seed = self.scenario.seed if seed is None else seed
        self.fakes = Fakes(self.seed)
        self.start_ms = DEFAULT_START_MS if start_ms is None else start_ms
        self.timing = self.scenario.timing
        self.history: list[HistoryItem] = []
        self.rendered: list[dict[str, Any]] = []
        self.openai: list[dict[str, Any]] = []
        self.events: list[Event] = []
        self.problems: list[SimProblem] = []
        self.ended_reason: str | None = None
        self.started_ms: int | None = None
        self.ended_ms: int | None = None
        self.tool_results: dict[str, dict[str, Any]] = {}
        self.controls: list[tuple[int, dict[str, Any]]] = []
        self._batch: list[Event] = []
        self._seq = 0
        self._last_ms = 0
        self._announced = 0  # history items announced by the conversation-updates flushed so far
        self._cursor = 0
        self._turn = 0
        self._step: int | None = None
        self.audio_format: dict[str, Any] | None = None
        # Full server configs (with secrets) for delivery; messages carry redacted copies.
        self._servers: dict[str, dict[str, Any] | None] = {}
        try:
            self.context = self._build_context(call_id)
        except StepError as exc:
            raise step_error(self, exc) from None

    # -- set-up -------------------------------------------------------------------------------

    def _template_context(self) -> dict[str, Any]:
        start = datetime.fromtimestamp(self.start_ms / 1000, tz=UTC).date()
        return {
            "faker": self.fakes.faker,
            "customer": dict(self.context.customer or {}) if hasattr(self, "context") else {},
            "assistant": {"name": self.scenario.assistant.name},
            "call": {"id": self.context.call["id"]} if hasattr(self, "context") else {},
            "tools": self.tool_results,
            "next_weekday": lambda day: _next_weekday(start, day),
            "today": lambda: start.isoformat(),
        }

    def render(self, value: Any, path: tuple[str | int, ...]) -> Any:
        on_error = self._template_problem if self.lenient_templates else None
        try:
            return templating.render_value(value, self._template_context(), on_error)
        except templating.TemplateError as exc:
            raise StepError(path, str(exc)) from None

    def _template_problem(self, exc: templating.TemplateError) -> str:
        # A real reply lacked what the scenario refers to: the assistant says it without that part.
        self._problem("template", f"{exc}; rendered as empty text", self._cursor)
        return ""

    def _build_context(self, call_id: str | None) -> CallContext:
        s = self.scenario
        ids = self.fakes
        cid = call_id or ids.uuid()
        org_id = ids.uuid()
        assistant_id = ids.uuid()
        customer_spec = s.call.customer
        name = self.render(customer_spec.name, ("call", "customer", "name")) if customer_spec.name else None
        number = (
            self.render(customer_spec.number, ("call", "customer", "number"))
            if customer_spec.number
            else None
        )
        phone_call = s.call.type in ("inboundPhoneCall", "outboundPhoneCall")
        customer: dict[str, Any] | None = None
        if phone_call or customer_spec.number or customer_spec.name:
            customer = {"number": number or ids.e164()}
            if name or phone_call:
                customer["name"] = name or self.fakes.faker.name()
            if customer_spec.email:
                customer["email"] = self.render(customer_spec.email, ("call", "customer", "email"))
        phone_number: dict[str, Any] | None = None
        phone_number_id = None
        if phone_call:
            spec = s.call.phoneNumber
            phone_number_id = ids.uuid()
            phone_number = {
                "provider": "byo-phone-number",
                "credentialId": ids.uuid(),
                "number": (spec.number if spec and spec.number else ids.e164()),
                "name": (spec.name if spec and spec.name else "Main line"),
            }
            if spec and spec.server and spec.server.url:
                phone_number["server"] = _server_wire(spec.server.model_dump(exclude_none=True))
        created = _iso(self.start_ms)
        call: dict[str, Any] = {
            "id": cid,
            "orgId": org_id,
            "createdAt": created,
            "updatedAt": created,
            "type": s.call.type,
            "assistantId": assistant_id,
        }
        if s.call.name:
            call["name"] = s.call.name
        if phone_call:
            call["phoneNumberId"] = phone_number_id
            call["phoneCallProvider"] = "vapi"
            call["phoneCallTransport"] = "pstn"
        if s.call.type == "vapi.websocketCall":
            fmt = s.call.audioFormat.model_dump(exclude_none=True) if s.call.audioFormat else {}
            fmt.setdefault("format", "pcm_s16le")
            fmt.setdefault("container", "raw")
            fmt.setdefault("sampleRate", 16000 if fmt["format"] == "pcm_s16le" else 8000)
            # The audio format stays off the wire: the spec types AudioFormat.format as an object, so no
            # real value validates. The websocket transport reads it from here.
            self.audio_format = fmt
            call["transport"] = {"provider": "vapi.websocket"}
        if customer is not None:
            call["customer"] = customer
        o = self.overrides
        if o.call is not None:
            call = {k: v for k, v in o.call.items() if k not in _VOLATILE_CALL_FIELDS}
            transport = call.get("transport")
            if isinstance(transport, dict) and "audioFormat" in transport:
                self.audio_format = dict(transport["audioFormat"])
                call["transport"] = {k: v for k, v in transport.items() if k != "audioFormat"}
            customer = dict(call["customer"]) if isinstance(call.get("customer"), dict) else customer
        if o.phone_number is not None:
            phone_number = dict(o.phone_number)
        self.assistant_request = s.call.assistant_request if o.assistant_request is None else o.assistant_request
        assistant = None if self.assistant_request else self._assistant_dict()
        self._servers["phone"] = _full_server(phone_number)
        phone_number = _redacted(phone_number)
        self._servers["assistant"] = _full_server(assistant)
        assistant = _redacted(assistant)
        ctx = CallContext(call, customer, phone_number, assistant, self.start_ms)
        self._apply_subscriptions(ctx, assistant)
        if assistant is not None:
            for key in ("serverMessages", "clientMessages"):
                assistant.pop(key, None)
        return ctx

    def _assistant_dict(self) -> dict[str, Any]:
        a = self.scenario.assistant
        model: dict[str, Any] = {"provider": "openai", "model": a.model}
        if a.system:
            model["messages"] = [
                {"role": "system", "content": self.render(a.system, ("assistant", "system"))}
            ]
        if a.tools:
            model["tools"] = [self._tool_definition(t.name) for t in a.tools]
        out: dict[str, Any] = {"name": a.name}
        if a.firstMessage:
            out["firstMessage"] = self.render(a.firstMessage, ("assistant", "firstMessage"))
        out["firstMessageMode"] = a.firstMessageMode
        out["model"] = model
        out["voice"] = {"provider": "vapi", "voiceId": "Elliot"}
        out["transcriber"] = {"provider": "deepgram", "model": "nova-3", "language": "en"}
        # serverMessages/clientMessages are kept in the CallContext, not in the embedded assistant: the
        # spec declares them as `array` with an item enum at the array level, which no list satisfies.
        if a.server is not None:
            out["server"] = _server_wire(a.server.model_dump(exclude_none=True))
        for key in ("endCallPhrases", "voicemailMessage", "endCallMessage", "metadata"):
            value = getattr(a, key)
            if value is not None:
                out[key] = value
        if self.overrides.assistant is not None:
            out = {**out, **self.overrides.assistant}
        return out

    def _apply_subscriptions(self, ctx: CallContext, assistant: Mapping[str, Any] | None) -> None:
        if assistant is None:
            return
        a = self.scenario.assistant
        server = assistant.get("serverMessages", a.serverMessages)
        client = assistant.get("clientMessages", a.clientMessages)
        ctx.server_messages = tuple(server) if isinstance(server, list) else DEFAULT_SERVER_MESSAGES
        ctx.client_messages = tuple(client) if isinstance(client, list) else DEFAULT_CLIENT_MESSAGES

    def _tool_definition(self, name: str) -> dict[str, Any]:
        for tool in self.scenario.assistant.tools:
            if tool.name == name:
                definition: dict[str, Any] = {"type": "function", "function": {"name": tool.name}}
                if tool.description:
                    definition["function"]["description"] = tool.description
                definition["function"]["parameters"] = tool.json_schema()
                if tool.async_:
                    definition["async"] = True
                server = tool.server or self.scenario.assistant.server
                if server is not None and server.url:
                    definition["server"] = _public_server(_server_wire(server.model_dump(exclude_none=True)))
                definition["messages"] = []
                return definition
        raise StepError(("tool", "name"), f"tool {name!r} is not declared in assistant.tools")

    # -- emitting -----------------------------------------------------------------------------

    def _emit(self, at_ms: float, message: Message) -> Event:
        event = Event(int(round(at_ms)), message, len(self.history), self._step, self._seq)
        self._seq += 1
        self._batch.append(event)
        return event

    def _flush(self) -> Iterator[Event]:
        batch = sorted(self._batch, key=lambda e: (e.at_ms, e.seq))
        self._batch = []
        for event in batch:
            if isinstance(event.message, ConversationUpdate):
                self._announced = len(event.message.messages)
            # An event timed before a conversation-update that was emitted earlier in code (the
            # interrupting user starts speaking before the cut turn is committed) must not carry that
            # history in its artifact yet.
            history_len = min(event.history_len, self._announced)
            if event.at_ms < self._last_ms or history_len != event.history_len:
                event = Event(max(event.at_ms, self._last_ms), event.message, history_len, event.step, event.seq)
            self._last_ms = event.at_ms
            self.events.append(event)
            yield event

    def _remember(self, item: HistoryItem, at_ms: float) -> Event:
        """Append to history and announce it with a conversation-update."""
        self.history.append(item)
        self.rendered.append(item.wire())
        self.openai.append(openai_format(item))
        return self._emit(
            at_ms,
            # Constructed, not validated: validation would copy every history item for every update, and
            # the items are shared on purpose (they never change; the wire encoder reuses their text).
            ConversationUpdate.model_construct(
                messages=tuple(self.rendered), messages_openai_formatted=tuple(self.openai)
            ),
        )

    def _j(self, seconds: float) -> float:
        """Seconds -> jittered milliseconds."""
        return self.fakes.jitter(seconds, self.timing.jitter) * 1000

    def _ms_from_start(self, at_ms: float) -> float:
        return round(at_ms) / 1000

    # -- the call -----------------------------------------------------------------------------

    def run(self) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        """Yield the call's events in order; yield an Ask where a reply is needed and expect a Reply."""
        yield from self._start()
        if self._ended():
            return  # the assistant-request reply ended the call (error, destination, failure): no script
        steps = self.scenario.steps
        for index, step in enumerate(steps):
            self._step = index
            if self.ended_reason is not None:
                raise StepError(
                    (), f"the call already ended ({self.ended_reason}); remove the steps after it"
                )
            self._step = index
            yield from self._play_step(step)
            self._step = None
            if self.ended_reason is None:
                yield from self._handle_controls()
                if self._ended():
                    return  # a control message ended the call; the rest of the script never happens
        if self.ended_reason is None:
            yield from self._end(self._cursor + 500, "customer-ended-call", None)

    def _ended(self) -> bool:
        # A method, not an attribute test: mypy narrows `ended_reason` and cannot see the generator change it.
        return self.ended_reason is not None

    def _play_step(self, step: Step) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        body = step.body
        if isinstance(body, UserTurn):
            yield from self._user_step(body)
        elif isinstance(body, AssistantTurn):
            yield from self._assistant_step(body)
        elif isinstance(body, ToolStep):
            yield from self._tool_step(body)
        elif isinstance(body, Silence):
            self._cursor += int(body.duration * 1000)
        elif isinstance(body, Transfer):
            yield from self._transfer_step(body)
        elif isinstance(body, End):
            say = self.render(body.say, ("end", "say")) if body.say else None
            yield from self._end(self._cursor + 300, body.reason, say)

    def _start(self) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        s = self.scenario
        t = 0.0
        call_type = self.context.call.get("type", s.call.type)
        if self.assistant_request:
            yield from self._assistant_request()
            if self.ended_reason is not None:
                return
        if call_type == "outboundPhoneCall":
            self._emit(t, StatusUpdate(status="queued"))
            t += 300
            self._emit(t, StatusUpdate(status="ringing"))
            t += self._j(self.timing.ring)
        elif call_type == "inboundPhoneCall":
            t = max(t, self._last_ms + 50)
            self._emit(t, StatusUpdate(status="ringing"))
            t += self._j(min(self.timing.ring, 1.0))
        else:
            t += self._j(0.6)
        self.started_ms = int(round(t))
        self._emit(t, StatusUpdate(status="in-progress"))
        assistant = self.context.assistant or {}
        self._emit(t + 10, AssistantStarted(new_assistant=assistant))
        system = _system_prompt(assistant)
        if system:
            self._remember(
                SystemMessage(
                    message=system,
                    time=self.start_ms + int(round(t)),
                    seconds_from_start=self._ms_from_start(t),
                ),
                t + 20,
            )
        yield from self._flush()
        self._cursor = int(round(t + 400))
        first = assistant.get("firstMessage")
        mode = assistant.get("firstMessageMode", "assistant-speaks-first")
        if first and mode != "assistant-waits-for-user":
            generated = mode == "assistant-speaks-first-with-model-generated-message"
            end = self._speak(str(first), self._cursor, streamed=generated)
            yield from self._flush()
            self._cursor = end

    def _assistant_request(self) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        event = self._emit(0, AssistantRequest())
        yield from self._flush()
        scripted = Reply(200, {"assistant": self._assistant_dict()}, 0.25, scripted=True)
        answer = yield Ask(
            "assistant-request",
            event,
            ASSISTANT_REQUEST_TIMEOUT,
            None,
            scripted,
            self.context.phone_number.get("server") if self.context.phone_number else None,
        )
        reply = answer if isinstance(answer, Reply) else scripted
        at = int(round(min(_floored(reply, scripted), ASSISTANT_REQUEST_TIMEOUT) * 1000))
        self._last_ms = max(self._last_ms, at)
        body = reply.body if isinstance(reply.body, dict) else {}
        if not reply.ok:
            detail = reply.error or f"status {reply.status}"
            self._problem("assistant-request-failed", f"assistant-request got no usable reply ({detail})", at)
            yield from self._end(at + 200, "assistant-request-failed", None)
            return
        if isinstance(body.get("error"), str):
            yield from self._end(at + 200, "assistant-request-returned-error", body["error"])
            return
        if isinstance(body.get("destination"), dict):
            self.context.assistant = None
            self._emit(at + 50, StatusUpdate(status="forwarding", destination=body["destination"]))
            yield from self._end(at + 1000, "assistant-request-returned-forwarding-phone-number", None)
            return
        assistant = body.get("assistant")
        if isinstance(assistant, dict):
            merged = {**self._assistant_dict(), **assistant}
            self._apply_subscriptions(self.context, merged)
            merged.pop("serverMessages", None)
            merged.pop("clientMessages", None)
            self._servers["assistant"] = _full_server(merged)
            self.context.assistant = _redacted(merged)
            return
        elif isinstance(body.get("assistantId"), str):
            assistant_dict = self._assistant_dict()
            self._servers["assistant"] = _full_server(assistant_dict)
            self.context.assistant = _redacted(assistant_dict)
            self.context.call["assistantId"] = body["assistantId"]
        else:
            self._problem(
                "assistant-request-failed", "reply has none of assistant, assistantId, destination, error", at
            )
            yield from self._end(at + 200, "assistant-request-returned-no-assistant", None)
            return
        self._apply_subscriptions(self.context, self.context.assistant)

    # -- speech -------------------------------------------------------------------------------

    def _speak(
        self, text: str, at_ms: float, *, streamed: bool, delay: float = 0.0, hang_after: float | None = None
    ) -> int:
        """The assistant says `text` (uninterrupted), starting its model or voice work at `at_ms`.

        Returns the time its speech ends.
        """
        tokens = tokenize(text)
        if not tokens:
            return int(round(at_ms))  # blank text (say, a template that rendered empty): nothing is said
        chunks = _chunks(tokens)
        if streamed:
            times = self._token_times(at_ms, len(tokens), delay, hang_after)
            turn_id = self.fakes.uuid()
            for token, t in zip(tokens, times, strict=True):
                self._emit(t, ModelOutput(turn_id=turn_id, token=token))
            voice_times = [times[last] + 5 for _, last in chunks]
        else:
            voice_times = [at_ms for _ in chunks]
        for (chunk, _), t in zip(chunks, voice_times, strict=True):
            self._emit(t, VoiceInput(input=chunk))
        start = voice_times[0] + self._j(self.timing.voice_latency)
        return self._utter(chunks, start, voice_times)

    def _utter(self, chunks: list[tuple[str, int]], start: float, ready: list[float]) -> int:
        """Speech of whole chunks from `start`: speech-updates, assistant transcripts, history."""
        turn = self._turn
        self._turn += 1
        self._emit(start, SpeechUpdate(status="started", role="assistant", turn=turn))
        t = start
        spoken = []
        for (chunk, _), ready_at in zip(chunks, ready, strict=True):
            t = max(t, ready_at)
            words = chunk.split()
            duration = self._j(len(words) * 60 / self.timing.words_per_minute)
            if len(words) >= 4:
                self._emit(
                    t + duration / 2,
                    Transcript(
                        role="assistant",
                        transcript_type="partial",
                        transcript=" ".join(words[: len(words) // 2]),
                    ),
                )
            t += duration
            self._emit(t + 30, Transcript(role="assistant", transcript_type="final", transcript=chunk))
            spoken.append(chunk)
        end = t
        # Vapi reports the last final transcript before the speech stop.
        self._emit(end + 40, SpeechUpdate(status="stopped", role="assistant", turn=turn))
        self._bot(" ".join(spoken), start, end)
        return int(round(end + 60))

    def _bot(self, text: str, start: float, end: float) -> None:
        start_i, end_i = int(round(start)), int(round(end))
        self._remember(
            BotMessage(
                message=text,
                time=self.start_ms + start_i,
                end_time=self.start_ms + end_i,
                seconds_from_start=self._ms_from_start(start),
                duration=end_i - start_i,
                source="",
            ),
            end + 50,
        )

    def _token_times(self, at_ms: float, count: int, delay: float, hang_after: float | None) -> list[float]:
        first = at_ms + delay * 1000 + self._j(self.timing.first_token_latency)
        threshold = (self.timing.hang_after if hang_after is None else hang_after) * 1000
        if first - at_ms > threshold:
            self._emit(at_ms + threshold, Hang())
        times = [first]
        for _ in range(count - 1):
            times.append(times[-1] + self._j(1 / self.timing.tokens_per_second))
        return times

    # -- steps --------------------------------------------------------------------------------

    def _user_step(self, turn: UserTurn) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        text = self.render(turn.say, ("user", "say"))
        pause = self.timing.user_pause if turn.after is None else turn.after
        start = self._cursor + self._j(pause)
        self._cursor = self._user_speech(text, start, turn.confidence)
        yield from self._flush()

    def _user_speech(self, text: str, start: float, confidence: float, min_end: float = 0.0) -> int:
        """The user says `text` from `start` (until `min_end` at least); returns when the model may answer."""
        self._emit(start, SpeechUpdate(status="started", role="user"))
        words = text.split()
        duration = max(self._j(len(words) * 60 / self.timing.user_words_per_minute), min_end - start)
        for k in range(2, len(words), 2):
            self._emit(
                start + duration * k / len(words) + 120,
                Transcript(role="user", transcript_type="partial", transcript=" ".join(words[:k])),
            )
        end = start + duration
        self._emit(
            end + 150,
            Transcript(
                role="user", transcript_type="final", transcript=text, confidence=round(confidence, 2)
            ),
        )
        self._emit(end + 200, SpeechUpdate(status="stopped", role="user"))
        start_i, end_i = int(round(start)), int(round(end))
        self._remember(
            UserMessage(
                message=text,
                time=self.start_ms + start_i,
                end_time=self.start_ms + end_i,
                seconds_from_start=self._ms_from_start(start),
                duration=end_i - start_i,
            ),
            end + 250,
        )
        return int(round(end + 200 + self.timing.wait_seconds * 1000))

    def _assistant_step(self, turn: AssistantTurn) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        text = self.render(turn.say, ("assistant", "say"))
        if turn.interrupted is None:
            self._cursor = self._speak(
                text, self._cursor, streamed=True, delay=turn.delay, hang_after=turn.hang_after
            )
        else:
            self._cursor = self._interrupted(text, turn)
            if turn.interrupted.hangup:
                yield from self._end(self._cursor, "customer-ended-call", None)
                return
        yield from self._flush()

    def _interrupted(self, text: str, turn: AssistantTurn) -> int:
        cut = turn.interrupted
        assert cut is not None
        tokens = tokenize(text)
        if not tokens:
            raise StepError(("assistant", "say"), "an interrupted answer needs words to cut; the text is blank")
        chunks = _chunks(tokens)
        at = self._cursor
        times = self._token_times(at, len(tokens), turn.delay, turn.hang_after)
        natural_start = times[chunks[0][1]] + 5 + self._j(self.timing.voice_latency)
        kind, amount = cut.after
        speech_start = natural_start
        if kind == "tokens":
            # `after: N tokens`: the assistant got the first N tokens' words out. The LLM streams faster
            # than speech, so the cut comes when those words have been spoken, not when they streamed.
            spoken_count = int(amount)
            if spoken_count >= len(tokens):
                raise StepError(
                    ("assistant", "interrupted", "after"),
                    f"interruption after {spoken_count} tokens, but the answer has only {len(tokens)} "
                    f"tokens: {tokens!r:.120}",
                )
            spoken_words = len("".join(tokens[:spoken_count]).split())
            cut_ms = speech_start + max(self._j(spoken_words * 60 / self.timing.words_per_minute), 0.002)
            cut_ms = max(cut_ms, times[spoken_count - 1] + 2)  # TTS cannot say what has not streamed yet
        else:
            # A cut needs a moment of speech: the interrupting voice starts between speech start and cut.
            cut_ms = speech_start + max(amount * 1000, 2)
            words = int((cut_ms - speech_start) / 1000 * self.timing.words_per_minute / 60)
            spoken_count = max(1, _tokens_for_words(tokens, words))
        # Everything streamed before the cut was delivered (clients must drop it); no token follows the cut.
        count = max(spoken_count, sum(1 for t in times if t < cut_ms))
        spoken_count = min(spoken_count, count)
        delivered = tokens[:count]
        turn_id = self.fakes.uuid()
        for token, t in zip(delivered, times, strict=False):
            self._emit(t, ModelOutput(turn_id=turn_id, token=token))
        for chunk, last in _chunks(delivered):
            self._emit(times[last] + 5, VoiceInput(input=chunk))
        said = _chunks(tokens[:spoken_count])
        spoken_turn = self._turn
        self._turn += 1
        self._emit(speech_start, SpeechUpdate(status="started", role="assistant", turn=spoken_turn))
        # Assistant finals: whole chunks spoken before the cut, then the rest of what was said.
        t = speech_start
        finished = 0
        for chunk, _ in said:
            duration = self._j(len(chunk.split()) * 60 / self.timing.words_per_minute)
            if t + duration + 30 >= cut_ms:
                break
            t += duration
            self._emit(t + 30, Transcript(role="assistant", transcript_type="final", transcript=chunk))
            finished += 1
        rest = " ".join(chunk for chunk, _ in said[finished:])
        spoken = "".join(tokens[:spoken_count]).strip()
        if cut.hangup:
            self._emit(cut_ms, SpeechUpdate(status="stopped", role="assistant", turn=spoken_turn))
            if rest:
                self._emit(
                    cut_ms + 30, Transcript(role="assistant", transcript_type="final", transcript=rest)
                )
            self._bot(spoken, speech_start, cut_ms)
            return int(round(cut_ms + 300))
        by = self.render(cut.by or "", ("assistant", "interrupted", "by"))
        user_start = max(speech_start + 50, cut_ms - self.timing.voice_seconds * 1000)
        if user_start >= cut_ms:
            # At least 1 ms (after rounding) before the cut: the voice that cuts in must already be heard.
            user_start = min((speech_start + cut_ms) / 2, round(cut_ms) - 1)
        self._emit(cut_ms, UserInterrupted(turn_id=turn_id))
        self._emit(cut_ms + 20, SpeechUpdate(status="stopped", role="assistant", turn=spoken_turn))
        if rest:
            self._emit(cut_ms + 30, Transcript(role="assistant", transcript_type="final", transcript=rest))
        self._bot(spoken, speech_start, cut_ms)
        # The interrupting words are the user's next turn; their speech began just before the cut.
        # The cut turn's bot item is already in history, so the user's item follows it.
        # They are still speaking at the cut (it is their voice that cuts in), so their item follows the bot's.
        resume = self._user_speech(by, user_start, 0.9, min_end=cut_ms)
        return max(resume, int(round(cut_ms + self.timing.backoff_seconds * 1000)))

    def _tool_step(self, step: ToolStep) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        definition = self._tool_definition(step.name)
        arguments = self.render(step.arguments, ("tool", "arguments"))
        call = ToolCall(
            id=self.fakes.tool_call_id(), function=ToolCallFunction(name=step.name, arguments=arguments)
        )
        start = self._cursor + self._j(self.timing.first_token_latency)
        self._emit(start, ModelOutput(turn_id=self.fakes.uuid(), tool_calls=(call,)))
        asked = self._emit(start + 20, ToolCalls(tool_call_list=(call,), tool_definitions=(definition,)))
        self._remember(
            ToolCallMessage(
                tool_calls=(call,),
                time=self.start_ms + int(round(start)),
                seconds_from_start=self._ms_from_start(start),
            ),
            start + 30,
        )
        yield from self._flush()
        server = self._server_for(step.name)
        timeout = float(server.get("timeoutSeconds", 20.0)) if server else 20.0
        hang_after = self.timing.hang_after if step.hang_after is None else step.hang_after
        scripted = self._scripted_tool_reply(step, call.id)
        answer = yield Ask("tool-calls", asked, timeout, hang_after, scripted, server)
        hung = False
        if isinstance(answer, Waiting):
            # The driver saw the threshold pass before any reply: Vapi says `hang` now, then keeps waiting.
            hung = True
            self._emit(asked.at_ms + hang_after * 1000, Hang())
            yield from self._flush()
            answer = yield Ask("tool-calls", asked, timeout, None, scripted, server)
        reply = answer if isinstance(answer, Reply) else scripted
        latency = max(reply.latency, step.latency) if not reply.scripted else reply.latency
        if reply.error == "timeout":
            latency = max(latency, timeout)
        if definition.get("async"):
            latency = min(latency, 0.05)
        elif latency > hang_after and not hung:
            self._emit(asked.at_ms + hang_after * 1000, Hang())
        at = asked.at_ms + latency * 1000
        result = self._tool_result(reply, call, step, at)
        self._check_reply(step, reply, result, latency, at)
        self._emit(
            at, ToolCallsResult(tool_call_result={"toolCallId": call.id, "name": step.name, "result": result})
        )
        self._remember(
            ToolCallResultMessage(
                tool_call_id=call.id,
                name=step.name,
                result=result,
                time=self.start_ms + int(round(at)),
                seconds_from_start=self._ms_from_start(at),
            ),
            at + 10,
        )
        try:
            parsed: Any = json.loads(result)
        except ValueError:
            parsed = None
        self.tool_results[step.name] = {"result": result, "json": parsed, "status": reply.status}
        self._cursor = int(round(at + 50))
        yield from self._flush()

    def phone_server(self) -> dict[str, Any] | None:
        """The phone number's full server config (where assistant-request goes)."""
        server = self._servers.get("phone")
        return dict(server) if server and server.get("url") else None

    def _server_for(self, tool_name: str) -> dict[str, Any] | None:
        """tool's server > assistant's > phone number's (PROTOCOL.md section 1a)."""
        for tool in self.scenario.assistant.tools:
            if tool.name == tool_name and tool.server is not None and tool.server.url:
                return _server_wire(tool.server.model_dump(exclude_none=True))
        for owner in ("assistant", "phone"):
            server = self._servers.get(owner)
            if server is not None and server.get("url"):
                return dict(server)
        return None

    def _scripted_tool_reply(self, step: ToolStep, call_id: str) -> Reply:
        entry: dict[str, Any] = {"name": step.name, "toolCallId": call_id}
        if step.error is not None:
            entry["error"] = self.render(step.error, ("tool", "error"))
        else:
            value = self.render(step.result, ("tool", "result"))
            entry["result"] = value if isinstance(value, str) else compact_json(value)
        body = {"results": [entry]} if step.status == 200 else {"error": "scripted failure"}
        return Reply(step.status, body, step.latency, scripted=True)

    def _tool_result(self, reply: Reply, call: ToolCall, step: ToolStep, at: float) -> str:
        """What Vapi puts in history for this reply; problems are recorded the way Vapi would see them."""
        if reply.error is not None:
            self._problem(
                "timeout" if reply.error == "timeout" else "delivery-failed",
                f"tool {step.name!r} got no reply: {reply.error}",
                at,
            )
            return NO_RESULT
        if not reply.ok:
            self._problem(
                "non-200-reply", f"tool {step.name!r} reply had status {reply.status} (Vapi ignores it)", at
            )
            return NO_RESULT
        body = reply.body
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            self._problem(
                "bad-tool-result", f"tool {step.name!r} reply has no `results` list: {body!r:.80}", at
            )
            return NO_RESULT
        match = next((r for r in results if isinstance(r, dict) and r.get("toolCallId") == call.id), None)
        if match is None:
            ids = [r.get("toolCallId") for r in results if isinstance(r, dict)]
            self._problem(
                "unknown-tool-call-id",
                f"tool {step.name!r} reply has no result for toolCallId {call.id!r} (got {ids})",
                at,
            )
            return NO_RESULT
        if "error" in match and match["error"] is not None:
            value: Any = match["error"]
        else:
            value = match.get("result")
        if value is None:
            self._problem(
                "bad-tool-result", f"tool {step.name!r} result for {call.id} has neither result nor error", at
            )
            return NO_RESULT
        text = value if isinstance(value, str) else compact_json(value)
        if "\n" in text or "\r" in text:
            self._problem(
                "bad-tool-result",
                f"tool {step.name!r} result is multi-line; Vapi needs a single-line string",
                at,
            )
            return NO_RESULT
        return text

    def _check_reply(self, step: ToolStep, reply: Reply, result: str, latency: float, at: float) -> None:
        expect = step.expect_reply
        if expect is None:
            return
        failures = []
        if expect.within is not None and latency > expect.within:
            failures.append(f"reply took {latency:.3f}s, expected within {expect.within:.3f}s")
        if expect.status is not None and reply.status != expect.status:
            failures.append(f"status {reply.status}, expected {expect.status}")
        if expect.result_contains is not None and expect.result_contains not in result:
            failures.append(f"result {result!r:.80} does not contain {expect.result_contains!r}")
        if expect.result_equals is not None:
            wanted = (
                expect.result_equals
                if isinstance(expect.result_equals, str)
                else compact_json(expect.result_equals)
            )
            if result != wanted:
                failures.append(f"result {result!r:.80} != {wanted!r:.80}")
        if expect.error is not None:
            body = reply.body if isinstance(reply.body, dict) else {}
            is_error = any(isinstance(r, dict) and r.get("error") for r in body.get("results") or [])
            if is_error != expect.error:
                failures.append("expected an error result" if expect.error else "expected no error result")
        for failure in failures:
            self._problem("expectation", f"tool {step.name!r}: {failure}", at)

    def _transfer_step(self, step: Transfer) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        t = self._cursor
        destination: dict[str, Any] | None = None
        if step.number:
            destination = {"type": "number", "number": self.render(step.number, ("transfer", "number"))}
        elif step.sip:
            destination = {"type": "sip", "sipUri": self.render(step.sip, ("transfer", "sip"))}
        message = self.render(step.message, ("transfer", "message")) if step.message else None
        if destination is None:
            asked = self._emit(t, TransferDestinationRequest())
            yield from self._flush()
            scripted = Reply(
                200, {"destination": {"type": "number", "number": self.fakes.e164()}}, 0.3, scripted=True
            )
            answer = yield Ask(
                "transfer-destination-request", asked, 20.0, None, scripted, self._server_for("")
            )
            reply = answer if isinstance(answer, Reply) else scripted
            t = asked.at_ms + int(_floored(reply, scripted) * 1000)
            body = reply.body if isinstance(reply.body, dict) else {}
            if reply.ok and isinstance(body.get("destination"), dict):
                destination = body["destination"]
                spoken = body.get("message")
                if isinstance(spoken, dict) and isinstance(spoken.get("content"), str):
                    message = spoken["content"]
            else:
                self._problem(
                    "bad-transfer-destination",
                    f"transfer-destination-request reply has no destination: {reply.error or body!r:.80}",
                    t,
                )
                yield from self._end(t + 200, "call.in-progress.error-transfer-failed", None)
                return
        if message:
            t = self._speak(message, t, streamed=False)
        self._emit(t, TransferUpdate(destination=destination))
        self._emit(t + 100, StatusUpdate(status="forwarding", destination=destination))
        yield from self._end(t + 1000, step.reason, None)

    # -- control messages (from the websocket, the control URL or the client) -----------------

    def control(self, message: Mapping[str, Any], at: float) -> None:
        """Queue an inbound control message; it takes effect at the next step boundary."""
        self.controls.append((int(round(at * 1000)), dict(message)))

    def _handle_controls(self) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        while self.controls and self.ended_reason is None:
            at, message = self.controls.pop(0)
            self._cursor = max(self._cursor, at)
            kind = message.get("type")
            if kind == "say":
                text = message.get("content") or message.get("message")
                if isinstance(text, str) and text.strip():
                    self._cursor = self._speak(text, self._cursor, streamed=False)
                    yield from self._flush()
                    if message.get("endCallAfterSpoken"):
                        yield from self._end(
                            self._cursor + 200, "assistant-ended-call-after-message-spoken", None
                        )
            elif kind == "add-message":
                item = message.get("message")
                if isinstance(item, dict) and isinstance(item.get("content"), str):
                    role = item.get("role")
                    at_ms = self._cursor
                    text = item["content"]
                    if role == "user":
                        self._remember(
                            UserMessage(
                                message=text,
                                time=self.start_ms + at_ms,
                                end_time=self.start_ms + at_ms,
                                seconds_from_start=self._ms_from_start(at_ms),
                            ),
                            at_ms,
                        )
                    else:
                        self._remember(
                            SystemMessage(
                                message=text,
                                time=self.start_ms + at_ms,
                                seconds_from_start=self._ms_from_start(at_ms),
                            ),
                            at_ms,
                        )
                    yield from self._flush()
            elif kind == "end-call":
                yield from self._end(self._cursor + 100, "customer-ended-call", None)
            elif kind == "transfer" and isinstance(message.get("destination"), dict):
                content = message.get("content")
                t = (
                    self._speak(content, self._cursor, streamed=False)
                    if isinstance(content, str) and content
                    else self._cursor
                )
                self._emit(t, TransferUpdate(destination=message["destination"]))
                self._emit(t + 100, StatusUpdate(status="forwarding", destination=message["destination"]))
                yield from self._end(t + 1000, "assistant-forwarded-call", None)
            elif kind == "control" and message.get("control") == "say-first-message":
                first = (self.context.assistant or {}).get("firstMessage")
                if first:
                    self._cursor = self._speak(str(first), self._cursor, streamed=False)
                    yield from self._flush()

    # -- the end ------------------------------------------------------------------------------

    def _end(
        self, at_ms: float, reason: str, say: str | None
    ) -> Generator[Event | Ask, Reply | Waiting | None, None]:
        if say:
            at_ms = self._speak(say, at_ms, streamed=False) + 200
        self.ended_reason = reason
        self.ended_ms = int(round(at_ms))
        self._emit(at_ms, StatusUpdate(status="ended", ended_reason=reason))
        report_at = at_ms + self._j(self.timing.report_delay)
        self._emit(report_at, self._report(reason))
        yield from self._flush()

    def artifact(self) -> dict[str, Any]:
        cid = self.context.call["id"]
        return {
            "messages": list(self.rendered),
            "messagesOpenAIFormatted": list(self.openai),
            "transcript": self.transcript(),
            "recordingUrl": f"https://storage.mockvapi.local/recordings/{cid}-mono.wav",
            "stereoRecordingUrl": f"https://storage.mockvapi.local/recordings/{cid}-stereo.wav",
        }

    def transcript(self) -> str:
        lines = []
        for item in self.history:
            if isinstance(item, BotMessage) and item.message:
                lines.append(f"AI: {item.message}")
            elif isinstance(item, UserMessage):
                lines.append(f"User: {item.message}")
        return "".join(line + "\n" for line in lines)

    def analysis(self, reason: str) -> dict[str, Any]:
        users = sum(isinstance(i, UserMessage) for i in self.history)
        bots = sum(isinstance(i, BotMessage) for i in self.history)
        tools = sorted({i.name for i in self.history if isinstance(i, ToolCallResultMessage)})
        summary = f"{bots} assistant and {users} customer turns"
        if tools:
            summary += f"; tools used: {', '.join(tools)}"
        summary += f"; the call ended with {reason}."
        return {"summary": summary, "successEvaluation": "true" if reason in _SUCCESS_REASONS else "false"}

    def cost(self) -> float:
        started = self.started_ms or 0
        minutes = max(0, (self.ended_ms or started) - started) / 60000
        return round(0.05 + minutes * 0.11, 4)

    def _report(self, reason: str) -> EndOfCallReport:
        started = self.started_ms if self.started_ms is not None else self.ended_ms or 0
        return EndOfCallReport(
            ended_reason=reason,
            artifact=self.artifact(),
            analysis=self.analysis(reason),
            cost=self.cost(),
            started_at=_iso(self.start_ms + started),
            ended_at=_iso(self.start_ms + (self.ended_ms or started)),
        )

    def _problem(self, kind: str, detail: str, at_ms: float) -> None:
        self.problems.append(SimProblem(kind, detail, round(at_ms) / 1000, self._step))

    def __repr__(self) -> str:
        state = f"ended={self.ended_reason}" if self.ended_reason else f"at {self._cursor / 1000:.3f}s"
        return f"CallSimulation({self.scenario.name!r}, seed={self.seed}, {len(self.events)} events, {state})"


# Fields of a REST Call record that change while it plays; messages carry the call as it was created.
_VOLATILE_CALL_FIELDS = frozenset({"status", "endedReason", "startedAt", "endedAt", "messages", "artifact",
                                   "analysis", "cost", "costs", "costBreakdown", "endedMessage"})

_SUCCESS_REASONS = frozenset(
    {
        "customer-ended-call",
        "assistant-ended-call",
        "assistant-said-end-call-phrase",
        "assistant-forwarded-call",
        "assistant-ended-call-after-message-spoken",
    }
)


_SECRET_SERVER_KEYS = ("secret", "credential")


def _public_server(server: Mapping[str, Any]) -> dict[str, Any]:
    """A server config as messages may show it: Vapi never echoes secrets (it refers to credentialId)."""
    return {k: v for k, v in server.items() if k not in _SECRET_SERVER_KEYS}


def _full_server(owner: Mapping[str, Any] | None) -> dict[str, Any] | None:
    server = (owner or {}).get("server")
    return dict(server) if isinstance(server, Mapping) else None


def _redacted(owner: dict[str, Any] | None) -> dict[str, Any] | None:
    if owner is None or not isinstance(owner.get("server"), Mapping):
        return owner
    return {**owner, "server": _public_server(owner["server"])}


def _floored(reply: Reply, scripted: Reply) -> float:
    """A real reply faster than the scripted one counts as taking the scripted latency (module docstring)."""
    return reply.latency if reply.scripted else max(reply.latency, scripted.latency)


def _system_prompt(assistant: Mapping[str, Any]) -> str | None:
    model = assistant.get("model")
    if isinstance(model, dict):
        for message in model.get("messages") or []:
            if (
                isinstance(message, dict)
                and message.get("role") == "system"
                and isinstance(message.get("content"), str)
            ):
                return str(message["content"])
    return None


def _server_wire(server: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's server block as Vapi's `server` object (with the legacy secret, inline credential)."""
    out = {k: v for k, v in server.items() if v not in (None, {}, [])}
    return out


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _next_weekday(start: date, day: str) -> str:
    name = day.strip().lower()
    if name not in _WEEKDAYS:
        raise templating.TemplateError(f"next_weekday wants a day name like 'tuesday', got {day!r}")
    ahead = (_WEEKDAYS.index(name) - start.weekday() - 1) % 7 + 1
    return (start + timedelta(days=ahead)).isoformat()


# ---------------------------------------------------------------------------------------------
# The pure simulator


@dataclass
class Timeline:
    """Every message of one simulated call, with the call's shared objects."""

    name: str
    seed: int
    context: CallContext
    events: list[Event]
    history: list[dict[str, Any]]
    history_openai: list[dict[str, Any]]
    ended_reason: str | None
    problems: list[SimProblem] = field(default_factory=list)

    def messages(
        self, *, profile: Profile = "realistic", side: Side = "server"
    ) -> list[tuple[float, dict[str, Any]]]:
        """(offset seconds, bare wire message) for every message that goes out on `side`."""
        return [
            (e.at, render_message(e, self.context, self.history, self.history_openai, profile, side))
            for e in self.events
            if self.context.wants(e.message, side)
        ]

    def jsonl(self, *, profile: Profile = "realistic", side: Side = "server") -> str:
        return "".join(
            json.dumps({"at": at, "message": message}, ensure_ascii=False) + "\n"
            for at, message in self.messages(profile=profile, side=side)
        )

    @property
    def duration(self) -> float:
        return self.events[-1].at if self.events else 0.0

    def __repr__(self) -> str:
        return (
            f"Timeline({self.name!r}, seed={self.seed}, {len(self.events)} events, {self.duration:.1f}s, "
            f"ended={self.ended_reason})"
        )


def render_message(
    event: Event,
    context: CallContext,
    history: list[dict[str, Any]],
    history_openai: list[dict[str, Any]],
    profile: Profile,
    side: Side,
) -> dict[str, Any]:
    """The bare wire message for `event` on `side` (no webhook envelope)."""
    out = event.message.body(profile)
    out["timestamp"] = context.start_ms + event.at_ms
    if side == "server" and "artifact" not in out and not isinstance(event.message, AssistantRequest):
        n = event.history_len
        out["artifact"] = {"messages": history[:n], "messagesOpenAIFormatted": history_openai[:n]}
    out["call"] = context.call
    if context.assistant is not None and not isinstance(event.message, AssistantRequest):
        out["assistant"] = context.assistant
    if context.customer is not None:
        out["customer"] = context.customer
    if context.phone_number is not None:
        out["phoneNumber"] = context.phone_number
    return out


def simulate(
    scenario: Scenario | LoadedScenario | str,
    *,
    seed: int | None = None,
    start_ms: int | None = None,
) -> Timeline:
    """Play a scenario with its scripted replies. A scenario that cannot be played raises ScenarioError."""
    loaded = load_text(scenario) if isinstance(scenario, str) else scenario
    sim = CallSimulation(loaded, seed=seed, start_ms=start_ms) if not isinstance(loaded, str) else None
    assert sim is not None
    return drive(sim)


def drive(sim: CallSimulation) -> Timeline:
    """Run a simulation answering every Ask with its scripted reply."""
    try:
        generator = sim.run()
        item = next(generator)
        while True:
            item = generator.send(item.scripted if isinstance(item, Ask) else None)
    except StopIteration:
        pass
    except StepError as exc:
        raise step_error(sim, exc) from None
    return timeline_of(sim)


def timeline_of(sim: CallSimulation) -> Timeline:
    return Timeline(
        sim.scenario.name,
        sim.seed,
        sim.context,
        sim.events,
        sim.rendered,
        sim.openai,
        sim.ended_reason,
        sim.problems,
    )


def step_error(sim: CallSimulation, exc: StepError) -> ScenarioError:
    """A StepError as a ScenarioError pointing at the step's place in the file."""
    step = sim._step
    if sim.loaded is None:
        from mockvapi.errors import SourceLocation

        where = SourceLocation("<scenario>", 1, 1)
        label = f"#{step + 1}" if step is not None else None
        return ScenarioError([ScenarioProblem(where, exc.message, label)])
    if step is None:
        path: tuple[str | int, ...] = exc.path
        return ScenarioError([sim.loaded.problem(path, exc.message)])
    return ScenarioError([sim.loaded.problem(("steps", step, *exc.path), exc.message, step=step)])
