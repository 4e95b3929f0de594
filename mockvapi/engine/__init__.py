"""Call engine: simulator, clocks, player, journal."""

from __future__ import annotations
