"""The QA subcommands of `mockvapi`: new, lint, run, import.

`register(subparsers)` adds them to the main parser; each handler returns the exit code:
0 success, 1 failure (a failed scenario, an invalid file, warnings under --strict), 2 usage error.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from mockvapi.engine.simulator import simulate
from mockvapi.errors import MockVapiError, ScenarioError
from mockvapi.library import resolve
from mockvapi.qa.lint import CODES, lint
from mockvapi.qa.overrides import Override, OverrideError, load_scenario, parse_override
from mockvapi.qa.runner import RunOptions, ScenarioResult, collect, run
from mockvapi.qa.scaffold import SCHEMA_FILE, scaffold
from mockvapi.qa.schema import editor_schema
from mockvapi.scenario.loader import LoadedScenario

__all__ = ["register"]

USAGE = 2


def register(sub: Any) -> None:
    """Add `new`, `lint`, `run` and `import` to the `mockvapi` subparsers."""
    p = sub.add_parser(
        "new",
        help="scaffold a commented scenario file",
        description="Write NAME.yaml: a commented scenario showing every kind of step, with the "
        f"yaml-language-server line for editor autocompletion (and {SCHEMA_FILE} beside it).",
    )
    p.add_argument("name", metavar="NAME", help="the scenario's name; the file is NAME.yaml")
    p.add_argument("--dir", default=".", metavar="D", help="folder to write into (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--no-schema", action="store_true", help=f"do not write {SCHEMA_FILE}")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser(
        "lint",
        help="warn about legal but suspicious scenarios",
        description="Warnings for scenarios that are valid but probably wrong. Exit 0 with only "
        "warnings (1 with --strict); 1 if a file is invalid. Codes: "
        + "; ".join(f"{code}: {text}" for code, text in CODES.items()),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario files or folders")
    p.add_argument("--strict", action="store_true", help="exit 1 if there is any warning")
    p.add_argument("--disable", action="append", default=[], metavar="CODE", help="skip a check (repeatable)")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser(
        "run",
        help="play scenarios against a live target and report",
        description="Play each scenario, POSTing its server messages to --to, check its expectations, "
        "print a summary and write reports. Exit 0 if all pass, 1 if any fails, 2 on a usage error or "
        "an invalid scenario. Without --to the calls use their scripted replies.",
    )
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO_OR_DIR",
                   help="scenario files, bundled scenario names or folders of scenarios")
    p.add_argument("--to", metavar="URL", help="the calls' default server URL (the assistant's and phone "
                   "number's; a tool with its own server.url keeps it unless --set changes it)")
    p.add_argument("--to-app", metavar="MODULE:ATTR", help=argparse.SUPPRESS)  # in-process app, for tests
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report here")
    p.add_argument("--seed", type=int, help="play every scenario with this seed (default: each scenario's own)")
    p.add_argument("--profile", choices=["realistic", "spec"], default="realistic",
                   help="realistic: messages as live Vapi sends them; spec: as the OpenAPI spec says")
    p.add_argument("-k", dest="pattern", metavar="PATTERN",
                   help="run only the scenarios whose name or file name contains PATTERN (case-insensitive; "
                   "* and ? are wildcards; several patterns: comma-separated)")
    p.add_argument("-x", "--fail-fast", action="store_true",
                   help="stop at the first scenario that fails (the ones not yet started are not run)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="change every scenario before it is checked, e.g. timing.tokens_per_second=80 (repeatable)",
    )
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="play N scenarios at once (with --to)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "import",
        help="turn a Vapi call record into a scenario",
        description="Read a call record (GET /call/{id}) or an end-of-call-report message and write a "
        "scenario replaying it, with names, numbers and ids replaced by seeded fakes.",
    )
    p.add_argument("file", metavar="CALL.json", help="the JSON file ('-' for stdin)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the scenario here (default: stdout)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fakes (default 0)")
    p.add_argument("--name", help="the scenario's name (default: from the call)")
    p.set_defaults(func=cmd_import)


# ---------------------------------------------------------------------------------------------
# new


def cmd_new(args: argparse.Namespace) -> int:
    schema = None if args.no_schema else json.dumps(editor_schema(), indent=2) + "\n"
    try:
        path = scaffold(args.name, args.dir, force=args.force, schema=schema)
    except (MockVapiError, OSError) as exc:
        print(f"mockvapi new: {exc}", file=sys.stderr)
        return 1
    print(f"created {path}")
    print(f"next: mockvapi validate {path} && mockvapi show {path}")
    return 0


# ---------------------------------------------------------------------------------------------
# lint


def cmd_lint(args: argparse.Namespace) -> int:
    disabled = frozenset(code.strip() for value in args.disable for code in value.split(",") if code.strip())
    unknown = sorted(disabled - set(CODES))
    if unknown:
        print(f"mockvapi lint: unknown check(s): {', '.join(unknown)} (known: {', '.join(CODES)})", file=sys.stderr)
        return USAGE
    invalid = warnings = files = 0
    for path in collect(args.files):
        files += 1
        try:
            loaded = resolve(path)
            simulate(loaded)  # what `mockvapi validate` checks: a scenario its own script cannot play is invalid
        except ScenarioError as exc:
            invalid += 1
            for problem in exc.problems:
                print(f"{problem} [invalid]")
            continue
        for warning in lint(loaded, disabled=disabled):
            warnings += 1
            print(warning)
    print(
        f"{files} file(s): {warnings} warning(s)" + (f", {invalid} invalid" if invalid else ""),
        file=sys.stderr,
    )
    return 1 if invalid or (args.strict and warnings) else 0


# ---------------------------------------------------------------------------------------------
# run


def _target(args: argparse.Namespace) -> object | None:
    if args.to and args.to_app:
        raise OverrideError("use either --to or --to-app, not both")
    if args.to:
        if not str(args.to).startswith(("http://", "https://")):
            raise OverrideError(f"--to {args.to}: expected an http:// or https:// URL")
        return str(args.to)
    if args.to_app:
        module, _, attr = str(args.to_app).partition(":")
        try:
            target: object = getattr(importlib.import_module(module), attr or "app")
        except (ImportError, AttributeError) as exc:
            raise OverrideError(f"--to-app {args.to_app}: {exc}") from None
        return target
    return None


def cmd_run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        overrides: list[Override] = [parse_override(text) for text in args.overrides]
        target = _target(args)
        if args.jobs < 1:
            raise OverrideError(f"--jobs {args.jobs}: expected 1 or more")
    except OverrideError as exc:
        print(f"mockvapi run: {exc}", file=sys.stderr)
        return USAGE
    specs = collect(args.scenarios)
    if not specs:
        print(f"mockvapi run: no scenario files in {' '.join(args.scenarios)}", file=sys.stderr)
        return USAGE

    loaded: list[LoadedScenario] = []
    bad = False
    for spec in specs:
        try:
            # --to URL is the calls' default server, written into each scenario (tools keep their own).
            scenario = load_scenario(spec, overrides, default_server=target if isinstance(target, str) else None)
            simulate(scenario)  # as `mockvapi validate`: a scenario its own script cannot play is invalid
            loaded.append(scenario)
        except ScenarioError as exc:
            bad = True
            for problem in exc.problems:
                print(str(problem), file=sys.stderr)
        except OverrideError as exc:
            bad = True
            print(f"{spec}: {exc}", file=sys.stderr)
    if bad:
        print("mockvapi run: invalid scenario(s); nothing was run", file=sys.stderr)
        return USAGE
    progress = None if args.quiet else _progress(sys.stderr)
    if args.pattern:
        # A bundled name or a file's stem may differ from the scenario's own name: either selects it.
        loaded = [s for s in loaded if _selected(Path(s.file), args.pattern, s.scenario.name)]
        if not loaded:
            print(f"mockvapi run: no scenario matches -k {args.pattern!r}", file=sys.stderr)
            return USAGE
    options = RunOptions(
        target=None if isinstance(target, str) else target,
        seed=args.seed,
        profile=args.profile,
        jobs=args.jobs,
        live=isinstance(target, str),
        fail_fast=args.fail_fast,
    )
    results = run(loaded, options, progress)
    if len(results) < len(loaded):
        print(f"mockvapi run: stopped at the first failure (-x); {len(loaded) - len(results)} scenario(s) not run",
              file=sys.stderr)
    label = args.to or (f"in-process app {args.to_app}" if args.to_app else None)
    print_summary(results, sys.stdout, time.perf_counter() - started)
    from mockvapi.qa.report_html import write_html  # here: `mockvapi serve` starts without them
    from mockvapi.qa.report_junit import write_junit

    try:
        if args.junit:
            write_junit(results, args.junit, target=label)
        if args.html:
            write_html(results, args.html, target=label)
    except OSError as exc:
        print(f"mockvapi run: cannot write a report: {exc}", file=sys.stderr)
        return USAGE
    return 0 if all(r.passed for r in results) else 1


def _selected(path: Path, pattern: str, name: str | None = None) -> bool:
    """Whether `-k PATTERN` picks a scenario: a piece of its name or file stem, or a glob on either."""
    names = [n.lower() for n in (path.stem, name) if n]
    for part in (p.strip().lower() for p in pattern.split(",")):
        if not part:
            continue
        if any(c in part for c in "*?["):
            if any(fnmatch.fnmatchcase(n, part) for n in names):
                return True
        elif any(part in n for n in names):
            return True
    return False


def _progress(out: TextIO) -> Any:
    def report(result: ScenarioResult, done: int, total: int) -> None:
        width = len(str(total))
        print(
            f"[{done:>{width}}/{total}] {result.status.upper():<6} {result.name}  "
            f"({result.call_duration:.1f}s call, {result.deliveries} deliveries, {result.wall:.2f}s)",
            file=out,
            flush=True,
        )

    return report


def print_summary(results: list[ScenarioResult], out: TextIO, elapsed: float) -> None:
    """The summary table, then every failure in full."""
    name_width = max([len("SCENARIO")] + [len(r.name) for r in results])
    print(f"{'SCENARIO':<{name_width}}  RESULT  DURATION  DELIVERIES  FAILURES", file=out)
    for r in results:
        print(
            f"{r.name:<{name_width}}  {r.status:<6}  {r.call_duration:>7.1f}s  {r.deliveries:>10}  "
            f"{len(r.failures):>8}",
            file=out,
        )
    passed = sum(r.passed for r in results)
    failed = sum(r.status == "failed" for r in results)
    errors = sum(r.status == "error" for r in results)
    tail = f", {errors} error(s)" if errors else ""
    print(f"\n{len(results)} scenario(s): {passed} passed, {failed} failed{tail} in {elapsed:.2f}s", file=out)
    # A target that refused everything is said once, not once per delivery of every scenario.
    unreachable = list(dict.fromkeys(line for r in results if not r.passed for line in r.unreachable))
    for line in unreachable:
        hit = [r for r in results if not r.passed and line in r.unreachable]
        print(f"\n{line}\n{len(hit)} scenario(s) could not deliver to it", file=out)
    for r in results:
        if r.passed:
            continue
        rest = [f for f in r.failures if not any(line in f for line in unreachable)]
        if not rest and r.unreachable:
            continue
        print(f"\n{r.status.upper()} {r.name} ({r.file})", file=out)
        for failure in rest:
            print(f"  - {failure}", file=out)


# ---------------------------------------------------------------------------------------------
# import


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def cmd_import(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"mockvapi import: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    try:
        data = json.loads(text, parse_constant=_not_json)
    except ValueError as exc:
        print(f"mockvapi import: {args.file} is not JSON: {exc}", file=sys.stderr)
        return 1
    except RecursionError:
        print(f"mockvapi import: {args.file}: nested too deeply to be a Vapi call record", file=sys.stderr)
        return 1
    from mockvapi.qa.importer import CallImportError, import_call  # here: `mockvapi serve` starts without it

    try:
        imported = import_call(data, seed=args.seed, name=args.name, source=args.file)
    except CallImportError as exc:
        print(f"mockvapi import: {args.file}: {exc}", file=sys.stderr)
        return 1
    if args.output:
        try:
            Path(args.output).write_text(imported.yaml, encoding="utf-8")
        except OSError as exc:
            print(f"mockvapi import: cannot write {args.output}: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.output} ({imported.steps} steps, ended {imported.ended_reason})", file=sys.stderr)
    else:
        sys.stdout.write(imported.yaml)
    return 0
