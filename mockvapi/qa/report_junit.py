"""JUnit XML for CI: one testsuite, one testcase per scenario.

A failed expectation is a `<failure>` (message: the first failure; text: every failure and the
timeline around it); a call that could not be played to its end is an `<error>`.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from mockvapi.qa.runner import ScenarioResult

__all__ = ["junit_xml", "write_junit"]


def junit_xml(results: Sequence[ScenarioResult], *, suite: str = "mockvapi", target: str | None = None) -> str:
    failures = sum(r.status == "failed" for r in results)
    errors = sum(r.status == "error" for r in results)
    total = sum(r.wall for r in results)
    root = ET.Element("testsuites", name=suite, tests=str(len(results)), failures=str(failures), errors=str(errors))
    root.set("time", f"{total:.3f}")
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{total:.3f}",
        timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=socket.gethostname(),
    )
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="target", value=target or "(scripted replies)")
    for result in results:
        case = ET.SubElement(
            ts,
            "testcase",
            name=_clean(result.name),
            classname=_clean(f"mockvapi.{Path(result.file).stem}"),
            file=_clean(result.file),
            time=f"{result.wall:.3f}",
        )
        if result.status != "passed":
            first = result.failures[0] if result.failures else result.status
            tag = "failure" if result.status == "failed" else "error"
            element = ET.SubElement(
                case, tag, message=_clean(first.splitlines()[0] if first else first), type="expectation"
            )
            if tag == "error":
                element.set("type", "call-error")
            element.text = _clean(_details(result))
        out = ET.SubElement(case, "system-out")
        out.text = _clean(
            f"call {result.call_id} seed {result.seed}: {result.call_duration:.1f}s, ended "
            f"{result.ended_reason}, {result.deliveries} deliveries"
            + "".join(f"\nproblem: {p}" for p in result.problems)
        )
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _details(result: ScenarioResult) -> str:
    lines = [f"{result.file}: {result.name}"]
    lines += [f"  - {f}" for f in result.failures]
    if result.excerpt:
        lines += ["", "timeline (server messages):", result.excerpt]
    return "\n".join(lines)


def _clean(text: str) -> str:
    """XML 1.0 cannot hold most control characters; replace them rather than write a broken file."""
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else "\ufffd" for c in text)


def write_junit(results: Sequence[ScenarioResult], path: str | Path, *, target: str | None = None) -> None:
    Path(path).write_text(junit_xml(results, target=target), encoding="utf-8")
