"""Nested request values are checked against the spec's DTOs (mockvapi/server/nested.py): an invalid
voice, model, fallbackDestination, customer... is Vapi's 400 with class-validator messages, nothing is
stored or echoed; realistic valid bodies still pass (and, through the `http` fixture, their echo
conforms to the spec's response schema).

Every request body of the other server tests and of the SDK tests (test_sdk.py, test_e2e_sdk.py)
passes too: those tests would fail on a 400.
"""

from __future__ import annotations

import copy
import importlib.util
from typing import Any

import httpx
import pytest

from mockvapi.server.nested import RequestSchemas, request_schemas

from .conftest import REPO, SHARED

VOICE_PROVIDERS = (
    "azure, cartesia, custom-voice, deepgram, 11labs, hume, lmnt, neuphonic, openai, playht, wellsaid, "
    "rime-ai, smallest-ai, tavus, vapi, sesame, inworld, minimax, xai, microsoft"
)

# What users paste from the dashboard or the docs: every nested DTO the mock does not run.
ASSISTANT: dict[str, Any] = {
    "name": "Riley",
    "firstMessage": "Hi, this is Riley from Wellness Partners. How can I help?",
    "model": {
        "provider": "openai",
        "model": "gpt-4o",
        "temperature": 0.7,
        "maxTokens": 250,
        "messages": [{"role": "system", "content": "You are Riley, a friendly scheduling assistant."}],
        "tools": [
            {
                "type": "function",
                "async": False,
                "function": {
                    "name": "check_availability",
                    "description": "Check open slots on a date",
                    "parameters": {
                        "type": "object",
                        "properties": {"date": {"type": "string", "description": "ISO date"}},
                        "required": ["date"],
                        "additionalProperties": False,  # OpenAI strict mode; let through (gen_request_schemas.OPEN)
                    },
                },
                "server": {"url": "https://example.com/tools", "timeoutSeconds": 20},
                "messages": [{"type": "request-start", "content": "One moment while I check."}],
            },
            {"type": "endCall"},
            {"type": "transferCall", "destinations": [{"type": "number", "number": "+15551234567"}]},
        ],
    },
    "voice": {"provider": "11labs", "voiceId": "21m00Tcm4TlvDq8ikWAM", "stability": 0.5, "similarityBoost": 0.75},
    "transcriber": {"provider": "deepgram", "model": "nova-2", "language": "en-US", "keywords": ["Riley:2"]},
    "serverMessages": ["end-of-call-report", "status-update", "tool-calls", "transcript", "hang"],
    "clientMessages": ["transcript", "hang", "function-call", "speech-update", "conversation-update"],
    "server": {
        "url": "https://example.com/webhook",
        "timeoutSeconds": 20,
        "headers": {"X-Env": "staging"},
        "backoffPlan": {"type": "exponential", "maxRetries": 3, "baseDelaySeconds": 1},
    },
    "endCallPhrases": ["goodbye", "talk to you soon"],
    "maxDurationSeconds": 600,
    "backgroundSound": "office",
    "voicemailDetection": {"provider": "vapi"},
    "metadata": {"team": "scheduling", "version": 3},
    "analysisPlan": {"summaryPlan": {"enabled": True}, "successEvaluationPlan": {"rubric": "PassFail"}},
    "artifactPlan": {"recordingEnabled": True},
    "startSpeakingPlan": {"waitSeconds": 0.4, "smartEndpointingPlan": {"provider": "livekit"}},
    "stopSpeakingPlan": {"numWords": 0, "voiceSeconds": 0.2, "backoffSeconds": 1},
    "monitorPlan": {"listenEnabled": True, "controlEnabled": True},
    "hooks": [
        {
            "on": "customer.speech.timeout",
            "options": {"timeoutSeconds": 10},
            "do": [{"type": "say", "exact": "Are you still there?"}],
        }
    ],
}


async def _messages(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    messages: list[str] = response.json()["message"]
    return messages


# -- invalid nested values: 400, every message, nothing stored ---------------------------------------


async def test_assistant_nested_values_are_checked(http: httpx.AsyncClient) -> None:
    body = {
        "model": {"provider": "openai", "model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]},
        "voice": {"provider": "11labs", "voiceId": 5, "foo": 1},
        "serverMessages": ["hang", "nope"],
        "server": {"url": "https://example.com", "backoffPlan": {"type": "sometimes", "maxRetries": 3}},
    }
    assert await _messages(await http.post("/assistant", json=body)) == [
        "model.messages.0.role must be one of the following values: assistant, function, user, system, tool",
        "property voice.foo should not exist",
        "voice.voiceId must be a string",
        "each value in serverMessages must be one of the following values: "
        + ", ".join(request_schemas().schemas["CreateAssistantDTO"]["properties"]["serverMessages"]["items"]["enum"]),
        "server.backoffPlan.type must be one of the following values: fixed, exponential",
        "server.backoffPlan.baseDelaySeconds should not be empty",
        "server.backoffPlan.baseDelaySeconds must be a number conforming to the specified constraints",
    ]
    assert (await http.get("/assistant")).json() == []


async def test_unknown_union_member_names_the_choices(http: httpx.AsyncClient) -> None:
    body = {"voice": {"provider": "nope"}, "voicemailDetection": "on", "transcriber": "deepgram"}
    assert await _messages(await http.post("/assistant", json=body)) == [
        "transcriber must be an object",
        f"voice.provider must be one of the following values: {VOICE_PROVIDERS}",
        "voicemailDetection must be one of the following values: off",
    ]


async def test_assistant_update_checks_nested_values(http: httpx.AsyncClient) -> None:
    created = (await http.post("/assistant", json={"name": "Riley"})).json()
    body = {
        "model": {
            "provider": "openai",
            "model": "gpt-4o",
            "tools": [{"type": "function", "function": {"name": "a b"}}],
        },
        "hooks": [{"on": "call.ending", "do": [{"type": "dance"}]}],
    }
    assert await _messages(await http.patch(f"/assistant/{created['id']}", json=body)) == [
        "model.tools.0.function.name must match /^[a-zA-Z0-9_-]{1,64}$/ regular expression",
        "hooks.0.do.0.type must be one of the following values: tool, message.add",
    ]
    assert (await http.get(f"/assistant/{created['id']}")).json() == created


async def test_phone_number_fallback_destination_is_checked(http: httpx.AsyncClient) -> None:
    twilio = {"provider": "twilio", "number": "+15550001111", "twilioAccountSid": "AC1"}
    bad_number = {**twilio, "fallbackDestination": {"type": "number", "number": 5}}
    assert await _messages(await http.post("/phone-number", json=bad_number)) == [
        "fallbackDestination.number must be a string"
    ]
    bad_type = {"provider": "vapi", "fallbackDestination": {"type": "carrier-pigeon"}}
    assert await _messages(await http.post("/phone-number", json=bad_type)) == [
        "fallbackDestination.type must be one of the following values: number, sip"
    ]
    assert (await http.get("/phone-number")).json() == []

    number = (await http.post("/phone-number", json={"provider": "vapi"})).json()
    change = {"fallbackDestination": {"type": "sip", "extra": True}, "hooks": [{"on": "call.ringing", "do": []}]}
    assert await _messages(await http.patch(f"/phone-number/{number['id']}", json=change)) == [
        "property fallbackDestination.extra should not exist",
        "fallbackDestination.sipUri should not be empty",
        "fallbackDestination.sipUri must be a string",
    ]


async def test_call_nested_values_are_checked(http: httpx.AsyncClient) -> None:
    body = {
        "assistant": {"voice": {"provider": "openai", "voiceId": "alloy", "speed": 9}},
        "transport": {"provider": "vapi.websocket", "audioFormat": {"format": "mp3", "sampleRate": -1}},
        "customer": {"number": "+15550100", "assistantOverrides": {"voice": {"provider": "x"}}},
    }
    assert await _messages(await http.post("/call", json=body)) == [
        "transport.audioFormat.sampleRate must not be less than 0",
        "transport.audioFormat.format must be one of the following values: pcm_s16le, mulaw",
        "assistant.voice.speed must not be greater than 4",
        f"customer.assistantOverrides.voice.provider must be one of the following values: {VOICE_PROVIDERS}",
    ]
    customers = {
        "assistantId": "a",
        "customers": [{"number": "+15550100", "assistantOverrides": {"maxDurationSeconds": 1}}],
    }
    assert await _messages(await http.post("/call", json=customers)) == [
        "customers.0.assistantOverrides.maxDurationSeconds must not be less than 10"
    ]
    assert (await http.get("/call")).json() == []


async def test_web_call_nested_values_are_checked(http: httpx.AsyncClient) -> None:
    body = {
        "assistantOverrides": {"variableValues": {"a": 1}, "firstMessage": 3},
        "squad": {"members": [{"assistant": {"name": 5}}]},
    }
    assert await _messages(await http.post("/call/web", json=body)) == [
        "assistantOverrides.firstMessage must be a string",
        "squad.members.0.assistant.name must be a string",
    ]


# -- realistic valid bodies pass, and their echo conforms to the spec (the `http` fixture checks) -----


async def test_realistic_assistant_passes_and_round_trips(http: httpx.AsyncClient) -> None:
    response = await http.post("/assistant", json=ASSISTANT)
    assert response.status_code == 201, response.text
    created = response.json()
    assert {k: created[k] for k in ASSISTANT} == ASSISTANT
    voice = {"provider": "cartesia", "voiceId": "a0e99841-438c-4a64-b679-ae501e7d6091", "model": "sonic-2"}
    patched = await http.patch(f"/assistant/{created['id']}", json={"voice": voice, "voicemailDetection": "off"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["voice"] == voice


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "vapi", "fallbackDestination": {"type": "number", "number": "+15551234567", "message": "One sec"}},
        {
            "provider": "vapi",
            "sipUri": "sip:desk@example.sip.vapi.ai",
            "fallbackDestination": {"type": "sip", "sipUri": "sip:a@b.c"},
        },
        {
            "provider": "twilio",
            "number": "+15550001111",
            "twilioAccountSid": "AC1",
            "twilioAuthToken": "secret",
            "server": {"url": "https://example.com/hook"},
            "hooks": [{"on": "call.ringing", "do": [{"type": "say", "exact": "Please hold"}]}],
        },
    ],
    ids=["fallback-number", "fallback-sip", "twilio-hooks"],
)
async def test_realistic_phone_numbers_pass(http: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await http.post("/phone-number", json=body)
    assert response.status_code == 201, response.text


async def test_realistic_calls_pass(http: httpx.AsyncClient) -> None:
    assistant = (await http.post("/assistant", json=ASSISTANT)).json()
    number = (await http.post("/phone-number", json={"provider": "vapi"})).json()
    overrides = {
        "variableValues": {"name": "Ada"},
        "firstMessage": "Hi {{name}}",
        "voice": {"provider": "openai", "voiceId": "alloy"},
    }
    bodies: list[tuple[str, dict[str, Any]]] = [
        (
            "/call",
            {
                "assistantId": assistant["id"],
                "transport": {
                    "provider": "vapi.websocket",
                    "audioFormat": {"format": "mulaw", "container": "raw", "sampleRate": 8000},
                },
            },
        ),
        (
            "/call",
            {
                "assistant": copy.deepcopy(ASSISTANT),
                "phoneNumberId": number["id"],
                "customer": {"number": "+15559998888", "name": "Ada"},
            },
        ),
        (
            "/call",
            {
                "assistantId": assistant["id"],
                "phoneNumberId": number["id"],
                "customers": [{"number": "+15559998888", "assistantOverrides": overrides}],
            },
        ),
        ("/call/web", {"assistantId": assistant["id"], "assistantOverrides": overrides}),
        (
            "/call/web",
            {
                "squad": {
                    "members": [
                        {
                            "assistantId": assistant["id"],
                            "assistantDestinations": [{"type": "assistant", "assistantName": "Other"}],
                        }
                    ]
                }
            },
        ),
    ]
    for path, body in bodies:
        response = await http.post(path, json=body)
        assert response.status_code == 201, (path, response.text)


# -- the checker on hand-made schemas -----------------------------------------------------------------

TINY = RequestSchemas(
    {
        "schemas": {
            "Thing": {
                "type": "object",
                "properties": {
                    "count": {"type": "integer", "minimum": 1},
                    "when": {"type": "string", "format": "date-time"},
                    "id": {"type": "string", "format": "uuid"},
                    "url": {"type": "string", "format": "uri"},
                    "note": {"type": "string", "nullable": True, "maxLength": 3},
                    "tags": {"type": "array", "items": {"type": "string", "minLength": 2}},
                    "map": {"type": "object", "additionalProperties": {"type": "number"}},
                    "self": {"$ref": "Thing"},
                },
                "required": ["count"],
            },
            "Pet": {
                "anyOf": [{"$ref": "Cat"}, {"$ref": "Dog"}, {"$ref": "Other"}],
                "x-discriminator": {"property": "kind", "mapping": {"cat": [0], "dog": [1]}, "default": [2]},
            },
            "Cat": {
                "type": "object",
                "properties": {"kind": {"type": "string", "enum": ["cat"]}, "lives": {"type": "number"}},
            },
            "Dog": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["dog"]}}},
            "Other": {"type": "object", "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}},
        }
    }
)


def test_checker_keywords() -> None:
    thing = {"$ref": "Thing"}
    good = {
        "count": 2.0,
        "when": "2026-01-01T00:00:00.000Z",
        "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "url": "https://example.com/a",
        "note": None,
        "tags": ["ab"],
        "map": {"a": 1},
        "self": {"count": 1},
    }
    assert TINY.errors(good, thing, "x") == []
    bad = {
        "count": 0.5,
        "when": "yesterday",
        "id": "nope",
        "url": "example.com",
        "note": "long",
        "tags": ["a", "b", 3],
        "map": {"a": "1"},
        "self": {},
        "zzz": 1,
    }
    assert TINY.errors(bad, thing, "x") == [
        "property x.zzz should not exist",
        "x.count must be an integer number",
        "x.when must be a valid ISO 8601 date string",
        "x.id must be a UUID",
        "x.url must be a URL address",
        "x.note must be shorter than or equal to 3 characters",
        "each value in x.tags must be longer than or equal to 2 characters",  # once, as @MinLength({each})
        "each value in x.tags must be a string",
        "x.map.a must be a number conforming to the specified constraints",
        "x.self.count should not be empty",
        "x.self.count must be an integer number",
    ]
    assert TINY.errors(True, {"type": "number"}, "n") == ["n must be a number conforming to the specified constraints"]
    assert TINY.errors(float("nan"), {"type": "number"}, "n") == [
        "n must be a number conforming to the specified constraints"
    ]


def test_checker_unions_pick_their_member_by_discriminator() -> None:
    pet = {"$ref": "Pet"}
    assert TINY.errors({"kind": "cat", "lives": 9}, pet, "p") == []
    assert TINY.errors({"kind": "cat", "lives": "9"}, pet, "p") == [
        "p.lives must be a number conforming to the specified constraints"
    ]
    assert TINY.errors({"kind": "dog", "lives": 1}, pet, "p") == ["property p.lives should not exist"]
    assert TINY.errors({"kind": "ferret", "name": "Bo"}, pet, "p") == []  # the default member takes the rest
    assert TINY.errors("cat", pet, "p") == ["p must be an object"]
    plain = {"anyOf": [{"type": "string", "enum": ["off"]}, {"type": "number", "maximum": 3}]}
    assert TINY.errors(9, plain, "v") == ["v must not be greater than 3"]  # the member with fewest problems
    assert TINY.errors("on", plain, "v") == ["v must be one of the following values: off"]


def test_shipped_schemas_are_the_spec_normalised() -> None:
    schemas = request_schemas().schemas
    audio = schemas["AudioFormat"]["properties"]["format"]
    assert audio == {"type": "string", "enum": ["pcm_s16le", "mulaw"]}  # spec says type object
    messages = schemas["CreateAssistantDTO"]["properties"]["serverMessages"]
    assert "enum" not in messages and "enum" in messages["items"]  # spec puts the enum on the array
    assert all("oneOf" not in str(key) for key in schemas)
    voice = schemas["CreateAssistantDTO"]["properties"]["voice"]
    assert voice["x-discriminator"]["property"] == "provider"
    assert repr(request_schemas()).startswith("RequestSchemas(source='openapi.json")


def test_shipped_schemas_are_up_to_date_with_the_spec() -> None:
    if not (SHARED / "openapi.json").is_file():
        pytest.skip(f"official spec not available at {SHARED}/openapi.json")
    spec = importlib.util.spec_from_file_location("gen_request_schemas", REPO / "tools" / "gen_request_schemas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = (REPO / "mockvapi" / "models" / "request_schemas.json").read_text(encoding="utf-8")
    assert module.render() == shipped, "run tools/gen_request_schemas.py"
