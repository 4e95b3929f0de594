"""`mockvapi run --to URL` sets the calls' default server only: a tool with its own server.url keeps it,
and a secret travels with the server block it is set on (with or without a url of its own)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mockvapi.cli import main
from mockvapi.qa.overrides import load_scenario, parse_override

Seen = list[tuple[str, str | None, str | None]]  # (message type, tool name, X-Vapi-Secret)


@contextmanager
def recorder() -> Iterator[tuple[str, Seen]]:
    """A loopback webhook (port 0) that records each message and answers tool-calls."""
    seen: Seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["message"]
            tool = None
            reply: dict[str, Any] = {}
            if message["type"] == "tool-calls":
                (call,) = message["toolCallList"]
                tool = call["function"]["name"]
                reply = {"results": [{"toolCallId": call["id"], "name": tool, "result": "ok"}]}
            seen.append((message["type"], tool, self.headers.get("X-Vapi-Secret")))
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


SCENARIO = """\
version: 1
name: servers
call:
  type: webCall
assistant:
  server: {{secret: assistant-secret}}
  serverMessages: [tool-calls, status-update, end-of-call-report]
  tools:
    - name: lookup
      server: {{url: "{tools_url}", secret: tools-secret}}
    - name: note
      server: {{secret: note-secret}}
steps:
  - user: "Hi"
  - tool: {{name: lookup, result: "ok"}}
  - tool: {{name: note, result: "ok"}}
  - assistant: "Done."
"""


@pytest.fixture
def servers() -> Iterator[tuple[str, Seen, str, Seen]]:
    with recorder() as (default_url, default_seen), recorder() as (tools_url, tools_seen):
        yield default_url, default_seen, tools_url, tools_seen


def test_to_sets_the_default_server_and_secrets_travel_with_their_servers(
    servers: tuple[str, Seen, str, Seen], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default_url, default_seen, tools_url, tools_seen = servers
    file = tmp_path / "servers.yaml"
    file.write_text(SCENARIO.format(tools_url=tools_url), encoding="utf-8")
    code = main(["run", str(file), "--to", default_url, "-q"])
    assert code == 0, capsys.readouterr().out
    # The tool with its own server keeps it, with its own secret.
    assert tools_seen == [("tool-calls", "lookup", "tools-secret")]
    # A tool server block without a url goes to --to, with its secret; the call's own messages carry
    # the assistant server's secret.
    assert ("tool-calls", "note", "note-secret") in default_seen
    assert {(t, s) for t, tool, s in default_seen if tool is None} == {
        ("status-update", "assistant-secret"), ("end-of-call-report", "assistant-secret")}


def test_set_still_changes_a_tools_server(servers: tuple[str, Seen, str, Seen], tmp_path: Path) -> None:
    default_url, default_seen, tools_url, tools_seen = servers
    file = tmp_path / "servers.yaml"
    file.write_text(SCENARIO.format(tools_url=tools_url), encoding="utf-8")
    code = main(["run", str(file), "--to", default_url, "-q", "--set", f"assistant.tools.0.server.url={default_url}"])
    assert code == 0
    assert tools_seen == []
    assert ("tool-calls", "lookup", "tools-secret") in default_seen


def test_the_default_server_keeps_the_rest_of_its_block(tmp_path: Path) -> None:
    file = tmp_path / "servers.yaml"
    file.write_text(SCENARIO.format(tools_url="http://127.0.0.1:9/tools"), encoding="utf-8")
    loaded = load_scenario(file, [parse_override("assistant.server.timeoutSeconds=5")],
                           default_server="http://127.0.0.1:8/hook")
    server = loaded.scenario.assistant.server
    assert server is not None
    assert (server.url, server.secret, server.timeoutSeconds) == ("http://127.0.0.1:8/hook", "assistant-secret", 5)
    lookup, note = loaded.scenario.assistant.tools
    assert lookup.server is not None and lookup.server.url == "http://127.0.0.1:9/tools"
    assert note.server is not None
    assert (note.server.url, note.server.secret) == ("http://127.0.0.1:8/hook", "note-secret")
