"""YAML -> Scenario, keeping where every value came from so errors can point at file:line:column."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mockvapi.errors import ScenarioError, ScenarioProblem, SourceLocation
from mockvapi.scenario.faults import step_problems
from mockvapi.scenario.schema import STEP_KINDS, Scenario

PathKey = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where each value (and each mapping key) of a loaded document sits in its file."""

    file: str
    values: dict[PathKey, SourceLocation] = field(default_factory=dict)
    keys: dict[PathKey, SourceLocation] = field(default_factory=dict)

    def locate(self, path: PathKey, *, key: bool = False) -> SourceLocation:
        """The location of `path`, or of its nearest ancestor that exists in the file."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), SourceLocation(self.file, 1, 1))


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario together with where it came from."""

    scenario: Scenario
    source: SourceMap
    text: str

    @property
    def file(self) -> str:
        return self.source.file

    def step_label(self, index: int) -> str:
        step = self.scenario.steps[index]
        return f"#{index + 1} {step.kind}" + (f" {step.id!r}" if step.id else "")

    def problem(self, path: PathKey, message: str, *, step: int | None = None) -> ScenarioProblem:
        if step is None and len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
            step = path[1]
        label = self.step_label(step) if step is not None and step < len(self.scenario.steps) else None
        return ScenarioProblem(self.source.locate(path), message, label)

    def __repr__(self) -> str:
        return f"LoadedScenario({self.scenario.name!r} from {self.file}, {len(self.scenario.steps)} steps)"


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent overwrite would hide a typo)."""


def _position(mark: yaml.Mark, file: str) -> SourceLocation:
    return SourceLocation(file, mark.line + 1, mark.column + 1)


def _build(
    node: yaml.Node, path: PathKey, smap: SourceMap, problems: list[ScenarioProblem], scalars: _Loader
) -> Any:
    smap.values[path] = _position(node.start_mark, smap.file)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = scalars.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                problems.append(
                    ScenarioProblem(_position(key_node.start_mark, smap.file), f"duplicate key {key!r}")
                )
            smap.keys[(*path, key)] = _position(key_node.start_mark, smap.file)
            out[key] = _build(value_node, (*path, key), smap, problems, scalars)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), smap, problems, scalars) for i, item in enumerate(node.value)]
    return scalars.construct_object(node, deep=True)


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data plus its source map; YAML errors become ScenarioError."""
    smap = SourceMap(file)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = str(exc.problem or exc)
        if exc.context_mark is not None and "end of stream" in problem:
            # Running off the end means something opened near the context mark was never closed.
            mark = exc.context_mark
            problem = f"{exc.context}, never closed" if exc.context else "unclosed construct"
        where = _position(mark, file) if mark else SourceLocation(file, 1, 1)
        raise ScenarioError([ScenarioProblem(where, f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([ScenarioProblem(SourceLocation(file, 1, 1), f"invalid YAML: {exc}")]) from None
    if node is None:
        raise ScenarioError(
            [ScenarioProblem(SourceLocation(file, 1, 1), "empty document: expected a scenario")]
        )
    problems: list[ScenarioProblem] = []
    try:
        data = _build(node, (), smap, problems, _Loader(""))
    except yaml.YAMLError as exc:
        raise ScenarioError([ScenarioProblem(SourceLocation(file, 1, 1), f"invalid YAML: {exc}")]) from None
    if problems:
        raise ScenarioError(problems)
    return data, smap


def _describe(error: Any) -> str:
    """A pydantic error as a sentence a QA author can act on."""
    kind = error["type"]
    loc = error["loc"]
    msg = str(error["msg"])
    if kind == "extra_forbidden":
        name = str(loc[-1])
        return f"unknown key {name!r}"
    if kind == "missing":
        return f"missing required key {str(loc[-1])!r}"
    if kind == "literal_error" and loc and loc[-1] == "version":
        return "unsupported version: expected `version: 1`"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{msg} (got {error.get('input')!r:.60})" if kind.endswith("_type") else msg


def _suggest(error: Any, data: Any) -> str:
    """For an unknown key, the nearest known key at that level."""
    if error["type"] != "extra_forbidden":
        return ""
    loc = error["loc"]
    name = str(loc[-1])
    candidates: list[str] = list(STEP_KINDS) + ["id", "faults"] if (len(loc) == 3 and loc[0] == "steps") else []
    if not candidates:
        from mockvapi.scenario import schema as _schema

        model: Any = _schema.Scenario
        for part in loc[:-1]:
            if isinstance(part, int):
                continue
            field_info = getattr(model, "model_fields", {}).get(part)
            if field_info is None:
                model = None
                break
            model = _model_of(field_info.annotation)
        if model is not None:
            candidates = [f.alias or n for n, f in model.model_fields.items()]
    near = difflib.get_close_matches(name, candidates, n=1)
    return (
        f"; did you mean {near[0]!r}?"
        if near
        else (f"; expected one of: {', '.join(candidates)}" if candidates else "")
    )


def _model_of(annotation: Any) -> Any:
    """The pydantic model inside an annotation like `X | None` or `list[X]`."""
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def load_text(text: str, file: str = "<string>") -> LoadedScenario:
    """Load a scenario from YAML text. Raises ScenarioError listing every problem with file:line:col."""
    data, smap = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                ScenarioProblem(
                    smap.locate(()),
                    f"expected a mapping with version, name and steps, got {type(data).__name__}",
                )
            ]
        )
    return validate(data, smap, text)


def validate(data: dict[str, Any], smap: SourceMap, text: str) -> LoadedScenario:
    """Validate parsed scenario data (possibly changed since parsing, e.g. by `--set`) against the
    language, reporting every problem at its place in the file."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(part for part in error["loc"] if not isinstance(part, str) or not part.startswith("function-"))
            where = smap.locate(loc, key=error["type"] == "extra_forbidden")
            step = None
            if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
                step = f"#{loc[1] + 1}"
            problems.append(ScenarioProblem(where, _describe(error) + _suggest(error, data), step))
        raise ScenarioError(_unique(problems)) from None
    loaded = LoadedScenario(scenario, smap, text)
    references = _fault_references(scenario)
    if references:
        raise ScenarioError([loaded.problem(path, message) for path, message in references])
    return loaded


def _fault_references(scenario: Scenario) -> list[tuple[PathKey, str]]:
    """`step:` references in faults, which only the whole scenario can check."""
    found: list[tuple[PathKey, str]] = [
        (("faults", *path), message)
        for path, message in step_problems(scenario.faults, scenario.steps, inside_step=False)
    ]
    for index, step in enumerate(scenario.steps):
        found += [
            (("steps", index, "faults", *path), message)
            for path, message in step_problems(step.faults, scenario.steps, inside_step=True)
        ]
    return found


def _unique(problems: list[ScenarioProblem]) -> list[ScenarioProblem]:
    seen: set[str] = set()
    out = []
    for problem in problems:
        if str(problem) not in seen:
            seen.add(str(problem))
            out.append(problem)
    return out


def load_file(path: str | Path) -> LoadedScenario:
    """Load a scenario file; an unreadable file is a ScenarioError too (never a traceback)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(
            [ScenarioProblem(SourceLocation(file, 1, 1), f"cannot read file: {exc}")]
        ) from None
    return load_text(text, file)
