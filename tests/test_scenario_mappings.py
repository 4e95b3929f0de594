"""A scenario given as a mapping is accepted wherever a scenario is, checked like a file; with no
scenario, `play`/`play_sync` play the documented default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

import mockvapi
from mockvapi.errors import ScenarioError
from mockvapi.library import MAPPING_FILE, resolve
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.testing import Call, MockVapi

WRONG_NUMBER: dict[str, Any] = {
    "version": 1,
    "name": "wrong-number",
    "steps": [{"user": "Sorry, wrong number."}, {"end": "customer-ended-call"}],
}


def test_resolve_and_load_scenario_take_a_mapping() -> None:
    loaded = resolve(WRONG_NUMBER)
    assert isinstance(loaded, LoadedScenario) and loaded.scenario.name == "wrong-number"
    assert mockvapi.load_scenario(WRONG_NUMBER).scenario.steps == loaded.scenario.steps


def test_any_mapping_and_tuples_are_yaml_data() -> None:
    frozen = MappingProxyType({**WRONG_NUMBER, "steps": tuple(MappingProxyType(s) for s in WRONG_NUMBER["steps"])})
    assert resolve(frozen).scenario == resolve(WRONG_NUMBER).scenario


def test_a_mapping_is_checked_like_a_file() -> None:
    bad = {**WRONG_NUMBER, "steps": [{"user": "Hello?"}, {"pause": 3}]}
    with pytest.raises(ScenarioError) as caught:
        resolve(bad)
    [problem] = caught.value.problems
    assert (problem.location.file, problem.location.line, problem.step) == (MAPPING_FILE, 5, "#2")
    assert "pause" in problem.message


def test_a_mapping_with_objects_that_are_not_yaml_data_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match=r"^<mapping>:1:1: a scenario mapping holds only YAML data"):
        resolve({**WRONG_NUMBER, "steps": [{"user": Path("hi")}]})


@pytest.mark.parametrize("value", [5, None, ["happy-path"], b"happy-path"])
def test_anything_else_is_a_type_error_that_says_what_a_scenario_is(value: object) -> None:
    with pytest.raises(TypeError, match="a scenario is a bundled name, a file path, YAML text or a mapping, got"):
        resolve(value)  # type: ignore[arg-type]


async def test_every_mockvapi_method_takes_a_mapping() -> None:
    async with MockVapi(default_scenario=WRONG_NUMBER) as vapi:
        played = await vapi.play(WRONG_NUMBER)
        started = vapi.start_call(WRONG_NUMBER)
        await started.wait()
        many = await vapi.play_many([WRONG_NUMBER, "happy-path"])
        default = await vapi.play()
    assert [c.name for c in (played, started, *many, default)] == ["wrong-number"] * 3 + ["happy-path", "wrong-number"]
    assert vapi.default_scenario == "wrong-number"


def test_play_sync_takes_a_mapping_and_defaults_to_happy_path() -> None:
    with MockVapi() as vapi:
        assert vapi.play_sync(WRONG_NUMBER).name == "wrong-number"
        assert vapi.play_sync().name == "happy-path"
    with MockVapi(default_scenario="barge-in") as vapi:
        assert vapi.play_sync().name == "barge-in"


def test_a_bad_default_scenario_fails_at_construction() -> None:
    with pytest.raises(ScenarioError, match="pause"):
        MockVapi(default_scenario={**WRONG_NUMBER, "steps": [{"pause": 3}]})


@pytest.mark.mockvapi(scenario=WRONG_NUMBER)
def test_the_fixture_marker_and_factory_take_a_mapping(mockvapi: MockVapi, mockvapi_call: Callable[..., Call]) -> None:
    assert mockvapi.play_sync().name == "wrong-number"
    assert mockvapi_call({**WRONG_NUMBER, "name": "second"}).name == "second"
