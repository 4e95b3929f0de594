"""`mockvapi.conformance.check`: each kind of violation, in the exact words a user reads."""

from __future__ import annotations

from typing import Any

import pytest

from mockvapi.conformance import Violation, check, check_against, message_types

CALL = {"id": "c1", "orgId": "o1", "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
        "type": "webCall"}
REPORT = {"type": "end-of-call-report", "endedReason": "customer-ended-call", "artifact": {}, "analysis": {}}


def texts(message: object, **options: Any) -> list[str]:
    return [str(v) for v in check(message, **options)]


# Hand-made invalid messages, one kind of mistake each, with the exact text `check` gives.
CASES: list[tuple[str, object, dict[str, Any], list[str]]] = [
    ("missing required field", {"type": "end-of-call-report", "endedReason": "customer-ended-call", "analysis": {}},
     {}, ["$.artifact: expected a required field, found nothing (ServerMessageEndOfCallReport)"]),
    ("wrong type", {"type": "hang", "timestamp": "now"},
     {}, ['$.timestamp: expected type number, found string "now" (ServerMessageHang)']),
    ("bad enum", {"type": "status-update", "status": "queud"},
     {}, ['$.status: expected one of "scheduled", "queued", "ringing", "in-progress", "forwarding", "ended", '
          '"not-found", "deletion-failed" (did you mean "queued"?), found "queud" (ServerMessageStatusUpdate)']),
    ("long enum, cut", {"type": "status-update", "status": "ended", "endedReason": "customer-ended-cal"},
     {}, ['$.endedReason: expected one of "call-start-error-neither-assistant-nor-server-set", '
          '"assistant-request-failed", "assistant-request-returned-error", '
          '"assistant-request-returned-unspeakable-error", "assistant-request-returned-invalid-assistant", ... '
          '(627 values) (did you mean "customer-ended-call"?), found "customer-ended-cal" '
          "(ServerMessageStatusUpdate)"]),
    ("unknown type", {"type": "pigeon"},
     {}, ['$.type: expected a server message type, found "pigeon" (ServerMessage)']),
    ("misspelt type", {"type": "end-of-call-reprt"},
     {}, ['$.type: expected a server message type (did you mean "end-of-call-report"?), found "end-of-call-reprt" '
          "(ServerMessage)"]),
    ("missing type", {"status": "ended"},
     {}, ["$.type: expected a required field, found nothing (ServerMessage)"]),
    ("type not a string", {"type": 7},
     {}, ["$.type: expected type string (a message type), found integer 7 (ServerMessage)"]),
    ("extra property where forbidden", {"type": "hang", "timestap": 1767225600000},
     {}, ['$.timestap: expected no such field (did you mean "timestamp"?), found integer 1767225600000 '
          "(ServerMessageHang)"]),
    ("legacy field in the strict profile", {"type": "conversation-update", "messagesOpenAIFormatted": [],
                                            "conversation": []},
     {}, ["$.conversation: expected no such field in the spec (live Vapi sends it: the realistic profile accepts "
          "it), found an array of 0 (ServerMessageConversationUpdate)"]),
    ("wrong nested type", {"type": "status-update", "status": "ended", "call": {**CALL, "cost": "cheap"}},
     {}, ['$.call.cost: expected type number, found string "cheap" (Call)']),
    ("bad nested enum", {"type": "status-update", "status": "ended", "call": {**CALL, "type": "pigeonCall"}},
     {}, ['$.call.type: expected one of "inboundPhoneCall", "outboundPhoneCall", "webCall", "vapi.websocketCall", '
          'found "pigeonCall" (Call)']),
    ("bad array item", {"type": "tool-calls", "toolWithToolCallList": [], "toolCallList": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"type": "function", "function": {"name": "g"}}]},
     {}, ["$.toolCallList[1].function.arguments: expected a required field, found nothing (ToolCallFunction)",
          "$.toolCallList[1].id: expected a required field, found nothing (ToolCall)"]),
    ("bad item of a list of objects", {"type": "conversation-update",
                                       "messagesOpenAIFormatted": [{"role": "robot", "content": "hi"}]},
     {}, ['$.messagesOpenAIFormatted[0].role: expected one of "assistant", "function", "user", "system", "tool", '
          'found "robot" (OpenAIMessage)']),
    ("null where not nullable", {"type": "speech-update", "status": "started", "role": "assistant", "turn": None},
     {}, ["$.turn: expected type number, found null (ServerMessageSpeechUpdate)"]),
    ("wrong side", REPORT,
     {"side": "client"}, ['$.type: expected a client message type, found "end-of-call-report", a server message '
                          "(check it with side='server') (ClientMessage)"]),
    ("wrong side, the other way", {"type": "tool-calls-result", "toolCallResult": {}},
     {}, ['$.type: expected a server message type, found "tool-calls-result", a client message '
          "(check it with side='client') (ServerMessage)"]),
    ("non-object", [1, 2],
     {}, ["$: expected an object (a Vapi message), found an array of 2 (ServerMessage)"]),
    ("a bare string", "hang",
     {}, ['$: expected an object (a Vapi message), found string "hang" (ServerMessage)']),
    ("no union member fits", {"type": "hang", "phoneNumber": 5},
     {}, ["$.phoneNumber: expected one of: CreateByoPhoneNumberDTO, CreateTwilioPhoneNumberDTO, "
          "CreateVonagePhoneNumberDTO, CreateVapiPhoneNumberDTO, CreateTelnyxPhoneNumberDTO, found integer 5 "
          "(ServerMessageHang)"]),
    ("the union member its provider names", {"type": "hang", "phoneNumber": {"provider": "vonage", "number": "+1555"}},
     {}, ["$.phoneNumber.credentialId: expected a required field, found nothing (CreateVonagePhoneNumberDTO)"]),
    ("a member no union member has", {"type": "hang", "phoneNumber": {"provider": "twilo"}},
     {}, ['$.phoneNumber.provider: expected one of "byo-phone-number", "twilio", "vonage", "vapi", "telnyx" '
          '(did you mean "twilio"?), found "twilo" (ServerMessageHang)']),
    ("the field choosing the union member is missing", {"type": "hang", "assistant": {"voice": {}}},
     {}, ["$.assistant.voice.provider: expected a required field, found nothing (CreateAssistantDTO)"]),
    ("the member the spec's discriminator names", {"type": "hang", "assistant": {"voice": {"provider": "vapi"}}},
     {}, ["$.assistant.voice.voiceId: expected a required field, found nothing (VapiVoice)"]),
    ("a choosing field of the wrong type", {"type": "hang", "assistant": {"credentials": [{"provider": ["x"]}]}},
     {}, ['$.assistant.credentials[0].provider: expected one of "anthropic", "anthropic-bedrock", "anyscale", '
          '"assembly-ai", "azure", ... (57 values), found an array of 1 (CreateAssistantDTO)']),
    ("pattern", {"type": "hang", "assistant": {"model": {"provider": "openai", "model": "gpt-4o", "tools": [
        {"type": "function", "function": {"name": "bad name!"}}]}}},
     {}, ['$.assistant.model.tools[0].function.name: expected a match for /^[a-zA-Z0-9_-]{1,64}$/, '
          'found "bad name!" (OpenAIFunction)']),
    ("too long", {"type": "hang", "assistant": {"name": "x" * 41}},
     {}, ['$.assistant.name: expected at most 40 characters, found "' + "x" * 41 + '" (CreateAssistantDTO)']),
    ("too small", {"type": "hang", "assistant": {"maxDurationSeconds": 1}},
     {}, ["$.assistant.maxDurationSeconds: expected at least 10, found integer 1 (CreateAssistantDTO)"]),
    ("model-output as a string is not the spec", {"type": "model-output", "output": "Sure"},
     {}, ['$.output: expected type object, found string "Sure" (ServerMessageModelOutput)']),
]


@pytest.mark.parametrize(("message", "options", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_kind_of_violation_reads_exactly(message: object, options: dict[str, Any], expected: list[str]) -> None:
    assert texts(message, **options) == expected


def test_violation_is_a_plain_readable_value() -> None:
    (violation,) = check({"type": "hang", "timestamp": "now"})
    assert violation == Violation("$.timestamp", "type number", 'string "now"', "ServerMessageHang")
    assert repr(violation) == (
        "Violation(path='$.timestamp', expected='type number', found='string \"now\"', schema='ServerMessageHang')"
    )


def test_conforming_messages_give_no_violation() -> None:
    assert check({"type": "hang"}) == []
    assert check(REPORT) == []
    assert check({"type": "speech-update", "status": "started", "role": "assistant", "assistantVersion": None}) == []
    assert check({"type": "transcript", "role": "user", "transcriptType": "final", "transcript": "hi"},
                 side="client") == []


def test_webhook_bodies_and_play_lines_are_unwrapped() -> None:
    assert check({"message": {"type": "hang"}}) == []
    assert check({"at": 1.5, "message": {"type": "hang"}}) == []
    assert texts({"message": {"type": "hang", "timestamp": "now"}}) == [
        '$.timestamp: expected type number, found string "now" (ServerMessageHang)'
    ]


def test_realistic_profile_accepts_the_documented_deviations_of_live_traffic() -> None:
    live = [
        {"type": "model-output", "output": "Sure"},
        {"type": "model-output", "output": [{"id": "call_1", "type": "function",
                                             "function": {"name": "f", "arguments": "{}"}}]},
        {"type": "tool-calls", "toolWithToolCallList": [], "toolCalls": [{"id": "call_1"}], "toolCallList": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": {"date": "2026-01-06"}}}]},
        {"type": "conversation-update", "messagesOpenAIFormatted": [], "conversation": [{"role": "user"}]},
        {"type": "transcript", "role": "user", "transcriptType": "final", "transcript": "hi", "confidence": 0.93},
    ]
    for message in live:
        assert check(message, profile="realistic") == [], message
        assert check(message, profile="strict") != [], message
    # the deviations are bounded: a realistic `output` is still not a number, `confidence` not a string
    assert texts({"type": "model-output", "output": 5}, profile="realistic") == [
        "$.output: expected one of: object, string, array, found integer 5 (ServerMessageModelOutput)"
    ]
    assert texts({"type": "transcript", "role": "user", "transcriptType": "final", "transcript": "hi",
                  "confidence": "high"}, side="client", profile="realistic") == [
        '$.confidence: expected type number, found string "high" (ClientMessageTranscript)'
    ]


def test_types_sent_to_a_side_whose_union_lacks_them_use_the_other_schema() -> None:
    """The spec's clientMessages lists status-update (server schema only), serverMessages lists
    assistant.started (client schema only); on the server side it also carries `artifact`."""
    assert message_types("client")["status-update"] == "ServerMessageStatusUpdate"
    assert message_types("server")["assistant.started"] == "ClientMessageAssistantStarted"
    assert "end-of-call-report" not in message_types("client")
    started = {"type": "assistant.started", "newAssistant": {}, "artifact": {}}
    assert check(started, side="server") == []
    assert texts(started, side="client") == [
        "$.artifact: expected no such field, found an object (ClientMessageAssistantStarted)"
    ]
    assert check({"type": "status-update", "status": "ended"}, side="client") == []


def test_spec_bugs_do_not_reject_real_values() -> None:
    """Array-level enums, AudioFormat.format typed as an object, overlapping unions (see normalise)."""
    websocket_call = {**CALL, "type": "vapi.websocketCall", "transport": {
        "provider": "vapi.websocket", "audioFormat": {"format": "mulaw", "sampleRate": 8000, "container": "raw"}}}
    assert check({"type": "hang", "call": websocket_call}) == []
    assert check({"type": "hang", "assistant": {"serverMessages": ["end-of-call-report", "tool-calls"],
                                                "clientMessages": ["transcript"]}}) == []
    bot = {"role": "bot", "message": "Hi", "time": 1.0, "endTime": 2.0, "secondsFromStart": 0.5, "source": ""}
    assert check({"type": "conversation-update", "messagesOpenAIFormatted": [], "messages": [bot]}) == []
    # ... while the values those declarations allow are still checked
    assert texts({"type": "hang", "assistant": {"serverMessages": ["end-of-call-reprt"]}}) == [
        '$.assistant.serverMessages[0]: expected one of "assistant.started", "assistant.speechStarted", '
        '"conversation-update", "end-of-call-report", "function-call", ... (28 values) '
        '(did you mean "end-of-call-report"?), found "end-of-call-reprt" (CreateAssistantDTO)'
    ]


def test_check_against_a_named_or_inline_schema() -> None:
    assert check_against(CALL, "Call") == []
    assert [str(v) for v in check_against({**CALL, "id": 5}, "Call")] == [
        "$.id: expected type string, found integer 5 (Call)"
    ]
    listing = {"type": "array", "items": {"$ref": "#/components/schemas/Call"}}
    assert [str(v) for v in check_against([CALL, {**CALL, "status": "pigeon"}], listing)][0].startswith(
        '$[1].status: expected one of "scheduled", "queued"'
    )
    with pytest.raises(ValueError, match="no schema named 'Cal' in mockvapi's spec extract"):
        check_against(CALL, "Cal")


def test_bad_options_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="side must be 'server' or 'client', not 'browser'"):
        check({"type": "hang"}, side="browser")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"profile must be 'strict' or 'realistic', not 'spec' \(the checker's name "
                                         r"for the spec is 'strict'\)"):
        check({"type": "hang"}, profile="spec")  # type: ignore[arg-type]
