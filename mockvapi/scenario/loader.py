"""YAML -> Scenario, keeping where every value came from so errors can point at file:line:column."""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mockvapi.errors import ScenarioError, ScenarioProblem, SourceLocation
from mockvapi.scenario.faults import step_problems
from mockvapi.scenario.gcpause import collections_paused
from mockvapi.scenario.schema import STEP_KINDS, Scenario
from mockvapi.scenario.squad import squad_problems
from mockvapi.scenario.template_fields import template_problems
from mockvapi.scenario.wording import describe as _describe
from mockvapi.scenario.wording import suggest

PathKey = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SURROGATE = re.compile("[\ud800-\udfff]")


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


@dataclass(frozen=True)
class Limits:
    """What a scenario file may cost to load. A scenario is a few kilobytes and a few levels deep;
    these bounds only stop hostile or broken input (huge files, deep nesting, YAML alias bombs)
    from taking the loader's time and memory. `MOCKVAPI_SCENARIO_MAX_BYTES` overrides the size."""

    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    max_values: int = 100_000

    @classmethod
    def from_env(cls) -> Limits:
        raw = os.environ.get("MOCKVAPI_SCENARIO_MAX_BYTES", "").strip()
        return cls(max_bytes=int(raw)) if raw.isdigit() else cls()


class _TooBig(Exception):
    """A limit was hit while parsing (turned into a ScenarioError at the place it was hit)."""

    def __init__(self, where: SourceLocation, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent overwrite would hide a typo) and nesting
    deeper than its limit (PyYAML composes recursively: 10,000 nested `[` would hit Python's
    recursion limit, and that error is not a YAML error)."""

    source_file = "<string>"
    max_depth = Limits.max_depth
    max_values = Limits.max_values
    _depth = 0
    _nodes = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's name
        # The scanner reads every unclosed `[`/`{` ahead before the composer sees the first, and checks
        # each against all the open ones: 10,000 of them took seconds. Stop at the depth limit.
        if self.flow_level >= self.max_depth:
            raise _TooBig(
                _position(self.get_mark(), self.source_file),
                f"nested too deeply: more than {self.max_depth} levels (the limit)",
            )
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._nodes > self.max_values:
                # The builder counts values after alias expansion; more nodes than that in the text
                # itself need not be composed first (a file of 100,000 keys takes seconds to compose).
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _TooBig(
                    _position(mark, self.source_file), f"too many values: more than {self.max_values} (the limit)"
                )
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _TooBig(
                    _position(mark, self.source_file),
                    f"nested too deeply: more than {self.max_depth} levels (the limit)",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _position(mark: yaml.Mark, file: str) -> SourceLocation:
    return SourceLocation(file, mark.line + 1, mark.column + 1)


@dataclass
class _Builder:
    """Turns a composed node graph into plain data. Aliases make the graph a DAG (or, with a
    recursive anchor, a cycle) whose expansion can be exponential, so every value built counts
    against a budget and a node met again on its own path is refused."""

    smap: SourceMap
    problems: list[ScenarioProblem]
    limits: Limits
    scalars: _Loader
    built: int = 0
    open_nodes: set[int] = field(default_factory=set)

    def where(self, node: yaml.Node) -> SourceLocation:
        return _position(node.start_mark, self.smap.file)

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.count(node)
        if id(node) in self.open_nodes:
            raise _TooBig(self.where(node), "recursive alias: a value that contains itself")
        self.smap.values[path] = self.where(node)
        if isinstance(node, yaml.ScalarNode):
            return self.number_in_range(node, self.scalar(node))
        self.open_nodes.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self.open_nodes.discard(id(node))

    def number_in_range(self, node: yaml.ScalarNode, value: Any) -> Any:
        """Every number in a scenario is finite and fits in 64 bits, wherever it is (a tool's result
        and metadata too): `.inf` and `.nan` would reach JSON as `Infinity`/`NaN`, which is not JSON."""
        if isinstance(value, float) and not math.isfinite(value):
            self.problems.append(
                ScenarioProblem(
                    self.where(node), f"{node.value[:40]!r} is not a finite number (every number in a scenario must be)"
                )
            )
            return 0.0
        if isinstance(value, str) and _SURROGATE.search(value):
            # `"\ud800"` in a double-quoted string: not text any encoder can write out.
            self.problems.append(ScenarioProblem(self.where(node), "a lone surrogate (\\ud800-\\udfff) is not text"))
            return ""
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            self.problems.append(
                ScenarioProblem(self.where(node), f"{node.value[:40]!r} is out of range: integers must fit in 64 bits")
            )
            return 0
        return value

    def pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node, bool]]:
        """The mapping's (key, value, explicit) pairs: its own, then those YAML merge keys (`<<: *base`,
        `<<: [*a, *b]`) bring in. Merged pairs count against the value budget as they are gathered:
        merges of merges can multiply like an alias bomb."""
        own: list[tuple[yaml.Node, yaml.Node, bool]] = []
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                own.append((key_node, value_node, True))
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self.problems.append(
                        ScenarioProblem(
                            self.where(source),
                            "a merge key `<<` takes a mapping (`<<: *base`) or a list of them (`<<: [*a, *b]`)",
                        )
                    )
                    continue
                if id(source) in self.open_nodes:
                    raise _TooBig(self.where(source), "recursive merge: a mapping that merges itself")
                self.open_nodes.add(id(source))
                try:
                    for key, value, _ in self.pairs(source):
                        self.count(key)
                        merged.append((key, value, False))
                finally:
                    self.open_nodes.discard(id(source))
        return own + merged

    def count(self, node: yaml.Node) -> None:
        self.built += 1
        if self.built > self.limits.max_values:
            raise _TooBig(
                self.where(node),
                f"too many values: more than {self.limits.max_values} (the limit) once aliases are"
                " expanded; is this a YAML alias bomb?",
            )

    def mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node, explicit in self.pairs(node):
            if not isinstance(key_node, yaml.ScalarNode):
                # A list or mapping as a key has no meaning here, and printing one can be huge.
                self.problems.append(
                    ScenarioProblem(self.where(key_node), "a key must be a plain name, not a list or mapping")
                )
                continue
            raw = self.scalar(key_node)
            key = raw if isinstance(raw, str) else str(raw)
            if key in out:
                if not explicit:
                    continue  # the mapping's own key (or an earlier merge) overrides a merged one
                self.problems.append(ScenarioProblem(self.where(key_node), f"duplicate key {key!r}"))
            self.smap.keys[(*path, key)] = self.where(key_node)
            out[key] = self.build(value_node, (*path, key))
        return out

    def scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.scalars.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise _TooBig(self.where(node), f"invalid YAML: {exc.problem or exc}") from None
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            # e.g. `2001-02-30` (a timestamp with no such day) or an integer of 10,000 digits.
            raise _TooBig(self.where(node), f"invalid value {node.value[:40]!r}: {exc}") from None


def _offset_position(text: str, offset: int, file: str) -> SourceLocation:
    line_start = text.rfind("\n", 0, offset) + 1
    return SourceLocation(file, text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _check_size(size: int, file: str, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise ScenarioError(
            [
                ScenarioProblem(
                    SourceLocation(file, 1, 1),
                    f"file too large: {size:,} bytes, the limit is {limits.max_bytes:,} bytes"
                    " (set MOCKVAPI_SCENARIO_MAX_BYTES to change it)",
                )
            ]
        )


@collections_paused()  # linear in the file's size (see gcpause)
def parse_yaml(text: str, file: str, *, limits: Limits | None = None) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data plus its source map; YAML errors, and input past
    `limits` (size, depth, values after alias expansion), become ScenarioError."""
    limits = limits or Limits.from_env()
    if len(text) > limits.max_bytes // 4:
        _check_size(len(text.encode("utf-8", "surrogatepass")), file, limits)
    smap = SourceMap(file)
    try:
        loader = _Loader(text)  # checks the characters: a control character is a ReaderError here
    except yaml.reader.ReaderError as exc:
        where = _offset_position(text, exc.position, file)
        message = f"invalid YAML: {exc.reason} (character #x{exc.character:04x})"
        raise ScenarioError([ScenarioProblem(where, message)]) from None
    loader.source_file = file
    loader.max_depth = limits.max_depth
    loader.max_values = limits.max_values
    try:
        node = loader.get_single_node()
    except _TooBig as exc:
        raise ScenarioError([ScenarioProblem(exc.where, exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = str(exc.problem or exc)
        if exc.context_mark is not None and "end of stream" in problem:
            # Running off the end means something opened near the context mark was never closed.
            mark = exc.context_mark
            problem = f"{exc.context}, never closed" if exc.context else "unclosed construct"
        where = _position(mark, file) if mark else SourceLocation(file, 1, 1)
        hint = _indentation_hint(text, exc) if mark is exc.problem_mark else None
        if hint is not None:
            where = SourceLocation(file, hint[0] + 1, hint[1] + 1)
            problem = hint[2]
        raise ScenarioError([ScenarioProblem(where, f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([ScenarioProblem(SourceLocation(file, 1, 1), f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if node is None:
        raise ScenarioError(
            [ScenarioProblem(SourceLocation(file, 1, 1), "empty document: expected a scenario")]
        )
    problems: list[ScenarioProblem] = []
    try:
        data = _Builder(smap, problems, limits, _Loader("")).build(node, ())
    except _TooBig as exc:
        raise ScenarioError([*problems, ScenarioProblem(exc.where, exc.message)]) from None
    if problems:
        raise ScenarioError(problems)
    return data, smap


def _suggest(error: Any, data: Any) -> str:
    """For an unknown key, the nearest known key at that level."""
    return suggest(error, Scenario, STEP_KINDS)


# Words authors reach for, by meaning, for the step kind Vapi's call has for them.
_STEP_SYNONYMS = {
    "silence": ("pause", "wait", "sleep", "delay", "quiet", "idle", "nothing"),
    "assistant": ("say", "speak", "bot", "agent", "ai", "model", "reply", "answer"),
    "user": ("customer", "caller", "human", "person", "ask"),
    "end": ("hangup", "hang-up", "hang_up", "stop", "finish", "bye", "end-call", "end_call"),
    "tool": ("function", "tool_call", "tool-call", "tool-calls", "toolcall", "call"),
    "transfer": ("forward", "transfer-call", "transfercall"),
    "handoff": ("hand-off", "hand_off", "handover", "hand-over", "squad"),
}


def _unknown_step_kind(error: Any, data: Any) -> str | None:
    """For a step with no known kind, which kinds there are and which one its key probably meant."""
    loc = error["loc"]
    if error["type"] != "extra_forbidden" or len(loc) != 3 or loc[0] != "steps" or not isinstance(loc[1], int):
        return None
    steps = data.get("steps") if isinstance(data, dict) else None
    step = steps[loc[1]] if isinstance(steps, list) and loc[1] < len(steps) else None
    if not isinstance(step, dict) or any(kind in step for kind in STEP_KINDS):
        return None  # a step with a kind and a stray key: "unknown key" says it better
    name = str(loc[2])
    meant = next((kind for kind, words in _STEP_SYNONYMS.items() if name.lower() in words), None)
    meant = meant or next(iter(difflib.get_close_matches(name, STEP_KINDS, n=1)), None)
    hint = f"; did you mean {meant!r}?" if meant else ""
    return f"unknown step kind {name!r}: a step is one of {', '.join(STEP_KINDS)}{hint}"


@collections_paused()
def load_text(text: str, file: str = "<string>", *, limits: Limits | None = None) -> LoadedScenario:
    """Load a scenario from YAML text. Raises ScenarioError listing every problem with file:line:col."""
    data, smap = parse_yaml(text, file, limits=limits)
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


@collections_paused()
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
            message = _unknown_step_kind(error, data) or _describe(error) + _suggest(error, data)
            problems.append(ScenarioProblem(where, message, step))
        raise ScenarioError(_unique(problems)) from None
    loaded = LoadedScenario(scenario, smap, text)
    references = _fault_references(scenario) + squad_problems(scenario, scenario.model_fields_set)
    if references:
        raise ScenarioError([loaded.problem(path, message) for path, message in references])
    templates = template_problems(scenario)
    if templates:
        lines = text.split("\n")
        raise ScenarioError([_template_problem(loaded, lines, *found) for found in templates])
    return loaded


def _template_problem(
    loaded: LoadedScenario, lines: list[str], path: PathKey, offset: int, message: str
) -> ScenarioProblem:
    """A template problem at the template itself when its string sits on one line of the file (the
    common case), else at the string."""
    problem = loaded.problem(path, message)
    where = problem.location
    if 0 < where.line <= len(lines):
        line = lines[where.line - 1]
        value = _value_text(loaded, path)
        head = value[offset : offset + 40] if value is not None else ""
        column = line.find(head, where.column - 1) if head else -1
        if column >= 0:
            where = SourceLocation(where.file, where.line, column + 1)
    return ScenarioProblem(where, message, problem.step)


def _value_text(loaded: LoadedScenario, path: PathKey) -> str | None:
    value: Any = loaded.scenario
    for part in path:
        value = value[part] if isinstance(part, int) or isinstance(value, dict) else getattr(value, part, None)
        if value is None:
            return None
    return value if isinstance(value, str) else None


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


def load_file(path: str | Path, *, limits: Limits | None = None) -> LoadedScenario:
    """Load a scenario file; an unreadable or oversized file is a ScenarioError too (never a
    traceback). The size is checked before reading, so a huge file is refused without loading it."""
    file = str(path)
    limits = limits or Limits.from_env()
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(limits.max_bytes + 1)
            _check_size(max(len(raw), os.fstat(handle.fileno()).st_size), file, limits)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(
            [ScenarioProblem(SourceLocation(file, 1, 1), f"cannot read file: {exc}")]
        ) from None
    return load_text(text, file, limits=limits)


def _content_indent(line: str) -> int:
    """Where a line's content starts, counting a sequence item's `- ` as indentation."""
    at = len(line) - len(line.lstrip(" "))
    while line.startswith("- ", at) or line[at:].rstrip() == "-":
        at += 2
        at += len(line[at:]) - len(line[at:].lstrip(" "))
    return at


def _indentation_hint(text: str, exc: yaml.MarkedYAMLError) -> tuple[int, int, str] | None:
    """(line, column, message) naming the line whose indentation is probably wrong, for the YAML errors
    a mis-indented line causes; None for any other error. PyYAML reports where the parser gave up,
    which for an over-indented line is often the correct line after it."""
    mark, problem = exc.problem_mark, str(exc.problem or "")
    if mark is None:
        return None
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return None

    def meaningful(n: int) -> bool:
        return bool(lines[n].strip()) and not lines[n].lstrip().startswith("#")

    here = _content_indent(lines[mark.line])
    above = [n for n in range(mark.line - 1, -1, -1) if meaningful(n)]
    if problem == "mapping values are not allowed here":
        if ": " in lines[mark.line][here:mark.column]:
            return (mark.line, mark.column, "a value with ': ' in it needs quotes (`say: \"Note: hi\"`), "
                    "or a line's indentation is wrong")
        if above and _content_indent(lines[above[0]]) < here:
            return (mark.line, here, "this line is indented under a key that already has a value on its "
                    "line: its indentation is probably wrong")
        return None
    if not problem.startswith("expected <block end>, but found"):
        return None
    own = len(lines[mark.line]) - len(lines[mark.line].lstrip(" "))
    parent = next((n for n in above if _content_indent(lines[n]) < own), None)
    between = [n for n in above if parent is None or n > parent][::-1]
    if not between:
        return mark.line, own, f"the indentation of this line ({_spaces(own)}) is probably wrong"
    sibling = len(lines[between[0]]) - len(lines[between[0]].lstrip(" "))
    step = 2
    base = _content_indent(lines[parent]) if parent is not None else 0
    if own == base + step and sibling != base + step:
        # The lines above went one step too deep; this one is where the file's own indentation says.
        return (between[0], sibling, f"the indentation of this line ({_spaces(sibling)}) is probably wrong: "
                f"line {mark.line + 1}, at the same level, is indented {own}")
    return (mark.line, own, f"the indentation of this line ({_spaces(own)}) is probably wrong: the line(s) "
            f"above it at this level are indented {sibling}")


def _spaces(n: int) -> str:
    return "1 space" if n == 1 else f"{n} spaces"
