"""README "Checking messages against the spec": a fixture payload and a file of webhook bodies, checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mockvapi.conformance

TOOL_CALLS = {"message": {"type": "tool-calls", "toolWithToolCallList": [], "toolCallList": [
    {"id": "call_1", "type": "function", "function": {"name": "book", "arguments": {"day": "Tuesday"}}},
]}}


def test_a_fixture_payload_against_the_spec() -> None:
    problems = mockvapi.conformance.check(TOOL_CALLS, side="server", profile="strict")
    assert [str(p) for p in problems] == [
        "$.toolCallList[0].function.arguments: expected type string, found an object (ToolCallFunction)",
    ]
    assert problems[0].path == "$.toolCallList[0].function.arguments"
    assert problems[0].schema == "ToolCallFunction"
    # Live Vapi sends the arguments as an object: the realistic profile accepts it.
    assert mockvapi.conformance.check(TOOL_CALLS, side="server", profile="realistic") == []


HOOKS_JSONL = """\
{"message": {"type": "status-update", "status": "in-progress"}}
{"message": {"type": "hang", "timestap": 1}}
"""

OUTPUT = """\
hooks.jsonl:2: hang: $.timestap: expected no such field (did you mean "timestamp"?), found integer 1 (ServerMessageHang)
1 passed, 1 failed
"""


def test_the_conform_command(tmp_path: Path) -> None:
    (tmp_path / "hooks.jsonl").write_text(HOOKS_JSONL, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mockvapi", "conform", "hooks.jsonl"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (1, OUTPUT, "")
