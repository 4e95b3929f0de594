"""What every generator in tools/ does with its output: write it, or with ``--check`` say whether the
committed file is stale (exit 1) without touching it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_or_check(out: Path, text: str, *, check: bool) -> int:
    if check:
        stale = not out.exists() or out.read_text(encoding="utf-8") != text
        print(f"{out.name}: {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)} ({len(text)} bytes)")
    return 0
