"""The spec's nested request DTOs and their class-validator style checker, as the REST API uses them.

They live in `mockvapi.models.dto` (with the schemas file), below the engine, so the call engine judges an
assistant-request reply's assistant exactly as `POST /assistant` judges a body; this module keeps the
server's name for them."""

from __future__ import annotations

from mockvapi.models.dto import RequestSchemas, Schema, request_schemas

__all__ = ["RequestSchemas", "Schema", "request_schemas"]
