"""The package's imports go one way: models <- scenario <- engine <- transports <- server <- testing <- (plugin, cli),
and no module imports itself back through others (no import circle, even inside one part).

Read from the source (every `import`, at any depth: inside functions and under `if TYPE_CHECKING:` too),
so neither a lazy import nor a type-only one can hide a dependency that points the wrong way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mockvapi"

# Each top-level part of the package and its rank: a module may import only parts of its rank or lower.
RANKS: dict[str, int] = {
    "errors": 0,
    "fakes": 0,
    "web": 0,  # the daily-js stand-in (static JavaScript) and its packaging
    "models": 1,
    # Checks messages against the shipped spec extract; imports nothing else of mockvapi.
    "conformance": 1,
    "scenario": 2,
    "library": 2,
    "engine": 3,
    "transports": 4,
    "server": 5,
    "testing": 6,
    # The user-facing front ends, side by side on top.
    "qa": 7,
    "load": 7,
    "pytest_plugin": 8,
    "cli": 8,
    "serve": 8,  # the `mockvapi serve` command
    "__main__": 9,
    "__init__": 9,
}
# Parts that must stay free of an event loop (the scenario compiler, the wire models, the spec checker).
NO_ASYNC = ("models", "scenario", "conformance")
ASYNC_MODULES = ("asyncio", "aiohttp")


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    relative = path.relative_to(root).with_suffix("")
    return ".".join(relative.parts)


def _imports(path: Path, modules: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """(line, module) for every import in `path`. `from a import b` names `a.b` when that is one of
    `modules` (a submodule), else `a`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            if submodules and all(name in modules for name in submodules):
                found.extend((node.lineno, name) for name in submodules)
            else:
                found.append((node.lineno, node.module))
    return sorted(found)


SOURCES = sorted(PACKAGE.rglob("*.py"))


def _import_name(path: Path, root: Path) -> str:
    """The module's import name (a package by its own name, not `....__init__`)."""
    return _module_name(path, root).removesuffix(".__init__")


def import_graph(sources: list[Path], root: Path = PACKAGE.parent) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (an import of the package itself names its __init__)."""
    modules = frozenset(_import_name(path, root) for path in sources)
    graph: dict[str, set[str]] = {}
    for path in sources:
        name = _import_name(path, root)
        graph[name] = {imported for _, imported in _imports(path, modules) if imported in modules} - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle: one cycle (start, ..., start) per group of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """One concrete cycle through a group, shortest from its first member (breadth first)."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {sorted(group)}")  # pragma: no cover - a group always has one


def test_every_part_has_a_rank() -> None:
    parts = {_part(_module_name(path)) for path in SOURCES}
    assert parts <= set(RANKS), f"parts without a rank in this test: {sorted(parts - set(RANKS))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: _module_name(p))
def test_imports_point_down(path: Path) -> None:
    module = _module_name(path)
    mine = _part(module)
    wrong = [
        f"{path.name}:{line} imports {name} ({_part(name)}, rank {RANKS[_part(name)]} > {mine}, rank {RANKS[mine]})"
        for line, name in _imports(path)
        if name.startswith("mockvapi.") and RANKS[_part(name)] > RANKS[mine]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if _part(_module_name(p)) in NO_ASYNC], ids=lambda p: _module_name(p)
)
def test_models_and_scenario_have_no_event_loop(path: Path) -> None:
    wrong = [
        f"{path.name}:{line} imports {name}"
        for line, name in _imports(path)
        if name.split(".")[0] in ASYNC_MODULES
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back() -> None:
    found = circles(import_graph(SOURCES))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_the_checker_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from mockvapi.testing import MockVapi\n"
        "def later():\n"
        "    import mockvapi.server.app\n",
        encoding="utf-8",
    )
    assert _imports(source) == [(1, "typing"), (3, "mockvapi.testing"), (5, "mockvapi.server.app")]


def _graph_of(root: Path, files: dict[str, str]) -> dict[str, set[str]]:
    """The import graph of a made-up package of `files` (path below mockvapi/ -> source)."""
    for name, text in files.items():
        path = root / "mockvapi" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return import_graph(sorted((root / "mockvapi").rglob("*.py")), root)


def test_a_circle_through_a_lazy_import_is_found(tmp_path: Path) -> None:
    graph = _graph_of(tmp_path, {
        "__init__.py": "",
        "scenario/__init__.py": "",
        "scenario/loader.py": "from mockvapi.scenario.schema import Scenario\n",
        "scenario/schema.py": "from mockvapi.scenario.faults import Fault\n",
        "scenario/faults.py": "def later():\n    from mockvapi.scenario.loader import parse_yaml\n",
        "scenario/values.py": "from mockvapi.scenario import faults\n",
    })
    assert circles(graph) == [
        ["mockvapi.scenario.faults", "mockvapi.scenario.loader", "mockvapi.scenario.schema",
         "mockvapi.scenario.faults"]
    ]


def test_a_circle_through_a_type_checking_import_is_found(tmp_path: Path) -> None:
    graph = _graph_of(tmp_path, {
        "server/harness.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mockvapi.testing import MockVapi\n"
        ),
        "testing.py": "import mockvapi.server.harness\n",
    })
    assert circles(graph) == [["mockvapi.server.harness", "mockvapi.testing", "mockvapi.server.harness"]]


def test_a_package_importing_its_submodules_is_no_circle(tmp_path: Path) -> None:
    graph = _graph_of(tmp_path, {
        "server/__init__.py": "from mockvapi.server.app import create_app\n",
        "server/app.py": "from mockvapi.server.routes import route_defs\n",
        "server/routes.py": "from mockvapi.server import handlers as h\n",
        "server/handlers.py": "",
    })
    assert graph["mockvapi.server.routes"] == {"mockvapi.server.handlers"}
    assert circles(graph) == []
    graph["mockvapi.server.handlers"] = {"mockvapi.server"}  # handlers importing a name from the package
    assert circles(graph) == [
        ["mockvapi.server", "mockvapi.server.app", "mockvapi.server.routes", "mockvapi.server.handlers",
         "mockvapi.server"]
    ]
