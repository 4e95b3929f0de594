"""`mockvapi trigger TYPE --to URL`: send one realistic message of a type to a server, show its reply and
whether Vapi would accept it (`stripe trigger` for Vapi: the quickest way to test one handler).

The message comes from a real call: a small scenario whose call sends TYPE (a template for the
messages Vapi waits on, else the shortest bundled scenario that sends it) is played against the target
with `assistant.serverMessages` narrowed to TYPE and everything after it dropped. So the message is exactly
what a call would send, and the reply is judged by the very checks a played call makes (a tool reply's
`results` and `toolCallId`, an assistant-request's assistant, a transfer destination, a 2xx status).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mockvapi.engine.digest import failing_targets
from mockvapi.engine.expectations import EXPECTATION
from mockvapi.engine.journal import Delivery, Problem
from mockvapi.engine.simulator import simulate
from mockvapi.errors import ScenarioError
from mockvapi.library import bundled_paths
from mockvapi.qa.overrides import Override, load_scenario, load_text_with
from mockvapi.scenario.faults import ASK_TYPES
from mockvapi.scenario.loader import LoadedScenario
from mockvapi.testing import MockVapi

__all__ = ["TriggerResult", "trigger", "trigger_scenario", "trigger_types"]

# Messages Vapi waits on, each from a call that sends it once (the reply decides what happens next).
_TEMPLATES = {
    "tool-calls": """\
version: 1
name: trigger-tool-calls
description: The assistant calls one tool.
call: {type: inboundPhoneCall, customer: {number: "+15550142233", name: Dana}}
assistant:
  name: Riley
  tools:
    - name: check_availability
      parameters: {date: string, period: string}
steps:
  - user: "Do you have anything on Tuesday morning?"
  - tool:
      name: check_availability
      arguments: {date: "2025-06-03", period: morning}
      result: {slots: ["09:00"]}
  - end: customer-ended-call
""",
    "transfer-destination-request": """\
version: 1
name: trigger-transfer-destination-request
description: The assistant transfers the call and asks the server where to.
call: {type: inboundPhoneCall, customer: {number: "+15550142233", name: Dana}}
assistant: {name: Riley}
steps:
  - user: "Can I talk to a person, please?"
  - transfer: {message: "Connecting you now."}
""",
}
# Past this many seconds of call time after TYPE, nothing more is asked of the target.
_AFTER = 0.001


@dataclass
class TriggerResult:
    """What was sent, what came back, and whether Vapi would accept it."""

    type: str
    scenario: str
    delivery: Delivery | None
    problems: list[Problem] = field(default_factory=list)
    unreachable: str | None = None

    @property
    def accepted(self) -> bool:
        return self.delivery is not None and self.unreachable is None and not self.problems

    def __repr__(self) -> str:
        return f"TriggerResult({self.type!r} from {self.scenario!r}, accepted={self.accepted})"


def _candidates() -> list[tuple[str, str | Path]]:
    out: list[tuple[str, str | Path]] = [(f"<trigger {k}>", text) for k, text in _TEMPLATES.items()]
    return out + [(path.stem, path) for path in bundled_paths()]


def _load(name: str, source: str | Path, overrides: list[Override]) -> LoadedScenario:
    if isinstance(source, Path):
        return load_scenario(source, overrides)
    return load_text_with(source, name, overrides)


def trigger_types() -> list[str]:
    """Every webhook type some candidate call sends (the types `trigger` knows)."""
    found: dict[str, None] = {}
    for name, source in _candidates():
        loaded = _load(name, source, [])
        found.update(dict.fromkeys(m["type"] for _, m in simulate(loaded).messages(side="server")))
        found.update(dict.fromkeys(_every_type_sent(loaded)))
    return sorted(found)


def _every_type_sent(loaded: LoadedScenario) -> list[str]:
    """The server message types of the call if its assistant asked for every type."""
    from mockvapi.models.enums import SERVER_MESSAGE_NAMES

    try:
        wide = _load(loaded.file, Path(loaded.file) if Path(loaded.file).exists() else loaded.text,
                     [Override(("assistant", "serverMessages"), sorted(SERVER_MESSAGE_NAMES), "")])
    except ScenarioError:
        return []
    return [m["type"] for _, m in simulate(wide).messages(side="server")]


def trigger_scenario(kind: str, overrides: Sequence[Override] = ()) -> tuple[LoadedScenario, float]:
    """The scenario whose call sends `kind` first, narrowed to send only `kind`, and when it does.
    ScenarioError when no candidate sends it (or an override breaks every one)."""
    best: tuple[float, LoadedScenario, float] | None = None
    for name, source in _candidates():
        # Only `kind` goes out; a type the assistant does not choose (assistant-request) with none at all.
        for narrowed in ([kind], []):
            try:
                serve = Override(("assistant", "serverMessages"), narrowed, f"assistant.serverMessages={narrowed}")
                loaded = _load(name, source, [serve, *overrides])
                timeline = simulate(loaded)
                break
            except ScenarioError:
                continue
        else:
            continue
        sent = timeline.messages(side="server")
        at = next((t for t, m in sent if m["type"] == kind), None)
        # A message Vapi waits on, other than this one, would be dropped (the call would time out on it)
        # or answered (its reply judged too): either way not the one message asked for.
        if at is None or any(m["type"] in ASK_TYPES and (m["type"], t) != (kind, at) for t, m in sent):
            continue
        if name.startswith("<trigger"):
            return loaded, at
        if best is None or timeline.duration < best[0]:
            best = (timeline.duration, loaded, at)
    if best is None:
        raise ScenarioError([])
    return best[1], best[2]


async def trigger(
    kind: str, target: object, overrides: Sequence[Override] = (), *, seed: int | None = None
) -> TriggerResult:
    """Send one `kind` message to `target` (a URL or an in-process app) and judge its reply."""
    loaded, at = trigger_scenario(kind, overrides)
    later = f"drop,every=true,at={at + _AFTER:.3f}s"  # the call goes on, but sends nothing more
    async with MockVapi(webhook=target, seed=seed, strict=False) as vapi:
        call = await vapi.play(loaded, client=False, faults=later)
    sent = [d for d in call.deliveries(channel="webhook") if d.sent and d.message_type == kind]
    delivery = sent[0] if sent else None
    unreachable = next((str(f) for f in failing_targets(sent, minimum=1) if f.unreachable), None)
    # The scenario's own checks (expect_reply, templates reading the reply) are not Vapi's.
    problems = [p for p in call.problems if p.kind not in (EXPECTATION, "template")]
    return TriggerResult(kind, loaded.scenario.name, delivery, problems, unreachable)


def render(result: TriggerResult, url: str) -> str:
    """The report `mockvapi trigger` prints."""
    lines = [f"POST {url}  {result.type}  (from a {result.scenario!r} call)"]
    d = result.delivery
    if d is None:
        return "\n".join([*lines, "nothing was sent"])
    lines.append(json.dumps({"message": d.message}, indent=2, ensure_ascii=False))
    if result.unreachable is not None:
        lines.append("reply: none")
    else:
        latency = f" in {d.latency * 1000:.0f}ms" if d.latency is not None else ""
        lines.append(f"reply: HTTP {d.status}{latency}" if d.status is not None else f"reply: none ({d.error})")
        body = d.response_json
        shown = json.dumps(body, indent=2, ensure_ascii=False) if body is not None else (d.response_body or "")
        if shown:
            lines.append(shown if len(shown) <= 4000 else shown[:4000] + "\n... (cut)")
    if result.accepted:
        lines.append(f"Vapi would accept this reply to {result.type}.")
    else:
        lines.append(f"Vapi would NOT accept this reply to {result.type}:")
        if result.unreachable is not None:
            lines.append(f"  - {result.unreachable}")  # not one line per failed try
        else:
            lines += [f"  - {p.kind}: {p.detail}" for p in result.problems]
    if result.type not in ASK_TYPES and result.accepted:
        lines.append("(Vapi does not read the body of this message's reply; any 2xx is fine.)")
    return "\n".join(lines)
