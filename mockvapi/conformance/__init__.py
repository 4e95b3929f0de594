"""Check Vapi messages against Vapi's official OpenAPI spec, without the spec at hand.

``check(message, side="server", profile="strict")`` lists every `Violation` (JSON path, what the
spec expects, what was found, the schema's name); ``mockvapi conform FILE|DIR|-`` does the same
from the command line. The schemas come from the extract mockvapi ships (``spec_extract.json``);
the spec's known bugs are fixed where it is read (`mockvapi.conformance.normalise`).
"""

from __future__ import annotations

from mockvapi.conformance.checker import (
    PROFILES,
    SIDES,
    Profile,
    Side,
    Violation,
    check,
    check_against,
    message_types,
    unwrap,
)

__all__ = ["PROFILES", "SIDES", "Profile", "Side", "Violation", "check", "check_against", "message_types", "unwrap"]
