"""Browser tests of Vapi's web SDK against mockvapi: the tools they need, provisioned once per session.

Node and Debian's Chromium must be on the machine (the tests skip, saying so, without them). The npm
packages come from the committed lock (``npm ci`` into tests/web/node_modules when it is missing or
older than the lock): the SDK unchanged at two pinned versions, esbuild and playwright-core (which
drives /usr/bin/chromium and never downloads a browser). The page script is bundled with
``@daily-co/daily-js`` aliased to the stand-in that ``mockvapi web-shim`` writes.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from mockvapi.web import write_package

HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("MOCKVAPI_CHROMIUM", "/usr/bin/chromium"))
# bundle name -> the package the page's "vapi-sdk" import resolves to
SDKS = {"current": "@vapi-ai/web", "prev": "vapi-web-prev"}


def sdk_version(name: str) -> str:
    manifest = HERE / "node_modules" / SDKS[name] / "package.json"
    return str(json.loads(manifest.read_text())["version"])


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """One process at a time in ``folder`` (pytest-xdist workers share the checkout)."""
    with open(folder / ".mockvapi-test.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def npm_ci(folder: Path = HERE) -> None:
    """``npm ci`` from the committed lock, unless node_modules is already at least as new as the lock."""
    with locked(folder):
        marker = folder / "node_modules" / ".package-lock.json"
        lock = folder / "package-lock.json"
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {folder} failed:\n{done.stderr[-2000:]}")


def require_node_and_chromium() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the web SDK tests need them (Debian: apt-get install nodejs npm)")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: the web SDK tests need it (Debian: apt-get install chromium)")


def bundle(entry: Path, out: Path, shim: Path, aliases: dict[str, str] | None = None) -> None:
    """esbuild ``entry`` into one browser script, @daily-co/daily-js aliased to the stand-in at ``shim``."""
    args = [
        str(HERE / "node_modules" / ".bin" / "esbuild"),
        str(entry),
        "--bundle",
        "--format=iife",
        "--platform=browser",
        "--log-level=error",
        f"--outfile={out}",
        f"--alias:@daily-co/daily-js={shim}",
    ]
    args += [f"--alias:{name}={target}" for name, target in (aliases or {}).items()]
    done = subprocess.run(args, cwd=HERE, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"esbuild {entry.name} failed:\n{done.stderr[-2000:]}")


@dataclass(frozen=True)
class WebTools:
    build: Path  # bundles and pages
    shim: Path  # the stand-in as `mockvapi web-shim` writes it


@pytest.fixture(scope="session")
def web_tools(tmp_path_factory: pytest.TempPathFactory) -> WebTools:
    require_node_and_chromium()
    npm_ci()
    root = tmp_path_factory.mktemp("web")
    shim = root / "daily-shim"
    write_package(shim)
    build = root / "build"
    build.mkdir()
    for name, package in SDKS.items():
        bundle(HERE / "page" / "harness.js", build / f"harness-{name}.js", shim, {"vapi-sdk": package})
        (build / f"{name}.html").write_text(
            f'<!doctype html><html><head><meta charset="utf-8"><title>{name}</title></head>'
            f'<body><script src="/harness-{name}.js"></script></body></html>\n'
        )
    return WebTools(build=build, shim=shim)


@dataclass
class PageServer:
    """Serves the test pages from their own origin (so the SDK's calls to the mock are cross-origin)."""

    url: str = ""
    hooks: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)


@pytest.fixture
async def page_server(web_tools: WebTools) -> AsyncIterator[PageServer]:
    state = PageServer()

    async def hook(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        state.hits.append(name)
        if name in state.hooks:
            await state.hooks[name]()
        return web.Response(text="ok", headers={"Access-Control-Allow-Origin": "*"})

    app = web.Application()
    app.router.add_post("/hook/{name}", hook)
    app.router.add_static("/", web_tools.build)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    state.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


async def drive(url: str, jobs: list[dict[str, Any]], *, timeout: float = 240.0) -> dict[str, Any]:
    """Open ``url`` in Chromium and run ``jobs`` (``{"fn": name, "arg": ...}``) one after another."""
    process = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "drive.mjs"),
        cwd=HERE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    payload = json.dumps({"url": url, "jobs": jobs, "timeoutMs": int(timeout * 1000)}).encode()
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(payload), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"the browser did not finish {len(jobs)} jobs at {url} within {timeout}s") from None
    if process.returncode != 0:
        raise AssertionError(f"drive.mjs failed ({process.returncode}):\n{stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(stdout)
    return result
