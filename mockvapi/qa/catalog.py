"""`mockvapi list`: the bundled scenarios, each with one line of description and the Vapi features it
exercises, read from what the scenario does (its call type, the messages its call sends that most
calls do not, its steps, how it ends), never from a hand-kept table that could drift."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mockvapi.engine.simulator import simulate
from mockvapi.library import bundled_paths, resolve
from mockvapi.scenario.loader import LoadedScenario

__all__ = ["CatalogEntry", "catalog", "features"]

# Every call sends these; naming them would not tell one scenario from another.
_EVERY_CALL = frozenset({
    "status-update", "conversation-update", "speech-update", "transcript", "model-output",
    "end-of-call-report", "assistant.started", "voice-input",
})


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    summary: str  # the description's first sentence
    features: tuple[str, ...]
    file: Path

    def __str__(self) -> str:
        return f"{self.name}: {self.summary} [{', '.join(self.features)}]"


def features(loaded: LoadedScenario) -> tuple[str, ...]:
    """The Vapi features a scenario's call exercises, in a stable order."""
    scenario = loaded.scenario
    timeline = simulate(loaded)
    found: list[str] = [scenario.call.type]
    sent = dict.fromkeys(m["type"] for side in ("server", "client") for _, m in timeline.messages(side=side))
    found += [kind for kind in sent if kind not in _EVERY_CALL]
    steps = scenario.steps
    if any(s.tool is not None and (s.tool.error is not None or s.tool.status != 200) for s in steps):
        found.append("tool error reply")
    if any(s.tool is not None and s.tool.expect_reply is not None for s in steps):
        found.append("expect_reply checks")
    if any(s.silence is not None for s in steps):
        found.append("silence")
    if scenario.faults or any(s.faults for s in steps):
        found.append("faults")
    turns = sum(1 for s in steps if s.user is not None or s.assistant is not None)
    if timeline.duration >= 600 or turns >= 50:
        found.append(f"long call ({turns} turns, {timeline.duration / 60:.0f} min)")
    found.append(f"ends {timeline.ended_reason}")
    return tuple(dict.fromkeys(found))


def _first_sentence(text: str | None) -> str:
    flat = " ".join((text or "").split())
    match = re.match(r"(.+?[.!?])(\s|$)", flat)
    return match.group(1) if match else flat


def catalog(paths: Iterable[Path] | None = None) -> list[CatalogEntry]:
    """One entry per scenario file (default: the bundled ones), sorted by name."""
    entries = []
    for path in paths if paths is not None else bundled_paths():
        loaded = resolve(path)
        entries.append(
            CatalogEntry(loaded.scenario.name, _first_sentence(loaded.scenario.description), features(loaded), path)
        )
    return sorted(entries, key=lambda e: e.name)
