"""A small customer server for the QA tests: answers every Vapi request the bundled scenarios make,
correctly (tool results the scenarios read, an assistant for assistant-request, a destination for
transfer-destination-request, documents for knowledge-base-request, a timeoutSeconds for
call.endpointing.request). Usable in-process (`handle`) or on a real port (`serve_in_thread`)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

TOOL_RESULTS: dict[str, Any] = {
    "find_table": {"available": True, "time": "7:45 PM", "table_id": "T12", "area": "the garden terrace"},
    "book_table": {"confirmation": "SOLE-4471"},
    "lookup_prescription": {"status": "ready", "ready_since": "10:15 AM", "copay": "$12.50"},
    "check_availability": {"slots": ["09:00", "10:30"]},
    "check_rooms": {"available": True, "rate": "180 GBP"},
}
TOOL_ERRORS = {"take_payment": "Card declined: insufficient funds"}


def answer(body: dict[str, Any]) -> dict[str, Any] | None:
    message = body.get("message") or {}
    kind = message.get("type")
    if kind == "tool-calls":
        results = []
        for call in message.get("toolCallList") or []:
            name = call["function"]["name"]
            entry: dict[str, Any] = {"name": name, "toolCallId": call["id"]}
            if name in TOOL_ERRORS:
                entry["error"] = TOOL_ERRORS[name]
            else:
                entry["result"] = json.dumps(TOOL_RESULTS.get(name, "ok"), separators=(",", ":"))
            results.append(entry)
        return {"results": results}
    if kind == "assistant-request":
        return {"assistantId": "3f0a9e62-0000-4000-8000-000000000001"}
    if kind == "transfer-destination-request":
        return {"destination": {"type": "number", "number": "+14155550123"}}
    if kind == "knowledge-base-request":
        return {"documents": [{"content": "On Saturdays we are open from ten to four.", "similarity": 0.9}]}
    if kind == "call.endpointing.request":
        return {"timeoutSeconds": 0.5}
    if kind == "handoff-destination-request":
        # The squad-dynamic-handoff scenario's nurse (squad-invalid-handoff-reply has none: a problem it expects).
        return {"destination": {"type": "assistant", "assistantName": "Nurse"}}
    return None


def handle(body: dict[str, Any], headers: Any) -> dict[str, Any] | None:
    """The in-process form: a `(body, headers) -> reply` callable."""
    return answer(body)


def make_app() -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        reply = answer(await request.json())
        return web.json_response(reply if reply is not None else {})

    app = web.Application()
    app.router.add_post("/hook", hook)
    return app


@contextmanager
def serve_in_thread() -> Iterator[str]:
    """Serve the app on 127.0.0.1 (port 0) in a thread with its own loop; yields the hook URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app())
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, name="qa-webhook", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
