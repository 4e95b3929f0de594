"""The package's front: `import mockvapi` is light, and every name of `__all__` is the object it names."""

from __future__ import annotations

import pytest

import mockvapi
import mockvapi.engine.simulator
import mockvapi.engine.timeline
import mockvapi.library
import mockvapi.testing
from tests.imports import imported_after


def test_import_mockvapi_leaves_the_engine_and_its_models_for_first_use() -> None:
    # The pytest plugin imports the package in every pytest run where mockvapi is installed.
    heavy = ("mockvapi.testing", "mockvapi.engine.simulator", "pydantic", "yaml", "aiohttp")
    assert imported_after("import mockvapi; mockvapi.ScenarioError", heavy) == []
    assert imported_after("from mockvapi import MockVapi", heavy) == [
        "mockvapi.engine.simulator", "mockvapi.testing", "pydantic", "yaml"]


def test_every_public_name_is_the_object_its_module_defines() -> None:
    assert mockvapi.MockVapi is mockvapi.testing.MockVapi
    assert mockvapi.Call is mockvapi.testing.Call
    assert mockvapi.simulate is mockvapi.engine.simulator.simulate
    assert mockvapi.Timeline is mockvapi.engine.timeline.Timeline
    assert mockvapi.load_scenario is mockvapi.library.resolve
    namespace: dict[str, object] = {}
    exec("from mockvapi import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == sorted(mockvapi.__all__)
    assert set(mockvapi.__all__) <= set(dir(mockvapi))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'mockvapi' has no attribute 'Mockvapi'"):
        mockvapi.Mockvapi  # noqa: B018
    assert not hasattr(mockvapi, "_LAZY_NOT_THERE")
