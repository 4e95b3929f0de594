"""CallPlayer with in-memory sinks: equality with simulate(), pacing, replies, hang, controls, clients."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import Awaitable
from typing import Any

import pytest

from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.events import Ask, Event, Reply
from mockvapi.engine.journal import Journal
from mockvapi.engine.player import REST_AFTER, CallPlayer, MemoryClient, Outgoing
from mockvapi.engine.routing import ASKING
from mockvapi.engine.simulator import CallSimulation, simulate
from mockvapi.errors import ScenarioError
from mockvapi.library import bundled_names, resolve

START_MS = 1_767_603_600_000


class CollectSink:
    """A ServerSink that answers nothing (the call uses its scripted replies) and records when it was fed."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.got: list[Outgoing] = []
        self.fed_at: list[float] = []

    def submit(self, outgoing: Outgoing) -> Awaitable[Reply | None]:
        self.got.append(outgoing)
        self.fed_at.append(self.clock.now())
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def drain(self) -> None:
        return None


class HeldSink(CollectSink):
    """Answers ordinary messages at once, but holds every Ask's reply until the test resolves it."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self.held: dict[str, asyncio.Future[Reply | None]] = {}
        self.asked = asyncio.Event()

    def submit(self, outgoing: Outgoing) -> Awaitable[Reply | None]:
        if outgoing.kind == "message":
            return super().submit(outgoing)
        self.got.append(outgoing)
        future: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        self.held[outgoing.kind] = future
        self.asked.set()
        return future


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m["type"]) for m in messages]


TOOL_YAML = """
version: 1
name: held-tool
seed: 5
assistant:
  firstMessage: "Hello, pharmacy."
  serverMessages: [tool-calls, hang, status-update, end-of-call-report]
  clientMessages: [tool-calls, tool-calls-result, hang, conversation-update, status-update]
  tools:
    - name: lookup
      parameters: {rx: string}
steps:
  - user: "Is my refill ready?"
  - tool:
      name: lookup
      arguments: {rx: "42"}
      result: {status: unknown}
      latency: 100ms
      hang_after: 1s
  - assistant: "Your refill is {{ tools.lookup.json.status }}."
  - end: customer-ended-call
"""


# -- equality with the simulator -------------------------------------------------------------------


@pytest.mark.parametrize("name", bundled_names())
async def test_player_without_replies_equals_simulate_on_both_sides(name: str) -> None:
    loaded = resolve(name)
    clock = VirtualClock()
    sink = CollectSink(clock)
    client = MemoryClient()
    player = CallPlayer(loaded, clock=clock, server=sink, clients=[client], start_ms=START_MS)
    timeline = await player.run()

    expected = simulate(loaded, start_ms=START_MS)
    assert [o.wire for o in sink.got] == [m for _, m in expected.messages(side="server")]
    assert client.received == [m for _, m in expected.messages(side="client")]
    assert timeline.ended_reason == expected.ended_reason
    assert [e.at_ms for e in timeline.events] == [e.at_ms for e in expected.events]
    assert player.done.is_set() and player.error is None


async def test_player_honours_seed_start_ms_and_profile() -> None:
    loaded = resolve("tool-call")
    clock = VirtualClock()
    sink = CollectSink(clock)
    client = MemoryClient()
    player = CallPlayer(loaded, clock=clock, server=sink, clients=[client], seed=77, start_ms=123_000, profile="spec")
    await player.run()
    expected = simulate(loaded, seed=77, start_ms=123_000)
    assert [o.wire for o in sink.got] == [m for _, m in expected.messages(side="server", profile="spec")]
    assert client.received == [m for _, m in expected.messages(side="client", profile="spec")]
    assert player.call_id == expected.context.call["id"]
    assert sink.got[0].wire["timestamp"] >= 123_000


async def test_player_start_ms_defaults_to_the_clock_epoch() -> None:
    clock = VirtualClock(epoch_ms=1_800_000_000_000)
    client = MemoryClient()
    await CallPlayer(resolve("happy-path"), clock=clock, clients=[client]).run()
    first = client.received[0]
    assert first["timestamp"] >= 1_800_000_000_000
    assert first["call"]["createdAt"].startswith("2027-01-15T08:00:00")


async def test_player_without_sinks_plays_the_same_timeline() -> None:
    loaded = resolve("barge-in")
    timeline = await CallPlayer(loaded, clock=VirtualClock(), start_ms=START_MS).run()
    expected = simulate(loaded, start_ms=START_MS)
    assert [(e.at_ms, e.type) for e in timeline.events] == [(e.at_ms, e.type) for e in expected.events]
    assert timeline.history == expected.history


# -- pacing ---------------------------------------------------------------------------------------


async def test_each_message_is_handed_over_at_its_offset_on_the_clock() -> None:
    clock = VirtualClock()
    sink = CollectSink(clock)
    await clock.advance(0)  # the call starts at clock time 0
    player = CallPlayer(resolve("slow-tool-hang"), clock=clock, server=sink)
    await player.run()
    offsets = [o.event.at for o in sink.got]
    assert offsets == sorted(offsets)
    assert sink.fed_at == pytest.approx(offsets, abs=1e-9)
    assert player.offset() == pytest.approx(clock.now())
    assert clock.now() == pytest.approx(offsets[-1])  # ends on the report, not later


async def test_call_started_later_on_a_shared_clock_counts_offsets_from_its_own_start() -> None:
    clock = VirtualClock()
    await CallPlayer(resolve("happy-path"), clock=clock).run()
    started = clock.now()
    sink = CollectSink(clock)
    player = CallPlayer(resolve("happy-path"), clock=clock, server=sink)
    await player.run()
    assert started > 10
    assert [t - started for t in sink.fed_at] == pytest.approx([o.event.at for o in sink.got], abs=1e-6)


async def test_two_clocks_one_after_the_other_on_one_loop() -> None:
    first = VirtualClock()
    await CallPlayer(resolve("happy-path"), clock=first).run()
    second = VirtualClock()  # created before the loop was ever idle: the first driver is still running
    task = asyncio.ensure_future(CallPlayer(resolve("happy-path"), clock=second).run())
    # Only a hang guard: the call plays in milliseconds once the clock jumps; a busy machine must not trip it.
    done, _ = await asyncio.wait({task}, timeout=60)
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert done, "the second clock never jumped"


# -- replies, hang --------------------------------------------------------------------------------


async def test_a_reply_changes_what_the_assistant_says_next() -> None:
    clock = VirtualClock()
    sink = HeldSink(clock)
    client = MemoryClient()
    player = CallPlayer(resolve(TOOL_YAML), clock=clock, server=sink, clients=[client])
    run = asyncio.ensure_future(player.run())
    await sink.asked.wait()
    asked = sink.got[-1]
    assert asked.kind == "tool-calls"
    call_id = asked.wire["toolCallList"][0]["id"]
    sink.held["tool-calls"].set_result(
        Reply(200, {"results": [{"toolCallId": call_id, "result": '{"status":"ready"}'}]}, 0.01)
    )
    timeline = await run
    bots = [h["message"] for h in timeline.history if h["role"] == "bot"]
    assert bots[-1] == "Your refill is ready."
    assert not timeline.problems
    result = next(m for m in client.received if m["type"] == "tool-calls-result")
    assert result["toolCallResult"]["result"] == '{"status":"ready"}'
    assert "hang" not in types(client.received)


async def test_reply_slower_than_hang_after_sends_hang_first_and_the_call_goes_on() -> None:
    # io_speed=100: the 1 s hang threshold is 10 ms of real waiting.
    clock = VirtualClock(io_speed=100)
    sink = HeldSink(clock)
    client = MemoryClient()

    def on_message(player: CallPlayer, event: Event, wire: dict[str, Any]) -> None:
        if wire["type"] == "hang":  # only now does the slow server answer
            call_id = sink.got[-1].wire["toolCallList"][0]["id"]
            body = {"results": [{"toolCallId": call_id, "result": "ready"}]}
            sink.held["tool-calls"].set_result(Reply(200, body, 2.5))

    player = CallPlayer(resolve(TOOL_YAML), clock=clock, server=sink, clients=[client], listeners=[on_message])
    timeline = await player.run()
    kinds = types(client.received)
    assert kinds.index("tool-calls") < kinds.index("hang") < kinds.index("tool-calls-result")
    asked = next(e for e in timeline.events if e.type == "tool-calls")
    hang = next(e for e in timeline.events if e.type == "hang")
    result = next(e for e in timeline.events if e.type == "tool-calls-result")
    assert hang.at_ms - asked.at_ms == 1000
    assert result.at_ms - asked.at_ms == 2500
    assert kinds.count("hang") == 1
    assert timeline.ended_reason == "customer-ended-call"
    assert [o.wire["type"] for o in sink.got][-1] == "end-of-call-report"


BEHIND_YAML = """
version: 1
name: behind-plan
seed: 0
assistant:
  firstMessage: "Hi there."
  server: {url: "https://example.test/hook"}
  startSpeakingPlan: {smartEndpointingPlan: {provider: custom-endpointing-model}}
  tools:
    - name: lookup
      parameters: {rx: string}
steps:
  - user: "Is my refill ready?"
  - tool: {name: lookup, arguments: {rx: "42"}, result: {status: unknown}, latency: 100ms, hang_after: 1s}
  - assistant: "Your refill is {{ tools.lookup.json.status }}."
  - end: customer-ended-call
"""


async def test_the_hang_threshold_counts_from_when_a_late_request_went_out() -> None:
    # The endpointing request's answer takes 10 s of the call's clock and is nothing (scripted: at once), so
    # the call then runs 10 s behind its plan and the tool's request goes out 10 s late. Its threshold (1 s,
    # real seconds 1000 at io_speed 1e-3) counts from then: the reply, 0.1 s later, beats it and nothing
    # hangs. It counted from the request's planned time, 10 s "waited" already, and said `hang` at once.
    clock = VirtualClock(io_speed=1e-3)

    class Slow(CollectSink):
        def submit(self, outgoing: Outgoing) -> Awaitable[Reply | None]:
            self.got.append(outgoing)
            return self._later({"call.endpointing.request": 10.0, "tool-calls": 0.1}.get(outgoing.kind, 0.0))

        async def _later(self, seconds: float) -> Reply | None:
            await self.clock.sleep(seconds)
            return None

    sink = Slow(clock)
    timeline = await CallPlayer(resolve(BEHIND_YAML), clock=clock, server=sink).run()
    kinds = [o.kind for o in sink.got]
    assert kinds.index("call.endpointing.request") < kinds.index("tool-calls")  # the request went out late
    assert clock.now() > 10
    assert not any(e.type == "hang" for e in timeline.events)
    assert [h["message"] for h in timeline.history if h["role"] == "bot"][-1] == "Your refill is unknown."


async def test_sink_answering_none_falls_back_to_the_scripted_reply() -> None:
    clock = VirtualClock()
    sink = HeldSink(clock)
    run = asyncio.ensure_future(CallPlayer(resolve(TOOL_YAML), clock=clock, server=sink).run())
    await sink.asked.wait()
    sink.held["tool-calls"].set_result(None)
    timeline = await run
    assert [h["message"] for h in timeline.history if h["role"] == "bot"][-1] == "Your refill is unknown."


async def test_listeners_see_every_message_subscribed_or_not() -> None:
    clock = VirtualClock()
    sink = CollectSink(clock)
    seen: list[dict[str, Any]] = []
    player = CallPlayer(resolve("tool-call"), clock=clock, server=sink, listeners=[lambda p, e, w: seen.append(w)])
    await player.run()
    delivered = [o.wire for o in sink.got]
    assert [w for w in seen if w in delivered] == delivered  # the webhook's messages, in the same order
    assert "model-output" in types(seen) and "model-output" not in types(delivered)
    assert all("artifact" in w for w in seen)  # rendered for the server side


async def test_outgoing_carries_route_timeout_and_kind() -> None:
    yaml = TOOL_YAML.replace(
        "  firstMessage:",
        "  server: {url: 'http://127.0.0.1:9/a', timeoutSeconds: 3}\n  firstMessage:",
    ).replace(
        "      parameters: {rx: string}",
        "      parameters: {rx: string}\n      server: {url: 'http://127.0.0.1:9/tool', timeoutSeconds: 4}",
    )
    clock = VirtualClock()
    sink = CollectSink(clock)
    player = CallPlayer(resolve(yaml), clock=clock, server=sink)
    await player.run()
    by_type = {o.wire["type"]: o for o in sink.got}
    assert by_type["tool-calls"].server is not None and by_type["tool-calls"].server["url"].endswith("/tool")
    assert (by_type["tool-calls"].timeout, by_type["tool-calls"].kind) == (4.0, "tool-calls")
    report = by_type["end-of-call-report"]
    assert report.server is not None and report.server["url"].endswith("/a")
    assert (report.timeout, report.kind) == (3.0, "message")
    assert all(o.call_id == player.call_id for o in sink.got)


# -- control --------------------------------------------------------------------------------------


async def test_control_say_is_spoken_at_the_next_step_boundary() -> None:
    clock = VirtualClock()
    client = MemoryClient()
    said = "Quick note: we close at five today."

    def on_message(player: CallPlayer, event: Event, wire: dict[str, Any]) -> None:
        if wire["type"] == "status-update" and wire["status"] == "in-progress":
            assert player.control({"type": "say", "content": said})

    player = CallPlayer(resolve("happy-path"), clock=clock, clients=[client], listeners=[on_message])
    timeline = await player.run()
    bots = [h["message"] for h in timeline.history if h["role"] == "bot"]
    assert said in bots
    finals = [
        m["transcript"]
        for m in client.received
        if m["type"] == "transcript" and m["role"] == "assistant" and m["transcriptType"] == "final"
    ]
    assert finals[2:4] == ["Quick note:", "we close at five today."]  # after the greeting and the first step
    assert bots.index(said) == 1
    assert timeline.ended_reason == "customer-ended-call"


async def test_control_say_accepts_the_web_sdk_message_field() -> None:
    clock = VirtualClock()
    player = CallPlayer(resolve("happy-path"), clock=clock)
    player.control({"type": "say", "message": "From the web SDK."})
    timeline = await player.run()
    assert "From the web SDK." in [h["message"] for h in timeline.history if h["role"] == "bot"]


async def test_control_end_call_ends_the_call_early() -> None:
    clock = VirtualClock()
    client = MemoryClient()

    def on_message(player: CallPlayer, event: Event, wire: dict[str, Any]) -> None:
        if wire["type"] == "conversation-update" and len(wire["messages"]) == 4:
            assert player.control({"type": "end-call"})

    player = CallPlayer(resolve("long-call"), clock=clock, clients=[client], listeners=[on_message])
    timeline = await player.run()
    assert timeline.ended_reason == "customer-ended-call"
    assert timeline.duration < 60  # of a 13-minute call
    assert client.received[-1]["type"] == "status-update" and client.received[-1]["status"] == "ended"
    assert player.status == "ended"
    assert not player.control({"type": "say", "content": "too late"})


async def test_control_end_call_after_spoken_say() -> None:
    clock = VirtualClock()
    player = CallPlayer(resolve("happy-path"), clock=clock)
    player.control({"type": "say", "content": "Goodbye now.", "endCallAfterSpoken": True})
    timeline = await player.run()
    assert timeline.ended_reason == "assistant-ended-call-after-message-spoken"
    assert [h["message"] for h in timeline.history if h["role"] == "bot"][-1] == "Goodbye now."


async def test_control_add_message_and_transfer() -> None:
    clock = VirtualClock()
    player = CallPlayer(resolve("happy-path"), clock=clock)
    player.control({"type": "add-message", "message": {"role": "system", "content": "VIP caller."}})
    player.control(
        {"type": "transfer", "destination": {"type": "number", "number": "+14155550100"}, "content": "One sec."}
    )
    timeline = await player.run()
    assert any(h["role"] == "system" and h["message"] == "VIP caller." for h in timeline.history)
    assert timeline.ended_reason == "assistant-forwarded-call"
    update = next(e for e in timeline.events if e.type == "transfer-update")
    assert update.message.body("realistic")["destination"]["number"] == "+14155550100"


async def test_the_control_queue_is_one_list_all_call_even_when_a_transfer_takes_the_add_messages_before_it() -> None:
    # The player holds the queue to see, per event, whether a control waits (no property call each time).
    clock = VirtualClock()
    player = CallPlayer(resolve("happy-path"), clock=clock)
    queue = player.sim.controls
    run = asyncio.ensure_future(player.run())
    while not player.sim.events:
        await asyncio.sleep(0)
    player.control({"type": "add-message", "message": {"role": "system", "content": "VIP caller."}})
    player.control(
        {"type": "transfer", "destination": {"type": "number", "number": "+14155550100"}, "content": "One sec."}
    )
    timeline = await run
    assert timeline.ended_reason == "assistant-forwarded-call"
    assert any(h["role"] == "system" and h["message"] == "VIP caller." for h in timeline.history)
    assert player.sim.controls is queue and queue == []


# -- clients --------------------------------------------------------------------------------------


async def test_memory_client_iterates_while_the_call_plays_and_stays_exhausted() -> None:
    clock = VirtualClock()
    client = MemoryClient()
    player = CallPlayer(resolve("happy-path"), clock=clock, clients=[client])
    run = asyncio.ensure_future(player.run())
    got = [message async for message in client]
    await run
    assert got == client.received and got
    assert [m async for m in client] == []
    assert repr(client) == f"MemoryClient({len(got)} messages)"


async def test_clients_hear_when_the_assistant_speaks() -> None:
    class Speaking(MemoryClient):
        def __init__(self) -> None:
            super().__init__()
            self.changes: list[bool] = []

        def speaking(self, assistant: bool) -> None:
            super().speaking(assistant)
            self.changes.append(assistant)

    clock = VirtualClock()
    client = Speaking()
    await CallPlayer(resolve("happy-path"), clock=clock, clients=[client]).run()
    assert client.changes[:2] == [True, False]
    assert client.changes.count(True) == 4  # first message and three answers
    assert client.assistant_speaking is False


async def test_run_waits_for_a_client_to_join() -> None:
    clock = VirtualClock()
    player = CallPlayer(resolve("happy-path"), clock=clock)
    run = asyncio.ensure_future(player.run(wait_for_client=5))
    await asyncio.sleep(0)
    assert player.status == "queued" and clock.now() == 0
    client = MemoryClient()
    player.add_client(client)
    await run
    assert client.received[0]["type"] == "status-update"
    assert client.received[0]["status"] == "in-progress"


async def test_run_starts_without_a_client_after_the_wait() -> None:
    player = CallPlayer(resolve("happy-path"), clock=VirtualClock())
    timeline = await player.run(wait_for_client=0.01)
    assert timeline.ended_reason == "customer-ended-call"


async def test_removed_client_gets_nothing_more() -> None:
    clock = VirtualClock()
    client = MemoryClient()

    def on_message(player: CallPlayer, event: Event, wire: dict[str, Any]) -> None:
        if wire["type"] == "speech-update":
            player.remove_client(client)

    player = CallPlayer(resolve("happy-path"), clock=clock, clients=[client], listeners=[on_message])
    await player.run()
    assert client.received and "speech-update" not in types(client.received)
    player.remove_client(client)  # removing twice is harmless


# -- errors, records ------------------------------------------------------------------------------


async def test_unplayable_scenario_raises_scenario_error_and_finishes_the_player() -> None:
    yaml = """
version: 1
name: broken
steps:
  - user: "Hi"
  - end: customer-ended-call
  - user: "Still there?"
"""
    player = CallPlayer(resolve(yaml), clock=VirtualClock())
    with pytest.raises(ScenarioError, match="already ended"):
        await player.run()
    assert player.done.is_set()
    assert isinstance(player.error, ScenarioError)


async def test_simulation_problems_go_to_the_journal() -> None:
    clock = VirtualClock()
    sink = HeldSink(clock)
    journal = Journal()
    player = CallPlayer(resolve(TOOL_YAML), clock=clock, server=sink, journal=journal)
    run = asyncio.ensure_future(player.run())
    await sink.asked.wait()
    sink.held["tool-calls"].set_result(Reply(200, {"results": [{"toolCallId": "nope", "result": "x"}]}, 0.01))
    await run
    problems = journal.problems_for(player.call_id)
    # The result is "No result returned.", so the next step's template has nothing to read either.
    assert [p.kind for p in problems] == ["unknown-tool-call-id", "template"]
    assert problems[0].call_id == player.call_id
    assert "nope" in problems[0].detail


async def test_player_repr_shows_name_status_and_end() -> None:
    player = CallPlayer(resolve("happy-path"), clock=VirtualClock(), call_id="0123456789abcdef")
    assert repr(player) == "CallPlayer('happy-path', call_id=01234567, status=queued, at=0.000s, ended=None)"
    await player.run()
    assert "status=ended" in repr(player) and "ended=customer-ended-call" in repr(player)
    assert player.call_id == "0123456789abcdef"
    assert player.name == "happy-path"
    assert player.ended_reason == "customer-ended-call"


async def test_a_call_keeps_only_the_replies_it_may_wait_on() -> None:
    # An ordinary message's reply is never asked for: the player lets it go once delivered instead of
    # holding every one until the call ends (memory per live call, issue 17).
    class Remembering(HeldSink):
        def __init__(self, clock: VirtualClock) -> None:
            super().__init__(clock)
            self.answered: list[weakref.ref[asyncio.Future[Reply | None]]] = []

        def submit(self, outgoing: Outgoing) -> Awaitable[Reply | None]:
            future = super().submit(outgoing)
            if outgoing.kind == "message":
                assert isinstance(future, asyncio.Future)
                self.answered.append(weakref.ref(future))
            return future

    clock = VirtualClock()
    sink = Remembering(clock)
    run = asyncio.ensure_future(CallPlayer(resolve(TOOL_YAML), clock=clock, server=sink).run())
    await sink.asked.wait()  # the call waits on the tool's reply, after ordinary messages
    gc.collect()
    assert sink.answered and [ref() for ref in sink.answered] == [None] * len(sink.answered)
    asked = sink.got[-1]
    call_id = asked.wire["toolCallList"][0]["id"]
    reply = {"results": [{"toolCallId": call_id, "result": '{"status":"ready"}'}]}
    sink.held["tool-calls"].set_result(Reply(200, reply, 0.01))
    timeline = await run
    assert not timeline.problems


def test_every_ask_of_the_bundled_scenarios_waits_on_a_message_of_its_own_kind() -> None:
    # The player keeps a reply only for the kinds an Ask can name (routing.ASKING): an Ask about any other
    # message would silently get its scripted reply instead of the server's.
    kinds: set[str] = set()
    for name in bundled_names():
        generator = CallSimulation(resolve(name), seed=1).run()
        try:
            item = next(generator)
            while True:
                if isinstance(item, Ask):
                    assert item.event.message.type_name == item.kind and item.kind in ASKING, (name, item.kind)
                    kinds.add(item.kind)
                item = generator.send(item.scripted if isinstance(item, Ask) else None)
        except StopIteration:
            pass
    assert len(kinds) >= 3, kinds  # the bundled scenarios do ask (tools, assistant, transfer, ...)


PAUSE_YAML = """
version: 1
name: pause
seed: 3
assistant:
  firstMessage: "Hello, this is support."
  serverMessages: [conversation-update, speech-update, status-update, end-of-call-report]
steps:
  - user: "My hub is rebooting."
  - assistant: "Let's wait for it."
  - silence: 40s
  - user: "It's back."
  - assistant: "Great."
"""


async def test_the_player_tells_its_sink_to_rest_through_a_long_pause_only() -> None:
    # A sink with `rest()` hears it when the call waits REST_AFTER seconds or more for its next message (here
    # the 40 s silence), so it can let go of what only the next message reuses; gaps between turns are not
    # rests. On a virtual clock driven by hand the player really waits (no jump).
    clock = VirtualClock(autojump=False)

    class Resting(CollectSink):
        def __init__(self, clock: VirtualClock) -> None:
            super().__init__(clock)
            self.rested_at: list[float] = []

        def rest(self) -> None:
            self.rested_at.append(self.clock.now())

    sink = Resting(clock)
    run = asyncio.ensure_future(CallPlayer(resolve(PAUSE_YAML), clock=clock, server=sink).run())
    while not run.done():
        await clock.advance_to(clock.now() + 0.25)
        for _ in range(5):
            await asyncio.sleep(0)
    await run
    assert sink.rested_at, "no rest through a 40 s silence"
    for at in sink.rested_at:
        following = min(t for t in sink.fed_at if t > at)
        assert following - at >= REST_AFTER
    gaps = [b - a for a, b in zip(sink.fed_at, sink.fed_at[1:], strict=False) if b - a >= REST_AFTER]
    assert len(sink.rested_at) == len(gaps) == 1
