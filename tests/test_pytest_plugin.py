"""The pytest plugin, run the way users run it (pytester): the fixture in sync and async tests, the
factory, the marker, --mockvapi-seed/--mockvapi-speed, failure output, teardown checks, xdist."""

from __future__ import annotations

import re

import pytest

# The inner runs are in-process and forget what they import; what is imported here they reuse.
import mockvapi.pytest_plugin  # noqa: F401

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

# A short call, for a real clock: about six seconds of call time.
QUICK = '''
QUICK = """
version: 1
name: quick
steps:
  - user: "Hi, are you open today?"
  - assistant: "Yes, until six."
  - end: customer-ended-call
"""
'''

FAILING_HOOK = """
def failing(body, headers):
    return 500, {"error": "database down"}
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(INI)
    # Inner runs must print as on a developer's machine: with CI set, pytest stops truncating its
    # short summary, and the counts of lines asserted below change.
    for name in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    return pytester


def test_report_header_shows_seed_and_clock(project: pytest.Pytester) -> None:
    project.makepyfile("def test_nothing(): pass")
    assert "mockvapi: seed=scenario default, clock=virtual" in project.runpytest().stdout.str()
    out = project.runpytest("--mockvapi-seed=7", "--mockvapi-speed=50").stdout.str()
    assert "mockvapi: seed=7, clock=real x50" in out


def test_fixture_in_a_sync_test_plays_on_a_background_loop(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import threading
        from mockvapi.engine.clock import VirtualClock

        def test_sync(mockvapi):
            call = mockvapi.play_sync("barge-in")
            assert call.task.get_loop() is not None
            assert isinstance(mockvapi.clock, VirtualClock)
            assert call.ended_reason == "customer-ended-call"
            call.assert_delivered("model-output", "user-interrupted", "end-of-call-report")
            assert [t.name for t in threading.enumerate()].count("mockvapi-loop") == 1

        def test_stopped_after_each_test():
            assert "mockvapi-loop" not in [t.name for t in threading.enumerate()]
        """
    )
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_fixture_in_an_async_test_plays_on_the_tests_loop(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import asyncio
        import threading

        async def test_async(mockvapi):
            call = await mockvapi.play("barge-in")
            assert call.task.get_loop() is asyncio.get_running_loop()
            assert "mockvapi-loop" not in [t.name for t in threading.enumerate()]
            call.assert_ended("customer-ended-call")

        async def test_messages_as_they_stream(mockvapi):
            call = mockvapi.start_call("happy-path")
            types = [message["type"] async for message in call.client]
            await call.wait()
            assert types[0] == "status-update" and "conversation-update" in types
        """
    )
    project.runpytest().assert_outcomes(passed=2)


def test_factory_plays_several_calls_in_one_test(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_sync(mockvapi, mockvapi_call):
            calls = [mockvapi_call(name) for name in ("happy-path", "barge-in", "tool-call")]
            assert [c.name for c in calls] == ["happy-path", "barge-in", "tool-call"]
            assert len({c.id for c in calls}) == 3
            assert mockvapi.calls == calls

        async def test_async(mockvapi, mockvapi_call):
            first = await mockvapi_call("happy-path")
            second = await mockvapi_call("happy-path", seed=99)
            assert first.id != second.id and second.seed == 99
            assert all(c.done for c in mockvapi.calls)
        """
    )
    project.runpytest().assert_outcomes(passed=2)


def test_marker_sets_scenario_seed_and_profile(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest

        @pytest.mark.mockvapi(scenario="barge-in", seed=42, profile="spec")
        def test_marked(mockvapi):
            call = mockvapi.play_sync()
            assert (call.name, call.seed, call.player.profile) == ("barge-in", 42, "spec")

        @pytest.mark.mockvapi(scenario="barge-in", seed=42)
        async def test_same_seed_same_call(mockvapi):
            call = await mockvapi.play()
            assert call.seed == 42

        def test_unmarked(mockvapi):
            call = mockvapi.play_sync()
            assert (call.name, call.seed) == ("happy-path", 1001)
        """
    )
    project.runpytest().assert_outcomes(passed=3)


def test_marker_with_unknown_argument_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest

        @pytest.mark.mockvapi(scenarios="barge-in")
        def test_typo(mockvapi):
            pass
        """
    )
    result = project.runpytest()
    result.assert_outcomes(errors=1)
    assert "UsageError: mockvapi marker: unknown arguments ['scenarios']" in result.stdout.str()


def test_a_failing_handler_fails_teardown_with_the_problems_listed(project: pytest.Pytester) -> None:
    project.makepyfile(
        FAILING_HOOK
        + """
import pytest

def test_strict(mockvapi):
    call = mockvapi.play_sync("happy-path", webhook=failing)
    assert call.ended_reason == "customer-ended-call"  # the test itself passes

@pytest.mark.mockvapi(strict=False)
def test_lenient(mockvapi):
    call = mockvapi.play_sync("happy-path", webhook=failing)
    assert len(call.problems) == len(call.deliveries())

@pytest.mark.mockvapi(webhook=failing)
def test_failed_test_gets_no_second_error(mockvapi):
    mockvapi.play_sync("happy-path")
    assert False, "the test's own failure"
"""
    )
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    out = result.stdout.str()
    assert "ERROR at teardown of test_strict" in out
    faults = int(re.search(r"(\d+) problem\(s\) recorded, none allowed:", out).group(1))  # type: ignore[union-attr]
    # Every delivery failed alike: said once, with the count, not once per delivery.
    assert re.search(rf"delivery-failed at 0\.\d{{3}}s: every delivery to callable:failing answered HTTP 500 "
                     rf"\({faults} deliveries\)\n", out)
    assert out.count("every delivery to callable:failing") == 1
    assert "ERROR at teardown of test_failed_test" not in out


def test_scenario_expect_blocks_are_checked_at_teardown(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        SCENARIO = '''
        version: 1
        name: wrong-ending
        steps:
          - user: "Bye!"
          - end: customer-ended-call
        expect:
          ended_reason: assistant-ended-call
          delivered: [hang]
        '''

        def test_expectations(mockvapi):
            mockvapi.play_sync(SCENARIO, webhook=lambda body, headers: {})
        """
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*mockvapi: call failed:",
            "*- ended with 'customer-ended-call', expected 'assistant-ended-call'",
            "*- 'hang' was never delivered",
            "*call * ('wrong-ending', seed *, ended customer-ended-call)",
        ]
    )


def test_failed_assertion_prints_timeline_and_nearest_candidate(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_typo(mockvapi):
            call = mockvapi.play_sync("barge-in", webhook=lambda body, headers: {})
            call.assert_delivered("model-output", "user-interupted")
        """
    )
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "nearest delivered type: 'user-interrupted'" in out
    assert re.search(r"delivered: status-update×3, conversation-update×\d+, ", out)
    # The timeline: offset, channel, type, reply and latency, centred (">") on the nearest candidate.
    assert re.search(r"E\s+> +\d+\.\d{3}s  webhook   user-interrupted +-> 200 in \d+ms  turn [0-9a-f]{8}", out)
    assert re.search(r"E\s+\d+\.\d{3}s  webhook   model-output +-> 200 in \d+ms  ' \w+'", out)
    assert re.search(r"E\s+\.\.\. \d+ earlier", out)


def test_seed_is_in_every_failure_and_replays_the_same_calls(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_ids(mockvapi):
            call = mockvapi.play_sync("barge-in")
            print("CALL", call.id, call.history[1]["message"])
            assert call.ended_reason == "silence-timed-out"
        """
    )

    def run(*args: str) -> tuple[list[str], str]:
        result = project.runpytest(*args)  # the failure shows what the test printed
        result.assert_outcomes(failed=1)
        out = result.stdout.str()
        return re.findall(r"^CALL .*$", out, re.M), out

    first, out = run("--mockvapi-seed=7")
    assert first == run("--mockvapi-seed=7")[0]
    assert first != run("--mockvapi-seed=8")[0]
    assert "- mockvapi -" in out  # a report section, after the plain assert's own message
    assert "seed 7 for every call: rerun with --mockvapi-seed=7" in out
    _, default = run()
    assert "seed 2002 (the scenario's own): a rerun plays the same calls" in default


def test_speed_option_plays_on_a_real_clock(project: pytest.Pytester) -> None:
    project.makepyfile(
        QUICK
        + """
from mockvapi.engine.clock import RealClock

def test_real_time(mockvapi):
    assert isinstance(mockvapi.clock, RealClock) and mockvapi.clock.speed == 200
    start = mockvapi.clock.now()
    call = mockvapi.play_sync(QUICK)
    assert 1 < call.timeline.duration < 20  # seconds of call time
    assert mockvapi.clock.now() - start >= call.timeline.duration  # the clock's own readings: it was waited out
"""
    )
    project.runpytest("--mockvapi-speed=200").assert_outcomes(passed=1)


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "inf", "1e999", "fast", "100000"])
def test_a_bad_speed_is_one_usage_error_not_an_error_per_test(project: pytest.Pytester, speed: str) -> None:
    project.makepyfile("def test_a(mockvapi): pass\ndef test_b(mockvapi): pass\n")
    result = project.runpytest(f"--mockvapi-speed={speed}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "--mockvapi-speed" in err and "Traceback" not in err + result.stdout.str()


def test_marker_speed_plays_on_a_real_clock(project: pytest.Pytester) -> None:
    project.makepyfile(
        QUICK
        + """
import pytest
from mockvapi.engine.clock import RealClock

@pytest.mark.mockvapi(speed=200)
async def test_real_time(mockvapi):
    assert isinstance(mockvapi.clock, RealClock) and mockvapi.clock.speed == 200
    (await mockvapi.play(QUICK)).assert_ended("customer-ended-call")
"""
    )
    project.runpytest().assert_outcomes(passed=1)


def test_parallel_under_xdist(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("name", ["happy-path", "barge-in", "tool-call", "transfer"])
        def test_sync(mockvapi, name):
            assert mockvapi.play_sync(name).done

        @pytest.mark.mockvapi(serve=True)
        @pytest.mark.parametrize("n", range(3))
        async def test_served(mockvapi, n):
            assert mockvapi.server.url.startswith("http://127.0.0.1:")
            assert (await mockvapi.play("barge-in")).done
        """
    )
    result = project.runpytest_subprocess("-n", "2", "-p", "no:randomly")
    result.assert_outcomes(passed=7)
    assert "2 workers" in result.stdout.str()


def test_a_run_whose_tests_use_no_mockvapi_never_imports_the_engine(project: pytest.Pytester) -> None:
    # pytest loads the plugin in every run where mockvapi is installed; the engine and its models (~150 ms)
    # wait for a test that uses them. A fresh process: this one has imported everything already.
    project.makeconftest(
        """
        import sys

        def pytest_sessionfinish(session):
            with open("imported.txt", "w") as out:
                out.write(str(sorted(m for m in ("mockvapi.testing", "pydantic") if m in sys.modules)))
        """
    )
    project.makepyfile(
        test_plain="""
        def test_passes():
            pass

        def test_fails():
            assert 1 == 2

        async def test_async():
            pass
        """
    )
    project.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=2, failed=1)
    assert (project.path / "imported.txt").read_text() == "[]"
    project.makepyfile(test_uses="def test_call(mockvapi):\n    mockvapi.play_sync('happy-path')\n")
    project.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=3, failed=1)
    assert (project.path / "imported.txt").read_text() == "['mockvapi.testing', 'pydantic']"
