"""The package's imports go one way: models <- scenario <- engine <- transports <- server <- testing <- (plugin, cli).

Read from the source (every `import`, at any depth, including those inside functions, but not those
under `if TYPE_CHECKING:`), so a lazy import cannot hide a dependency that points the wrong way.
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
# Parts that must stay free of an event loop (the scenario compiler and the wire models).
NO_ASYNC = ("models", "scenario")
ASYNC_MODULES = ("asyncio", "aiohttp")


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_lines(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and node.lineno not in skipped:
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.lineno not in skipped:
            found.append((node.lineno, node.module))
    return sorted(found)


SOURCES = sorted(PACKAGE.rglob("*.py"))


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


def test_the_checker_sees_lazy_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from mockvapi.testing import MockVapi\n"
        "def later():\n"
        "    import mockvapi.server.app\n",
        encoding="utf-8",
    )
    assert _imports(source) == [(1, "typing"), (5, "mockvapi.server.app")]
