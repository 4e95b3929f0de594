from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from mockvapi.cli import main, scenario_json_schema
from mockvapi.library import bundled_paths
from mockvapi.qa.lint import lint
from mockvapi.qa.scaffold import SCHEMA_FILE
from mockvapi.qa.schema import editor_schema
from mockvapi.scenario.loader import load_file
from mockvapi.scenario.schema import STEP_KINDS


def test_new_writes_a_scenario_that_validates_and_lints_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "Reschedule cleaning", "--dir", str(tmp_path)]) == 0
    path = tmp_path / "Reschedule-cleaning.yaml"
    assert f"created {path}" in capsys.readouterr().out
    text = path.read_text()
    assert text.startswith(f"# yaml-language-server: $schema=./{SCHEMA_FILE}\n")
    assert main(["validate", str(path)]) == 0
    assert lint(load_file(path)) == []
    # every kind of step is shown (transfer, which ends the call like `end`, as a comment)
    steps = yaml.safe_load(text)["steps"]
    kinds = {kind for step in steps for kind in STEP_KINDS if kind in step}
    assert kinds == set(STEP_KINDS) - {"transfer", "handoff"} and "# - transfer:" in text and "# - handoff:" in text
    assert any(
        "interrupted" in (step.get("assistant") or {}) for step in steps if isinstance(step.get("assistant"), dict)
    )
    assert "expect_reply:" in text and "expect:" in text


def test_the_schema_beside_it_accepts_the_scenario_and_every_bundled_one(tmp_path: Path) -> None:
    assert main(["new", "x", "--dir", str(tmp_path)]) == 0
    schema = json.loads((tmp_path / SCHEMA_FILE).read_text())
    assert schema == json.loads(json.dumps(editor_schema()))
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(yaml.safe_load((tmp_path / "x.yaml").read_text()))
    for path in bundled_paths():
        validator.validate(yaml.safe_load(path.read_text()))


def test_the_editor_schema_completes_vapi_enums_and_flags_typos() -> None:
    validator = jsonschema.Draft202012Validator(editor_schema())
    base = {"version": 1, "name": "x", "steps": [{"end": "voicemail"}, {"silence": "2s"}, {"user": "hi"}]}
    assert list(validator.iter_errors(base)) == []
    typo = {**base, "steps": [{"end": "voicemial"}]}
    assert list(validator.iter_errors(typo))
    defs = editor_schema()["$defs"]
    assert "customer-ended-call" in defs["End"]["properties"]["reason"]["enum"]
    assert "tool-calls" in defs["Assistant"]["properties"]["serverMessages"]["anyOf"][0]["items"]["enum"]
    # the plain `mockvapi schema` output is the base it extends
    assert set(scenario_json_schema()["$defs"]) == set(defs)


def test_new_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "x.yaml", "--dir", str(tmp_path), "--no-schema"]) == 0
    assert not (tmp_path / SCHEMA_FILE).exists()
    assert main(["new", "x", "--dir", str(tmp_path)]) == 1
    assert "already exists (use --force" in capsys.readouterr().err
    assert main(["new", "x", "--dir", str(tmp_path), "--force"]) == 0
