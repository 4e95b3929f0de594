"""`mockvapi load`: a thin wrapper that runs Locust headless on the bundled locustfile.

Locust runs in a child `python -m locust` process rather than through `locust.main` in this one:
locust monkey-patches the process for gevent on import, which must never happen to a process that
also runs asyncio code (the CLI's other commands, a test calling `cli.main`). The child also gets
Locust's own argument handling, signals and exit code unchanged: non-zero when any failure was
recorded (`--exit-code-on-error`, default 1).

This module imports neither locust nor gevent.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["LOCUSTFILE", "PATCHED_CHILD", "locust_argv", "register"]

#: The ready locustfile (`locust -f` takes this path).
LOCUSTFILE = Path(__file__).with_name("locustfile.py")

#: For `python -c`: patch for gevent before `mockvapi` (and with it ssl) is imported, then run
#: `mockvapi.load.run` (a local Locust run printing JSON stats) with the remaining arguments.
PATCHED_CHILD = (
    "from gevent import monkey; monkey.patch_all(); "
    "from mockvapi.load.run import main; raise SystemExit(main())"
)


def locust_argv(args: argparse.Namespace) -> list[str]:
    """The `python -m locust ...` command `mockvapi load` runs."""
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", args.to, "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
        "--run-time", args.run_time, "--mockvapi-scenarios", args.scenarios,
    ]
    for option in ("seed", "weights", "speed", "profile"):
        value = getattr(args, option)
        if value is not None:
            argv += [f"--mockvapi-{option}", str(value)]
    if args.csv:
        argv += ["--csv", args.csv]
    if args.html:
        argv += ["--html", args.html]
    if args.processes is not None:
        argv += ["--processes", str(args.processes)]
    return argv + shlex.split(args.locust_args or "")


def _check(args: argparse.Namespace) -> str | None:
    """Why the run cannot start, or None. Loads the scenarios here so a typo fails in a second."""
    if importlib.util.find_spec("locust") is None:
        return "locust is not installed: pip install 'mockvapi[load]'"
    if not args.to.startswith(("http://", "https://")):
        return f"--to must be an http(s) URL, got {args.to!r}"
    if args.users < 1 or args.spawn_rate <= 0:
        return "--users must be >= 1 and --spawn-rate > 0"
    if args.speed is not None and not args.speed > 0:
        return f"--speed must be > 0, got {args.speed!r}"
    from mockvapi.errors import ScenarioError
    from mockvapi.load.mix import load_mix

    try:
        load_mix(args.scenarios, args.weights)
    except ScenarioError as exc:
        return "\n".join(str(p) for p in exc.problems)
    except (ValueError, OSError) as exc:
        return str(exc).removeprefix("mockvapi: ")
    return None


def cmd_load(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem is not None:
        print(f"mockvapi load: {problem}", file=sys.stderr)
        return 2
    try:
        return subprocess.call(locust_argv(args))
    except KeyboardInterrupt:  # the child got the same Ctrl-C and prints its own summary
        return 130


def register(sub: Any) -> None:
    """Add `load` to the `mockvapi` subparsers."""
    p = sub.add_parser(
        "load",
        help="play many concurrent scenario calls against a webhook with Locust",
        description="Run Locust headless: each user is a phone line playing calls from SCENARIOS (a "
        "folder, or comma-separated files/bundled names) against --to in real time, every delivery "
        "reported per message type. Exit 0 if nothing failed, 1 if any delivery or expectation "
        "failed, 2 on a usage error.",
    )
    p.add_argument("scenarios", metavar="SCENARIOS",
                   help="a folder of scenarios, or comma-separated scenario files or bundled names")
    p.add_argument("--to", required=True, metavar="URL", help="the webhook every message is POSTed to")
    p.add_argument("--users", "-u", type=int, default=10, metavar="N", help="concurrent calls (default 10)")
    p.add_argument("--spawn-rate", "-r", type=float, default=1.0, metavar="R", help="users started per second")
    p.add_argument("--run-time", "-t", default="1m", metavar="T", help="e.g. 30s, 5m, 1h30m (default 1m)")
    p.add_argument("--seed", type=int, help="base seed (default 0): user k of worker w plays the same calls")
    p.add_argument("--weights", metavar="NAME=W,...", help="scenario mix by file stem (unlisted: 1)")
    p.add_argument("--speed", type=float, help="call speed factor (default 1, real time)")
    p.add_argument("--profile", choices=["realistic", "spec"],
                   help="realistic (default): messages as live Vapi sends them; spec: as the OpenAPI spec says")
    p.add_argument("--csv", metavar="PREFIX", help="write Locust's CSV statistics")
    p.add_argument("--html", metavar="FILE", help="write Locust's HTML report")
    p.add_argument("--processes", type=int, metavar="P", help="fork P local Locust workers (-1: one per core)")
    p.add_argument("--locust-args", metavar="'ARGS'", help="more locust options, one string (shell-split)")
    p.set_defaults(func=cmd_load)
