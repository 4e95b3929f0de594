"""The call's shared state: an ended call is freed by reference counting alone (no reference cycle keeps
its history, and a large tool result in it, alive until the next full collection)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockvapi.engine.simulator import CallSimulation
from mockvapi.library import bundled_paths, resolve
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
