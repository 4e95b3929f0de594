"""A self-contained HTML report of a run: one page, inline CSS and JS, no external URLs.

Per call, a swimlane timeline with three lanes: the caller (user speech, transcripts, barge-ins), the
assistant (speech, model tokens, TTS input, tool calls) and the webhook (every server message sent,
coloured by how the server answered, with bars for the time the call waited on an answer).
Interruptions, hangs, problems and the end of the call are marked across all lanes. Clicking any
element shows its full payload (and the server's reply) in a panel under the lanes; the list of all
messages under each call works the same way.

The lanes are positioned divs laid out server-side (readable without JS); the script only shows
payloads and zooms, so a broken script cannot hide the timeline.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mockvapi.qa.runner import ScenarioResult
from mockvapi.qa.trace import CallTrace, ReplyInfo, TraceItem

__all__ = ["render_html", "write_html"]

WIDTH = 1100  # px the whole call takes at zoom 1, within the limits below
MIN_PX_PER_S, MAX_PX_PER_S = 6.0, 60.0
LANE_TITLES = {"caller": "Caller", "assistant": "Assistant", "webhook": "Webhook replies"}
TEXT_PX = 6.5  # about one character of the bubbles' 11px font
TIGHT_PX = 64  # narrower than this, a bubble whose text does not fit shows none


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _json_script(data: Any) -> str:
    # "<" only occurs inside JSON strings, where \u003c means the same: no "</script>" can close the tag.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).replace("<", "\\u003c")


def _reply_dict(reply: ReplyInfo | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    return {
        "status": reply.status,
        "latencyMs": None if reply.latency is None else round(reply.latency * 1000, 1),
        "error": reply.error,
        "attempts": reply.attempts,
        "scripted": reply.scripted,
        "body": reply.body,
    }


def _call_data(trace: CallTrace) -> dict[str, Any]:
    return {
        "start": trace.start_ms,
        "server": trace.server_side,
        "shared": trace.shared,
        "history": trace.history,
        "openai": trace.history_openai,
        "items": [
            {
                "at": i.at,
                "t": i.type,
                "l": i.label,
                "p": i.payload,
                "h": i.history_len,
                "s": i.sent,
                "r": _reply_dict(i.reply),
            }
            for i in trace.items
        ],
    }


class _Scale:
    def __init__(self, duration: float) -> None:
        self.pxs = min(MAX_PX_PER_S, max(MIN_PX_PER_S, WIDTH / max(duration, 1.0)))
        self.width = max(duration, 1.0) * self.pxs + 40

    def x(self, seconds: float) -> str:
        return f"calc({seconds * self.pxs:.1f}px * var(--z))"

    def w(self, seconds: float) -> str:
        return f"max(3px, calc({max(seconds, 0.0) * self.pxs:.1f}px * var(--z)))"


def _tick_class(item: TraceItem) -> str:
    classes = ["tick", "t-" + item.type.replace(".", "-").replace("[", "").replace("]", "")]
    if item.reply is not None:
        classes.append("ok" if item.reply.ok else "bad")
    return " ".join(classes)


def _title(item: TraceItem) -> str:
    title = f"{item.at:.3f}s {item.type}: {item.label}"
    if item.reply is not None:
        r = item.reply
        title += f" -> {r.status if r.status is not None else 'no reply'}"
        if r.error:
            title += f" ({r.error})"
    return title


def _swimlane(trace: CallTrace) -> str:
    scale = _Scale(trace.duration)
    lanes: dict[str, list[str]] = {lane: [] for lane in LANE_TITLES}
    for span in trace.spans:
        attrs = f' data-i="{span.item}"' if span.item is not None else f' data-h="{span.history}"'
        # A bubble too short to show a few words shows none (its text is in the tooltip and the panel)
        # rather than a first letter and an ellipsis; the script re-decides this after a zoom.
        width = max(span.end - span.start, 0.0) * scale.pxs
        tight = " tight" if width < min(len(span.text) * TEXT_PX + 10, TIGHT_PX) else ""
        lanes[span.lane].append(
            f'<div class="span {span.kind}{tight}"{attrs} style="left:{scale.x(span.start)};'
            f'width:{scale.w(span.end - span.start)}" title="{_esc(span.text)}">{_esc(span.text)}</div>'
        )
    for index, item in enumerate(trace.items):
        if item.lane is not None:
            lanes[item.lane].append(
                f'<div class="{_tick_class(item)}" data-i="{index}" style="left:{scale.x(item.at)}" '
                f'title="{_esc(_title(item))}"></div>'
            )
        if item.sent:
            lanes["webhook"].append(
                f'<div class="{_tick_class(item)} sent" data-i="{index}" style="left:{scale.x(item.at)}" '
                f'title="{_esc(_title(item))}"></div>'
            )
    marks = []
    for mark in trace.marks:
        attrs = f' data-i="{mark.item}"' if mark.item is not None else ""
        marks.append(
            f'<div class="mark m-{mark.kind}"{attrs} style="left:{scale.x(mark.at)}" title="{_esc(mark.text)}">'
            f'<span class="flag">{_esc(_FLAGS[mark.kind])}</span></div>'
        )
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200) if s * scale.pxs >= 70)
    ticks = [
        f'<div class="sec" style="left:{scale.x(t)}">{_clock(t)}</div>'
        for t in range(0, int(trace.duration) + step, step)
    ]
    rows = "".join(
        f'<div class="lane lane-{lane}" data-lane="{lane}">{"".join(parts)}</div>' for lane, parts in lanes.items()
    )
    labels = "".join(f'<div class="label">{title}</div>' for title in LANE_TITLES.values())
    return (
        '<div class="swim" style="--z:1">'
        f'<div class="labels"><div class="label axis-label">time</div>{labels}</div>'
        f'<div class="scroll"><div class="canvas" style="width:calc({scale.width:.0f}px * var(--z))">'
        f'<div class="axis">{"".join(ticks)}</div>{rows}{"".join(marks)}</div></div></div>'
    )


_FLAGS = {"interrupt": "⚡", "hang": "hang", "end": "■", "problem": "✖"}


def _clock(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"


def _messages_table(trace: CallTrace, deliveries: int) -> str:
    rows = []
    for index, item in enumerate(trace.items):
        reply = ""
        if item.reply is not None:
            r = item.reply
            reply = str(r.status) if r.status is not None else "no reply"
            if r.latency is not None:
                reply += f" in {r.latency * 1000:.0f}ms"
            if r.error:
                reply += f" ({r.error})"
            if r.scripted:
                reply += " (scripted)"
        css = "bad" if item.reply is not None and not item.reply.ok else ("sent" if item.sent else "unsent")
        rows.append(
            f'<tr class="{css}" data-i="{index}"><td>{item.at:.3f}s</td><td>{_esc(item.type)}</td>'
            f"<td>{'yes' if item.sent else ''}</td><td>{_esc(reply)}</td><td>{_esc(item.label[:160])}</td></tr>"
        )
    # The header's delivery count, reconciled: what went to the webhook, and what only the call had.
    sent = sum(item.sent for item in trace.items)
    again = f", plus {deliveries - sent} sent again (retries, duplicates)" if deliveries > sent else ""
    kept = f", {len(trace.items) - sent} not for the webhook" if len(trace.items) > sent else ""
    counts = f"{len(trace.items)}: {sent} delivered to the webhook{again}{kept}"
    return (
        f'<details class="all"><summary>All messages ({counts}; click a row for its payload)</summary>'
        '<table class="msgs"><thead><tr><th>at</th><th>type</th><th>to server</th><th>reply</th><th>what</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )


def _short(text: str, limit: int = 140) -> str:
    first = text.split("\n", 1)[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _call_section(index: int, result: ScenarioResult) -> str:
    status = result.status
    meta = [
        _esc(result.file),
        f"ended <b>{_esc(result.ended_reason)}</b>",
        f"{result.call_duration:.1f}s call",
        f"{result.deliveries} deliveries",
        f"seed {_esc(result.seed)}",
        f"call {_esc(result.call_id)}",
        f"{result.wall:.2f}s to run",
    ]
    parts = [
        f'<section class="call {status}" id="call-{index}">',
        f'<h2><span class="badge {status}">{status.upper()}</span> {_esc(result.name)}</h2>',
        f'<p class="meta">{" · ".join(meta)}</p>',
    ]
    if result.failures:
        items = "".join(f"<li>{_esc(f)}</li>" for f in result.failures)
        parts.append(f'<ul class="failures">{items}</ul>')
    others = [p for p in result.problems if not any(p in f for f in result.failures)]
    if others:
        parts.append('<ul class="problems">' + "".join(f"<li>{_esc(p)}</li>" for p in others) + "</ul>")
    if result.trace is not None:
        parts.append(
            '<div class="tools"><button type="button" data-zoom="0.5" title="zoom out">−</button>'
            '<button type="button" data-zoom="1" title="reset zoom">1×</button>'
            '<button type="button" data-zoom="2" title="zoom in">+</button>'
            '<span class="legend"><i class="lg speech"></i>speech <i class="lg cut"></i>interrupted speech '
            '<i class="lg wait"></i>waiting for the server <i class="lg okd"></i>reply ok '
            '<i class="lg badd"></i>failed reply · ⚡ interruption · <b class="hg">hang</b> · ✖ problem · '
            "■ end</span></div>"
        )
        parts.append(_swimlane(result.trace))
        parts.append(
            '<div class="panel" hidden><div class="panel-head"><b class="panel-title"></b>'
            '<button type="button" class="close" title="close">×</button></div><pre class="payload"></pre></div>'
        )
        parts.append(_messages_table(result.trace, result.deliveries))
        parts.append(
            f'<script type="application/json" class="call-data">{_json_script(_call_data(result.trace))}</script>'
        )
    if result.status != "passed":
        # Each failure gets the timeline around its own moment: a second failure is often elsewhere.
        excerpts = result.excerpts or ([result.excerpt] if result.excerpt else [])
        for number, excerpt in enumerate(excerpts, 1):
            failure = result.failures[number - 1] if number <= len(result.failures) else ""
            what = f"failure {number}: {failure}" if len(excerpts) > 1 else "the failure"
            parts.append(
                f'<details open class="around"><summary>Timeline around {_esc(_short(what))}</summary>'
                f"<pre>{_esc(excerpt)}</pre></details>"
            )
    parts.append("</section>")
    return "\n".join(parts)


def render_html(results: Sequence[ScenarioResult], *, target: str | None = None, title: str = "mockvapi run") -> str:
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    rows = "".join(
        f'<tr class="{r.status}"><td><a href="#call-{i}">{_esc(r.name)}</a></td>'
        f'<td><span class="badge {r.status}">{r.status.upper()}</span></td><td>{r.call_duration:.1f}s</td>'
        f"<td>{r.deliveries}</td><td>{len(r.failures)}</td><td>{_esc(r.failures[0] if r.failures else '')}</td></tr>"
        for i, r in enumerate(results)
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = "\n".join(_call_section(i, r) for i, r in enumerate(results))
    verdict = "passed" if not failed else "failed"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}: {passed} passed, {failed} failed</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{_esc(title)} <span class="badge {verdict}">{passed} passed, {failed} failed</span></h1>
<p class="meta">target: {_esc(target or "scripted replies (no target)")} · {when}</p>
<table class="summary"><thead><tr><th>scenario</th><th>result</th><th>duration</th><th>deliveries</th>
<th>failures</th><th>first failure</th></tr></thead><tbody>{rows}</tbody></table>
</header>
<main>
{sections}
</main>
<script>{_JS}</script>
</body>
</html>
"""


def write_html(results: Sequence[ScenarioResult], path: str | Path, *, target: str | None = None) -> None:
    Path(path).write_text(render_html(results, target=target), encoding="utf-8")


_CSS = """
:root{--caller:#2f6fdf;--assistant:#1a9a5a;--webhook:#5b6b7d;--bad:#d62f2f;--hang:#8a4fd8;--cut:#e8890c}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232b;
 background:#f4f6f9}
header{background:#fff;padding:16px 24px;border-bottom:1px solid #dde3ea}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:0 0 4px}
main{padding:16px 24px}
.meta{color:#5b6b7d;margin:2px 0 8px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;
 vertical-align:middle}
.badge.passed{background:#1a9a5a}.badge.failed{background:var(--bad)}.badge.error{background:#9a3412}
table{border-collapse:collapse}
.summary td,.summary th{padding:3px 10px;border-bottom:1px solid #e6eaf0;text-align:left;font-size:13px}
.summary td:last-child{color:var(--bad);max-width:560px;overflow:hidden;text-overflow:ellipsis;
 white-space:nowrap}
section.call{background:#fff;border:1px solid #dde3ea;border-left:5px solid #1a9a5a;border-radius:6px;
 padding:12px 16px;margin:0 0 18px}
section.call.failed{border-left-color:var(--bad)}section.call.error{border-left-color:#9a3412}
ul.failures{color:var(--bad);margin:6px 0;padding-left:20px}ul.problems{color:#9a3412;margin:6px 0;
 padding-left:20px}
.tools{margin:6px 0;font-size:12px;color:#5b6b7d}
.tools button{font:inherit;padding:0 8px;margin-right:4px;border:1px solid #c7d0db;background:#fff;
 border-radius:4px;cursor:pointer}
.legend{margin-left:10px}.lg{display:inline-block;width:14px;height:9px;margin:0 3px 0 8px;border-radius:2px;
 vertical-align:middle}
.lg.speech{background:var(--assistant)}.lg.cut{background:var(--cut)}.lg.wait{background:#b9c6d6}
.lg.okd{background:var(--webhook)}.lg.badd{background:var(--bad)}
.swim{display:flex;border:1px solid #dde3ea;border-radius:4px;background:#fbfcfd}
.labels{flex:0 0 120px;border-right:1px solid #dde3ea}
.label{height:56px;padding:6px 8px;font-weight:600;font-size:12px;border-bottom:1px solid #eef1f5}
.label.axis-label{height:38px;padding:3px 8px;color:#8796a8;font-weight:400}
.scroll{overflow-x:auto;flex:1 1 auto}
.canvas{position:relative;min-width:100%}
.axis{position:relative;height:38px;border-bottom:1px solid #dde3ea}
.sec{position:absolute;top:2px;font-size:11px;line-height:15px;color:#8796a8;border-left:1px solid #dde3ea;
 padding-left:3px;height:16px;white-space:nowrap}
.lane{position:relative;height:56px;border-bottom:1px solid #eef1f5}
.span{position:absolute;top:6px;height:24px;border-radius:4px;color:#fff;font-size:11px;line-height:24px;
 padding:0 5px;
 overflow:hidden;white-space:nowrap;text-overflow:ellipsis;cursor:pointer}
.lane-caller .span{background:var(--caller)}.lane-assistant .span{background:var(--assistant)}
.span.cut{background:var(--cut)!important;border-right:3px solid var(--bad)}
.span.wait{background:#b9c6d6;color:#1d232b}
.span.tight{color:transparent!important}
.tick{position:absolute;top:36px;width:3px;height:14px;margin-left:-1px;border-radius:1px;background:#9aa7b6;
 cursor:pointer}
.lane-caller .tick{background:var(--caller);opacity:.55}.lane-assistant .tick{background:var(--assistant);
 opacity:.55}
.tick.t-model-output{height:8px;top:42px}
.tick.t-user-interrupted{background:var(--cut)!important;opacity:1!important;height:20px;top:32px}
.tick.t-tool-calls,.tick.t-assistant-request,.tick.t-transfer-destination-request{width:5px;height:20px;
 top:32px;opacity:1!important}
.lane-webhook .tick{background:var(--webhook);opacity:.8}
.lane-webhook .tick.bad{background:var(--bad);opacity:1;height:22px;top:32px}
.tick:hover,.span:hover,.sel{outline:2px solid #111}
.mark{position:absolute;top:38px;bottom:0;width:0;border-left:2px dashed var(--cut);cursor:pointer}
.mark.m-hang{border-left-color:var(--hang)}.mark.m-problem{border-left:2px solid var(--bad)}
.mark.m-end{border-left:2px solid #1d232b}
.flag{position:absolute;top:-19px;left:-8px;font-size:13px;background:#fff;border-radius:3px;line-height:16px;
 white-space:nowrap}
.m-problem .flag{color:var(--bad)}.m-hang .flag,.hg{color:var(--hang);font-size:11px;font-weight:700}
.m-interrupt .flag{color:var(--cut)}
.panel{margin-top:8px;border:1px solid #c7d0db;border-radius:4px;background:#fff}
.panel-head{display:flex;justify-content:space-between;align-items:center;padding:4px 8px;background:#eef2f6}
.panel-head button{border:0;background:none;font-size:18px;cursor:pointer}
pre{margin:0;padding:8px;max-height:420px;overflow:auto;
 font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,monospace;background:#fbfcfd}
details{margin-top:8px}summary{cursor:pointer;color:#33475b}
.msgs{font-size:12px;margin-top:4px}.msgs td,.msgs th{padding:1px 8px;text-align:left;
 border-bottom:1px solid #f0f2f5}
.msgs tr[data-i]{cursor:pointer}.msgs tr.unsent{color:#8796a8}.msgs tr.bad{color:var(--bad)}
"""

_JS = """
(function () {
  "use strict";
  function deref(d, v) {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      if ("$history" in v) { return d.history.slice(0, v["$history"]); }
      if ("$openai" in v) { return d.openai.slice(0, v["$openai"]); }
    }
    return v;
  }
  function expand(d, obj) {
    var out = {};
    Object.keys(obj).forEach(function (k) { out[k] = deref(d, obj[k]); });
    return out;
  }
  function payload(d, i) {
    var it = d.items[i], out = expand(d, it.p);
    if (out.artifact && typeof out.artifact === "object") { out.artifact = expand(d, out.artifact); }
    out.timestamp = d.start + Math.round(it.at * 1000);
    if (d.server && !("artifact" in out) && it.t !== "assistant-request") {
      out.artifact = {messages: d.history.slice(0, it.h), messagesOpenAIFormatted: d.openai.slice(0, it.h)};
    }
    ["call", "assistant", "customer", "phoneNumber"].forEach(function (k) {
      var own = k in out;  // a squad member after a handoff carries its own assistant
      if (k in d.shared && !own && !(k === "assistant" && it.t === "assistant-request")) { out[k] = d.shared[k]; }
    });
    return out;
  }
  function show(section, d, el) {
    var panel = section.querySelector(".panel");
    var title = panel.querySelector(".panel-title"), pre = panel.querySelector(".payload");
    var text, head;
    if (el.hasAttribute("data-i")) {
      var i = Number(el.getAttribute("data-i")), it = d.items[i];
      head = it.at.toFixed(3) + "s " + it.t + (it.s ? " (sent to the server URL)" : " (not sent to the server URL)");
      text = JSON.stringify(it.s ? {message: payload(d, i)} : payload(d, i), null, 2);
      if (it.r) { text = "// reply\\n" + JSON.stringify(it.r, null, 2) + "\\n\\n// request\\n" + text; }
    } else {
      var h = Number(el.getAttribute("data-h"));
      head = "history item " + h + " (" + d.history[h].role + ")";
      text = JSON.stringify(d.history[h], null, 2);
    }
    section.querySelectorAll(".sel").forEach(function (x) { x.classList.remove("sel"); });
    el.classList.add("sel");
    title.textContent = head;
    pre.textContent = text;
    panel.hidden = false;
  }
  function fit(section) {
    section.querySelectorAll(".span").forEach(function (el) {
      el.classList.remove("tight");
      if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth < __TIGHT_PX__) { el.classList.add("tight"); }
    });
  }
  document.querySelectorAll("section.call").forEach(function (section) {
    var script = section.querySelector("script.call-data");
    if (!script) { return; }
    fit(section);
    var d = JSON.parse(script.textContent);
    section.addEventListener("click", function (ev) {
      var target = ev.target;
      if (!(target instanceof Element)) { return; }
      var zoom = target.closest("[data-zoom]");
      if (zoom) {
        var swim = section.querySelector(".swim");
        var z = Number(zoom.getAttribute("data-zoom"));
        var now = Number(swim.style.getPropertyValue("--z")) || 1;
        swim.style.setProperty("--z", String(z === 1 ? 1 : Math.min(32, Math.max(0.125, now * z))));
        fit(section);
        return;
      }
      if (target.closest(".close")) { section.querySelector(".panel").hidden = true; return; }
      var el = target.closest("[data-i],[data-h]");
      if (el) { show(section, d, el); }
    });
  });
  document.body.classList.add("js-ready");
})();
""".replace("__TIGHT_PX__", str(TIGHT_PX))
