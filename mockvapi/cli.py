"""The `mockvapi` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from mockvapi.engine.simulator import Timeline, simulate
from mockvapi.errors import ScenarioError
from mockvapi.library import resolve


def _print_errors(exc: ScenarioError, out: TextIO) -> None:
    for problem in exc.problems:
        print(terminal_safe(str(problem)), file=out)


def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for spec in args.files:
        try:
            simulate(resolve(spec))
        except ScenarioError as exc:
            bad += 1
            _print_errors(exc, sys.stdout)
        else:
            if not args.quiet:
                print(f"{spec}: ok")
    return 1 if bad else 0


def _describe(message: dict[str, Any]) -> tuple[str, str]:
    """(who, what) for the readable timeline."""
    kind = message["type"]
    if kind == "model-output":
        out = message["output"]
        if isinstance(out, dict):
            out = out.get("content", out.get("toolCalls"))
        text = json.dumps(out) if isinstance(out, list) else repr(out)
        return "assistant", f"{text}  turn {message['turnId'][:8]}"
    if kind == "transcript":
        return message["role"], f"[{message['transcriptType']}] {message['transcript']}"
    if kind == "speech-update":
        return message["role"], f"{message['status']}" + (
            f" (turn {message['turn']})" if "turn" in message else ""
        )
    if kind == "status-update":
        return "vapi", message["status"] + (
            f" ({message['endedReason']})" if "endedReason" in message else ""
        )
    if kind == "user-interrupted":
        return "user", f"interrupts turn {str(message.get('turnId'))[:8]}"
    if kind == "conversation-update":
        last = message["messages"][-1] if message["messages"] else {}
        text = last.get("message") or last.get("result") or ""
        return "vapi", f"history: {len(message['messages'])} items, last {last.get('role')}: {text}"
    if kind == "voice-input":
        return "assistant", f"tts: {message['input']}"
    if kind == "tool-calls":
        calls = message["toolCallList"]
        return "assistant", ", ".join(
            f"{c['function']['name']}({json.dumps(c['function']['arguments'])})" for c in calls
        )
    if kind == "tool-calls-result":
        result = message["toolCallResult"]
        return "server", f"{result.get('name')} -> {result.get('result')}"
    if kind == "end-of-call-report":
        return "vapi", f"{message['endedReason']}, cost {message.get('cost')}"
    if kind == "hang":
        return "vapi", "hang: the model or a tool is slow"
    return "vapi", kind


# Control characters (C0, DEL, C1: ANSI/OSC escape sequences start with ESC or CSI/OSC) and bidi
# overrides in a scenario's text would act on the terminal `show` prints to; they are shown escaped.
_TERMINAL_UNSAFE = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
}


def terminal_safe(text: str) -> str:
    """`text` with every character that could drive a terminal written as a visible escape."""
    return text.translate(_TERMINAL_UNSAFE)


def render_show(timeline: Timeline, side: str, out: TextIO) -> None:
    print(
        terminal_safe(
            f"# {timeline.name} (seed {timeline.seed}): {timeline.duration:.1f}s, ended {timeline.ended_reason}"
        ),
        file=out,
    )
    for at, message in timeline.messages(side="client" if side == "client" else "server"):
        who, what = _describe(message)
        print(terminal_safe(f"{at:8.3f}s  {message['type']:<20} {who:<9} {what}"), file=out)
    for problem in timeline.problems:
        print(terminal_safe(f"problem: {problem}"), file=out)


def cmd_show(args: argparse.Namespace) -> int:
    try:
        timeline = simulate(resolve(args.file), seed=args.seed)
    except ScenarioError as exc:
        _print_errors(exc, sys.stdout)
        return 1
    render_show(timeline, args.side, sys.stdout)
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    try:
        timeline = simulate(resolve(args.file), seed=args.seed)
    except ScenarioError as exc:
        _print_errors(exc, sys.stderr)
        return 1
    if args.jsonl:
        sys.stdout.write(timeline.jsonl(profile=args.profile, side=args.side))
    else:
        json.dump(
            [{"at": at, "message": m} for at, m in timeline.messages(profile=args.profile, side=args.side)],
            sys.stdout,
            indent=2,
            ensure_ascii=False,
        )
        sys.stdout.write("\n")
    return 0


def scenario_json_schema() -> dict[str, Any]:
    from mockvapi.qa.schema import editor_schema

    return editor_schema()


def cmd_schema(args: argparse.Namespace) -> int:
    json.dump(scenario_json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


SDK_SNIPPET = """\
  from vapi import Vapi
  client = Vapi(token="{token}", base_url="{url}")
  assistant = client.assistants.create(name="Riley", server={{"url": "http://127.0.0.1:9000/webhook"}},
                                       metadata={{"mockvapi": {{"scenario": "{scenario}"}}}})
  call = client.calls.create(assistant_id=assistant.id)"""


def cmd_serve(args: argparse.Namespace) -> int:
    from mockvapi.serve import serve

    return serve(
        host=args.host, port=args.port, scenarios=args.scenarios, default_scenario=args.default_scenario,
        token=args.token, control_token=args.control_token, speed=args.speed, clock=args.clock,
        seed=args.seed, faults=args.fault, faults_file=args.faults, max_calls=args.max_calls,
        banner=lambda url, token: _banner(url, token, args.default_scenario),
    )


def _banner(url: str, token: str | None, scenario: str) -> str:
    # Never echo the token itself: terminals and CI logs get shared.
    shown = "<your --token>" if token else "any-token"
    return (
        f"mockvapi: the Vapi API is listening on {url} (Ctrl-C to stop)\n\n"
        f"Point the official SDK at it:\n{SDK_SNIPPET.format(token=shown, url=url, scenario=scenario)}\n\n"
        f"Or with curl:\n  curl -s -X POST {url}/assistant -H 'Authorization: Bearer {shown}' "
        f"-H 'Content-Type: application/json' -d '{{\"name\": \"Riley\"}}'\n"
        f"  curl -s {url}/_mockvapi/scenarios\n"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockvapi", description="A scriptable test double for Vapi.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check scenario files (exit 1 if any is invalid)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("show", help="print a readable timeline of a scenario's call")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--seed", type=int)
    p.add_argument("--side", choices=["server", "client"], default="server")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("play", help="print the messages of a scenario's call")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--seed", type=int)
    p.add_argument("--profile", choices=["realistic", "spec"], default="realistic")
    p.add_argument("--side", choices=["server", "client"], default="server")
    p.add_argument("--jsonl", action="store_true", help='one line per message: {"at": s, "message": {...}}')
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("schema", help="print the JSON Schema of the scenario language")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("serve", help="serve the mock Vapi REST API, webhooks and websockets")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--scenarios", metavar="DIR", help="folder of scenarios to serve (default: the bundled ones)")
    p.add_argument("--default-scenario", default="happy-path",
                   help="played when the assistant's metadata.mockvapi.scenario names none")
    p.add_argument("--token", help="the only Bearer token the API accepts (default: any non-empty token)")
    p.add_argument("--control-token", help="Bearer token required by the /_mockvapi/ control plane")
    p.add_argument("--speed", type=float, default=1.0, help="real-clock speed factor, e.g. 10 for 10x")
    p.add_argument("--clock", choices=["real", "virtual", "manual"], default="real",
                   help="virtual: calls play instantly; manual: time moves only via /_mockvapi/clock/advance")
    p.add_argument("--seed", type=int, help="seed for every call (default: each scenario's own)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND[:TYPE][,KEY=VALUE...]",
                   help="inject a fault into every call, e.g. drop:transcript,nth=2 or retry-5xx,times=3 "
                        "(repeatable; see README 'Fault injection')")
    p.add_argument("--faults", metavar="FILE", help="a YAML list of faults to inject into every call")
    # Text, checked by serve(): a bad value gets one line, as a bad --port number does there.
    p.add_argument("--max-calls", default="1000", metavar="N",
                   help="calls held (default 1000); past that the oldest ended ones and their GET /call/{id} "
                        "records are forgotten and counted (GET /_mockvapi/status)")
    p.set_defaults(func=cmd_serve)

    from mockvapi.qa.commands import register as register_qa  # imported here: `serve` starts faster

    register_qa(sub)

    from mockvapi.load.command import register as register_load  # imports no locust: see its docstring

    register_load(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
