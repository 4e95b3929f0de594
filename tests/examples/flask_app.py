"""A Flask webhook for Vapi: live transcripts for a dashboard, and the answers Vapi waits for."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from .live_transcript import Dashboard


def create_app(dashboard: Dashboard) -> Flask:
    app = Flask(__name__)

    @app.post("/vapi/webhook")
    def webhook() -> Response:
        return jsonify(dashboard.handle(request.get_json()["message"]))

    return app
