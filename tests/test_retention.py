"""`MockVapi(max_calls=N)`: past N held calls the oldest ended ones are forgotten and counted, never a
running one; their journal entries stay; nothing else keeps a forgotten call's player alive.

The REST side (records, GET /call/{id} 404, the control plane's status, `serve --max-calls`) is in
tests/server/test_retention.py.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path
from typing import Any

import pytest

from mockvapi.cli import build_parser
from mockvapi.engine.clock import VirtualClock
from mockvapi.pytest_plugin import _replay_hint
from mockvapi.testing import MAX_CALLS, Call, MockVapi

README = Path(__file__).resolve().parents[1] / "README.md"

SHORT = """
version: 1
name: short
steps:
  - user: "Are you open on Sunday?"
  - assistant: "Yes, from eight to two."
  - end: customer-ended-call
"""  # about 10 s of call time; the bundled happy-path lasts about 45 s


def ok(body: dict[str, Any], headers: Any) -> dict[str, Any]:
    return {}


def test_the_default_is_documented_and_the_same_for_serve() -> None:
    assert MockVapi().max_calls == MAX_CALLS == 1_000
    assert int(build_parser().parse_args(["serve"]).max_calls) == MAX_CALLS
    text = README.read_text()
    assert "--max-calls" in text and "max_calls" in text


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "10"])
def test_max_calls_must_be_a_whole_number_of_at_least_one(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_calls must be a whole number >= 1"):
        MockVapi(max_calls=bad)


async def test_the_bound_holds_and_the_oldest_ended_calls_go_first() -> None:
    async with MockVapi(webhook=ok, max_calls=3) as vapi:
        calls = [await vapi.play(SHORT, seed=n) for n in range(5)]
        assert vapi.calls == calls[2:]
        assert vapi.forgotten_calls == 2
        assert vapi.find_call(calls[0].id) is None and vapi.find_call(calls[4].id) is calls[4]
        # The journal is not trimmed with the calls: it has its own bound.
        assert calls[0].deliveries() and len(vapi.journal.deliveries(call_id=calls[0].id)) == len(
            calls[0].deliveries()
        )
        assert vapi.journal.dropped == 0
        assert "3 calls (2 forgotten)" in repr(vapi)


async def test_below_the_bound_nothing_is_forgotten_and_the_repr_says_nothing() -> None:
    async with MockVapi(max_calls=3) as vapi:
        await vapi.play_many([SHORT, SHORT, SHORT], seed=None)
        assert len(vapi.calls) == 3 and vapi.forgotten_calls == 0
        assert "forgotten" not in repr(vapi)


async def test_running_calls_are_never_forgotten_the_oldest_ended_one_is() -> None:
    clock = VirtualClock(autojump=False)  # calls move only when the test advances time
    async with MockVapi(clock=clock, max_calls=2) as vapi:
        long = vapi.start_call("happy-path")
        short1 = vapi.start_call(SHORT, seed=1)
        short2 = vapi.start_call(SHORT, seed=2)
        assert vapi.calls == [long, short1, short2] and vapi.forgotten_calls == 0  # over the bound, all running

        await clock.advance(20)  # both short calls end; the long one (the oldest) plays on
        async with asyncio.timeout(5):
            await short1.wait()
            await short2.wait()
        assert not long.done
        assert vapi.calls == [long, short2] and vapi.forgotten_calls == 1

        await clock.advance(100)
        async with asyncio.timeout(5):
            await long.wait()
        assert vapi.calls == [long, short2] and vapi.forgotten_calls == 1  # at the bound: nothing to do

        newest = vapi.start_call(SHORT, seed=3)
        assert vapi.calls == [short2, newest] and vapi.forgotten_calls == 2  # now the long one, oldest ended


async def test_a_bound_of_one_keeps_the_last_call() -> None:
    async with MockVapi(max_calls=1) as vapi:
        for n in range(4):
            last = await vapi.play(SHORT, seed=n)
        assert vapi.calls == [last] and vapi.forgotten_calls == 3


async def test_the_same_seed_after_its_call_was_forgotten_gets_a_fresh_id() -> None:
    async with MockVapi(max_calls=1, webhook=ok) as vapi:
        first = await vapi.play(SHORT, seed=7)
        second = await vapi.play(SHORT, seed=7)  # the first is forgotten by now, its journal entries are not
        third = await vapi.play(SHORT, seed=7)
        assert vapi.forgotten_calls == 2
        assert len({first.id, second.id, third.id}) == 3
        assert {d.call_id for d in third.deliveries()} == {third.id}
        assert len(third.deliveries()) == len(first.deliveries())


async def test_a_repeated_scenario_and_seed_gets_a_derived_reproducible_id_and_the_same_call() -> None:
    import uuid

    from mockvapi.engine.simulator import natural_call_id
    from mockvapi.library import resolve

    short = resolve(SHORT)
    runs = []
    for _ in range(2):
        async with MockVapi(webhook=ok) as vapi:
            calls = [await vapi.play(short, seed=3) for _ in range(3)]
            runs.append([(c.id, [d.message_type for d in c.deliveries()]) for c in calls])
    natural = natural_call_id(short, 3)
    ids = [call_id for call_id, _ in runs[0]]
    assert ids == [natural, *(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{natural}#{n}")) for n in (2, 3))]
    assert runs[0] == runs[1]  # the same ids and deliveries again
    assert runs[0][0][1] == runs[0][2][1]


async def test_a_forgotten_call_can_still_be_read_by_whoever_holds_it() -> None:
    async with MockVapi(webhook=ok, max_calls=1) as vapi:
        first = await vapi.play(SHORT, seed=1)
        await vapi.play(SHORT, seed=2)
        assert vapi.find_call(first.id) is None
        first.assert_delivered("status-update", "end-of-call-report")
        first.assert_ended("customer-ended-call")
        assert first.transcript


async def _played_and_dropped(vapi: MockVapi, **options: Any) -> tuple[weakref.ref[Any], weakref.ref[Call]]:
    call = await vapi.play(SHORT, **options)
    assert call.client is not None
    async for _ in call.client:  # read the client messages to the end, as a client test does
        pass
    return weakref.ref(call.player), weakref.ref(call)


@pytest.mark.parametrize("webhook", [None, ok], ids=["no-webhook", "callable-webhook"])
async def test_a_forgotten_calls_player_is_collectable(webhook: Any) -> None:
    async with MockVapi(webhook=webhook, max_calls=1) as vapi:
        player, call = await _played_and_dropped(vapi, seed=1)
        await vapi.play(SHORT, seed=2)  # forgets the first
        gc.collect()
        assert call() is None and player() is None, gc.get_referrers(*(x for x in (call(), player()) if x))
        assert vapi.forgotten_calls == 1


async def test_a_failed_tests_report_says_how_many_calls_were_forgotten() -> None:
    async with MockVapi(max_calls=1) as vapi:
        await vapi.play(SHORT, seed=1)
        await vapi.play(SHORT, seed=2)
    assert "(and 1 earlier calls, forgotten past max_calls=1)" in _replay_hint(vapi)


async def test_each_repeat_of_a_scenario_and_seed_derives_its_id_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The k-th repeat tried n = 2 .. k afresh (k uuid5s): a server playing one scenario at one seed
    # for hours spent longer on each new call's id than on the call.
    import uuid

    made: list[str] = []
    uuid5 = uuid.uuid5

    def counting(namespace: uuid.UUID, name: str) -> uuid.UUID:
        made.append(name)
        return uuid5(namespace, name)

    async with MockVapi(webhook=ok, max_calls=5) as vapi:
        monkeypatch.setattr(uuid, "uuid5", counting)
        calls = [await vapi.play(SHORT, seed=3) for _ in range(30)]
    assert len({c.id for c in calls}) == 30 and vapi.forgotten_calls == 25
    derived = [name for name in made if "#" in name]
    assert [name.rsplit("#", 1)[1] for name in derived] == [str(n) for n in range(2, 31)]


async def test_when_a_call_ends_its_own_target_pool_closes_and_the_ended_calls_over_the_bound_go() -> None:
    # Both happen in the one callback a call's task has from MockVapi (it had two closures: memory per live call).
    async with MockVapi(webhook=ok, max_calls=2) as vapi:
        calls = [vapi.start_call(SHORT, seed=i) for i in range(3)]
        assert len(vapi._pools) == 3 and vapi.calls == calls  # over the bound, but every call still runs
        for call in calls:
            await call.wait()
        await asyncio.sleep(0)  # the tasks' done callbacks
        assert vapi._pools == [] and len(vapi.calls) == 2 and all(call in calls for call in vapi.calls)
        assert all(call.deliveries(channel="webhook") for call in calls)
