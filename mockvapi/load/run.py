"""Run a local Locust load test in this process and print its statistics as JSON.

    python -m mockvapi.load.run --to URL [--scenarios DIR] [--users N] [--spawn-rate R]
                                [--run-time SECONDS] [--seed S] [--weights a=2,b=1] [--speed X]

Locust's library API (an `Environment` and a local runner), no CLI and no web UI: for tests,
benchmarks and scripts that want numbers rather than a report. Import it only in a process meant for
gevent (it imports locust, which monkey-patches on import): run it as a child process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import gevent  # type: ignore[import-untyped]
from locust.env import Environment
from locust.stats import RequestStats

from mockvapi.load.calls import DeliveryRecord
from mockvapi.load.user import VapiCallUser

__all__ = ["main", "run_local", "stats_json"]


def stats_json(stats: RequestStats) -> dict[str, Any]:
    """Locust's statistics as plain JSON: an entry per (type, name), the failures, the total."""

    def entry(e: Any) -> dict[str, Any]:
        return {
            "type": e.method,
            "name": e.name,
            "requests": e.num_requests,
            "failures": e.num_failures,
            "avg_ms": e.avg_response_time,
            "median_ms": e.median_response_time,
            "p99_ms": e.get_response_time_percentile(0.99),
            "max_ms": e.max_response_time,
        }

    return {
        "entries": [entry(e) for e in sorted(stats.entries.values(), key=lambda e: (e.method or "", e.name))],
        "errors": [
            {"type": e.method, "name": e.name, "error": str(e.error), "occurrences": e.occurrences}
            for e in stats.errors.values()
        ],
        "total": entry(stats.total),
    }


def run_local(
    target: str,
    *,
    scenarios: str | None = None,
    users: int = 1,
    spawn_rate: float = 1.0,
    run_time: float = 5.0,
    seed: int = 0,
    weights: str | None = None,
    speed: float = 1.0,
) -> dict[str, Any]:
    """Run `users` phone lines against `target` for `run_time` seconds; the stats as `stats_json`."""
    user_class = type(
        "VapiCaller",
        (VapiCallUser,),
        {"scenarios": scenarios, "seed": seed, "weights": weights, "speed": speed, "target": target},
    )
    environment = Environment(user_classes=[user_class], host=target)
    lateness: list[float] = []

    def keep_lateness(response: object = None, **_: object) -> None:
        if isinstance(response, DeliveryRecord):
            lateness.append(response.lateness)

    environment.events.request.add_listener(keep_lateness)  # type: ignore[no-untyped-call]
    runner = environment.create_local_runner()
    # gevent's loop reads the time once per turn; here its reading dates from before the imports (seconds
    # on a busy machine), and a timer set from it would end the run that much early (or at once).
    gevent.get_hub().loop.update_now()
    started = time.perf_counter()
    runner.start(users, spawn_rate=spawn_rate)
    gevent.spawn_later(run_time, runner.quit)
    runner.greenlet.join()
    out = stats_json(environment.stats)
    out["wall"] = time.perf_counter() - started
    out["users"] = users
    out["lateness_ms"] = _lateness_summary(lateness)
    return out


def _lateness_summary(values: list[float]) -> dict[str, float]:
    """How late deliveries left against their schedule (ms): what says whether the worker kept up."""
    if not values:
        return {"count": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 2)

    return {"count": len(ordered), "p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1] * 1000, 2)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mockvapi.load.run", description=__doc__)
    parser.add_argument("--to", required=True, metavar="URL")
    parser.add_argument("--scenarios")
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--spawn-rate", type=float, default=1.0)
    parser.add_argument("--run-time", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights")
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args(argv)
    out = run_local(
        args.to, scenarios=args.scenarios, users=args.users, spawn_rate=args.spawn_rate,
        run_time=args.run_time, seed=args.seed, weights=args.weights, speed=args.speed,
    )
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 1 if out["total"]["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
