"""The extract of Vapi's OpenAPI spec that mockvapi ships (`spec_extract.json`, made by
tools/gen_conformance_schemas.py): message schemas, the implemented operations, what they reference.

Read once per process and shared: callers must not mutate what these functions return.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["EXTRACT_PATH", "extract", "schemas"]

EXTRACT_PATH = Path(__file__).with_name("spec_extract.json")


@functools.cache
def extract() -> Mapping[str, Any]:
    """The shipped extract: an OpenAPI 3.0 document (``paths``, ``components``), verbatim from the spec."""
    data: Mapping[str, Any] = json.loads(EXTRACT_PATH.read_text(encoding="utf-8"))
    return data


def schemas() -> Mapping[str, Any]:
    """The extract's named schemas (``components.schemas``), verbatim from the spec."""
    found: Mapping[str, Any] = extract()["components"]["schemas"]
    return found
