"""mockvapi: a scriptable test double for the Vapi voice-AI platform."""

from __future__ import annotations

__version__ = "0.1.0"
