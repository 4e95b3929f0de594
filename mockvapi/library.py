"""Finding scenarios: a file path, a YAML string, or a name from the bundled library."""

from __future__ import annotations

import difflib
import importlib.resources
from pathlib import Path

from mockvapi.errors import ScenarioError, ScenarioProblem, SourceLocation
from mockvapi.scenario.loader import LoadedScenario, load_file, load_text


def bundled_dir() -> Path:
    """The folder of the bundled scenario library."""
    return Path(str(importlib.resources.files("mockvapi.scenarios")))


def bundled_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.yaml"))


def bundled_paths() -> list[Path]:
    return sorted(bundled_dir().glob("*.yaml"))


def resolve(spec: str | Path) -> LoadedScenario:
    """Load a scenario given as a path, a bundled name (`barge-in`), or YAML text (with a newline)."""
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
