"""The README's recipes for putting the stand-in in place of @daily-co/daily-js, each run for real.

tests/web/recipes/ is a tiny app (src/main.js imports @vapi-ai/web) with the README's vite, webpack,
Jest and Vitest configs, verbatim (tests/examples/test_readme.py checks the README quotes them). Its
npm packages come from its own committed lock, installed once (``npm ci``) when missing.
A bundle made with a recipe carries the stand-in and none of Daily's call machine; one made without
it is Daily's, so the check can tell them apart. The Jest and Vitest tests make the SDK create its own
Daily call object and check it is the stand-in.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mockvapi.web import write_package

from .conftest import HERE, locked, npm_ci, require_node_and_chromium

RECIPES = HERE / "recipes"
README = (HERE.parents[1] / "README.md").read_text(encoding="utf-8")
STAND_IN = "0.0.0-mockvapi"  # DailyIframe.version() of the stand-in: survives minifying
DAILY = "call-machine"  # in Daily's own bundle


@pytest.fixture(scope="module")
def recipes() -> Iterator[Path]:
    require_node_and_chromium()
    npm_ci(RECIPES)
    with locked(RECIPES):  # one bundler at a time in the shared folder (its caches live there)
        write_package(RECIPES / "mockvapi-daily")  # what `mockvapi web-shim --out ./mockvapi-daily` writes
        yield RECIPES


def run(folder: Path, *args: str) -> str:
    done = subprocess.run(
        [str(folder / "node_modules" / ".bin" / args[0]), *args[1:]],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", "CI": "true"},
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def bundled(folder: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.js")))


def test_vite_recipe(recipes: Path, tmp_path: Path) -> None:
    run(recipes, "vite", "build", "--mode", "mockvapi", "--outDir", str(tmp_path / "mock"), "--emptyOutDir")
    run(recipes, "vite", "build", "--outDir", str(tmp_path / "real"), "--emptyOutDir")
    mock, real = bundled(tmp_path / "mock"), bundled(tmp_path / "real")
    assert STAND_IN in mock and DAILY not in mock
    assert DAILY in real and STAND_IN not in real


def test_webpack_recipe(recipes: Path, tmp_path: Path) -> None:
    run(recipes, "webpack", "--env", "mockvapi", "--mode", "production", "--output-path", str(tmp_path / "mock"))
    run(recipes, "webpack", "--mode", "production", "--output-path", str(tmp_path / "real"))
    mock, real = bundled(tmp_path / "mock"), bundled(tmp_path / "real")
    assert STAND_IN in mock and DAILY not in mock
    assert DAILY in real and STAND_IN not in real


def test_esbuild_recipe(recipes: Path, tmp_path: Path) -> None:
    command = "npx esbuild src/main.js --bundle --outfile=dist/app.js --alias:@daily-co/daily-js=./mockvapi-daily"
    assert command in README
    out = tmp_path / "app.js"
    esbuild = HERE / "node_modules" / ".bin" / "esbuild"  # the tests' own esbuild, same pinned version
    args = command.split()[2:]
    args[args.index("--outfile=dist/app.js")] = f"--outfile={out}"
    done = subprocess.run([str(esbuild), *args], cwd=recipes, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert STAND_IN in out.read_text(encoding="utf-8") and DAILY not in out.read_text(encoding="utf-8")


def test_jest_recipe(recipes: Path) -> None:
    output = run(recipes, "jest", "--testPathPatterns", "jest")
    assert "1 passed" in output


def test_vitest_recipe(recipes: Path) -> None:
    output = run(recipes, "vitest", "run", "vitest")
    assert "1 passed" in output
