"""Every name a README Python example uses is defined somewhere a reader can see it.

A reader copies an example and meets `SUBSCRIBED` or `Dashboard`: the README must show where it
comes from. A name passes when some README Python block defines it (def, class, assignment,
import, parameter), or it is a builtin, an importable module or mockvapi submodule, a module of
tests/examples, a name defined at the top of the file an example is marked as
(`<!-- example: PATH -->`: the README points the reader there), or a public name of the typing modules,
mockvapi, or the official Vapi SDK the examples use.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import importlib
import importlib.util
import re
import textwrap
import typing
from pathlib import Path

import mockvapi
import mockvapi.testing

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(?P<lang>\w*)\n(?P<code>.*?)^```", re.S | re.M)
PUBLIC_SOURCES = [builtins, typing, collections.abc, mockvapi, mockvapi.testing]
MARKED = re.compile(r"<!-- example: (?P<path>\S+) -->")


def python_blocks(readme: str) -> list[str]:
    return [textwrap.dedent(m["code"]) for m in BLOCK.finditer(readme) if m["lang"] == "python"]


def defined_and_used(blocks: list[str]) -> tuple[set[str], dict[str, str]]:
    defined: set[str] = set()
    used: dict[str, str] = {}  # name -> the first line using it
    for code in blocks:
        tree = ast.parse(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                defined.add(node.name)
            elif isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    used.setdefault(node.id, code.splitlines()[node.lineno - 1].strip())
                else:
                    defined.add(node.id)
    return defined, used


def is_well_known(name: str) -> bool:
    if any(hasattr(source, name) for source in PUBLIC_SOURCES):
        return True
    if (REPO / "tests" / "examples" / f"{name}.py").is_file():
        return True
    if importlib.util.find_spec(name) is not None or importlib.util.find_spec(f"mockvapi.{name}") is not None:
        return True
    vapi = importlib.util.find_spec("vapi")  # the official SDK (test extra)
    return vapi is not None and hasattr(importlib.import_module("vapi"), name)


def defined_in_marked_files(readme: str) -> set[str]:
    """Names defined at the top level of the files the README's examples are marked as."""
    names: set[str] = set()
    for path in {m["path"] for m in MARKED.finditer(readme)}:
        file = REPO / path
        if file.suffix != ".py" or not file.is_file():
            continue
        for node in ast.parse(file.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def undefined_names(readme: str) -> dict[str, str]:
    defined, used = defined_and_used(python_blocks(readme))
    defined |= defined_in_marked_files(readme)
    return {name: line for name, line in used.items() if name not in defined and not is_well_known(name)}


def test_every_name_in_the_readme_examples_is_defined() -> None:
    assert python_blocks(README)
    assert undefined_names(README) == {}


def test_an_undefined_name_is_caught() -> None:
    readme = "```python\ncall = mockvapi.play_sync(overrides=SUBSCRIBED)\nview = Dashboard()\n```\n"
    assert undefined_names(readme) == {
        "SUBSCRIBED": "call = mockvapi.play_sync(overrides=SUBSCRIBED)",
        "Dashboard": "view = Dashboard()",
    }
    defined = readme + "```python\nSUBSCRIBED = {}\n\n\nclass Dashboard:\n    pass\n```\n"
    assert undefined_names(defined) == {}
    # A block marked as a file may use what that file defines at its top (the README names the file).
    marked = "<!-- example: tests/examples/test_conformance.py -->\n```python\nprint(TOOL_CALLS, OTHER)\n```\n"
    assert undefined_names(marked) == {"OTHER": "print(TOOL_CALLS, OTHER)"}
