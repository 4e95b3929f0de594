"""Which modules a fresh interpreter has imported after some code: start-up stays light (tests only)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable


def imported_after(code: str, modules: Iterable[str]) -> list[str]:
    """Those of `modules` a fresh interpreter has in `sys.modules` after running `code`."""
    check = f"import sys; {code}; print('\\n'.join(m for m in {sorted(modules)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout
    return out.split()
