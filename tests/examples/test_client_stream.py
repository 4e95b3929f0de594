"""Client code consuming a call's message stream (what the Web SDK or a `vapi.websocket` client gets),
in process through `call.client`: the same LiveTranscript, now on the client side."""

from __future__ import annotations

from mockvapi.testing import MockVapi

from .live_transcript import LiveTranscript


async def test_live_text_loses_the_interrupted_words(mockvapi: MockVapi) -> None:
    call = mockvapi.start_call("barge-in")
    view = LiveTranscript()
    shown = []
    async for message in call.client:  # client messages as they are sent, until the call ends
        view.update(message)
        shown.append(view.live_text)
    await call.wait()

    assert any(text.endswith("Monday at ten") for text in shown)  # streamed, then cut off
    assert "Monday at ten" not in view.live_text
    assert view.lines[-1] == ("user", "Great, thank you. Bye!")
