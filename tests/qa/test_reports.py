from __future__ import annotations

import html
import json
import re
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import junitparser
import pytest

from mockvapi.qa.report_html import render_html, write_html
from mockvapi.qa.report_junit import junit_xml
from mockvapi.qa.runner import RunOptions, ScenarioResult, run
from mockvapi.qa.trace import expand
from mockvapi.scenario.loader import load_text

from .webhook_app import handle

CHROMIUM = Path("/usr/bin/chromium")


BARGE_IN = """\
version: 1
name: barge-in
call: {type: inboundPhoneCall}
assistant:
  firstMessage: "Thanks for calling Brightside Dental. How can I help?"
  serverMessages: [conversation-update, model-output, user-interrupted, speech-update, transcript,
                   status-update, end-of-call-report]
steps:
  - user: "I need to move my cleaning on Thursday."
  - assistant:
      say: "Sure. I can do Monday at ten, Tuesday at two thirty, or Wednesday at nine in the morning."
      interrupted: {after: 12 tokens, by: "Tuesday works."}
  - assistant: "Done, you're booked for Tuesday at two thirty."
  - end: customer-ended-call
expect: {ended_reason: customer-ended-call, delivered: [user-interrupted]}
"""
SLOW_TOOL = """\
version: 1
name: slow-tool
assistant:
  serverMessages: [conversation-update, hang, tool-calls, speech-update, status-update, end-of-call-report]
  tools: [{name: check_availability}]
steps:
  - user: "Any slots on Tuesday?"
  - tool:
      name: check_availability
      result: {slots: ["09:00"]}
      latency: 6s
      expect_reply: {within: 3s}
  - assistant: "I have nine o'clock."
  - end: customer-ended-call
"""
TOOL_ERROR = """\
version: 1
name: tool-error
assistant:
  serverMessages: [tool-calls, status-update, end-of-call-report]
  tools: [{name: take_payment}]
steps:
  - user: "I'd like to pay my bill."
  - tool: {name: take_payment, expect_reply: {error: true}}
  - end: customer-ended-call
"""


@pytest.fixture(scope="module")
def results() -> list[ScenarioResult]:
    """A passing call with an interruption, a failing one with a hang, and one whose target broke."""
    scenarios = [load_text(text, f"{name}.yaml") for name, text in
                 (("barge-in", BARGE_IN), ("slow-tool", SLOW_TOOL), ("tool-error", TOOL_ERROR))]  # fmt: skip
    played = run(scenarios[:2], RunOptions(target=handle))

    def broken(body: dict[str, object], headers: object) -> object:
        return (500, {"error": "boom"})

    return played + run(scenarios[2:], RunOptions(target=broken))


def test_junit_one_suite_one_case_per_scenario(results: list[ScenarioResult], tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(junit_xml(results, target="in-process"))
    xml = junitparser.JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    assert (suite.tests, suite.failures, suite.errors) == (3, 2, 0)
    cases = {case.name: case for case in suite}
    assert list(cases) == ["barge-in", "slow-tool", "tool-error"]
    assert cases["barge-in"].is_passed
    (failure,) = cases["slow-tool"].result
    # The step is named (by number: this one has no id), not only the tool.
    assert failure.message == (
        "expectation: step #2: tool 'check_availability': reply took 6.000s, expected within 3.000s"
    )
    assert "> " in (failure.text or "") and "tool-calls" in (failure.text or "")
    (failure,) = cases["tool-error"].result
    assert "delivery-failed" in (failure.text or "") and "HTTP 500" in (failure.text or "")


def test_junit_survives_control_characters() -> None:
    result = ScenarioResult("odd\x01name", "x.yaml", "failed", failures=["bad \x00 byte"])
    xml = junit_xml([result])
    assert "\x00" not in xml and "\x01" not in xml
    junitparser.JUnitXml.fromstring(xml)


def test_html_is_self_contained(results: list[ScenarioResult]) -> None:
    page = render_html(results, target="http://127.0.0.1:1/hook")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert page.count('<section class="call') == 3
    assert page.count('class="lane lane-caller"') == page.count('class="lane lane-webhook"') == 3
    # interruptions, hangs, failures and the end are marked
    assert 'class="mark m-interrupt"' in page and 'class="mark m-hang"' in page
    assert 'class="mark m-problem"' in page and 'class="mark m-end"' in page
    assert 'class="span cut"' in page and 'class="span wait"' in page
    assert "tick t-tool-calls bad sent" in page  # the broken server's 500, in red in the webhook lane
    assert "</script>" not in page.split('class="call-data">', 1)[1].split("</script>", 1)[0]


def test_payloads_rebuild_to_what_was_delivered(results: list[ScenarioResult]) -> None:
    trace = results[0].trace
    assert trace is not None
    page = render_html(results[:1])
    data = json.loads(page.split('class="call-data">', 1)[1].split("</script>", 1)[0])
    sent = [i for i, item in enumerate(trace.items) if item.sent]
    assert sent
    # the compact form in the page plus the shared objects give back the delivered message
    item = data["items"][sent[-1]]
    assert item["t"] == "end-of-call-report" and item["s"] is True
    full = trace.payload(sent[-1])
    assert expand(item["p"], data["history"], data["openai"])["artifact"] == full["artifact"]
    assert full["call"]["id"] == results[0].call_id and full["timestamp"] > 1_700_000_000_000


def _png(path: Path, rows: int) -> tuple[int, int, Counter[bytes]]:
    """Width, height and a colour histogram (every other pixel of the first `rows` rows) of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, [], 0, 0, 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    colours: Counter[bytes] = Counter()
    for y in range(min(height, rows)):
        kind_ = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        # PNG filters (RFC 2083 section 6); one loop per filter type keeps this pure-Python decode quick
        if kind_ == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind_ == 2:
            line = bytearray((x + y) & 255 for x, y in zip(line, prev, strict=True))
        elif kind_ == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif kind_ == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp * 2):
            colours[bytes(line[x : x + 3])] += 1
        prev = line
    return width, height, colours


# Counts, for one state of the page: flags overlapping a time label, bubbles whose visible text is cut to
# a few letters, and whether there were flags and labels to compare at all; written on <body>.
_LAYOUT_PROBE = """
function probe(name) {
  function hit(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }
  var flags = Array.from(document.querySelectorAll('.flag')).map(function (e) { return e.getBoundingClientRect(); });
  var secs = Array.from(document.querySelectorAll('.sec')).map(function (e) { return e.getBoundingClientRect(); });
  var overlaps = 0, cut = 0;
  flags.forEach(function (f) { secs.forEach(function (s) { if (hit(f, s)) { overlaps++; } }); });
  document.querySelectorAll('.span').forEach(function (e) {
    var shown = getComputedStyle(e).color !== 'rgba(0, 0, 0, 0)';
    if (shown && e.scrollWidth > e.clientWidth + 1 && e.clientWidth < 60) { cut++; }
  });
  document.body.setAttribute('data-' + name, 'overlaps=' + overlaps + ' cut=' + cut +
    ' flags=' + Number(flags.length > 0) + ' secs=' + Number(secs.length > 0));
}
"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)")
def test_html_opens_in_headless_chromium(results: list[ScenarioResult], tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    write_html(results[1:2], report)  # one call: its swimlanes are on the first screen
    # Click like a user would: a webhook message (its payload and reply show), then zoom in. Before and
    # after the zoom, measure what the eye would see: time labels overlapped by a marker's flag, and
    # speech bubbles showing a few letters and an ellipsis ("N...").
    clicks = (
        f"<script>{_LAYOUT_PROBE}probe('z1');"
        "document.querySelector('.lane-webhook .tick.t-tool-calls').click();"
        "document.querySelector('[data-zoom=\"2\"]').click();probe('z2');"
        "document.querySelector('[data-zoom=\"0.5\"]').click();"
        "document.querySelector('[data-zoom=\"0.5\"]').click();probe('z05');</script></body>"
    )
    report.write_text(report.read_text().replace("</body>", clicks))
    shot = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,900",
    ]

    argv = [str(CHROMIUM), *flags, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", f"--screenshot={shot}"]
    dom = subprocess.run([*argv, report.as_uri()], capture_output=True, text=True, timeout=90, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console  # an uncaught script error would be logged here
    # the script ran to its end, and the swimlanes are in the rendered DOM
    assert re.search(r'<body[^>]*class="[^"]*js-ready', dom.stdout)
    for lane in ("caller", "assistant", "webhook"):
        assert f'class="lane lane-{lane}"' in dom.stdout
    assert dom.stdout.count('class="span ') >= 3 and 'class="mark m-hang"' in dom.stdout
    # the click opened the payload panel with the delivered message and the server's reply
    panel = dom.stdout.split('<div class="panel"', 1)[1].split("</pre>", 1)[0]
    assert not panel.startswith(" hidden") and "tool-calls (sent to the server URL)" in panel
    assert "// reply" in panel and '"toolCallList": [' in panel and '"timestamp": ' in panel
    assert '"call": {' in panel and '"artifact": {' in panel
    # the layout: flags have a band of their own, and no bubble is cut to a letter or two
    for zoom in ("z1", "z2", "z05"):
        probe = re.search(rf'data-{zoom}="([^"]*)"', dom.stdout)
        assert probe is not None, zoom
        assert probe.group(1) == "overlaps=0 cut=0 flags=1 secs=1", (zoom, probe.group(1))
    # the header's delivery count is the one the message list reconciles
    meta = re.search(r'<p class="meta">.*? · (\d+) deliveries · ', dom.stdout)
    listed = re.search(r"All messages \((\d+): (\d+) delivered to the webhook", dom.stdout)
    assert meta is not None and listed is not None
    assert meta.group(1) == listed.group(2) == str(results[1].deliveries)
    rows = dom.stdout.split('<table class="msgs">', 1)[1].split("</table>", 1)[0]
    assert rows.count("<tr ") == int(listed.group(1)) and rows.count("<td>yes</td>") == results[1].deliveries
    # the screenshot is the page drawn: full size, many colours, the lane colours among them
    width, height, colours = _png(shot, rows=600)  # the swimlanes of one call are in the top 600 rows
    assert (width, height) == (1280, 900)
    assert len(colours) > 50
    for lane_colour in ("2f6fdf", "1a9a5a", "d62f2f"):  # caller, assistant, failure
        assert bytes.fromhex(lane_colour) in colours, lane_colour


def test_a_call_the_target_derails_is_an_error_in_both_reports(tmp_path: Path) -> None:
    """A scenario that breaks while playing (here: steps after the end) is reported, never raised."""
    text = "version: 1\nname: derailed\nsteps:\n  - user: hi\n  - end: voicemail\n  - user: still here\n"
    (result,) = run([load_text(text, "derailed.yaml")], RunOptions(target=handle))
    assert result.status == "error" and "the call already ended (voicemail)" in result.failures[0]
    assert result.trace is not None and result.ended_reason == "voicemail"
    xml = junitparser.JUnitXml.fromstring(junit_xml([result]))
    (case,) = list(xml)[0] if isinstance(xml, junitparser.JUnitXml) else list(xml)
    (error,) = case.result
    assert isinstance(error, junitparser.Error) and "derailed.yaml:6:5" in (error.message or "")
    page = render_html([result])
    assert '<span class="badge error">ERROR</span>' in page and 'class="lane lane-caller"' in page
    (scripted,) = run([load_text(text, "derailed.yaml")], RunOptions())
    assert scripted.status == "error" and scripted.trace is None
    assert "ERROR" in render_html([scripted])


def test_every_failure_gets_a_timeline_around_its_own_moment(results: list[ScenarioResult]) -> None:
    failed = results[2]  # tool-error against a server answering 500 to everything
    assert [f.split(":")[0] for f in failed.failures] == ["expectation", "delivery-failed", "non-200-reply"]
    assert len(failed.excerpts) == 3
    page = render_html([failed])
    sections = page.split('<details open class="around">')[1:]
    assert len(sections) == 3
    centres = []
    for number, (section, failure, excerpt) in enumerate(
        zip(sections, failed.failures, failed.excerpts, strict=True), 1
    ):
        summary = section.split("</summary>", 1)[0]
        assert summary == f"<summary>Timeline around failure {number}: {html.escape(failure)}"
        assert f"<pre>{html.escape(excerpt)}</pre>" in section
        centres.append(next(line for line in excerpt.splitlines() if line.startswith("  > ")).split()[2])
    # the tool's failures at its tool-calls; the failed deliveries at the first of them, not at the end
    first = next(i for i in failed.trace.items if i.sent) if failed.trace else None
    assert first is not None
    assert centres == ["tool-calls", first.type, "tool-calls"]
