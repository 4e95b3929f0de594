"""Wire models of Vapi messages and resources."""

from __future__ import annotations
