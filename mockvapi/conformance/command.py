"""``mockvapi conform FILE|DIR|-``: check the Vapi messages a user has against the spec.

Inputs: ``.json`` (one message or a list), ``.jsonl``/``.ndjson`` (one per line), a folder (every
such file in it, recursively, in name order), ``-`` (standard input, either form). A message may be
bare, a webhook body ``{"message": {...}}`` or a ``mockvapi play --jsonl`` line. Each problem is
one line naming ``file:line``; bad input (not JSON, not UTF-8, no such file) is reported the same
way, never as a traceback. The last line is ``N passed, N failed``; exit 0 when every message
passed, 1 otherwise (also when there was nothing to check), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

__all__ = ["cmd_conform", "register"]

SUFFIXES = (".json", ".jsonl", ".ndjson")
SHOWN_PER_MESSAGE = 10


def register(sub: Any) -> None:
    """Add `conform` to the `mockvapi` subparsers."""
    p = sub.add_parser(
        "conform",
        help="check Vapi messages against the official spec (exit 1 if any breaks it)",
        description="Check each message (bare, {\"message\": ...}-wrapped or a `play --jsonl` line) against the "
        "schema of its type in Vapi's OpenAPI spec. Prints one line per violation (file:line, JSON path, what "
        "the spec expects, the schema) and `N passed, N failed`; exit 0 when all pass, 1 otherwise.",
    )
    p.add_argument("inputs", nargs="+", metavar="FILE|DIR|-",
                   help=".json (a message or a list of them), .jsonl (one per line), a folder of such files, "
                        "or - for standard input")
    p.add_argument("--side", choices=["server", "client"], default="server",
                   help="server: what Vapi POSTs to a server URL; client: what a client SDK receives "
                        "(default: server)")
    p.add_argument("--realistic", action="store_true",
                   help="also accept the documented deviations of live Vapi traffic: model-output as a string, "
                        "tool-call arguments as an object, the legacy conversation/toolCalls fields, transcript "
                        "confidence (default: the spec, strictly)")
    p.set_defaults(func=cmd_conform)


@dataclass(frozen=True)
class _Item:
    """One message read from an input (``value``), or why none could be read (``error``)."""

    where: str  # file:line
    value: Any = None
    error: str | None = None


class _BadJson(ValueError):
    pass


def _reject_constant(name: str) -> None:
    raise _BadJson(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _decode(text: str, start: int = 0) -> tuple[Any, int]:
    return _DECODER.raw_decode(text, start)


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _problem(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} (column {exc.colno})"
    if isinstance(exc, RecursionError):
        return "not JSON this checker can read: nested too deeply"
    return f"not JSON: {exc}"


def _read_document(name: str, text: str) -> Iterator[_Item]:
    """A JSON document: one message, or a list of messages (each with the line it starts on)."""
    index = _skip_space(text, 0)
    line, counted = 1, 0

    def line_at(position: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, position)
        counted = position
        return line

    if index == len(text):
        return
    try:
        if text[index] != "[":
            value, end = _decode(text, index)
            after = _skip_space(text, end)
            if after != len(text):
                hint = " (one message per line? name the file .jsonl)" if text[after] == "{" else ""
                raise json.JSONDecodeError(f"extra data after the message{hint}", text, after)
            yield _Item(f"{name}:{line_at(index)}", value)
            return
        index = _skip_space(text, index + 1)
        if index < len(text) and text[index] == "]":
            index = _skip_space(text, index + 1)
        else:
            while True:
                value, end = _decode(text, index)
                yield _Item(f"{name}:{line_at(index)}", value)
                index = _skip_space(text, end)
                if index < len(text) and text[index] == ",":
                    index = _skip_space(text, index + 1)
                    continue
                if index < len(text) and text[index] == "]":
                    index = _skip_space(text, index + 1)
                    break
                raise json.JSONDecodeError("expected ',' or ']' after a message", text, index)
        if index != len(text):
            raise json.JSONDecodeError("extra data after the list", text, index)
    except (ValueError, RecursionError) as exc:
        at = exc.pos if isinstance(exc, json.JSONDecodeError) else index
        yield _Item(f"{name}:{line_at(max(at, counted))}", error=_problem(exc))


def _read_lines(name: str, lines: Iterator[str]) -> Iterator[_Item]:
    """JSON Lines: one message per non-blank line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value, end = _decode(line, _skip_space(line, 0))
            if _skip_space(line, end) != len(line):
                raise json.JSONDecodeError("extra data after the message", line, _skip_space(line, end))
        except (ValueError, RecursionError) as exc:
            yield _Item(f"{name}:{number}", error=_problem(exc))
        else:
            yield _Item(f"{name}:{number}", value)


def _read_text(name: str, text: str) -> Iterator[_Item]:
    """JSON Lines when the first line is a whole JSON value, else one document (standard input,
    unknown suffixes)."""
    stripped = text.lstrip()
    first = stripped.split("\n", 1)[0]
    if not stripped.startswith("["):
        try:
            _decode(first.strip())
        except (ValueError, RecursionError):
            pass
        else:
            yield from _read_lines(name, iter(text.splitlines()))
            return
    yield from _read_document(name, text)


def _read_path(path: Path, shown: str) -> Iterator[_Item]:
    try:
        if path.suffix in (".jsonl", ".ndjson"):
            with path.open(encoding="utf-8") as handle:
                yield from _read_lines(shown, handle)
        elif path.suffix == ".json":
            yield from _read_document(shown, path.read_text(encoding="utf-8"))
        else:
            yield from _read_text(shown, path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        yield _Item(shown, error="no such file or folder")
    except UnicodeDecodeError:
        yield _Item(shown, error="not UTF-8 text")
    except OSError as exc:
        yield _Item(shown, error=f"cannot read it: {exc.strerror or exc}")


def read_inputs(inputs: list[str], stdin: TextIO) -> Iterator[_Item]:
    """Every message (or read error) of ``inputs``, in order."""
    for given in inputs:
        if given == "-":
            try:
                yield from _read_text("<stdin>", stdin.read())
            except UnicodeDecodeError:
                yield _Item("<stdin>", error="not UTF-8 text")
            continue
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
            if not files:
                yield _Item(given, error=f"no {', '.join(SUFFIXES)} files in this folder")
            for file in files:
                yield from _read_path(file, str(file))
        else:
            yield from _read_path(path, given)


def cmd_conform(args: argparse.Namespace, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    from mockvapi.conformance.checker import Profile, check, unwrap

    stdin = stdin if stdin is not None else sys.stdin
    out = out if out is not None else sys.stdout
    profile: Profile = "realistic" if args.realistic else "strict"
    passed = failed = 0
    for item in read_inputs(args.inputs, stdin):
        if item.error is not None:
            failed += 1
            print(f"{item.where}: {item.error}", file=out)
            continue
        try:
            violations = check(item.value, side=args.side, profile=profile)
        except RecursionError:
            failed += 1
            print(f"{item.where}: nested too deeply to check", file=out)
            continue
        if not violations:
            passed += 1
            continue
        failed += 1
        message = unwrap(item.value)
        kind = message.get("type") if isinstance(message, dict) else None
        label = f"{kind}: " if isinstance(kind, str) else ""
        for violation in violations[:SHOWN_PER_MESSAGE]:
            print(f"{item.where}: {label}{violation}", file=out)
        if len(violations) > SHOWN_PER_MESSAGE:
            print(f"{item.where}: ... and {len(violations) - SHOWN_PER_MESSAGE} more", file=out)
    if passed + failed == 0:
        print("nothing to check: no messages in " + ", ".join(args.inputs), file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    return 0 if failed == 0 and passed > 0 else 1
