"""The call's shared state: an ended call is freed by reference counting alone (no reference cycle keeps
its history, and a large tool result in it, alive until the next full collection)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockvapi.engine.simulator import CallSimulation
from mockvapi.engine.state import CallState
from mockvapi.library import bundled_paths, resolve
from mockvapi.models.messages import BotMessage
from mockvapi.scenario.loader import load_file

from .test_simulator import drive_with


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def cyclic_garbage_of(action: object) -> list[str]:
    """Types (module.qualname) of mockvapi objects that only the cycle collector would free after
    `action()` ran and its results were dropped."""
    assert callable(action)
    gc.collect()
    action()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = sorted({f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage
                        if type(o).__module__.startswith("mockvapi")})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()
    return found


@pytest.mark.parametrize("path", bundled_paths(), ids=lambda p: Path(p).stem)
def test_a_played_call_leaves_no_reference_cycles(path: Path, no_automatic_gc: None) -> None:
    loaded = load_file(path)  # loading is not what is measured here

    def play() -> None:
        sim = CallSimulation(loaded, seed=3)
        timeline = drive_with(sim, lambda ask: None)
        assert timeline.events and sim.state.arrivals is not None  # live controls are wired while it lives

    assert cyclic_garbage_of(play) == []


def test_arrivals_are_the_simulations_own_while_it_lives() -> None:
    loaded = load_file(bundled_paths()[0])
    sim = CallSimulation(loaded, seed=3)
    state = sim.state
    assert state.arrivals is sim._controls
    del sim
    gc.collect()
    assert state.arrivals is None  # held weakly: the state does not keep its simulation alive


def test_a_call_s_state_has_slots_not_an_instance_dict() -> None:
    # Over 30 attributes, an instance dict stops sharing its keys: ~1.6 kB of every live call's memory.
    state = CallSimulation(resolve("happy-path"), seed=1).state
    assert not hasattr(state, "__dict__")
    with pytest.raises(AttributeError):
        state.not_an_attribute = 1  # type: ignore[attr-defined]


def test_a_long_call_keeps_only_the_utterances_a_live_control_can_still_ask_for() -> None:
    sim = CallSimulation(resolve("long-call"), seed=1)
    held: list[int] = []
    drive_with(sim, lambda ask: None, lambda event: held.append(len(sim.state.utterances)))
    assert sim.state.turn > 20  # the assistant's utterances the call planned
    assert max(held) <= 3 and len(sim.state.utterances) == 1


# Controls that look back at the assistant's utterances: a say queued behind the one being said, a say that
# cuts it, an add-message, an end-call that closes it.
_LOOKING_BACK = (
    {"type": "say", "content": "One moment, please.", "interruptAssistantEnabled": True},
    {"type": "say", "content": "Calls may be recorded."},
    {"type": "add-message", "message": {"role": "system", "content": "Be brief."}, "triggerResponseEnabled": True},
    {"type": "end-call"},
)


@pytest.mark.parametrize("name", ["long-call", "double-barge-in", "speech-started"])
def test_forgetting_utterances_changes_no_answer_of_a_live_control(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Controls arriving every 1.9 s, into and between the assistant's utterances: the same call whether the
    state lets go of the utterances nobody can ask for or keeps every one."""

    def play(kind: int, at_ms: int) -> tuple[str, int]:
        sim = CallSimulation(resolve(name), seed=7)
        for i, message in enumerate(_LOOKING_BACK[kind:kind + 2]):
            sim.control(message, (at_ms + 900 * i) / 1000)
        sim.control({"type": "end-call"}, 32.0)  # the rest of a long call asks nothing more
        return drive_with(sim, lambda ask: None).jsonl(profile="realistic"), sim.state.turn - len(sim.state.utterances)

    moments = [(kind, at_ms) for kind in range(len(_LOOKING_BACK) - 1) for at_ms in range(2_000, 30_000, 1_900)]
    forgetting = [play(*moment) for moment in moments]
    assert max(forgot for _, forgot in forgetting) > 0
    monkeypatch.setattr(CallState, "_forget_utterances", lambda self: None)
    keeping = [play(*moment) for moment in moments]
    assert [jsonl for jsonl, _ in keeping] == [jsonl for jsonl, _ in forgetting]
    assert max(forgot for _, forgot in keeping) == 0


def test_an_utterance_said_whole_is_in_history_as_its_own_text() -> None:
    # A live call holds its last utterance and history's message for it: one string, not two equal ones.
    sim = CallSimulation(resolve("long-call"), seed=1)
    drive_with(sim, lambda ask: None, lambda event: None)
    said = sim.state.utterances[-1]
    assert not said.stopped and said.segments
    message = next(item for item in reversed(sim.state.history) if isinstance(item, BotMessage))
    assert message.message is said.text and message.message == " ".join(text for text, _, _ in said.segments)
