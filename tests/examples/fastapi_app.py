"""A FastAPI webhook for Vapi: live transcripts for a dashboard, and the answers Vapi waits for."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from .live_transcript import Dashboard


def create_app(dashboard: Dashboard) -> FastAPI:
    app = FastAPI()

    @app.post("/vapi/webhook")
    async def webhook(body: dict[str, Any]) -> dict[str, Any]:
        return dashboard.handle(body["message"])

    return app
