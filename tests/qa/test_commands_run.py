from __future__ import annotations

import socket
from pathlib import Path

import junitparser
import pytest

from mockvapi.cli import main
from mockvapi.library import bundled_dir


def _suite(path: Path) -> junitparser.TestSuite:
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    assert len(suites) == 1
    return suites[0]


def _failures(suite: junitparser.TestSuite) -> dict[str, list[junitparser.Failure | junitparser.Error]]:
    out: dict[str, list[junitparser.Failure | junitparser.Error]] = {}
    for case in suite:
        bad = [r for r in case.result if isinstance(r, junitparser.Failure | junitparser.Error)]
        if bad:
            out[case.name] = bad
    return out


def test_bundled_folder_passes_against_a_test_server(
    scenarios_copy: Path, app_spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.html"
    argv = ["run", str(scenarios_copy), "--to-app", app_spec, "--junit", str(junit), "--html", str(report)]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, out
    names = sorted(p.stem for p in scenarios_copy.glob("*.yaml"))
    table = out.split("\n\n")[0].splitlines()
    assert table[0].split() == ["SCENARIO", "RESULT", "DURATION", "DELIVERIES", "FAILURES"]
    assert len(table) == len(names) + 1 and all(line.split()[1] == "passed" for line in table[1:])
    assert f"{len(names)} scenario(s): {len(names)} passed, 0 failed" in out
    # progress: one plain line per finished scenario on stderr
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert len(progress) == len(names) and progress[-1].startswith(f"[{len(names)}/{len(names)}] PASSED")
    suite = _suite(junit)
    assert suite.tests == len(names) and suite.failures == 0 and suite.errors == 0
    assert sorted(case.classname.removeprefix("mockvapi.") for case in suite) == names
    assert _failures(suite) == {}
    assert report.stat().st_size > 10_000


def test_real_url(webhook_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every kind of ask (tool-calls, assistant-request, transfer-destination-request) over real HTTP."""
    names = ["tool-error", "inbound-assistant-request", "slow-tool-hang", "transfer"]
    junit = tmp_path / "junit.xml"
    files = [str(bundled_dir() / f"{n}.yaml") for n in names]
    code = main(["run", *files, "--to", webhook_url, "--junit", str(junit), "--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    suite = _suite(junit)
    assert [case.name for case in suite] == names and suite.failures == 0
    assert f'name="target" value="{webhook_url}"' in junit.read_text()


def test_one_failing_expectation_exits_1_with_exactly_that_failure(
    scenarios_copy: Path, app_spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    happy = scenarios_copy / "happy-path.yaml"
    happy.write_text(happy.read_text().replace("ended_reason: customer-ended-call", "ended_reason: voicemail"))
    junit = tmp_path / "junit.xml"
    code = main(["run", str(scenarios_copy), "--to-app", app_spec, "--junit", str(junit), "--jobs", "4", "-q"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err == ""  # -q: no progress
    assert "1 failed" in out and "FAILED happy-path" in out
    assert "ended with 'customer-ended-call', expected 'voicemail'" in out
    failures = _failures(_suite(junit))
    assert list(failures) == ["happy-path"]
    (failure,) = failures["happy-path"]
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "ended with 'customer-ended-call', expected 'voicemail'"
    assert "timeline (server messages):" in (failure.text or "")
    assert "end-of-call-report" in (failure.text or "")


def test_set_overrides_apply_to_the_run(app_spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    happy = str(bundled_dir() / "happy-path.yaml")
    assert main(["run", happy, "--to-app", app_spec, "-q"]) == 0
    assert main(["run", happy, "--to-app", app_spec, "-q", "--set", "expect.ended_reason=voicemail"]) == 1
    assert main(["run", happy, "--to-app", app_spec, "-q", "--set", "timing.tokens_per_second=80", "--seed", "7"]) == 0
    capsys.readouterr()


def test_without_target_plays_scripted_replies(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(bundled_dir() / f"{n}.yaml") for n in ("happy-path", "transfer", "slow-tool-hang")]
    assert main(["run", *files, "--profile", "spec"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["happy-path", "transfer", "slow-tool-hang"]
    assert "[3/3]" in err


def test_results_keep_input_order_with_jobs(app_spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["slow-model-hang", "happy-path", "barge-in", "transfer"]
    assert main(["run", *(str(bundled_dir() / f"{n}.yaml") for n in names), "--to-app", app_spec, "-j", "4"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[1:5]] == names


def test_unreachable_target_fails_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    files = [str(bundled_dir() / f"{n}.yaml") for n in ("happy-path", "inbound-assistant-request")]
    junit = tmp_path / "junit.xml"
    code = main(["run", *files, "--to", f"http://127.0.0.1:{port}/hook", "--junit", str(junit), "-q"])
    out = capsys.readouterr().out
    assert code == 1
    assert "Traceback" not in out
    # Once per target, then the count: not one line per refused delivery.
    unreachable = f"target unreachable: http://127.0.0.1:{port}/hook (connection refused)"
    assert f"\n{unreachable}\n2 scenario(s) could not deliver to it\n" in out
    assert out.count(unreachable) == 1 and "delivery-failed" not in out and "Errno" not in out
    suite = _suite(junit)
    assert suite.tests == 2 and suite.failures + suite.errors == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "timing.tokens_per_secnd=80"], "unknown key 'tokens_per_secnd' under timing"),
        (["--set", "nothing"], "expected key.path=value"),
        (["--to", "ftp://x"], "expected an http:// or https:// URL"),
        (["--to", "http://127.0.0.1:9/x", "--to-app", "x:y"], "either --to or --to-app"),
        (["--to-app", "no_such_module_here:app"], "No module named"),
        (["--jobs", "0"], "expected 1 or more"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(bundled_dir() / "happy-path.yaml"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_invalid_scenario_exits_2_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: bad\nsteps:\n  - user: hi\n  - asistant: hello\n")
    assert main(["run", str(bundled_dir() / "happy-path.yaml"), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert (f"{bad}:5:5: unknown step kind 'asistant': a step is one of user, assistant, tool, silence, "
            "transfer, handoff, end; did you mean 'assistant'? (step #2)") in err
    assert out == ""  # nothing was run
    unplayable = tmp_path / "unplayable.yaml"
    unplayable.write_text("version: 1\nname: u\nsteps:\n  - end: voicemail\n  - user: hi\n")
    assert main(["run", str(unplayable)]) == 2
    assert "unplayable.yaml:5:5: the call already ended (voicemail)" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["run", str(empty)]) == 2
    assert "no scenario files" in capsys.readouterr().err


def test_k_selects_by_name_or_file_and_x_stops_at_the_first_failure(
    scenarios_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(scenarios_copy), "-k", "barge,TOOL-E", "-q"])
    out, _ = capsys.readouterr()
    assert code == 0
    table = out.split("\n\n")[0].splitlines()[1:]
    assert [line.split()[0] for line in table] == [
        "barge-in", "booking-with-barge-in-and-slow-tool", "double-barge-in", "tool-error"
    ]
    assert main(["run", str(scenarios_copy), "-k", "slow-*-hang", "-q"]) == 0
    assert [line.split()[0] for line in capsys.readouterr()[0].split("\n\n")[0].splitlines()[1:]] == [
        "slow-model-hang", "slow-tool-hang"
    ]
    assert main(["run", str(scenarios_copy), "-k", "nothing-like-this"]) == 2
    assert capsys.readouterr()[1] == "mockvapi run: no scenario matches -k 'nothing-like-this'\n"

    with socket.socket() as sock:  # a port nothing listens on: every scenario fails
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = main(["run", str(scenarios_copy), "-x", "--to", f"http://127.0.0.1:{port}/hook", "-q"])
    out, err = capsys.readouterr()
    assert code == 1
    total = len(list(scenarios_copy.glob("*.yaml")))
    assert "1 scenario(s): 0 passed, 1 failed" in out
    assert err == f"mockvapi run: stopped at the first failure (-x); {total - 1} scenario(s) not run\n"
