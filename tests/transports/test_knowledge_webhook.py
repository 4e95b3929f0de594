"""knowledge-base-request through a real webhook on 127.0.0.1 (port 0): the server's documents shape the
answer, its message replaces it, a bad reply is a recorded problem."""

from __future__ import annotations

from aiohttp import web

from mockvapi.conformance import check
from tests.engine.invariants import check_invariants
from tests.transports.test_webhook import Answer, Hook, Received, hook, play

__all__ = ["hook"]

SCENARIO = """
version: 1
name: kb-hook
seed: 9
call: {type: webCall}
assistant:
  firstMessage: "Library, hello."
  server: {url: "URL"}
  knowledgeBase: {provider: custom-knowledge-base}
steps:
  - user: "When do you open?"
  - assistant: "{{ tools.knowledge_base.json.documents[0].content }}"
  - end: customer-ended-call
"""


def answering(body: object, status: int = 200) -> Answer:
    async def answer(got: Received) -> web.StreamResponse | None:
        if got.type == "knowledge-base-request":
            return web.json_response(body, status=status)
        return None

    return answer


async def test_the_servers_documents_shape_the_answer(hook: Hook) -> None:
    hook.answer = answering({"documents": [{"content": "We open at nine.", "similarity": 0.8}]})
    played = await play(SCENARIO.replace("URL", hook.url("/kb")))
    assert played.bots()[-1] == "We open at nine."
    requests = [r.message for r in hook.received if r.type == "knowledge-base-request"]
    assert len(requests) == 1 and check(requests[0], "server", "strict") == []
    assert played.problems() == []
    assert check_invariants(played.timeline) == []


async def test_the_servers_message_is_spoken_instead(hook: Hook) -> None:
    hook.answer = answering({"message": {"type": "custom-message", "content": "Closed for a holiday today."}})
    played = await play(SCENARIO.replace("URL", hook.url("/kb")))
    assert played.bots()[-1] == "Closed for a holiday today."


async def test_a_bad_reply_is_a_problem_and_the_call_goes_on(hook: Hook) -> None:
    hook.answer = answering({"documents": "nine"})
    played = await play(SCENARIO.replace("URL", hook.url("/kb")))
    assert "knowledge-base-reply" in played.problems()
    assert played.timeline.ended_reason == "customer-ended-call"
