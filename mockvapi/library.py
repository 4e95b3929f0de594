"""Finding scenarios: a file path, a YAML string, or a name from the bundled library."""

from __future__ import annotations

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
    known = ", ".join(bundled_names())
    raise ScenarioError(
        [ScenarioProblem(SourceLocation(name, 1, 1), f"no such file or bundled scenario (bundled: {known})")]
    )
