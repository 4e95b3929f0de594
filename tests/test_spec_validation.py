"""Every bundled scenario, on both sides and in both profiles, against the official Vapi spec.

The checker is `mockvapi.conformance.check` (the spec extract mockvapi ships, read with its known
bugs fixed; the wire profile "spec" is checked strictly, "realistic" with the documented deviations
of live traffic). Every message of every call is checked; to keep the suite fast, the objects a
call repeats verbatim in each message (`call`, `assistant`, `customer`, `phoneNumber`, `artifact`)
are validated once per message type and distinct value: each property of a message schema is
checked independently of its siblings, so a value already accepted at the same place of the same
schema need not be checked again.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from mockvapi.conformance import check
from mockvapi.conformance.extract import schemas as spec_schemas
from mockvapi.conformance.normalise import normalise_schemas
from mockvapi.engine.simulator import simulate
from mockvapi.engine.timeline import Timeline
from mockvapi.library import bundled_paths, resolve

SHARED = ("call", "assistant", "customer", "phoneNumber")
HISTORIES = ("messages", "messagesOpenAIFormatted", "conversation")

# Bundled scenarios the official spec cannot validate, with the reason (none today).
KNOWN_SPEC_BUGS: dict[str, str] = {}


@cache
def timeline(name: str) -> Timeline:
    return simulate(resolve(name))


def spec_errors(messages: list[dict[str, Any]], side: str, realistic: bool) -> list[str]:
    """`[index] type: error` for every problem; repeated values are checked once (see the docstring)."""
    profile = "realistic" if realistic else "strict"
    # Keyed by object identity: the simulator shares one object per value (the call, the history
    # items), and `keep` holds every object seen so that no id is reused while this runs.
    seen: set[tuple[str, int]] = set()
    keep: list[Any] = []

    def first_time(where: str, value: Any) -> bool:
        if (where, id(value)) in seen:
            return False
        seen.add((where, id(value)))
        keep.append(value)
        return True

    out: list[str] = []
    for index, message in enumerate(messages):
        kind = message["type"]
        reduced = dict(message)
        for key in SHARED:
            if key in reduced and not first_time(key, reduced[key]):
                del reduced[key]
        if isinstance(reduced.get("artifact"), dict):
            artifact = reduced["artifact"] = dict(reduced["artifact"])
            for key in HISTORIES:
                if isinstance(artifact.get(key), list | tuple):
                    artifact[key] = [item for item in artifact[key] if first_time(f"artifact.{key}", item)]
        for key in HISTORIES:
            if isinstance(reduced.get(key), list | tuple):
                reduced[key] = [item for item in reduced[key] if first_time(f"{kind}.{key}", item)]
        out.extend(f"[{index}] {kind}: {error}" for error in check(reduced, side=side, profile=profile))  # type: ignore[arg-type]
    return out


def _cases() -> list[Any]:
    cases = []
    for path in bundled_paths():
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_SPEC_BUGS[path.stem])] if (
            path.stem in KNOWN_SPEC_BUGS) else []
        for side in ("server", "client"):
            for profile in ("spec", "realistic"):
                cases.append(pytest.param(path.stem, side, profile, marks=marks,
                                          id=f"{path.stem}-{side}-{profile}"))
    return cases


@pytest.mark.parametrize(("name", "side", "profile"), _cases())
def test_bundled_scenario_messages_match_the_spec(name: str, side: str, profile: str) -> None:
    messages = [m for _, m in timeline(name).messages(profile=profile, side=side)]  # type: ignore[arg-type]
    assert messages, f"{name} sends nothing on the {side} side"
    errors = spec_errors(messages, side, realistic=profile == "realistic")
    shown = "\n  ".join(errors[:5])
    assert not errors, f"{name} ({side}, {profile}): {len(errors)} spec error(s), first ones:\n  {shown}"


def test_repeated_objects_are_still_checked() -> None:
    """A changed shared object or a new history item in a late message is still validated."""
    messages = [m for _, m in timeline("happy-path").messages(profile="spec", side="server")]
    last = len(messages) - 1
    bad_call = [*messages[:-1], {**messages[-1], "call": {**messages[-1]["call"], "type": "pigeonCall"}}]
    assert [e for e in spec_errors(bad_call, "server", realistic=False) if e.startswith(f"[{last}]")]
    update = max(i for i, m in enumerate(messages) if m["type"] == "conversation-update")
    items = [*messages[update]["messages"], {"role": "bot", "message": 42}]
    bad_item = [*messages[:update], {**messages[update], "messages": items}]
    assert spec_errors(bad_item, "server", realistic=False)


@pytest.mark.parametrize("key", [*SHARED, "artifact"])
def test_shared_objects_have_one_schema_in_every_message_type(key: str) -> None:
    """What makes checking a shared object once sound: every message type declares it alike."""
    schemas = normalise_schemas(spec_schemas())
    found = {
        repr({k: v for k, v in schema["properties"][key].items() if k != "description"})
        for name, schema in schemas.items()
        if name.startswith(("ServerMessage", "ClientMessage")) and key in schema.get("properties", {})
    }
    assert len(found) == 1, f"{key!r} has {len(found)} different schemas across message types"
