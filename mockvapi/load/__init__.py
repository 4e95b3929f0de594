"""Load generation through Locust (the `load` extra)."""

from __future__ import annotations
