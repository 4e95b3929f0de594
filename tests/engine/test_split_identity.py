"""The simulator's output, byte for byte, against the golden table (tests/engine/golden/outputs.json).

The table was written by tools/golden_outputs.py from the code before engine/simulator.py was split by
concern: every bundled scenario x side x profile x seed, and driven calls (real replies of each shape,
live controls, REST overrides). Any changed byte of any output fails here. A change of output that is
meant must regenerate the table in the same commit, saying why.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_outputs", REPO / "tools" / "golden_outputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def golden() -> dict[str, str]:
    table: dict[str, str] = json.loads((REPO / "tests" / "engine" / "golden" / "outputs.json").read_text("utf-8"))
    return table


@pytest.fixture(scope="module")
def current() -> dict[str, str]:
    outputs: dict[str, str] = _tool().outputs()
    return outputs


def differences(golden: dict[str, str], current: dict[str, str]) -> list[str]:
    missing = sorted(golden.keys() - current.keys())
    extra = sorted(current.keys() - golden.keys())
    changed = sorted(k for k in golden.keys() & current.keys() if golden[k] != current[k])
    return [f"missing {k}" for k in missing] + [f"new {k}" for k in extra] + [f"changed {k}" for k in changed]


def test_every_output_is_byte_identical_to_the_golden_table(golden: dict[str, str], current: dict[str, str]) -> None:
    found = differences(golden, current)
    assert not found, f"{len(found)} outputs differ from the golden table:\n" + "\n".join(found[:40])


def test_the_table_covers_every_bundled_scenario_side_profile_and_seed(golden: dict[str, str]) -> None:
    from mockvapi.library import bundled_names

    tool = _tool()
    wanted = {
        f"bundled/{name}/{seed}/{side}/{profile}"
        for name in bundled_names()
        for seed in tool.SEEDS
        for side in ("server", "client")
        for profile in ("spec", "realistic")
    }
    assert len(tool.SEEDS) == 3
    assert wanted <= golden.keys(), sorted(wanted - golden.keys())[:10]
    assert any(key.startswith("driven/controls/") for key in golden)


def test_one_changed_byte_is_reported(golden: dict[str, str]) -> None:
    from mockvapi.engine.simulator import simulate
    from mockvapi.library import resolve

    tool = _tool()
    text = simulate(resolve("happy-path"), seed=0).jsonl(profile="spec", side="server")
    assert tool._sha(text) == golden["bundled/happy-path/0/server/spec"]
    altered = dict(golden)
    altered["bundled/happy-path/0/server/spec"] = tool._sha(text.replace("Z", "Y", 1))
    assert differences(golden, altered) == ["changed bundled/happy-path/0/server/spec"]
