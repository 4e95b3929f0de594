"""What the call leaves behind: the artifact (history, transcript, recordings), the analysis, the cost,
and the end-of-call-report that carries them."""

from __future__ import annotations

from typing import Any

from mockvapi.engine.context import iso
from mockvapi.engine.state import CallState
from mockvapi.models.messages import BotMessage, EndOfCallReport, ToolCallResultMessage, UserMessage

__all__ = ["SUCCESS_REASONS", "Report"]

# End reasons the analysis counts as a successful call.
SUCCESS_REASONS = frozenset(
    {
        "customer-ended-call",
        "assistant-ended-call",
        "assistant-said-end-call-phrase",
        "assistant-forwarded-call",
        "assistant-ended-call-after-message-spoken",
    }
)


class Report:
    def __init__(self, call: CallState) -> None:
        self.call = call

    def artifact(self) -> dict[str, Any]:
        call = self.call
        cid = call.context.call["id"]
        base = call.history_base
        out: dict[str, Any] = {
            "messages": call.rendered[base:],
            "messagesOpenAIFormatted": call.openai[base:],
            "transcript": self.transcript(),
            "recordingUrl": f"https://storage.mockvapi.local/recordings/{cid}-mono.wav",
            "stereoRecordingUrl": f"https://storage.mockvapi.local/recordings/{cid}-stereo.wav",
            "assistantActivations": [self.activation()],
        }
        if call.activations:
            out["assistantActivations"] = [{"assistantName": name} for name, _ in call.activations]
        return out

    def activation(self) -> dict[str, Any]:
        """The assistant active during the call (the spec's `AssistantActivation`): a call without transfers
        between assistants has one."""
        call = self.call
        assistant = call.context.assistant or {}
        out: dict[str, Any] = {"assistantName": str(assistant.get("name") or call.scenario.assistant.name)}
        assistant_id = call.context.call.get("assistantId") or assistant.get("id")
        if isinstance(assistant_id, str):
            out["assistantId"] = assistant_id
        # Inline assistants are not versioned: the spec's null.
        version = assistant.get("latestVersion")
        out["assistantVersion"] = version if isinstance(version, str) else None
        return out

    def transcript(self) -> str:
        lines = []
        for item in self.call.history:
            if isinstance(item, BotMessage) and item.message:
                lines.append(f"AI: {item.message}")
            elif isinstance(item, UserMessage):
                lines.append(f"User: {item.message}")
        return "".join(line + "\n" for line in lines)

    def analysis(self, reason: str) -> dict[str, Any]:
        history = self.call.history
        users = sum(isinstance(i, UserMessage) for i in history)
        bots = sum(isinstance(i, BotMessage) for i in history)
        tools = sorted({i.name for i in history if isinstance(i, ToolCallResultMessage)})
        summary = f"{bots} assistant and {users} customer turns"
        if tools:
            summary += f"; tools used: {', '.join(tools)}"
        summary += f"; the call ended with {reason}."
        return {"summary": summary, "successEvaluation": "true" if reason in SUCCESS_REASONS else "false"}

    def cost(self) -> float:
        call = self.call
        started = call.started_ms or 0
        minutes = max(0, (call.ended_ms or started) - started) / 60000
        return round(0.05 + minutes * 0.11, 4)

    def end_of_call_report(self, reason: str) -> EndOfCallReport:
        call = self.call
        started = call.started_ms if call.started_ms is not None else call.ended_ms or 0
        return EndOfCallReport(
            ended_reason=reason,
            artifact=self.artifact(),
            analysis=self.analysis(reason),
            cost=self.cost(),
            started_at=iso(call.start_ms + started),
            ended_at=iso(call.start_ms + (call.ended_ms or started)),
            destination=call.destination,
        )
