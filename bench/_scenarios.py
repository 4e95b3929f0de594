"""Scenarios the benchmarks play, built in memory so every run measures the same call."""

from __future__ import annotations

from mockvapi.scenario.loader import LoadedScenario, load_text

_USER = ("Okay, I'm looking at it now.", "It says the light is blinking green.", "Which button do you mean?",
         "Done, what's next?", "Hmm, nothing happened yet.", "Alright, it worked this time.")
_BOT = ("Great. Hold the pairing button for five seconds, until the light blinks blue.",
        "That's expected. The hub is updating its firmware, which takes about a minute.",
        "Now open the app, tap the plus sign, and choose the sensor you want to add.",
        "Perfect. Stick the sensor on the door frame, with the magnet on the door itself.")


def support_call(turns: int, *, call_type: str = "inboundPhoneCall", pause: str | None = "90s",
                 name: str | None = None) -> LoadedScenario:
    """A support call of `turns` turns (half customer, half assistant) with a tool call every 7th
    exchange and a `pause` of silence every 6th (None: no pauses), like the bundled long call."""
    steps = []
    for i in range(max(1, turns // 2)):
        steps.append(f'  - user: "{_USER[i % len(_USER)]}"')
        if i % 7 == 3:
            steps.append('  - tool: {name: check_device, arguments: {id: "hub"}, result: {online: true}, latency: 1s}')
        if pause and i % 6 == 5:
            steps.append(f"  - silence: {pause}")
        steps.append(f'  - assistant: "{_BOT[i % len(_BOT)]}"')
    text = "\n".join([
        "version: 1",
        f"name: {name or f'support-{turns}-turns'}",
        "seed: 7",
        f"call: {{type: {call_type}}}",
        "assistant:",
        '  firstMessage: "Thanks for calling support, this is Morgan. How can I help?"',
        '  system: "You are Morgan, a patient support agent."',
        "  tools: [{name: check_device, parameters: {id: string}}]",
        # Past Vapi's defaults (600 s; 30 s of silence ends a call), as the bundled long call sets them.
        "  maxDurationSeconds: 43200",
        "  silenceTimeoutSeconds: 3600",
        "steps:",
        *steps,
        "  - end: customer-ended-call",
        "",
    ])
    return load_text(text, "<bench>")
