"""Locust driving simulated calls against a local receiver: per-type statistics, failures, workers.

Locust runs in child processes (it monkey-patches for gevent on import); the receiver runs in this
test's event loop. Scenarios are short (tests/load/scenarios) and played at speed 20.
"""

from __future__ import annotations

import json
import random
import socket
import sys
from pathlib import Path
from typing import Any

from mockvapi.engine.simulator import CallSimulation
from mockvapi.load.command import LOCUSTFILE, PATCHED_CHILD
from mockvapi.load.mix import load_mix, next_call, user_seed

from .conftest import ROOT, child_env, run_child

SCENARIOS = str(Path(__file__).with_name("scenarios").relative_to(ROOT))
SPEED = "20"


def first_call_ids(workers: int, users: int, weights: str | None = None) -> set[str]:
    """The call id of the first call each user of each worker plays (seed 0)."""
    mix = load_mix(SCENARIOS, weights)
    ids = set()
    for worker in range(workers):
        for user in range(users):
            _, scenario, seed = next_call(mix, random.Random(user_seed(0, worker, user)))
            ids.add(str(CallSimulation(scenario, seed=seed, lenient_templates=True).context.call["id"]))
    return ids


def by_name(stats: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["type"], e["name"]): e for e in stats["entries"]}


async def run_local(url: str, *extra: str, users: int = 4, run_time: str = "4") -> tuple[int, dict[str, Any]]:
    code, out, err = await run_child(
        "-c", PATCHED_CHILD, "--to", url, "--scenarios", SCENARIOS, "--users", str(users),
        "--spawn-rate", "100", "--run-time", run_time, "--speed", SPEED, *extra,
    )
    assert out.strip(), err[-3000:]
    return code, json.loads(out)


async def test_per_type_statistics_and_exactly_the_failures_the_receiver_causes(receiver: Any) -> None:
    rec = await receiver(fail=frozenset({"status-update"}), wrong_tool_id=True)
    code, stats = await run_local(rec.url)
    entries = by_name(stats)

    assert code == 1  # failures were recorded
    # Every delivery is an entry named by message type; the receiver saw at least what was reported.
    for kind in ("status-update", "conversation-update", "tool-calls", "end-of-call-report"):
        assert entries["webhook", kind]["requests"] >= 1, kind
        assert rec.counts[kind] >= entries["webhook", kind]["requests"]
    assert set(rec.secrets) == {"s3cret"}  # the scenario's server secret, as X-Vapi-Secret

    # Exactly the 500s, the wrong tool replies and the failed expectation are failures.
    assert entries["webhook", "status-update"]["failures"] == entries["webhook", "status-update"]["requests"]
    assert entries["webhook", "tool-calls"]["failures"] == entries["webhook", "tool-calls"]["requests"]
    assert entries["webhook", "conversation-update"]["failures"] == 0
    assert entries["webhook", "end-of-call-report"]["failures"] == 0
    assert entries["call", "expect short-expect"]["failures"] == entries["call", "expect short-expect"]["requests"]
    assert entries["call", "expect short-tool"]["failures"] == 0  # no expect block: faults are the deliveries'
    assert entries["call", "expect short-talk"]["failures"] == 0
    assert stats["total"]["failures"] == sum(
        entries[key]["failures"]
        for key in [("webhook", "status-update"), ("webhook", "tool-calls"), ("call", "expect short-expect")]
    )
    errors = {(e["name"], e["error"]) for e in stats["errors"]}
    assert ("status-update", "HTTP 500") in errors
    assert ("tool-calls", "unknown-tool-call-id") in errors

    # One end-of-call-report per completed call (calls still running at the end were cut short).
    completed = sum(e["requests"] for (kind, _), e in entries.items() if kind == "call")
    assert completed >= 4
    assert completed <= entries["webhook", "end-of-call-report"]["requests"] <= completed + 4
    # Seeded: user k of worker 0 played the calls its seed says.
    assert first_call_ids(1, 4) <= rec.call_ids


async def test_a_clean_target_records_no_failure_and_weights_leave_scenarios_out(receiver: Any) -> None:
    rec = await receiver()
    code, stats = await run_local(rec.url, "--weights", "short-expect=0,short-tool=3", users=2, run_time="3")
    entries = by_name(stats)
    assert code == 0
    assert stats["total"]["failures"] == 0
    assert ("call", "expect short-expect") not in entries
    assert entries["webhook", "tool-calls"]["requests"] >= 1
    assert first_call_ids(1, 2, "short-expect=0,short-tool=3") <= rec.call_ids
    # Every delivery's lateness against its schedule is summarised (what says whether the worker kept up).
    lateness = stats["lateness_ms"]
    assert lateness["count"] == sum(e["requests"] for (kind, _), e in entries.items() if kind == "webhook")
    assert 0 <= lateness["p50"] <= lateness["p99"] <= lateness["max"]


async def test_timeouts_and_refused_connections_are_failures(receiver: Any) -> None:
    rec = await receiver(hang=frozenset({"tool-calls"}))
    # At speed 20 the 20 s tool timeout is 1 s of real time.
    code, stats = await run_local(rec.url, "--weights", "short-expect=0,short-talk=0", users=2, run_time="3")
    entries = by_name(stats)
    assert code == 1
    assert entries["webhook", "tool-calls"]["failures"] == entries["webhook", "tool-calls"]["requests"] >= 1
    assert entries["webhook", "status-update"]["failures"] == 0
    assert {e["error"] for e in stats["errors"]} == {"timeout"}

    code, stats = await run_local(f"http://127.0.0.1:{free_port()}/hook", users=1, run_time="2")
    assert code == 1
    webhooks = [e for e in stats["entries"] if e["type"] == "webhook"]
    assert sum(e["failures"] for e in webhooks) == sum(e["requests"] for e in webhooks) >= 1
    assert {e["error"] for e in stats["errors"] if e["type"] == "webhook"} == {"connection: ConnectionRefusedError"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_master_and_two_workers_on_loopback_drive_one_receiver(receiver: Any, tmp_path: Path) -> None:
    import asyncio

    rec = await receiver()
    port = str(free_port())
    common = ["-m", "locust", "-f", str(LOCUSTFILE)]
    env = child_env()

    async def spawn(*argv: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, cwd=str(ROOT),
        )

    master = await spawn(
        *common, "--master", "--headless", "--expect-workers", "2", "--master-bind-host", "127.0.0.1",
        "--master-bind-port", port, "--host", rec.url, "-u", "4", "-r", "100", "-t", "4s",
        "--mockvapi-scenarios", SCENARIOS, "--mockvapi-speed", SPEED, "--mockvapi-weights", "short-expect=0",
        "--json-file", str(tmp_path / "stats"),
    )
    workers = [await spawn(*common, "--worker", "--master-host", "127.0.0.1", "--master-port", port)
               for _ in range(2)]
    try:
        _, master_err = await asyncio.wait_for(master.communicate(), 40)
        results = [await asyncio.wait_for(w.communicate(), 20) for w in workers]
    finally:
        for proc in (master, *workers):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    log = master_err.decode()
    assert master.returncode == 0, log[-3000:]
    assert all(w.returncode == 0 for w in workers), [r[1].decode()[-1500:] for r in results]
    stats = json.loads((tmp_path / "stats.json").read_text())
    requests = {(e["method"], e["name"]): e["num_requests"] for e in stats}
    assert requests["webhook", "end-of-call-report"] >= 2
    assert sum(n for (kind, _), n in requests.items() if kind == "webhook") <= sum(rec.counts.values())
    # The master's options reached both workers (the weights), and each worker's users played the
    # calls their seeds say: both workers' deliveries arrived.
    assert first_call_ids(2, 2, "short-expect=0") <= rec.call_ids
    assert "expect short-expect" not in {name for _, name in requests}
