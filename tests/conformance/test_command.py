"""`mockvapi conform`: files, folders and stdin in; file:line per problem, a closing count, exit 0/1."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mockvapi.cli import main

HANG = '{"type": "hang"}'
BAD_STATUS = '{"message": {"type": "status-update", "status": "queud"}}'
STATUS_LINE = ('status-update: $.status: expected one of "scheduled", "queued", "ringing", "in-progress", '
               '"forwarding", "ended", "not-found", "deletion-failed" (did you mean "queued"?), found "queud" '
               "(ServerMessageStatusUpdate)")


def conform(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["conform", *args])
    out = capsys.readouterr().out
    return code, out.splitlines()


def test_all_passing_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "calls.jsonl").write_text(f"{HANG}\n\n{HANG}\n")
    assert conform(capsys, str(tmp_path / "calls.jsonl")) == (0, ["2 passed, 0 failed"])


def test_each_problem_names_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join([HANG, BAD_STATUS, "not json", "", '{"type": "pigeon"}',
                               '{"type": "hang", "timestamp": NaN}', '{"type": "hang"} {"type": "hang"}']) + "\n")
    code, lines = conform(capsys, str(path))
    assert code == 1
    assert lines == [
        f"{path}:2: {STATUS_LINE}",
        f"{path}:3: not JSON: Expecting value (column 1)",
        f'{path}:5: pigeon: $.type: expected a server message type, found "pigeon" (ServerMessage)',
        f"{path}:6: not JSON: NaN is not a JSON number",
        f"{path}:7: not JSON: extra data after the message (column 18)",
        "1 passed, 5 failed",
    ]


def test_a_json_file_holds_a_message_or_a_list_of_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = tmp_path / "one.json"
    one.write_text('{\n  "type": "hang",\n  "timestamp": "now"\n}\n')
    many = tmp_path / "many.json"
    report = '{"type": "end-of-call-report",\n   "endedReason": "customer-ended-call"}'
    many.write_text(f"[\n  {HANG},\n  {report},\n  5\n]")
    code, lines = conform(capsys, str(one), str(many))
    assert code == 1
    assert lines == [
        f'{one}:1: hang: $.timestamp: expected type number, found string "now" (ServerMessageHang)',
        f"{many}:3: end-of-call-report: $.artifact: expected a required field, found nothing "
        "(ServerMessageEndOfCallReport)",
        f"{many}:3: end-of-call-report: $.analysis: expected a required field, found nothing "
        "(ServerMessageEndOfCallReport)",
        f"{many}:5: $: expected an object (a Vapi message), found integer 5 (ServerMessage)",
        "1 passed, 3 failed",
    ]


def test_broken_json_documents_point_at_the_mistake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trailing = tmp_path / "trailing.json"
    trailing.write_text('{\n "type": "hang",\n}')
    unclosed = tmp_path / "unclosed.json"
    unclosed.write_text(f"[\n{HANG},\n{HANG}\n")
    lines = tmp_path / "lines.json"
    lines.write_text(f"{HANG}\n{HANG}\n")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, out = conform(capsys, str(trailing), str(unclosed), str(lines), str(deep))
    assert code == 1
    assert out == [
        f"{trailing}:3: not JSON: Expecting property name enclosed in double quotes (column 1)",
        f"{unclosed}:4: not JSON: expected ',' or ']' after a message (column 1)",
        f"{lines}:2: not JSON: extra data after the message (one message per line? name the file .jsonl) (column 1)",
        f"{deep}:1: not JSON this checker can read: nested too deeply",
        "2 passed, 4 failed",
    ]


def test_unreadable_inputs_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "blob.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    missing = tmp_path / "absent.jsonl"
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    code, lines = conform(capsys, str(binary), str(missing), str(empty_dir))
    assert code == 1
    assert lines == [
        f"{binary}: not UTF-8 text",
        f"{missing}: no such file or folder",
        f"{empty_dir}: no .json, .jsonl, .ndjson files in this folder",
        "0 passed, 3 failed",
    ]


def test_nothing_to_check_is_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.jsonl").write_text("\n\n")
    assert conform(capsys, str(tmp_path / "empty.jsonl")) == (
        1, [f"nothing to check: no messages in {tmp_path / 'empty.jsonl'}", "0 passed, 0 failed"])


def test_a_folder_is_read_recursively_in_name_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "late.jsonl").write_text(BAD_STATUS + "\n")
    (tmp_path / "a.json").write_text(HANG)
    (tmp_path / "notes.txt").write_text("not a message")
    code, lines = conform(capsys, str(tmp_path))
    assert (code, lines) == (1, [f"{tmp_path / 'b' / 'late.jsonl'}:1: {STATUS_LINE}", "1 passed, 1 failed"])


def test_stdin_takes_json_lines_or_one_document(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{HANG}\n{BAD_STATUS}\n"))
    assert conform(capsys, "-") == (1, [f"<stdin>:2: {STATUS_LINE}", "1 passed, 1 failed"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps([{"type": "hang"}] * 3, indent=2)))
    assert conform(capsys, "-") == (0, ["3 passed, 0 failed"])
    monkeypatch.setattr(sys, "stdin", io.StringIO('{\n  "type": "hang"\n}\n'))
    assert conform(capsys, "-") == (0, ["1 passed, 0 failed"])


def test_side_and_realistic_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"type": "model-output", "output": "Sure"}\n{"type": "end-of-call-report"}\n')
    code, lines = conform(capsys, str(path), "--side", "client", "--realistic")
    assert code == 1
    assert lines == [
        f'{path}:2: end-of-call-report: $.type: expected a client message type, found "end-of-call-report", '
        "a server message (check it with side='server') (ClientMessage)",
        "1 passed, 1 failed",
    ]
    code, lines = conform(capsys, str(path), "--side", "client")
    assert lines[0] == (f'{path}:1: model-output: $.output: expected type object, found string "Sure" '
                        "(ClientMessageModelOutput)")


def test_a_message_shows_at_most_ten_violations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"type": "hang", **{f"extra{i}": i for i in range(12)}}))
    code, lines = conform(capsys, str(path))
    assert code == 1 and len(lines) == 12
    assert lines[0] == f"{path}:1: hang: $.extra0: expected no such field, found integer 0 (ServerMessageHang)"
    assert lines[-2:] == [f"{path}:1: ... and 2 more", "0 passed, 1 failed"]


def test_the_simulators_own_output_conforms(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`mockvapi play --jsonl` piped into `conform`: spec profile strictly, realistic with --realistic."""
    for profile, flags in (("spec", []), ("realistic", ["--realistic"])):
        assert main(["play", "tool-call", "--jsonl", "--profile", profile]) == 0
        played = capsys.readouterr().out
        monkeypatch.setattr(sys, "stdin", io.StringIO(played))
        code, lines = conform(capsys, "-", *flags)
        assert (code, lines) == (0, [f"{played.count(chr(10))} passed, 0 failed"]), profile


def test_usage_errors_exit_2_and_help_describes_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["conform", "x.json", "--side", "browser"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["conform", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--side", "--realistic", "FILE|DIR|-"):
        assert option in text
    assert "(default: server)" in text and "N passed, N failed" in text


def test_runs_as_a_command() -> None:
    done = subprocess.run([sys.executable, "-m", "mockvapi", "conform", "-"], input=HANG, capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "1 passed, 0 failed\n", "")
