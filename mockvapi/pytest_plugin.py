"""pytest plugin for mockvapi (fixtures, marker, options)."""

from __future__ import annotations
