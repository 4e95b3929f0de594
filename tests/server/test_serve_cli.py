"""`mockvapi serve` as users run it: a real subprocess (`python -m mockvapi serve --port 0`) that
prints where it listens, answers the API, and exits 0 on SIGTERM or SIGINT after logging its
shutdown; bad arguments exit 2. Plus `serve(..., ready=...)` in process.

Each subprocess costs about a second of interpreter start and imports, so there are few of them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
import pytest

from mockvapi.cli import main
from mockvapi.serve import serve

from .conftest import REPO

URL = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT = 30.0  # real seconds; a loaded CI machine can be slow to import


class Served:
    """A `mockvapi serve` subprocess; its stdout is read as it comes (so the pipe never fills)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout = ""
        self._more = asyncio.Condition()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            async with self._more:
                self.stdout += line.decode()
                self._more.notify_all()
        async with self._more:
            self._more.notify_all()

    async def wait_stdout(self, pattern: re.Pattern[str] | str) -> re.Match[str]:
        """The first match of `pattern` in stdout, waiting for the server to print it."""
        regex = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
        async with asyncio.timeout(START_TIMEOUT), self._more:
            await self._more.wait_for(lambda: regex.search(self.stdout) is not None or self._reader.done())
        found = regex.search(self.stdout)
        assert found, f"mockvapi serve never printed {regex.pattern!r}; stdout: {self.stdout!r}"
        return found

    async def stop(self, sig: signal.Signals) -> tuple[int, str]:
        """Send `sig`; the exit code and everything the server logged."""
        assert self.process.stderr is not None
        self.process.send_signal(sig)
        async with asyncio.timeout(START_TIMEOUT):
            stderr = await self.process.stderr.read()
            code = await self.process.wait()
            await self._reader
        return code, stderr.decode()


async def _spawn(args: Sequence[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mockvapi", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@asynccontextmanager
async def mockvapi_serve(*extra: str) -> AsyncIterator[tuple[Served, str]]:
    """Start `mockvapi serve --port 0 --clock virtual ...`; yields it and the URL it printed."""
    served = Served(await _spawn(["serve", "--port", "0", "--clock", "virtual", *extra]))
    try:
        yield served, (await served.wait_stdout(URL)).group(1)
    finally:
        if served.process.returncode is None:
            served.process.kill()
            await served.process.communicate()
        await served._reader


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_prints_its_url_answers_and_exits_0_on_a_signal(sig: signal.Signals) -> None:
    async with mockvapi_serve() as (served, url):
        await served.wait_stdout(f"curl -s -X POST {url}/assistant")
        assert f'base_url="{url}"' in served.stdout  # the SDK snippet

        async with httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer any"}) as client:
            assert (await client.get("/assistant")).json() == []
            call = await client.post("/call", json={"assistant": {"name": "Riley"}})
            assert call.status_code == 201
            unauthenticated = await client.get("/assistant", headers={"Authorization": ""})
            assert unauthenticated.status_code == 401
        code, log = await served.stop(sig)

    assert code == 0, log
    assert f"call {call.json()['id']} (webCall) plays 'happy-path'" in log
    assert "shutting down" in log and "stopped (1 calls" in log
    assert "Traceback" not in log


async def test_serve_options_token_control_token_and_default_scenario() -> None:
    async with mockvapi_serve(
        "--token", "secret", "--control-token", "ops", "--default-scenario", "assistant-ends-call", "--seed", "3"
    ) as (served, url):
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/assistant", headers={"Authorization": "Bearer other"})).status_code == 401
            api = {"Authorization": "Bearer secret"}
            call = (await client.post("/call", json={"assistant": {"name": "Robin"}}, headers=api)).json()
            assert (await client.get("/_mockvapi/scenarios", headers=api)).status_code == 401
            scenarios = await client.get("/_mockvapi/scenarios", headers={"Authorization": "Bearer ops"})
            assert scenarios.json()["default"] == "assistant-ends-call"
        code, log = await served.stop(signal.SIGTERM)
    assert code == 0, log
    assert f"call {call['id']} (webCall) plays 'assistant-ends-call'" in log


async def test_serve_bad_arguments_exit_2() -> None:
    process = await _spawn(["serve", "--port", "eighty"])
    async with asyncio.timeout(START_TIMEOUT):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "invalid int value: 'eighty'" in stderr.decode() and "Traceback" not in stderr.decode()


# The same rules in process (no interpreter start per case).


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--clock", "sometimes"], "invalid choice"),
        (["--no-such-option"], "unrecognized arguments"),
        (["--speed"], "expected one argument"),
    ],
)
def test_serve_usage_errors_exit_2(args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", *args])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_serve_without_its_scenarios_folder_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--scenarios", "/does/not/exist"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mockvapi: cannot serve:") and "/does/not/exist" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--speed", "0"], "--speed"),
        (["--speed", "-2"], "--speed"),
        (["--speed", "nan"], "--speed"),
        (["--port", "70000"], "--port"),
        (["--port", "-1"], "--port"),
        (["--default-scenario", "no-such-scenario"], "no-such-scenario"),
    ],
)
def test_serve_values_it_cannot_use_exit_2_without_a_traceback(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "0", "--clock", "virtual", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mockvapi: cannot serve:") and says in err


def test_serve_on_a_port_in_use_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["serve", "--port", str(busy.getsockname()[1])]) == 2
    assert capsys.readouterr().err.startswith("mockvapi: cannot serve:")


def test_serve_in_process_calls_ready_and_stops_on_sigint(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    answers: list[int] = []

    def ready(url: str) -> None:
        # Runs on the server's loop: ask from another thread, then interrupt the process as Ctrl-C would.
        def ask() -> None:
            try:
                response = httpx.get(f"{url}/assistant", headers={"Authorization": "Bearer t"}, timeout=10)
                answers.append(response.status_code)
            finally:
                os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=ask, daemon=True).start()

    previous = signal.getsignal(signal.SIGINT)
    with caplog.at_level(logging.INFO, logger="mockvapi"):
        code = serve(port=0, clock="virtual", banner=lambda url, token: f"serving {url}", ready=ready)
    assert code == 0 and answers == [200]
    assert re.fullmatch(r"serving http://127\.0\.0\.1:\d+\n", capsys.readouterr().out)
    assert "shutting down" in caplog.text and "stopped" in caplog.text
    assert signal.getsignal(signal.SIGINT) is previous or previous is signal.default_int_handler
