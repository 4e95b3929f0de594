"""The assistant's own settings that shape a call, read with the spec's defaults and ranges.

Read once, when the call starts, from the assistant that runs it (the scenario's, with the REST API's
fields over it, or the one the server returned to assistant-request). A value out of its range or of
the wrong type is recorded as a problem and the default is used, as Vapi would refuse the field.

Sources (the spec is ../shared/vapi/openapi.json, PROTOCOL.md is ../shared/vapi/PROTOCOL.md):
- `maxDurationSeconds`: CreateAssistantDTO, 10..43200, default 600.
- `silenceTimeoutSeconds`: gone from CreateAssistantDTO (PROTOCOL.md section 3: "legacy, defaulted to
  30, ends the call with silence-timed-out"); its range 5..3600 and default 30 come from
  TransferAssistant, the one schema that still declares it. It stays off the wire for that reason.
- `firstMessageMode`, `firstMessageInterruptionsEnabled` (default false), `endCallPhrases` (each 2..140
  characters, case-insensitive), `endCallMessage`, `voicemailMessage`: CreateAssistantDTO.
- `voicemailDetection`: "off" or a provider plan; "By default, voicemail detection is disabled";
  `beepMaxAwaitSeconds` 0..30, default 30 (the *VoicemailDetectionPlan schemas).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_MAX_DURATION",
    "DEFAULT_SILENCE_TIMEOUT",
    "FIRST_MESSAGE_MODES",
    "CallSettings",
    "read_settings",
    "said_end_call_phrase",
]

DEFAULT_MAX_DURATION = 600.0
DEFAULT_SILENCE_TIMEOUT = 30.0
DEFAULT_BEEP_MAX_AWAIT = 30.0
FIRST_MESSAGE_MODES = (
    "assistant-speaks-first",
    "assistant-speaks-first-with-model-generated-message",
    "assistant-waits-for-user",
)
VOICEMAIL_PROVIDERS = frozenset({"vapi", "google", "openai", "twilio"})

Problem = Callable[[str], None]


@dataclass(frozen=True)
class CallSettings:
    """What the assistant's settings decide about one call."""

    max_duration: float = DEFAULT_MAX_DURATION
    silence_timeout: float = DEFAULT_SILENCE_TIMEOUT
    first_message_mode: str = "assistant-speaks-first"
    first_message_interruptions: bool = False
    end_call_phrases: tuple[str, ...] = ()
    end_call_message: str | None = None
    voicemail_message: str | None = None
    voicemail_detection: bool = False
    beep_max_await: float = DEFAULT_BEEP_MAX_AWAIT


def read_settings(
    assistant: Mapping[str, Any] | None, off_wire: Mapping[str, Any], problem: Problem
) -> CallSettings:
    """The settings of `assistant`; `off_wire` holds what the scenario sets but messages do not carry
    (silenceTimeoutSeconds), used when the assistant itself does not say."""
    a: Mapping[str, Any] = assistant or {}

    def number(key: str, low: float, high: float, default: float, source: Mapping[str, Any] = a) -> float:
        value = source.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problem(f"assistant.{key} must be a number, got {value!r:.40}; Vapi's default {default:g} is used")
            return default
        if not low <= value <= high:
            problem(f"assistant.{key} {value:g} is outside {low:g}..{high:g}; Vapi's default {default:g} is used")
            return default
        return float(value)

    def text(key: str) -> str | None:
        value = a.get(key)
        return value if isinstance(value, str) and value.strip() else None

    mode = a.get("firstMessageMode", FIRST_MESSAGE_MODES[0])
    if mode not in FIRST_MESSAGE_MODES:
        problem(f"assistant.firstMessageMode {mode!r:.60} is not one of {', '.join(FIRST_MESSAGE_MODES)}")
        mode = FIRST_MESSAGE_MODES[0]
    phrases = a.get("endCallPhrases") or []
    kept = tuple(p for p in phrases if isinstance(p, str) and 2 <= len(p.strip()) <= 140) if isinstance(
        phrases, list) else ()
    if isinstance(phrases, list) and len(kept) != len(phrases) or not isinstance(phrases, list):
        problem("assistant.endCallPhrases must be a list of 2-140 character strings; the others are ignored")
    silence_source = a if "silenceTimeoutSeconds" in a else off_wire
    detection = a.get("voicemailDetection")
    detecting = (
        isinstance(detection, Mapping)
        and detection.get("provider") in VOICEMAIL_PROVIDERS
        and detection.get("enabled", True) is not False
    )
    return CallSettings(
        max_duration=number("maxDurationSeconds", 10, 43200, DEFAULT_MAX_DURATION),
        silence_timeout=number("silenceTimeoutSeconds", 5, 3600, DEFAULT_SILENCE_TIMEOUT, silence_source),
        first_message_mode=str(mode),
        first_message_interruptions=a.get("firstMessageInterruptionsEnabled") is True,
        end_call_phrases=kept,
        end_call_message=text("endCallMessage"),
        voicemail_message=text("voicemailMessage"),
        voicemail_detection=detecting,
        beep_max_await=(
            number("beepMaxAwaitSeconds", 0, 30, DEFAULT_BEEP_MAX_AWAIT, detection)
            if detecting and isinstance(detection, Mapping)
            else DEFAULT_BEEP_MAX_AWAIT
        ),
    )


def said_end_call_phrase(spoken: str, phrases: tuple[str, ...]) -> str | None:
    """The first end-call phrase in `spoken` (case-insensitive, whitespace-insensitive), if any."""
    said = " ".join(spoken.lower().split())
    for phrase in phrases:
        if " ".join(phrase.lower().split()) in said:
            return phrase
    return None
