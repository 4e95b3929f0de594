"""What a live-transcript UI keeps for each Vapi call, fed by webhook or client messages.

The assistant's reply streams in as `model-output` tokens that share a `turnId`. When the caller
barges in, Vapi sends `user-interrupted` with that turnId: the unspoken rest of the turn will never
come, and what was already shown must go. The finished lines come from `conversation-update`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any


class LiveTranscript:
    """One call: finished lines, plus the assistant's words per turn as they stream in."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []  # (role, text), role "user" or "bot"
        self.turns: dict[str, str] = {}  # turnId -> text streamed so far
        self.interrupted: set[str] = set()

    def update(self, message: Mapping[str, Any]) -> None:
        kind = message["type"]
        turn = message.get("turnId", "")
        if kind == "model-output" and isinstance(message["output"], str) and turn not in self.interrupted:
            self.turns[turn] = self.turns.get(turn, "") + message["output"]
        elif kind == "user-interrupted":
            self.turns.pop(turn, None)  # the caller never heard the rest: drop the stale tokens
            self.interrupted.add(turn)
        elif kind == "conversation-update":
            self.lines = [(m["role"], m["message"]) for m in message["messages"] if m["role"] in ("user", "bot")]

    @property
    def live_text(self) -> str:
        """The assistant's latest turn still standing, as streamed so far."""
        return next(reversed(self.turns.values()), "")

    def render(self) -> str:
        return "\n".join(f"{'AI' if role == 'bot' else 'User'}: {text}" for role, text in self.lines)


Tool = Callable[..., Any]


class Dashboard:
    """The webhook's state: a LiveTranscript per call id, and the answers Vapi waits for."""

    def __init__(
        self,
        tools: Mapping[str, Tool] | None = None,
        assistant_id: str = "asst_front_desk",
        answers: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any]]] | None = None,
    ) -> None:
        self.calls: dict[str, LiveTranscript] = {}
        self.tools = dict(tools or {})
        self.assistant_id = assistant_id
        # Other requests the owner's server answers (knowledge-base-request, call.endpointing.request), by type.
        self.answers = dict(answers or {})

    def handle(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Take one server message; return the JSON reply body."""
        call_id = message.get("call", {}).get("id", "")
        self.calls.setdefault(call_id, LiveTranscript()).update(message)
        if message["type"] == "tool-calls":
            return {"results": [self.run_tool(call) for call in message["toolCallList"]]}
        if message["type"] == "assistant-request":
            return {"assistantId": self.assistant_id}
        answer = self.answers.get(message["type"])
        return answer(message) if answer is not None else {}

    def run_tool(self, call: Mapping[str, Any]) -> dict[str, Any]:
        name, arguments = call["function"]["name"], call["function"]["arguments"]
        if isinstance(arguments, str):
            arguments = json.loads(arguments or "{}")
        reply: dict[str, Any] = {"name": name, "toolCallId": call["id"]}
        try:
            if name not in self.tools:
                raise LookupError(f"no tool named {name!r}")
            result = self.tools[name](**arguments)
        except Exception as exc:  # the model hears the error instead of a result
            reply["error"] = str(exc)
        else:
            reply["result"] = result if isinstance(result, str) else json.dumps(result)  # one line
        return reply
