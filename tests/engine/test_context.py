"""CallContext.wants: who a message goes to, by side and subscription."""

from __future__ import annotations

from mockvapi.engine.context import CallContext
from mockvapi.models.messages import (
    AssistantRequest,
    ModelToken,
    SpeechUpdate,
    ToolCallsResult,
    Transcript,
    subscribed,
)


def test_wants_follows_the_subscription_also_when_it_is_replaced() -> None:
    # Answers are kept per message type while the subscription is the same tuple: a new one is asked afresh.
    context = CallContext({"id": "c"}, None, None, None, 0, server_messages=("speech-update",),
                          client_messages=("model-output",))
    token, speech = ModelToken("t", "hi"), SpeechUpdate(status="started", role="user")
    final = Transcript(role="user", transcript_type="final", transcript="hi")
    partial = Transcript(role="user", transcript_type="partial", transcript="h")
    for _ in range(2):  # asked, then answered from what was kept
        assert [context.wants(m, "client") for m in (token, speech, final, partial)] == [True, False, False, False]
        assert [context.wants(m, "server") for m in (token, speech, final, partial)] == [False, True, False, False]
    context.client_messages = ('transcript[transcriptType="final"]', "speech-update")
    context.server_messages = ("transcript", "model-output")
    assert [context.wants(m, "client") for m in (token, speech, final, partial)] == [False, True, True, False]
    assert [context.wants(m, "server") for m in (token, speech, final, partial)] == [True, False, True, True]
    # A message the side never carries, and one Vapi sends whatever the subscription says.
    assert not context.wants(ToolCallsResult(tool_call_result={}), "server")
    assert context.wants(AssistantRequest(), "server") == subscribed("assistant-request", (), "server") is True


def test_calls_with_equal_subscriptions_share_the_answers_kept() -> None:
    # A live call holds a reference to them, not a dict of its own (memory per live call).
    first, second = (CallContext({"id": c}, None, None, None, 0, client_messages=("model-output", "hang"))
                     for c in ("a", "b"))
    other = CallContext({"id": "c"}, None, None, None, 0, client_messages=("hang",))
    token = ModelToken("t", "hi")
    assert first.wants(token, "client") and second.wants(token, "client") and not other.wants(token, "client")
    assert first._client_answers is not None and second._client_answers is not None
    assert first._client_answers[1] is second._client_answers[1]
    assert other._client_answers is not None and other._client_answers[1] is not first._client_answers[1]


def test_a_subscription_with_an_unhashable_entry_is_still_answered() -> None:
    context = CallContext({"id": "c"}, None, None, None, 0,
                          client_messages=("model-output", {"type": "hang"}))  # type: ignore[arg-type]
    assert context.wants(ModelToken("t", "hi"), "client")
    assert not context.wants(SpeechUpdate(status="started", role="user"), "client")
