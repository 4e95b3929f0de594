"""How fast simulate() plays a long call, against the floor of serialising the same messages.

Uses the bundled long-call scenario (a 10+ minute, 50+ turn support call) when it is there, else
builds one in memory. Prints the best of N for simulate(), for rendering every message of both
sides, and for json.dumps of those messages (the floor: any delivery has to serialise them), with
the ratios. Exits non-zero if simulate() takes a second or more.

    .venv/bin/python bench/bench_simulator.py [--repeat N] [--built]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from mockvapi.engine.simulator import Timeline, simulate
from mockvapi.library import bundled_dir
from mockvapi.scenario.loader import LoadedScenario, load_file, load_text

LIMIT_SECONDS = 1.0

_USER = ("Okay, I'm looking at it now.", "It says the light is blinking green.", "Which button do you mean?",
         "Done, what's next?", "Hmm, nothing happened yet.", "Alright, it worked this time.")
_BOT = ("Great. Hold the pairing button for five seconds, until the light blinks blue.",
        "That's expected. The hub is updating its firmware, which takes about a minute.",
        "Now open the app, tap the plus sign, and choose the sensor you want to add.",
        "Perfect. Stick the sensor on the door frame, with the magnet on the door itself.")


def built_scenario(turns: int = 30) -> LoadedScenario:
    """A long call (2 x `turns` turns, with pauses and tool calls) written in memory."""
    steps = []
    for i in range(turns):
        steps.append(f'  - user: "{_USER[i % len(_USER)]}"')
        if i % 7 == 3:
            steps.append('  - tool: {name: check_device, arguments: {id: "hub"}, result: {online: true}, latency: 1s}')
        if i % 6 == 5:
            steps.append("  - silence: 90s")
        steps.append(f'  - assistant: "{_BOT[i % len(_BOT)]}"')
    text = "\n".join([
        "version: 1",
        "name: long-call-in-memory",
        "call: {type: inboundPhoneCall}",
        "assistant:",
        '  firstMessage: "Thanks for calling support, this is Morgan. How can I help?"',
        '  system: "You are Morgan, a patient support agent."',
        "  tools: [{name: check_device, parameters: {id: string}}]",
        "steps:",
        *steps,
        "",
    ])
    return load_text(text, "<bench>")


def scenario(built: bool) -> tuple[LoadedScenario, str]:
    path = bundled_dir() / "long-call.yaml"
    if path.exists() and not built:
        return load_file(path), str(path)
    return built_scenario(), "built in memory"


def best_of(repeat: int, work: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def render_all(timeline: Timeline) -> list[tuple[float, dict[str, Any]]]:
    return timeline.messages(side="server") + timeline.messages(side="client")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement (best is kept)")
    parser.add_argument("--built", action="store_true", help="use the in-memory scenario, not long-call.yaml")
    args = parser.parse_args(argv)

    loaded, origin = scenario(args.built)
    timeline = simulate(loaded)
    messages = render_all(timeline)
    turns = sum(1 for item in timeline.history if item["role"] in ("bot", "user"))
    size = sum(len(json.dumps(m)) for _, m in messages)
    print(f"scenario: {loaded.scenario.name} ({origin})")
    print(f"call: {timeline.duration / 60:.1f} min, {turns} turns, {len(timeline.events)} events, "
          f"{len(messages)} messages on both sides, {size / 1e6:.1f} MB of JSON")

    simulate_s = best_of(args.repeat, lambda: simulate(loaded))
    render_s = best_of(args.repeat, lambda: render_all(timeline))
    floor_s = best_of(args.repeat, lambda: [json.dumps(m) for _, m in messages])
    print(f"simulate():        {simulate_s * 1000:8.1f} ms  ({simulate_s / floor_s:5.2f} x floor)")
    print(f"render messages:   {render_s * 1000:8.1f} ms  ({render_s / floor_s:5.2f} x floor)")
    print(f"json.dumps floor:  {floor_s * 1000:8.1f} ms")
    if simulate_s >= LIMIT_SECONDS:
        print(f"FAIL: simulate() took {simulate_s:.3f} s (limit {LIMIT_SECONDS:.1f} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
