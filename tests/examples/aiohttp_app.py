"""An aiohttp webhook for Vapi: live transcripts for a dashboard, and the answers Vapi waits for."""

from __future__ import annotations

from aiohttp import web

from .live_transcript import Dashboard


def create_app(dashboard: Dashboard) -> web.Application:
    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(dashboard.handle(body["message"]))

    app = web.Application()
    app.router.add_post("/vapi/webhook", webhook)
    return app
