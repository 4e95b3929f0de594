"""The only files a request may make the server read: scenarios inside the folders `serve` was given.

`mockvapi serve --scenarios DIR` (repeatable) names them; without it no path from HTTP is read at all.
A path is resolved first (symlinks followed, ``..`` collapsed) and must land inside one of the folders;
a path outside gets the same answer whether it exists or not, and nothing of its content. Only regular
files are read, checked before opening and again on the open descriptor, which is opened non-blocking so
a FIFO or a device can never hold the reader. Reads block, so servers call `read` off the event loop.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from mockvapi.errors import BadRequest, Forbidden
from mockvapi.scenario.loader import Limits, LoadedScenario, load_text

__all__ = ["ScenarioFolders"]

# A scenario name as `metadata.mockvapi.scenario` may give it: no separators, no leading dot.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class ScenarioFolders:
    """Folders (or single files) whose scenarios may be read on a request's behalf."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]] = ()) -> None:
        self.roots: tuple[Path, ...] = tuple(Path(os.path.realpath(root)) for root in roots)

    def __bool__(self) -> bool:
        return bool(self.roots)

    def __repr__(self) -> str:
        return f"ScenarioFolders({[str(r) for r in self.roots]})"

    def _inside(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def locate(self, text: str) -> Path:
        """The resolved path ``text`` names inside the folders (relative: to each folder in turn).

        Forbidden when there are no folders or it lands outside them (whether or not it exists), else
        BadRequest when nothing is there."""
        if not self.roots:
            raise Forbidden(
                "loading scenarios by path is off: start `mockvapi serve --scenarios DIR` to allow the files "
                "in DIR, or post the YAML itself"
            )
        if "\x00" in text:
            raise BadRequest("path must not contain NUL")
        given = Path(text)
        candidates = [given] if given.is_absolute() else [root / given for root in self.roots if root.is_dir()]
        for candidate in candidates:
            resolved = Path(os.path.realpath(candidate))
            if self._inside(resolved) and os.path.lexists(resolved):
                return resolved
        if any(self._inside(Path(os.path.realpath(c))) for c in candidates):
            raise BadRequest(f"no such file or folder in the scenario folders: {text!r}")
        raise Forbidden(f"{text!r} is outside the scenario folders `mockvapi serve --scenarios` was given")

    def files(self, path: Path) -> list[Path]:
        """``path`` itself, or the *.yaml files of a folder (sorted)."""
        if path.is_dir():
            return sorted(path.glob("*.yaml"))
        return [path]

    def named(self, name: str) -> Path | None:
        """The file ``NAME.yaml`` in the first folder that has it, for a scenario named by a request."""
        if not _NAME.fullmatch(name):
            return None
        for root in self.roots:
            candidate = root / f"{name.removesuffix('.yaml')}.yaml"
            resolved = Path(os.path.realpath(candidate))
            if root.is_dir() and self._inside(resolved) and os.path.isfile(resolved):
                return resolved
        return None

    def read(self, path: Path, limits: Limits | None = None) -> LoadedScenario:
        """Load one scenario file (blocking: call it off the event loop). Raises BadRequest, Forbidden or
        ScenarioError (whose messages come from a file inside the folders, so they may quote it)."""
        limits = limits or Limits.from_env()
        resolved = Path(os.path.realpath(path))
        if not self._inside(resolved):
            raise Forbidden(f"{str(path)!r} is outside the scenario folders `mockvapi serve --scenarios` was given")
        try:
            if not stat.S_ISREG(os.stat(resolved).st_mode):
                raise BadRequest(f"{str(path)!r} is not a regular file")
            fd = os.open(resolved, _OPEN_FLAGS)
        except FileNotFoundError:
            raise BadRequest(f"no such file in the scenario folders: {str(path)!r}") from None
        except OSError as exc:
            raise BadRequest(f"cannot read {str(path)!r}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):  # swapped since the check above
                raise BadRequest(f"{str(path)!r} is not a regular file")
            if info.st_size > limits.max_bytes:
                raise BadRequest(
                    f"{str(path)!r} is too large: {info.st_size:,} bytes, the limit is {limits.max_bytes:,} bytes"
                )
            raw = handle.read(limits.max_bytes + 1)
        if len(raw) > limits.max_bytes:
            raise BadRequest(f"{str(path)!r} is too large: the limit is {limits.max_bytes:,} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"{str(path)!r} is not UTF-8 text") from None
        return load_text(text, str(resolved), limits=limits)
