"""Fault plans from YAML text or a file (`mockvapi serve --faults FILE`, `POST /_mockvapi/faults`), with
errors at file:line:col. Apart from faults.py because it reads YAML with the scenario loader, which
itself imports the fault model."""

from __future__ import annotations

from collections.abc import Mapping

from mockvapi.errors import ScenarioError, ScenarioProblem, SourceLocation
from mockvapi.scenario.faults import FaultPlan, validate_plan
from mockvapi.scenario.loader import SourceMap, parse_yaml

__all__ = ["load_fault_file", "load_fault_text"]


def load_fault_text(text: str, file: str = "<faults>") -> FaultPlan:
    """A fault plan from YAML: a list of faults, or a mapping with a `faults:` list; errors carry file:line:col."""
    data, smap = parse_yaml(text, file)
    if isinstance(data, Mapping) and set(data) == {"faults"} and isinstance(data["faults"], list):
        inner = SourceMap(file)
        inner.values = {k[1:]: v for k, v in smap.values.items() if k[:1] == ("faults",)}
        inner.keys = {k[1:]: v for k, v in smap.keys.items() if k[:1] == ("faults",)}
        data, smap = data["faults"], inner
    if not isinstance(data, list):
        where = smap.locate(())
        raise ScenarioError([ScenarioProblem(where, "expected a list of faults (or a mapping with `faults:`)")])
    return validate_plan(data, file, smap)


def load_fault_file(path: str) -> FaultPlan:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([ScenarioProblem(SourceLocation(path, 1, 1), f"cannot read file: {exc}")]) from None
    return load_fault_text(text, path)
