"""The scenario language: schema, loader, templates."""

from __future__ import annotations
