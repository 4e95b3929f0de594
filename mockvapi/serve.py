"""`mockvapi serve`: the stand-alone mock server, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import signal
import sys
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from mockvapi.engine.clock import Clock, RealClock, VirtualClock
from mockvapi.errors import MockVapiError, ScenarioError
from mockvapi.scenario.fault_files import load_fault_file
from mockvapi.scenario.faults import FaultPlan, plan_of

log = logging.getLogger("mockvapi")


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    scenarios: str | Sequence[str] | None = None,
    default_scenario: str = "happy-path",
    token: str | None = None,
    control_token: str | None = None,
    speed: float = 1.0,
    clock: str = "real",
    seed: int | None = None,
    faults: Sequence[str] = (),
    faults_file: str | None = None,
    max_calls: int | str = 1_000,
    public_url: str | None = None,
    max_running_calls: int | str = 1_000,
    banner: Callable[[str, str | None], str] | None = None,
    ready: Callable[[str], None] | None = None,
) -> int:
    """Run the server in the foreground; returns the process exit code (2: cannot serve).

    `max_calls`: calls held before the oldest ended ones (and their REST records) are forgotten; the
    CLI passes its text as given, so that a bad value gets the same one-line refusal as a bad number.
    `scenarios`: the folders (one or several) requests may load scenario files from; no other file is read
    on a request's behalf. `public_url`: where clients reach the server (behind a proxy, in a container);
    the base of the URLs it hands out, and a host name requests may use besides IPs and localhost."""
    unusable = (_unusable(port, speed) or _bad_max_calls(max_calls) or _bad_public_url(public_url)
                or _bad_max_calls(max_running_calls, "--max-running-calls"))
    if unusable is not None:
        print(f"mockvapi: cannot serve: {unusable}", file=sys.stderr)
        return 2
    try:
        plan = fault_plan(faults, faults_file)
    except ScenarioError as exc:
        print(f"mockvapi: cannot serve: bad faults:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    if control_token is None and not _loopback(host):
        log.warning("mockvapi: serving on %s without --control-token: anyone who can reach it can read the "
                    "journal and change the server through /_mockvapi/", host)
    folders = [scenarios] if isinstance(scenarios, str) else list(scenarios or ())
    try:
        return asyncio.run(_serve(host, port, folders, default_scenario, token, control_token, speed, clock, seed,
                                  banner, ready, plan, int(max_calls), public_url,
                                  int(max_running_calls)))
    except (ScenarioError, MockVapiError, OSError) as exc:
        print(f"mockvapi: cannot serve: {exc}", file=sys.stderr)
        return 2


def fault_plan(faults: Sequence[str] = (), faults_file: str | None = None) -> FaultPlan:
    """`--faults FILE` (a YAML list) then each `--fault KIND[:TYPE][,KEY=VALUE...]`; ScenarioError if bad."""
    plan = load_fault_file(faults_file) if faults_file else FaultPlan()
    for n, text in enumerate(faults, 1):
        plan = plan + plan_of(text, source=f"--fault #{n}")
    return plan


def _bad_max_calls(max_calls: int | str, option: str = "--max-calls") -> str | None:
    try:
        value = int(max_calls)
    except ValueError:
        value = 0
    if isinstance(max_calls, bool) or value < 1:
        return f"{option} must be a whole number of at least 1, got {str(max_calls)!r}"
    return None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _bad_public_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
        return f"--public-url must look like http://host:port (no path), got {url!r}"
    return None


def _unusable(port: int, speed: float) -> str | None:
    """Why `port` or `speed` cannot work, or None (caught here: deeper down they raise tracebacks)."""
    if not 0 <= port <= 65535:
        return f"--port must be from 0 to 65535, got {port}"
    if not (math.isfinite(speed) and speed > 0):
        return f"--speed must be a positive number, got {speed}"
    return None


async def _serve(host: str, port: int, scenarios: Sequence[str], default_scenario: str, token: str | None,
                 control_token: str | None, speed: float, clock_name: str, seed: int | None,
                 banner: Callable[[str, str | None], str] | None, ready: Callable[[str], None] | None,
                 faults: FaultPlan | None = None, max_calls: int = 1_000, public_url: str | None = None,
                 max_running_calls: int = 1_000) -> int:
    from mockvapi.testing import MockVapi

    clock: Clock
    clock = RealClock(speed) if clock_name == "real" else VirtualClock(autojump=clock_name == "virtual")
    vapi = MockVapi(serve=True, host=host, port=port, token=token, clock=clock, seed=seed, strict=False,
                    scenarios=scenarios, default_scenario=default_scenario, control_token=control_token,
                    faults=faults, max_calls=max_calls, public_url=public_url,
                    max_running_calls=max_running_calls)
    await vapi.start()
    try:
        vapi.load(vapi.server.pick(None))  # a default scenario that cannot load fails here, not per call
    except ScenarioError:
        await vapi.aclose()
        raise
    url = vapi.server.url
    if banner is not None:
        print(banner(url, token), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(url)
    try:
        await stop.wait()
    finally:
        log.info("mockvapi: shutting down, finishing deliveries in flight")
        await vapi.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("mockvapi: stopped (%d calls, %d forgotten, %d deliveries, %d dropped, %d problems)", len(vapi.calls),
             vapi.forgotten_calls, len(vapi.journal), vapi.journal.dropped, len(vapi.journal.problems))
    return 0
