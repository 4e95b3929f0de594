"""Seeded fakes: one shared Faker, each call drawing from its own stream."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from faker import Faker

from mockvapi.engine.events import Event
from mockvapi.engine.simulator import CallSimulation
from mockvapi.fakes import CallFaker, Fakes, Stream, shared_faker
from mockvapi.library import resolve


def _own(seed: int) -> Faker:
    faker = Faker("en_US")
    faker.seed_instance(seed)
    return faker


def test_a_call_faker_gives_what_a_faker_of_its_own_seeded_alike_gives() -> None:
    own, call = _own(42), CallFaker(42)
    for method in ("name", "phone_number", "email", "address", "first_name", "company"):
        assert getattr(call, method)() == getattr(own, method)()
    assert call.date_of_birth(minimum_age=20, maximum_age=30) == own.date_of_birth(minimum_age=20, maximum_age=30)


def test_calls_drawing_in_turns_do_not_shift_each_others_values() -> None:
    a, b = CallFaker(1), CallFaker(2)
    mixed = [(a.name(), b.name()) for _ in range(5)]
    alone_a, alone_b = _own(1), _own(2)
    assert [x for x, _ in mixed] == [alone_a.name() for _ in range(5)]
    assert [y for _, y in mixed] == [alone_b.name() for _ in range(5)]


def test_the_shared_faker_keeps_its_own_stream_and_is_made_once() -> None:
    shared = shared_faker()
    before = shared.random  # type: ignore[attr-defined]
    CallFaker(3).name()
    assert shared.random is before  # type: ignore[attr-defined]
    assert shared_faker() is shared
    assert Fakes(5).faker is not Fakes(5).faker  # each call its own stream, both on the one Faker


def test_unknown_and_private_names_are_attribute_errors() -> None:
    call = CallFaker(0)
    with pytest.raises(AttributeError):
        call.no_such_provider  # noqa: B018
    with pytest.raises(AttributeError):
        call._factories  # noqa: B018
    assert hasattr(call, "name") and not hasattr(call, "_random_secret")
    assert repr(call) == "CallFaker(en_US)" and repr(call.name) == "<faker.name>"


def _draws(stream: Callable[[], random.Random], park: Callable[[], None]) -> list[object]:
    """Every kind of draw, parking the stream before each."""
    out: list[object] = []
    for i in range(40):
        for draw in (
            lambda r: r.random(), lambda r: r.getrandbits(0), lambda r: r.getrandbits(1), lambda r: r.getrandbits(32),
            lambda r: r.getrandbits(33), lambda r: r.getrandbits(128), lambda r: r.randint(201, 989),
            lambda r: r.choice("abcdefghij"), lambda r: r.sample(range(100), 5), lambda r: r.choices("xyz", k=3),
            lambda r: r.gauss(0, 1), lambda r: r.uniform(0.9, 1.1), lambda r: r.randbytes(5),
            lambda r: r.shuffle(items := list(range(10))) or items,
        ):
            park()
            out.append(draw(stream()))
        if i % 7 == 0:
            out.append(stream().gauss(0, 1))  # leaves a Gaussian kept for the next draw
    return out


@pytest.mark.parametrize("seed", [7, "mockvapi:7:timing"])
def test_a_parked_stream_resumes_where_it_was(seed: int | str) -> None:
    plain = random.Random(seed)
    parked = Stream(seed)
    assert _draws(parked.get, parked.park) == _draws(lambda: plain, lambda: None)
    parked.park()
    assert parked.parked and parked.get().random() == plain.random() and not parked.parked


def test_parking_a_calls_fakes_changes_no_value() -> None:
    def values(fakes: Fakes, park: bool) -> list[object]:
        out: list[object] = []
        for _ in range(30):
            out += [fakes.uuid(), fakes.jitter(1.0, 0.2), fakes.tool_call_id(), fakes.e164(), fakes.faker.name()]
            if park:
                fakes.park()
        return out

    assert values(Fakes(11), park=True) == values(Fakes(11), park=False)


@pytest.mark.parametrize(
    "controls",
    [
        [],
        # Live controls act mid-flush, between two events: a say spoken (jitter, a turn id), a message
        # added, an interrupting say, the call ended.
        [({"type": "say", "content": "One moment, please."}, 7.0), ({"type": "add-message", "message":
          {"role": "system", "content": "Be brief."}}, 12.5), ({"type": "say", "content": "Hold on.",
          "interruptAssistantEnabled": True}, 20.3), ({"type": "end-call"}, 41.0)],
    ],
)
def test_a_playing_call_parks_its_streams_while_it_waits_for_an_event(
    controls: list[tuple[dict[str, object], float]],
) -> None:
    sim = CallSimulation(resolve("long-call"), seed=2)
    for message, at in controls:
        sim.control(message, at)
    fakes = sim.state.fakes
    waits = 0
    for item in sim.run():
        if isinstance(item, Event):
            waits += 1
            assert fakes._ids.parked and fakes._timing.parked  # 2.5 kB of Mersenne Twister state each
            assert fakes.faker._random.parked
    assert waits > (900 if not controls else 20)


@pytest.mark.parametrize("seed", [7, "mockvapi:7:ids"])
def test_read_ahead_draws_are_the_generators_own(seed: int | str) -> None:
    """random() and getrandbits() of a parked stream come from words drawn ahead, with CPython's arithmetic;
    any other draw takes the generator itself, resumed at the words used (not at the words drawn ahead)."""
    plain, stream = random.Random(seed), Stream(seed)
    sizes = [0, 1, 5, 31, 32, 33, 64, 100, 128]
    got: list[object] = []
    want: list[object] = []
    for i in range(300):  # past many read-aheads
        k = sizes[i % len(sizes)]
        got += [stream.getrandbits(k), stream.random()]
        want += [plain.getrandbits(k), plain.random()]
        if i % 50 == 7:
            got += [stream.get().choice("abcdef"), stream.get().gauss(0, 1), stream.random(), stream.getrandbits(40)]
            want += [plain.choice("abcdef"), plain.gauss(0, 1), plain.random(), plain.getrandbits(40)]
            stream.park()  # with a Gaussian kept for the next gauss()
        if i % 50 == 30:
            got.append(stream.get().gauss(0, 1))
            want.append(plain.gauss(0, 1))
            stream.park()
    assert got == want
    stream.park()
    assert stream.parked and repr(stream).endswith("parked, " + f"{stream._words} words)")


def test_a_long_burst_of_draws_resumes_the_generator_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resuming costs as much as the words drawn so far: a burst (a 2 MB user turn plans a jitter per word)
    that resumed it per read-ahead took the square of its length."""
    resumed: list[int] = []
    resume = Stream._resume

    def counted(self: Stream) -> Any:
        resumed.append(self._words)
        return resume(self)

    monkeypatch.setattr(Stream, "_resume", counted)
    plain, stream = random.Random(3), Stream(3)
    assert [stream.random() for _ in range(10_000)] == [plain.random() for _ in range(10_000)]
    assert len(resumed) == 1
    stream.park()
    assert stream.getrandbits(128) == plain.getrandbits(128)  # the read-ahead left over: no resume
    assert [stream.random() for _ in range(100)] == [plain.random() for _ in range(100)]
    assert len(resumed) == 2


@pytest.mark.parametrize("seed", [3, "mockvapi:3:timing"])
def test_draws_in_one_call_are_the_draws_one_at_a_time(seed: int | str) -> None:
    """`Stream.randoms(n)` (a model turn's token jitter, drawn at once) gives what n `random()` give, parked or
    not, across the read-ahead's refills and an odd word left by a `getrandbits(32)`; `Fakes.jitters` what
    `jitter` gives one at a time, the stream left where they leave it."""
    plain, stream = random.Random(seed), Stream(seed)
    got: list[float] = []
    want: list[float] = []
    for i, n in enumerate([0, 1, 7, 31, 32, 33, 70, 200, 3]):
        got += stream.randoms(n)
        want += [plain.random() for _ in range(n)]
        if i % 2:
            assert stream.getrandbits(32) == plain.getrandbits(32)  # an odd number of words used
        if i == 4:
            stream.get()  # not parked: the generator's own draws
        if i == 6:
            stream.park()
    assert got == want and stream.random() == plain.random()
    one, many = Fakes(11), Fakes(11)
    for value, fraction, n in [(0.05, 0.1, 40), (0.3, 0.0, 5), (0.05, 0.25, 90)]:
        assert many.jitters(value, fraction, n) == [one.jitter(value, fraction) for _ in range(n)]
    assert many.uuid() == one.uuid() and many.jitter(1.0, 0.1) == one.jitter(1.0, 0.1)
