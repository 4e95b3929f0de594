"""A custom knowledge base (`model.knowledgeBase.provider: custom-knowledge-base`, the spec's
`CreateCustomKnowledgeBaseDTO`): before each answer the model gives, Vapi sends `knowledge-base-request`
with the conversation so far and waits for the reply (`ServerMessageResponseKnowledgeBaseRequest`).

- `documents` go to the model with the conversation: the scripted answer is what the model says given them,
  and its template can quote them (`{{ tools.knowledge_base.json.documents[0].content }}`).
- `message` (a `CustomMessage`, its `content`) skips the model: that text is spoken instead of the answer.
- A reply Vapi cannot use (an HTTP error, a timeout, documents or message of the wrong shape) is a recorded
  problem; the model answers without documents. The answer starts once the reply is in (at most the
  server's timeout).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

from mockvapi.engine.context import server_for, server_wire
from mockvapi.engine.events import Ask, Event, Reply, Waiting
from mockvapi.engine.state import CallState
from mockvapi.models.messages import KnowledgeBaseRequest
from mockvapi.scenario.schema import AssistantTurn

__all__ = ["KNOWLEDGE_NAME", "Knowledge"]

Steps = Generator[Event | Ask, Reply | Waiting | None, str | None]

#: The name templates read the last reply under (`tools.knowledge_base`).
KNOWLEDGE_NAME = "knowledge_base"
DEFAULT_TIMEOUT = 20.0


class Knowledge:
    def __init__(self, call: CallState) -> None:
        self.call = call

    def custom(self) -> bool:
        model = (self.call.context.assistant or {}).get("model")
        base = model.get("knowledgeBase") if isinstance(model, dict) else None
        return isinstance(base, dict) and base.get("provider") == "custom-knowledge-base"

    def server(self) -> dict[str, Any] | None:
        """The knowledge base's own server (with its secret), else the call's."""
        call = self.call
        base = call.scenario.assistant.knowledgeBase
        if base is not None and base.server is not None and base.server.url:
            return server_wire(base.server.model_dump(exclude_none=True))
        return server_for(call.scenario, call.servers, "")

    def before_answer(self, turn: AssistantTurn) -> Steps:
        """Ask the knowledge base; returns the custom message to speak instead of the answer, if any."""
        call = self.call
        at = call.cursor
        asked = call.emit(
            at,
            KnowledgeBaseRequest.model_construct(
                messages=tuple(call.rendered), messages_openai_formatted=tuple(call.openai)
            ),
        )
        yield from call.flush()
        server = self.server()
        timeout = float(server.get("timeoutSeconds", DEFAULT_TIMEOUT)) if server else DEFAULT_TIMEOUT
        scripted = self.scripted(turn)
        answer = yield Ask("knowledge-base-request", asked, timeout, None, scripted, server)
        reply = answer if isinstance(answer, Reply) else scripted
        latency = reply.latency if reply.scripted else max(reply.latency, scripted.latency)
        latency = min(latency, timeout)
        call.cursor = int(round(at + latency * 1000))
        call.catch_up(call.cursor)
        body = self.judge(reply, at)
        call.tool_results[KNOWLEDGE_NAME] = {"result": "", "json": body, "status": reply.status}
        message = body.get("message") if body else None
        return str(message["content"]) if isinstance(message, dict) and message.get("content") else None

    @staticmethod
    def scripted(turn: AssistantTurn) -> Reply:
        knowledge = turn.knowledge
        if knowledge is None:
            return Reply(200, {"documents": []}, 0.1, scripted=True)
        body: dict[str, Any] = {"documents": [d.model_dump() for d in knowledge.documents]}
        if knowledge.message:
            body["message"] = {"type": "custom-message", "content": knowledge.message}
        return Reply(200, body, knowledge.latency, scripted=True)

    def judge(self, reply: Reply, at_ms: float) -> dict[str, Any] | None:
        """The reply's body if Vapi can use it; otherwise a recorded problem and None."""
        detail = None
        body = reply.body
        if reply.error is not None:
            detail = f"no usable reply ({reply.error})"
        elif not reply.ok:
            detail = f"HTTP {reply.status}"
        elif not isinstance(body, dict):
            detail = f"the reply is not a JSON object: {body!r:.120}"
        else:
            documents = body.get("documents", [])
            message = body.get("message")
            if not isinstance(documents, list) or not all(_document(d) for d in documents):
                detail = "documents must be a list of {content: string, similarity: number}"
            elif message is not None and not (
                isinstance(message, dict) and message.get("type") == "custom-message"
                and isinstance(message.get("content", ""), str)
            ):
                detail = "message must be a CustomMessage {type: custom-message, content}"
        if detail is None:
            return dict(body)
        self.call.problem("knowledge-base-reply", f"{detail}; the model answers without documents", at_ms)
        return None


def _document(value: Any) -> bool:
    similarity = value.get("similarity") if isinstance(value, dict) else None
    return (
        isinstance(value, dict)
        and isinstance(value.get("content"), str)
        and isinstance(similarity, int | float)
        and not isinstance(similarity, bool)
        and math.isfinite(similarity)
    )
