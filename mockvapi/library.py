"""Finding scenarios: a file path, a YAML string, a mapping, or a name from the bundled library."""

from __future__ import annotations

import difflib
import importlib.resources
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mockvapi.errors import ScenarioError, ScenarioProblem, SourceLocation
from mockvapi.scenario.loader import LoadedScenario, load_file, load_text


def bundled_dir() -> Path:
    """The folder of the bundled scenario library."""
    return Path(str(importlib.resources.files("mockvapi.scenarios")))


def bundled_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.yaml"))


def bundled_paths() -> list[Path]:
    return sorted(bundled_dir().glob("*.yaml"))


def resolve(spec: str | Path | Mapping[str, Any]) -> LoadedScenario:
    """Load a scenario given as a path, a bundled name (`barge-in`), YAML text (with a newline), or a
    mapping (what a scenario file's YAML reads as)."""
    if isinstance(spec, Mapping):
        return load_mapping(spec)
    if not isinstance(spec, str | Path):
        raise TypeError(
            f"mockvapi: a scenario is a bundled name, a file path, YAML text or a mapping, got {type(spec).__name__}"
        )
    if isinstance(spec, str) and "\n" in spec:
        return load_text(spec, "<string>")
    path = Path(spec)
    if path.exists():
        return load_file(path)
    name = str(spec)
    bundled = bundled_dir() / f"{name.removesuffix('.yaml')}.yaml"
    if bundled.exists():
        return load_file(bundled)
    raise ScenarioError([ScenarioProblem(SourceLocation(name, 0, 0), unknown_scenario(name))])


def unknown_scenario(name: str) -> str:
    """Why `name` names no scenario, with the nearest bundled name (`barge_in` -> `barge-in`)."""
    names = bundled_names()
    stem = Path(name).name.removesuffix(".yaml").removesuffix(".yml")
    near = difflib.get_close_matches(stem.replace("_", "-").lower(), names, n=1, cutoff=0.6)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"no such file or bundled scenario{hint} (bundled: {', '.join(names)})"


MAPPING_FILE = "<mapping>"


def load_mapping(data: Mapping[str, Any], file: str = MAPPING_FILE) -> LoadedScenario:
    """Load a scenario given as a mapping, checked exactly like a file: it is written out as YAML
    and loaded, so a problem is reported at its line and column in that YAML, with the step."""
    try:
        text = yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True, width=120)
    except yaml.YAMLError as exc:
        problem = f"a scenario mapping holds only YAML data (strings, numbers, booleans, None, lists, mappings): {exc}"
        raise ScenarioError([ScenarioProblem(SourceLocation(file, 1, 1), problem)]) from None
    return load_text(text, file)


def _plain(value: Any) -> Any:
    """Mappings as dicts and sequences as lists, so any Mapping or tuple a test builds is YAML data."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
