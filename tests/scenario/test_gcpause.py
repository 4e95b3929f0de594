"""Loading runs no cyclic-GC collection (what made loading grow faster than the file, issue 17), and
leaves the GC as it found it. Counts collections; times nothing."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from mockvapi.errors import ScenarioError
from mockvapi.scenario import loader
from mockvapi.scenario.fault_files import load_fault_text
from mockvapi.scenario.gcpause import collections_paused
from mockvapi.scenario.loader import load_text, parse_yaml, validate


def _steps(count: int) -> str:
    turns = ('  - user: "Hello number {}"\n', '  - assistant: "Reply {}, thanks"\n')
    return "version: 1\nname: steps\nsteps:\n" + "".join(turns[i % 2].format(i) for i in range(count))


def _in_loader() -> bool:
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename == loader.__file__:
            return True
        frame = frame.f_back
    return False


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations of the collections that start inside the loader's code (yaml or pydantic called
    from it too), with the GC on at the start. (Those due once loading ends start after it returns.)"""
    was = gc.isenabled()
    gc.enable()
    started: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and _in_loader():
            started.append(info["generation"])

    gc.callbacks.append(count)
    try:
        yield started
    finally:
        gc.callbacks.remove(count)
        if not was:
            gc.disable()


def test_loading_a_large_scenario_runs_no_collection_and_restores_the_gc(collections: list[int]) -> None:
    text = _steps(2_000)
    getattr(parse_yaml, "__wrapped__", parse_yaml)(text, "<string>")  # unpaused, the GC collects in it
    assert collections, "parsing 2,000 steps without a collection: the check below would prove nothing"
    collections.clear()
    loaded = load_text(text)
    assert collections == [] and gc.isenabled()
    data, smap = parse_yaml(text, "<string>")  # the parts the QA front end calls on their own, too
    validate(data, smap, text)
    assert collections == [] and gc.isenabled()
    assert len(loaded.scenario.steps) == 2_000


def test_a_refused_scenario_restores_the_gc_too(collections: list[int]) -> None:
    with pytest.raises(ScenarioError):
        load_text(_steps(10) + "  - nonsense: 1\n")
    with pytest.raises(ScenarioError):
        load_fault_text("faults: [{")
    assert gc.isenabled()


def test_a_gc_turned_off_by_someone_else_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        load_text(_steps(10))
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_pauses_nest_and_overlap_across_threads_the_last_one_out_restores(collections: list[int]) -> None:
    entered, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with collections_paused():
            entered.set()
            leave.wait(timeout=10)

    other = threading.Thread(target=hold)
    with collections_paused():
        other.start()
        entered.wait(timeout=10)
        with collections_paused():
            assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread still loads
    leave.set()
    other.join(timeout=10)
    assert gc.isenabled()
