"""README: `MockVapi` outside the pytest fixture, async and sync."""

from __future__ import annotations

from fastapi import FastAPI, Request

from mockvapi import MockVapi

app = FastAPI()


@app.post("/webhook")
async def webhook(request: Request) -> dict[str, object]:
    message = (await request.json())["message"]
    if message["type"] == "tool-calls":
        call = message["toolCallList"][0]
        result = RESULTS[call["function"]["name"]]
        return {"results": [{"toolCallId": call["id"], "result": result}]}
    return {}


RESULTS = {  # what our tools answer (one-line JSON strings, as Vapi wants)
    "find_table": '{"available":true,"time":"8:15 PM","table_id":"T7","area":"the bar"}',
    "book_table": '{"confirmation":"MV-2041"}',
}


async def test_async_with() -> None:
    async with MockVapi(webhook=app, webhook_path="/webhook") as vapi:
        call = await vapi.play("barge-in")
        call.assert_delivered("user-interrupted", "conversation-update")
        call.assert_ended("customer-ended-call")


def test_sync_code() -> None:
    with MockVapi(webhook=app, webhook_path="/webhook") as vapi:
        call = vapi.play_sync("tool-call")
        call.assert_replied("tool-calls", status=200)
        assert "8:15 PM" in call.transcript  # what the handler answered is what the assistant says next
        call.assert_no_problems()
