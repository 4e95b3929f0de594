"""Backend rules without HTTP: validation messages, call status transitions, lists, ids, and the
DTO field tables checked against the official spec (the extract mockvapi ships)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mockvapi.conformance.extract import schemas as spec_schemas
from mockvapi.errors import ApiError, BadRequest, NotFound
from mockvapi.server.backend import (
    ASSISTANT_FIELDS,
    CALL_STATUS_TRANSITIONS,
    CREATE_CALL_FIELDS,
    CREATE_PHONE_NUMBER_FIELDS,
    CREATE_WEB_CALL_FIELDS,
    CUSTOMER_FIELDS,
    SERVER_FIELDS,
    UPDATE_CALL_FIELDS,
    UPDATE_PHONE_NUMBER_FIELDS,
    Backend,
    Field,
    iso_from_ms,
    ms_from_iso,
)

from .conftest import T0, FakeClock

BASE = "http://127.0.0.1:1"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(clock: FakeClock) -> Backend:
    return Backend(seed=3, now_ms=clock)


def _messages(exc: pytest.ExceptionInfo[ApiError]) -> Any:
    return exc.value.body()["message"]


def test_timestamps_round_trip_with_milliseconds() -> None:
    assert iso_from_ms(T0 + 7) == "2026-01-01T00:00:00.007Z"
    assert ms_from_iso("2026-01-01T00:00:00.007Z") == T0 + 7
    assert ms_from_iso("2026-01-01T01:00:00+01:00") == T0
    assert ms_from_iso("2026-01-01T00:00:00") == T0  # naive counts as UTC


def test_ids_are_seeded_uuid4_and_reset_restarts_them(clock: FakeClock) -> None:
    one, two = Backend(seed=3, now_ms=clock), Backend(seed=3, now_ms=clock)
    first = one.create_assistant({})["id"]
    assert first == two.create_assistant({})["id"] and one.org_id == two.org_id
    assert first[14] == "4"  # uuid version 4
    assert Backend(seed=4, now_ms=clock).org_id != one.org_id
    one.reset()
    assert one.assistants == {} and one.create_assistant({})["id"] == first


def test_validation_collects_every_problem_in_class_validator_words(backend: Backend) -> None:
    with pytest.raises(BadRequest) as exc:
        backend.create_assistant(
            {
                "name": 3,
                "maxDurationSeconds": 5,
                "firstMessageMode": "shout",
                "endCallPhrases": ["ok", "x", 4],
                "server": {"url": "http://x", "timeoutSeconds": 301, "extra": 1},
                "metadata": [],
                "firstMessageInterruptionsEnabled": "yes",
                "unknown": True,
            }
        )
    assert _messages(exc) == [
        "property unknown should not exist",
        "firstMessageInterruptionsEnabled must be a boolean value",
        "firstMessageMode must be one of the following values: assistant-speaks-first, "
        "assistant-speaks-first-with-model-generated-message, assistant-waits-for-user",
        "maxDurationSeconds must not be less than 10",
        "name must be a string",
        "each value in endCallPhrases must be longer than or equal to 2 characters",
        "each value in endCallPhrases must be a string",
        "metadata must be an object",
        "property server.extra should not exist",
        "server.timeoutSeconds must not be greater than 300",
    ]


def test_nested_array_items_are_addressed_by_index(backend: Backend) -> None:
    with pytest.raises(BadRequest) as exc:
        backend.create_call(
            {"assistant": {}, "customers": [{"number": "+15550100"}, {"number": "1", "x": 1}]}, base_url=BASE
        )
    assert _messages(exc) == [
        "property customers.1.x should not exist",
        "customers.1.number must be longer than or equal to 3 characters",
    ]


def test_null_means_unset_on_create(backend: Backend) -> None:
    assistant = backend.create_assistant({"name": None, "firstMessage": "hi"})
    assert "name" not in assistant and assistant["firstMessage"] == "hi"


def test_inline_assistant_is_validated_too(backend: Backend) -> None:
    with pytest.raises(BadRequest) as exc:
        backend.create_call({"assistant": {"name": 1}}, base_url=BASE)
    assert _messages(exc) == ["assistant.name must be a string"]


def test_unknown_ids_raise_not_found(backend: Backend) -> None:
    for call in (backend.get_assistant, backend.get_phone_number, backend.get_call, backend.delete_call):
        with pytest.raises(NotFound):
            call("nope")


# -- calls and status transitions --------------------------------------------------------------------


def test_call_status_walks_the_transition_table(backend: Backend, clock: FakeClock) -> None:
    record = backend.create_call({"assistant": {}}, base_url=BASE).records[0]
    assert repr(record) == f"CallRecord(id={record.id!r}, type='webCall', status='queued')"
    clock.advance(1_000)
    record.apply({"status": "ringing"})
    record.apply({"status": "in-progress", "messages": [{"role": "bot", "message": "Hi"}]})
    record.apply({"status": "in-progress"})  # repeating the current status is a no-op
    record.apply({"status": "forwarding"})
    record.apply({"status": "in-progress"})
    clock.advance(1_000)
    record.apply({"status": "ended", "endedReason": "assistant-ended-call", "endedAt": "2026-01-01T00:00:09.000Z"})
    assert record.statuses == ["queued", "ringing", "in-progress", "forwarding", "in-progress", "ended"]
    assert record.data["startedAt"] == "2026-01-01T00:00:01.000Z"
    assert record.data["endedAt"] == "2026-01-01T00:00:09.000Z"  # given values win
    assert record.data["updatedAt"] == "2026-01-01T00:00:02.000Z"

    with pytest.raises(BadRequest, match="'ended' can't become 'in-progress'"):
        record.apply({"status": "in-progress", "cost": 1})
    assert "cost" not in record.data or record.data["cost"] == 0  # nothing applied on error
    with pytest.raises(BadRequest, match="unknown status"):
        record.apply({"status": "paused"})
    with pytest.raises(BadRequest, match="id cannot change"):
        record.apply({"id": "other"})


def test_transition_table_covers_every_status_in_the_spec() -> None:
    assert set(CALL_STATUS_TRANSITIONS) == {
        "scheduled", "queued", "ringing", "in-progress", "forwarding", "ended", "not-found", "deletion-failed"
    }  # fmt: skip
    assert all(nxt <= set(CALL_STATUS_TRANSITIONS) for nxt in CALL_STATUS_TRANSITIONS.values())
    assert CALL_STATUS_TRANSITIONS["ended"] == {"not-found", "deletion-failed"}


def test_records_hand_out_copies(backend: Backend) -> None:
    record = backend.create_call({"assistant": {}}, base_url=BASE).records[0]
    snapshot = record.to_json()
    snapshot["status"] = "ended"
    assert record.status == "queued"


def test_inbound_call_runs_the_numbers_assistant(backend: Backend) -> None:
    assistant = backend.create_assistant({"name": "Front desk"})
    number = backend.create_phone_number(
        {"provider": "twilio", "number": "+15550001111", "twilioAccountSid": "AC1", "assistantId": assistant["id"]}
    )
    record = backend.create_inbound_call(number["id"], base_url=BASE, customer={"number": "+15559998888"})
    assert record.type == "inboundPhoneCall" and record.assistant == assistant
    assert record.data["phoneCallProvider"] == "twilio" and record.data["assistantId"] == assistant["id"]
    assert record.data["customer"] == {"number": "+15559998888"}

    bare = backend.create_phone_number({"provider": "vapi"})
    with pytest.raises(BadRequest, match="Need Either"):
        backend.create_inbound_call(bare["id"], base_url=BASE)


def test_vapi_numbers_get_a_number_in_the_desired_area_code(backend: Backend) -> None:
    number = backend.create_phone_number({"provider": "vapi", "numberDesiredAreaCode": "415"})
    assert number["number"].startswith("+1415") and len(number["number"]) == 12
    assert "number" not in backend.create_phone_number({"provider": "vapi", "sipUri": "sip:a@b.c"})


def test_phone_number_update_keeps_its_provider(backend: Backend) -> None:
    number = backend.create_phone_number({"provider": "vapi"})
    with pytest.raises(BadRequest) as exc:
        backend.update_phone_number(number["id"], {"provider": "twilio"})
    assert _messages(exc) == ["provider must be one of the following values: vapi"]


# -- DTO tables against the official spec -----------------------------------------------------------

_KIND_OF_TYPE = {"string": "string", "number": "number", "boolean": "boolean", "object": "object", "array": "array"}


# Properties the mock accepts beyond the spec's DTO, each for a stated reason.
_EXTRA = {"CreateCallDTO": {"squadVersion"}}  # vapi-server-sdk 3.0.0 sends it

_TABLES: list[tuple[str, Mapping[str, Field]]] = [
    ("CreateAssistantDTO", ASSISTANT_FIELDS),
    ("UpdateAssistantDTO", ASSISTANT_FIELDS),
    ("CreateCallDTO", CREATE_CALL_FIELDS),
    ("CreateWebCallDTO", CREATE_WEB_CALL_FIELDS),
    ("UpdateCallDTO", UPDATE_CALL_FIELDS),
    ("CreateCustomerDTO", CUSTOMER_FIELDS),
    ("Server", SERVER_FIELDS),
    ("CreateByoPhoneNumberDTO", CREATE_PHONE_NUMBER_FIELDS["byo-phone-number"]),
    ("CreateTwilioPhoneNumberDTO", CREATE_PHONE_NUMBER_FIELDS["twilio"]),
    ("CreateVonagePhoneNumberDTO", CREATE_PHONE_NUMBER_FIELDS["vonage"]),
    ("CreateVapiPhoneNumberDTO", CREATE_PHONE_NUMBER_FIELDS["vapi"]),
    ("CreateTelnyxPhoneNumberDTO", CREATE_PHONE_NUMBER_FIELDS["telnyx"]),
    ("UpdateByoPhoneNumberDTO", UPDATE_PHONE_NUMBER_FIELDS["byo-phone-number"]),
    ("UpdateTwilioPhoneNumberDTO", UPDATE_PHONE_NUMBER_FIELDS["twilio"]),
    ("UpdateVonagePhoneNumberDTO", UPDATE_PHONE_NUMBER_FIELDS["vonage"]),
    ("UpdateVapiPhoneNumberDTO", UPDATE_PHONE_NUMBER_FIELDS["vapi"]),
    ("UpdateTelnyxPhoneNumberDTO", UPDATE_PHONE_NUMBER_FIELDS["telnyx"]),
]


@pytest.mark.parametrize(("dto", "table"), _TABLES, ids=[name for name, _ in _TABLES])
def test_dto_table_matches_the_spec(dto: str, table: Mapping[str, Field]) -> None:
    schema = spec_schemas()[dto]
    props: Mapping[str, Any] = schema["properties"]
    assert set(table) - _EXTRA.get(dto, set()) == set(props), "properties differ from the spec"
    assert {k for k, f in table.items() if f.required} == set(schema.get("required", []))
    for name, spec in props.items():
        field = table[name]
        kind = _KIND_OF_TYPE.get(spec.get("type", ""))
        if kind is not None and not (kind == "object" and "enum" in spec):
            assert field.kind == kind, name
        if "enum" in spec and spec.get("type") == "string":
            assert set(field.enum) == set(spec["enum"]), name
        assert field.max_length == spec.get("maxLength"), name
        assert field.min_length == spec.get("minLength"), name
        assert field.minimum == spec.get("minimum") and field.maximum == spec.get("maximum"), name


# -- squads -----------------------------------------------------------------------------------------


SQUAD_BODY = {
    "name": "Front desk",
    "members": [
        {"assistant": {"name": "Reception", "firstMessage": "Hi."},
         "assistantOverrides": {"firstMessage": "Hello from the overrides."},
         "assistantDestinations": [{"type": "assistant", "assistantName": "Billing"}]},
        {"assistant": {"name": "Billing"}},
    ],
    "membersOverrides": {"voicemailMessage": "Call back later."},
}


def test_squad_crud_and_calls_with_squad_or_squad_id(backend: Backend, clock: FakeClock) -> None:
    squad = backend.create_squad(SQUAD_BODY)
    assert squad["members"] == SQUAD_BODY["members"] and squad["createdAt"] == iso_from_ms(T0)
    assert backend.get_squad(squad["id"]) == squad and backend.list_squads({}) == [squad]
    clock.advance(1_000)
    updated = backend.update_squad(squad["id"], {"members": SQUAD_BODY["members"][:1]})
    assert len(updated["members"]) == 1 and updated["updatedAt"] == iso_from_ms(T0 + 1_000)

    for body in ({"squadId": squad["id"]}, {"squad": SQUAD_BODY}):
        record = backend.create_web_call(body, base_url=BASE).records[0]  # the web SDK's start(_, _, squad)
        assert record.assistant == {"name": "Reception", "firstMessage": "Hello from the overrides.",
                                    "voicemailMessage": "Call back later."}
        assert backend.call_squad(record.data) is not None
    by_id = backend.call_squad({"squadId": squad["id"]})
    assert by_id is not None and by_id["members"][0]["assistant"]["name"] == "Reception"

    assert backend.delete_squad(squad["id"])["id"] == squad["id"]
    with pytest.raises(NotFound):
        backend.get_squad(squad["id"])
    with pytest.raises(BadRequest, match="Couldn't Get Squad"):
        backend.create_call({"squadId": squad["id"]}, base_url=BASE)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "members"),
        ({"members": []}, "members must contain at least 1 elements"),
        ({"members": [{"assistantId": "nope"}]}, "Couldn't Get Assistant"),
        ({"members": [{"assistantOverrides": {}}]}, "Need Either `assistant` Or `assistantId`"),
        ({"members": [{"assistant": {"name": "X", "firstMessageMode": "shout"}}]}, "firstMessageMode"),
        ({"members": [{"assistant": {"name": "X"}, "assistantDestinations": [{"type": "warp"}]}]},
         "assistantDestinations"),
    ],
)
def test_bad_squads_are_refused_as_vapi_refuses_them(backend: Backend, body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as info:
        backend.create_squad(body)
    assert message in str(info.value.body if hasattr(info.value, "body") else info.value)
