"""The stand-in for ``@daily-co/daily-js`` that lets Vapi's web SDK run against mockvapi.

The JavaScript lives beside this file (``daily-shim/index.js``, an ES module). This module hands it
out three ways: as text for the server's public path, as a CommonJS twin derived from it for
``require()`` (Jest, Node), and as a folder with a ``package.json`` that ``npm install ./DIR`` takes.
It imports nothing from the rest of mockvapi.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

__all__ = ["PACKAGE_NAME", "SHIM_VERSION", "esm_source", "cjs_source", "package_files", "write_package"]

PACKAGE_NAME = "mockvapi-daily-js"
SHIM_VERSION = "0.1.0"
_EXPORT_CLASS = "export class MockDailyCall"
_EXPORT_DEFAULT = "export default DailyIframe;"


def esm_source() -> str:
    """The stand-in as an ES module (``export default DailyIframe``)."""
    return resources.files(__package__).joinpath("daily-shim", "index.js").read_text(encoding="utf-8")


def cjs_source() -> str:
    """The same code as CommonJS, shaped as TypeScript emits an ES module with a default export.

    ``require()`` then gives ``{__esModule: true, default: DailyIframe}``, which is what the web SDK's
    ``__importDefault(require("@daily-co/daily-js")).default`` reads.
    """
    source = esm_source()
    if _EXPORT_CLASS not in source or source.count(_EXPORT_DEFAULT) != 1:
        raise RuntimeError("mockvapi: the daily-js stand-in lost its export lines; cannot derive CommonJS")
    body = source.replace(_EXPORT_CLASS, "class MockDailyCall").replace(_EXPORT_DEFAULT, "")
    return (
        '"use strict";\n'
        + body
        + 'Object.defineProperty(exports, "__esModule", { value: true });\n'
        + "exports.default = DailyIframe;\n"
        + "exports.MockDailyCall = MockDailyCall;\n"
    )


def _package_json() -> str:
    manifest = {
        "name": PACKAGE_NAME,
        "version": SHIM_VERSION,
        "description": "mockvapi's stand-in for @daily-co/daily-js: Vapi's web SDK against a mockvapi server",
        "license": "MIT",
        "type": "module",
        "main": "./index.cjs",
        "module": "./index.js",
        "exports": {".": {"import": "./index.js", "require": "./index.cjs", "default": "./index.js"}},
        "sideEffects": False,
    }
    return json.dumps(manifest, indent=2) + "\n"


def package_files() -> dict[str, str]:
    """File name -> text of the npm package folder."""
    return {"package.json": _package_json(), "index.js": esm_source(), "index.cjs": cjs_source()}


def write_package(out: str | Path) -> list[Path]:
    """Write the npm package folder to ``out`` (created if missing); returns the files written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in package_files().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
