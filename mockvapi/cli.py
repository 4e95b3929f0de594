"""The `mockvapi` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from mockvapi.engine.simulator import simulate
from mockvapi.engine.timeline import Timeline
from mockvapi.errors import ScenarioError
from mockvapi.library import resolve


def _print_errors(exc: ScenarioError, out: TextIO) -> None:
    for problem in exc.problems:
        print(terminal_safe(str(problem)), file=out)


def _scenario_specs(specs: Sequence[str]) -> list[str]:
    """Files, bundled names and folders (a folder: its *.yaml and *.yml), as `lint` and `run` take them."""
    out: list[str] = []
    for spec in specs:
        folder = Path(spec)
        if folder.is_dir():
            out += [str(p) for p in sorted(folder.iterdir()) if p.suffix in (".yaml", ".yml") and p.is_file()]
        else:
            out.append(spec)
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    bad = 0
    for spec in args.files:
        if Path(spec).is_dir() and not _scenario_specs([spec]):
            bad += 1
            print(f"{spec}: no scenario files (*.yaml, *.yml) in this folder")
    for spec in _scenario_specs(args.files):
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


def cmd_list(args: argparse.Namespace) -> int:
    from mockvapi.qa.catalog import catalog

    entries = catalog()
    width = max(len(e.name) for e in entries)
    for entry in entries:
        print(f"{entry.name:<{width}}  {entry.summary}")
        print(f"{'':<{width}}  exercises: {', '.join(entry.features)}")
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    import asyncio

    from mockvapi.qa.overrides import OverrideError, parse_override
    from mockvapi.qa.trigger import render, trigger, trigger_types

    if not str(args.to).startswith(("http://", "https://")):
        print(f"mockvapi trigger: --to {args.to}: expected an http:// or https:// URL", file=sys.stderr)
        return 2
    try:
        overrides = [parse_override(text) for text in args.overrides]
        result = asyncio.run(trigger(args.type, args.to, overrides, seed=args.seed))
    except OverrideError as exc:
        print(f"mockvapi trigger: {exc}", file=sys.stderr)
        return 2
    except ScenarioError as exc:
        if exc.problems:
            _print_errors(exc, sys.stderr)
        else:
            import difflib

            known = trigger_types()
            near = difflib.get_close_matches(args.type, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            print(f"mockvapi trigger: no call sends {args.type!r} as a webhook{hint} (types: {', '.join(known)})",
                  file=sys.stderr)
        return 2
    print(render(result, args.to))
    return 0 if result.accepted else 1


def scenario_json_schema() -> dict[str, Any]:
    from mockvapi.qa.schema import editor_schema

    return editor_schema()


def cmd_schema(args: argparse.Namespace) -> int:
    json.dump(scenario_json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def cmd_web_shim(args: argparse.Namespace) -> int:
    from mockvapi.web import PACKAGE_NAME, write_package

    try:
        written = write_package(args.out)
    except OSError as exc:
        print(f"mockvapi web-shim: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"alias @daily-co/daily-js to this folder, or: npm install {args.out}  (package {PACKAGE_NAME})",
          file=sys.stderr)
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
        public_url=args.public_url,
        max_running_calls=args.max_running_calls,
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


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none worth saying (a flag, no value)
    or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, [], "")
            or default is argparse.SUPPRESS
            or not action.option_strings
            or isinstance(action, argparse._VersionAction)
        ):
            return text
        return f"{text} (default: %(default)s)"


SCENARIO_HELP = "a scenario file, a bundled scenario's name (see `mockvapi list`) or a folder of them"
SEED_HELP = "seed for names, numbers and timing jitter (default: the scenario's own `seed`)"
SIDE_HELP = "server: the webhook messages; client: what the web SDK / websocket client receives"
PROFILE_HELP = "realistic: as live Vapi sends them (documented deviations included); spec: as the OpenAPI spec says"


def build_parser() -> argparse.ArgumentParser:
    from mockvapi import __version__

    parser = argparse.ArgumentParser(prog="mockvapi", description="A scriptable test double for Vapi.",
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mockvapi {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check scenario files (exit 1 if any is invalid)")
    p.add_argument("files", nargs="+", metavar="FILE", help=SCENARIO_HELP)
    p.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("show", help="print a readable timeline of a scenario's call")
    p.add_argument("file", metavar="FILE", help="a scenario file or a bundled scenario's name")
    p.add_argument("--seed", type=int, help=SEED_HELP)
    p.add_argument("--side", choices=["server", "client"], default="server", help=SIDE_HELP)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("play", help="print the messages of a scenario's call")
    p.add_argument("file", metavar="FILE", help="a scenario file or a bundled scenario's name")
    p.add_argument("--seed", type=int, help=SEED_HELP)
    p.add_argument("--profile", choices=["realistic", "spec"], default="realistic", help=PROFILE_HELP)
    p.add_argument("--side", choices=["server", "client"], default="server", help=SIDE_HELP)
    p.add_argument("--jsonl", action="store_true", help='one line per message: {"at": s, "message": {...}}')
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("list", help="list the bundled scenarios and the Vapi features each exercises")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "trigger",
        help="send one realistic message of a type to your server and judge its reply",
        description="POST one message of TYPE, as a real call sends it, to --to; print it and the reply, "
        "and say whether Vapi would accept the reply (the checks a played call makes: a tool reply's "
        "results, an assistant-request's assistant, a transfer destination, a 2xx status). Exit 0 if "
        "it would, 1 if not, 2 on a usage error.",
    )
    p.add_argument("type", metavar="TYPE",
                   help="the message type: tool-calls, assistant-request, transfer-destination-request, "
                   "status-update, end-of-call-report, conversation-update, hang, ...")
    p.add_argument("--to", required=True, metavar="URL", help="your webhook's URL (required)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="change the call the message comes from, as `run --set` does, e.g. "
                   "call.customer.number=+15550001111 or assistant.name=Riley (repeatable)")
    p.add_argument("--seed", type=int, help=SEED_HELP)
    p.set_defaults(func=cmd_trigger)

    p = sub.add_parser("schema", help="print the JSON Schema of the scenario language")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("serve", help="serve the mock Vapi REST API, webhooks and websockets")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; keep it on loopback (127.0.0.1) unless you mean otherwise")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--scenarios", metavar="DIR", action="append",
                   help="folder of scenarios to serve besides the bundled ones (repeatable); the only files "
                        "requests may load by path or name (default: none)")
    p.add_argument("--default-scenario", default="happy-path",
                   help="played when the assistant's metadata.mockvapi.scenario names none")
    p.add_argument("--token", help="the only Bearer token the API accepts (default: any non-empty token)")
    p.add_argument("--control-token",
                   help="Bearer token required by the /_mockvapi/ control plane (default: none required)")
    p.add_argument("--speed", type=float, default=1.0, help="real-clock speed factor, e.g. 10 for 10x")
    p.add_argument("--clock", choices=["real", "virtual", "manual"], default="real",
                   help="real: calls play in wall-clock time, as the SDK clients you point here expect; "
                   "virtual: calls play instantly; manual: time moves only via /_mockvapi/clock/advance")
    p.add_argument("--seed", type=int, help="seed for every call (default: each scenario's own)")
    p.add_argument("--fault", action="append", default=[], metavar="KIND[:TYPE][,KEY=VALUE...]",
                   help="inject a fault into every call, e.g. drop:transcript,nth=2 or retry-5xx,times=3 "
                        "(repeatable; see README 'Fault injection'; default: none)")
    p.add_argument("--faults", metavar="FILE", help="a YAML list of faults to inject into every call (default: none)")
    # Text, checked by serve(): a bad value gets one line, as a bad --port number does there.
    p.add_argument("--max-calls", default="1000", metavar="N",
                   help="calls held (default 1000); past that the oldest ended ones and their GET /call/{id} "
                        "records are forgotten and counted (GET /_mockvapi/status)")
    p.add_argument("--public-url", metavar="URL",
                   help="where clients reach the server, e.g. http://mockvapi:8000 in a container: the base of "
                        "listenUrl/controlUrl/websocketCallUrl (default: the address a request came in on)")
    p.add_argument("--max-running-calls", default="1000", metavar="N",
                   help="calls running at once (default 1000); POST /call past that answers 429 with Retry-After")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("web-shim", help="write the daily-js stand-in for Vapi's web SDK as an npm package folder")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (created if missing)")
    p.set_defaults(func=cmd_web_shim)

    from mockvapi.qa.commands import register as register_qa  # imported here: `serve` starts faster

    register_qa(sub)

    from mockvapi.load.command import register as register_load  # imports no locust: see its docstring

    register_load(sub)

    from mockvapi.conformance.command import register as register_conform  # jsonschema is imported on use

    register_conform(sub)
    _every_help_shows_defaults(parser)
    return parser


def _every_help_shows_defaults(parser: argparse.ArgumentParser) -> None:
    """Subcommands registered anywhere (qa, load, ...) print their defaults the same way."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                subparser.formatter_class = DefaultsHelpFormatter
                _every_help_shows_defaults(subparser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        return 0
