"""The benchmark harness (`python -m bench`): module runs, failures, results.json and the doc table.

Logic only, never timing: fake benchmark modules stand in for the real ones, except one quick run of
the cheapest real module end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FAKE = "benchfake"


@pytest.fixture(autouse=True)
def bench_importable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(REPO))
    yield


def _fake_modules(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Register benchfake.{ok,boom,misses,other}; `other` records that it ran."""
    from bench._core import Figure

    def module(name: str, run: Any) -> None:
        mod = types.ModuleType(f"{FAKE}.{name}")
        mod.NAME = name  # type: ignore[attr-defined]
        mod.run = run  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"{FAKE}.{name}", mod)

    package = types.ModuleType(FAKE)
    package.__path__ = []
    monkeypatch.setitem(sys.modules, FAKE, package)
    ran: list[bool] = []

    def boom(quick: bool) -> list[Figure]:
        raise RuntimeError("the receiver fell over")

    module("ok", lambda quick: [Figure("ok", "speed", 2.0, "msg/s", 1.0, 2.0, "≥ 1×", True, "quick" if quick else "")])
    module("boom", boom)
    module("misses", lambda quick: [Figure("misses", "lateness | p99", 30.0, "ms", None, None, "< 20 ms", False)])
    module("other", lambda quick: ran.append(quick) or [])
    return ["ok", "boom", "misses", "other"]


def _main(argv: list[str], modules: list[str]) -> int:
    from bench.__main__ import main

    return main(argv, modules=modules, package=FAKE)


def test_a_crash_is_recorded_the_rest_still_run_and_the_exit_is_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    modules = _fake_modules(monkeypatch)
    out, doc = tmp_path / "results.json", tmp_path / "bench.md"
    assert _main(["--quick", "--out", str(out), "--doc", str(doc)], modules) == 1
    results = json.loads(out.read_text())
    assert results["mode"] == "quick"
    assert results["command"].startswith("python -m bench --quick")
    assert {"cpu_count", "cpu_model", "python", "platform"} <= set(results["machine"])
    assert "load_before" in results and "load_after" in results and results["date"]
    assert [m["name"] for m in results["modules"]] == modules
    [boom] = [m for m in results["modules"] if m["name"] == "boom"]
    assert "RuntimeError: the receiver fell over" in boom["error"] and boom["figures"] == []
    assert [(f["benchmark"], f["name"], f["met"]) for f in results["figures"]] == [
        ("ok", "speed", True), ("misses", "lateness | p99", False)]
    assert results["figures"][0]["detail"] == "quick"
    printed = capsys.readouterr().out
    assert "CRASHED: boom" in printed and "MISSED: misses/lateness | p99" in printed
    assert "| boom | **crashed** |" in doc.read_text()


def test_only_runs_the_named_modules_and_a_missed_goal_fails_only_when_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = _fake_modules(monkeypatch)
    out, doc = tmp_path / "results.json", tmp_path / "bench.md"
    paths = ["--out", str(out), "--doc", str(doc)]
    assert _main(["--only", "misses", "ok", *paths], modules) == 0
    results = json.loads(out.read_text())
    assert results["mode"] == "full" and [m["name"] for m in results["modules"]] == ["ok", "misses"]
    assert _main(["--only", "misses", "--strict", *paths], modules) == 1
    with pytest.raises(SystemExit) as exc:
        _main(["--only", "nosuch", *paths], modules)
    assert exc.value.code == 2


def test_the_doc_table_is_regenerated_between_the_markers_and_the_prose_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.__main__ import BEGIN, END

    modules = _fake_modules(monkeypatch)
    doc = tmp_path / "bench.md"
    doc.write_text(f"# Benchmarks\n\nMethod prose.\n\n{BEGIN}\nstale table\n{END}\n\n## Profiles\n\nAfter prose.\n")
    paths = ["--out", str(tmp_path / "r.json"), "--doc", str(doc)]
    _main(["--only", "ok", *paths], modules)
    _main(["--only", "misses", *paths], modules)
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nMethod prose.\n\n") and text.endswith("## Profiles\n\nAfter prose.\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and "stale table" not in text
    table = text.split(BEGIN)[1].split(END)[0]
    assert "| misses | lateness \\| p99 | 30 ms |" in table and "| ok |" not in table
    assert "| Benchmark | Figure | Value | Floor | Ratio | Goal | Met |" in table and "**MISSED**" in table


def test_a_doc_without_markers_gets_them_appended_and_a_missing_doc_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.__main__ import BEGIN, END

    modules = _fake_modules(monkeypatch)
    plain, missing = tmp_path / "plain.md", tmp_path / "docs" / "new.md"
    plain.write_text("# Hand-written\n")
    for doc in (plain, missing):
        _main(["--only", "ok", "--out", str(tmp_path / "r.json"), "--doc", str(doc)], modules)
    assert plain.read_text().startswith("# Hand-written\n\n" + BEGIN)
    assert BEGIN in missing.read_text() and missing.read_text().rstrip().endswith(END)


def test_every_listed_module_names_itself_and_has_run() -> None:
    import importlib

    from bench.__main__ import MODULES

    assert len(set(MODULES)) == len(MODULES)
    for name in MODULES:
        module = importlib.import_module(f"bench.{name}")
        assert name == module.NAME and callable(module.run), name


def test_python_m_bench_quick_runs_one_real_module(tmp_path: Path) -> None:
    out, doc = tmp_path / "results.json", tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "simulate", "--out", str(out), "--doc", str(doc)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert {f["benchmark"] for f in results["figures"]} == {"simulate"}
    assert all(f["unit"] == "msg/s" and f["floor"] > 0 for f in results["figures"])


def test_realtime_lateness_is_against_the_runs_schedule_and_lost_webhooks_count_late() -> None:
    from bench.realtime import Schedule, summarize

    schedule = Schedule(t0=100.0, window=10.0)
    # Call a was due to start at 100.0 (start_ms 5000), call b at 101.0 (start_ms 9000).
    schedule.due = {"a": (100.0, 5000), "b": (101.0, 9000)}
    schedule.expected_webhooks = 4
    webhooks = [
        ["a", 5000 + 2000, 102.004],  # due at 102.0: 4 ms late
        ["b", 9000 + 1000, 102.030],  # due at 102.0 (b starts at 101): 30 ms late, although on time for b's own start
        ["b", 9000 + 9500, 120.0],  # due at 110.5, after the window: not counted
        ["ghost", 0, 0.0],  # not a call of this run
    ]
    frames = [["ws://h/b/transport", 9000 + 3000, 104.001]]
    summary = summarize(schedule, webhooks, frames, ended=111.0, joined=[["ws://h/b/transport", 101.25]])
    assert summary["webhooks"] == 2 and summary["lost_webhooks"] == 2 and summary["frames"] == 1
    assert summary["messages"] == 5
    # Two lost webhooks count as late by the run's end minus the window's end (1 s), so p99 is 1 s.
    assert summary["max_ms"] == pytest.approx(1000.0)
    assert summary["p99_ms"] == pytest.approx(1000.0)
    assert summary["websocket_p99_ms"] == pytest.approx(1.0, abs=1e-6)
    assert summary["join_p99_ms"] == pytest.approx(250.0)


def test_realtime_counts_nothing_lost_when_every_due_webhook_arrived() -> None:
    from bench.realtime import Schedule, summarize

    schedule = Schedule(t0=0.0, window=5.0)
    schedule.due = {"a": (0.0, 0)}
    schedule.expected_webhooks = 2
    summary = summarize(schedule, [["a", 1000, 1.002], ["a", 2000, 2.001]], [], ended=9.0)
    assert summary["lost_webhooks"] == 0
    assert summary["p99_ms"] == pytest.approx(2.0)
    assert summary["p50_ms"] == pytest.approx(1.5)


def test_realtime_figure_is_the_worst_run_and_bisection_rounds() -> None:
    from bench.realtime import _http_figure, _midpoint

    def run(p99: float) -> dict[str, Any]:
        return {"p99_ms": p99, "p50_ms": 1.0, "max_ms": p99, "webhooks": 1, "lost_webhooks": 0,
                "webhook_p99_ms": p99, "frames": 0, "ws_clients": 0, "websocket_p99_ms": 0.0,
                "join_p99_ms": 0.0, "cpu_share": 0.5}

    figure = _http_figure(500, [run(12.0), run(25.0)], run(4.0))
    assert figure.value == 25.0 and figure.met is False and figure.floor == 4.0
    assert _http_figure(500, [run(12.0), run(19.0)], run(4.0)).met is True
    assert _midpoint(250, 500) == 375 and _midpoint(100, 200) == 150
