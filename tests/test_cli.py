"""The `mockvapi` command line: validate, show, play, schema, and bundled-name resolution."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from mockvapi import cli
from mockvapi.library import bundled_dir, bundled_paths
from mockvapi.models.enums import CLIENT_MESSAGE_NAMES, SERVER_MESSAGE_NAMES
from tests.imports import imported_after

MALFORMED = Path(__file__).parent / "scenario" / "malformed"
MESSAGE_TYPES = SERVER_MESSAGE_NAMES | CLIENT_MESSAGE_NAMES | {"assistant-request", "tool-calls-result",
                                                               "end-of-call-report", "status-update"}
SHOW_LINE = re.compile(r"^\s*(\d+\.\d{3})s  (\S+)\s+(\S+)\s+(.*)$")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# ---------------------------------------------------------------------------------------------
# validate


def test_validate_good_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(bundled_paths()[0])
    code, out, _ = run(capsys, "validate", path)
    assert code == 0
    assert out == f"{path}: ok\n"


def test_validate_quiet_prints_nothing_for_good_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "validate", "-q", *map(str, bundled_paths())) == (0, "", "")


def test_validate_bad_file_points_at_file_line_col(capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = str(bundled_paths()[0]), str(MALFORMED / "unknown-key.yaml")
    code, out, _ = run(capsys, "validate", good, bad)
    assert code == 1
    assert f"{good}: ok" in out
    assert re.search(rf"^{re.escape(bad)}:\d+:\d+: unknown key 'firstMesage'", out, re.MULTILINE)


def test_validate_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    code, out, _ = run(capsys, "validate", missing)
    assert code == 1
    assert out.startswith(f"{missing}: no such file or bundled scenario (bundled: assistant-ends-call, ")


# ---------------------------------------------------------------------------------------------
# show


def test_show_prints_a_readable_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", str(next(p for p in bundled_paths() if p.stem == "barge-in")))
    assert code == 0
    header, *lines = out.splitlines()
    assert re.match(r"^# barge-in \(seed 2002\): \d+\.\ds, ended customer-ended-call$", header)
    parsed = [SHOW_LINE.match(line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed, strict=True) if not m][:3]
    offsets = [float(m[1]) for m in parsed if m]
    assert offsets == sorted(offsets)
    kinds = {m[2] for m in parsed if m}
    assert kinds <= MESSAGE_TYPES
    assert {"status-update", "model-output", "user-interrupted", "end-of-call-report"} <= kinds
    assert "interrupts turn" in out


def test_show_client_side_and_problems(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "tool-error", "--side", "client")
    assert code == 0
    assert "tool-calls-result" in out  # client-only message
    assert "problem: non-200-reply" in out


def test_show_escapes_terminal_control_sequences(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A scenario's text cannot retitle, clear or recolour the terminal `show` prints to (issue 14)."""
    path = tmp_path / "ansi.yaml"
    path.write_text(
        'version: 1\nname: "evil\\e]0;pwned\\a"\nsteps:\n'
        '  - user: "Hi \\e[2J\\e[31mred \\x9b1m \\u202eevil"\n  - assistant: "a\\tb"\n'
    )
    assert cli.main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)
    assert "evil\\x1b]0;pwned\\x07" in out and "Hi \\x1b[2J\\x1b[31mred \\x9b1m \\u202eevil" in out
    assert "a\\x09b" in out


def test_show_bad_file_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(MALFORMED / "version-2.yaml")
    code, out, err = run(capsys, "show", bad)
    assert code == 1
    assert f"{bad}:2:10:" in out + err


# ---------------------------------------------------------------------------------------------
# play


def test_play_jsonl_lines_are_at_and_bare_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "play", "barge-in", "--jsonl")
    assert code == 0
    records = jsonl(out)
    assert records
    for record in records:
        assert set(record) == {"at", "message"}
        assert isinstance(record["at"], float)
        assert isinstance(record["message"]["type"], str)
        assert "message" not in record["message"] or not isinstance(record["message"]["message"], dict)
    offsets = [r["at"] for r in records]
    assert offsets == sorted(offsets)
    assert records[-1]["message"]["type"] == "end-of-call-report"


def test_play_same_seed_is_byte_identical(capsys: pytest.CaptureFixture[str]) -> None:
    _, first, _ = run(capsys, "play", "tool-call", "--jsonl", "--seed", "7")
    _, second, _ = run(capsys, "play", "tool-call", "--jsonl", "--seed", "7")
    assert first == second


def test_play_different_seed_changes_ids(capsys: pytest.CaptureFixture[str]) -> None:
    _, first, _ = run(capsys, "play", "tool-call", "--jsonl", "--seed", "7")
    _, second, _ = run(capsys, "play", "tool-call", "--jsonl", "--seed", "8")
    a, b = jsonl(first)[0]["message"], jsonl(second)[0]["message"]
    assert a["call"]["id"] != b["call"]["id"]
    tool_a = next(r["message"] for r in jsonl(first) if r["message"]["type"] == "tool-calls")
    tool_b = next(r["message"] for r in jsonl(second) if r["message"]["type"] == "tool-calls")
    assert tool_a["toolCallList"][0]["id"] != tool_b["toolCallList"][0]["id"]


def test_play_default_seed_is_the_scenario_seed(capsys: pytest.CaptureFixture[str]) -> None:
    _, default, _ = run(capsys, "play", "happy-path", "--jsonl")
    _, pinned, _ = run(capsys, "play", "happy-path", "--jsonl", "--seed", "1001")
    assert default == pinned


def test_play_profiles_differ_where_live_traffic_differs(capsys: pytest.CaptureFixture[str]) -> None:
    _, spec, _ = run(capsys, "play", "barge-in", "--jsonl", "--profile", "spec")
    _, real, _ = run(capsys, "play", "barge-in", "--jsonl", "--profile", "realistic")
    spec_out = next(r["message"]["output"] for r in jsonl(spec) if r["message"]["type"] == "model-output")
    real_out = next(r["message"]["output"] for r in jsonl(real) if r["message"]["type"] == "model-output")
    assert isinstance(spec_out, dict)
    assert isinstance(real_out, str)


def test_play_sides_follow_subscriptions(capsys: pytest.CaptureFixture[str]) -> None:
    _, server, _ = run(capsys, "play", "tool-call", "--jsonl", "--side", "server")
    _, client, _ = run(capsys, "play", "tool-call", "--jsonl", "--side", "client")
    server_types = {r["message"]["type"] for r in jsonl(server)}
    client_types = {r["message"]["type"] for r in jsonl(client)}
    assert "tool-calls-result" in client_types and "tool-calls-result" not in server_types
    assert "end-of-call-report" in server_types and "end-of-call-report" not in client_types
    assert all("artifact" in r["message"] for r in jsonl(server))


def test_play_without_jsonl_is_a_json_array(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "play", "happy-path")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list) and data and set(data[0]) == {"at", "message"}


def test_play_bad_file_reports_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(MALFORMED / "unknown-tool.yaml")
    code, out, err = run(capsys, "play", bad, "--jsonl")
    assert code == 1
    assert out == ""
    assert f"{bad}:10:13:" in err


# ---------------------------------------------------------------------------------------------
# schema


@pytest.fixture(scope="module")
def scenario_schema() -> dict[str, Any]:
    return cli.scenario_json_schema()


def test_schema_command_prints_a_valid_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


SHORTHANDS = {"user": "say", "assistant": "say", "silence": "duration", "end": "reason"}


def schema_errors(schema: dict[str, Any], data: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft202012Validator(schema).iter_errors(data)]


def expand_shorthands(data: dict[str, Any]) -> dict[str, Any]:
    steps = []
    for step in data["steps"]:
        step = dict(step) if isinstance(step, dict) else step
        for kind, field in SHORTHANDS.items():
            if isinstance(step, dict) and isinstance(step.get(kind), str | int | float):
                step[kind] = {field: step[kind]}
        steps.append(step)
    return {**data, "steps": steps}


@pytest.mark.parametrize("path", bundled_paths(), ids=lambda p: p.stem)
def test_bundled_scenarios_match_the_schema(path: Path, scenario_schema: dict[str, Any]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = schema_errors(scenario_schema, data)
    assert not errors, errors[:5]


@pytest.mark.parametrize("path", bundled_paths(), ids=lambda p: p.stem)
def test_bundled_scenarios_match_the_schema_with_shorthands_expanded(
    path: Path, scenario_schema: dict[str, Any]
) -> None:
    data = expand_shorthands(yaml.safe_load(path.read_text(encoding="utf-8")))
    errors = schema_errors(scenario_schema, data)
    assert not errors, errors[:5]


@pytest.mark.parametrize("name", ["unknown-key", "unknown-top-level-key", "version-2", "missing-steps",
                                  "bad-call-type", "wrong-type-steps", "negative-latency",
                                  "two-kinds-step"])
def test_schema_rejects_what_an_editor_can_catch(name: str, scenario_schema: dict[str, Any]) -> None:
    data = yaml.safe_load((MALFORMED / f"{name}.yaml").read_text(encoding="utf-8"))
    if isinstance(data.get("steps"), list):
        data = expand_shorthands(data)  # so that only the file's own mistake is left
    assert schema_errors(scenario_schema, data)


# ---------------------------------------------------------------------------------------------
# bundled names


def test_show_resolves_a_bundled_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "happy-path")
    assert code == 0
    assert out.startswith("# happy-path (seed 1001):")


def test_bundled_name_accepts_the_yaml_suffix(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "happy-path.yaml")
    assert (code, out) == (0, "happy-path.yaml: ok\n")


def test_unknown_name_lists_the_bundled_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "happy-pth")
    assert code == 1
    # No fake `:1:1` (there is no file to point into), and the nearest name.
    assert out.startswith("happy-pth: no such file or bundled scenario; did you mean 'happy-path'? (bundled: ")
    code, out, _ = run(capsys, "validate", "barge_in")
    assert out.startswith("barge_in: no such file or bundled scenario; did you mean 'barge-in'? (bundled: ")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["play"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_validate_accepts_folders_as_lint_and_run_do(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text((bundled_dir() / "happy-path.yaml").read_text())
    (tmp_path / "b.yml").write_text((bundled_dir() / "barge-in.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not a scenario")
    (tmp_path / "empty").mkdir()
    code, out, _ = run(capsys, "validate", str(tmp_path))
    assert (code, out) == (0, f"{tmp_path / 'a.yaml'}: ok\n{tmp_path / 'b.yml'}: ok\n")
    code, out, _ = run(capsys, "validate", str(tmp_path / "empty"))
    assert (code, out) == (1, f"{tmp_path / 'empty'}: no scenario files (*.yaml, *.yml) in this folder\n")


# ---------------------------------------------------------------------------------------------
# habits users bring from other mocks: --version, list, -k/-x, trigger, help everywhere


def _parsers(parser: Any, path: str = "mockvapi") -> list[tuple[str, Any]]:
    import argparse

    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                found += _parsers(subparser, f"{path} {name}")
    return found


def test_every_option_of_every_subcommand_has_help_that_shows_its_default() -> None:
    import argparse

    parsers = _parsers(cli.build_parser())
    assert len(parsers) > 10
    missing, silent = [], []
    for path, parser in parsers:
        formatter = parser.formatter_class(prog=path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction):
                continue
            name = "/".join(action.option_strings) or action.dest
            if not action.help or action.help is argparse.SUPPRESS:
                if action.help is not argparse.SUPPRESS:
                    missing.append(f"{path} {name}")
                continue
            text = formatter._get_help_string(action)
            valued = action.option_strings and action.default not in (None, False, [], "")
            if valued and "default" not in text:
                silent.append(f"{path} {name}")
    assert missing == [], f"options without help: {missing}"
    assert silent == [], f"options whose help does not show the default: {silent}"


def test_serve_help_shows_defaults_and_the_readme_says_what_the_clock_default_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ("address to listen on; keep it on loopback (127.0.0.1) unless you mean otherwise "
            "(default: 127.0.0.1)") in text
    assert "(default: 8000)" in text and "/_mockvapi/clock/advance (default: real)" in text
    assert cli.build_parser().parse_args(["serve"]).clock == "real"
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert "by default, in virtual time" not in readme
    assert "`mockvapi serve` keeps the real clock by default" in readme


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from mockvapi import __version__

    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"mockvapi {__version__}\n"


def test_list_names_each_bundled_scenario_with_its_description_and_features(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    names = [line.split()[0] for line in lines[::2]]
    assert names == sorted(p.stem for p in bundled_paths())
    width = len(max(names, key=len))
    assert lines[2:4] == [
        f"{'barge-in':<{width}}  A caller phones a dental clinic to move an appointment.",
        f"{'':<{width}}  exercises: inboundPhoneCall, user-interrupted, ends customer-ended-call",
    ]
    features = dict(zip(names, lines[1::2], strict=True))
    assert "tool-calls, hang, tool-calls-result" in features["slow-tool-hang"]
    assert "assistant-request" in features["inbound-assistant-request"]
    assert "tool error reply" in features["tool-error"] and "ends voicemail" in features["outbound-voicemail"]


def test_the_parser_every_command_builds_leaves_the_qa_importer_and_report_writers_unimported() -> None:
    # `mockvapi serve` builds the whole parser before it listens (issue 17: spawn to first answer
    # < 0.5 s); the call importer and the report writers were 45 ms of it.
    loaded = imported_after("import mockvapi.cli; mockvapi.cli.build_parser()",
                            ("mockvapi.qa.importer", "mockvapi.qa.report_html", "mockvapi.qa.report_junit"))
    assert loaded == []
