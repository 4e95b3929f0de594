"""The pure side of `mockvapi.load`: the scenario mix, user seeds, the CLI wrapper; no locust here."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from mockvapi.cli import build_parser, main
from mockvapi.load.command import LOCUSTFILE, locust_argv
from mockvapi.load.mix import load_mix, next_call, parse_weights, user_seed
from tests.imports import imported_after

SCENARIOS = Path(__file__).with_name("scenarios")


def test_nothing_the_package_or_plugin_imports_pulls_in_locust_or_gevent() -> None:
    code = ("import mockvapi, mockvapi.pytest_plugin, mockvapi.cli, mockvapi.load, mockvapi.load.command, "
            "mockvapi.load.mix; mockvapi.cli.build_parser()")
    assert imported_after(code, ("locust", "gevent")) == []


def test_weights_parse_and_reject_bad_entries() -> None:
    assert parse_weights("a=2, b=0.5,") == {"a": 2.0, "b": 0.5}
    assert parse_weights({"a": 1}) == {"a": 1.0}
    assert parse_weights(None) == {}
    for bad in ("a", "=1", "a=x", "a=-1"):
        with pytest.raises(ValueError, match="mockvapi: "):
            parse_weights(bad)


def test_the_mix_weighs_scenarios_by_file_stem() -> None:
    mix = load_mix(str(SCENARIOS), "short-expect=0,short-tool=3")
    assert mix.names == ("short-talk", "short-tool")
    assert mix.weights == (1.0, 3.0)
    assert repr(mix) == "Mix(short-talk=1, short-tool=3)"
    assert load_mix("tool-call,transfer").names == ("tool-call", "transfer")  # bundled names
    with pytest.raises(ValueError, match="unknown scenarios"):
        load_mix(str(SCENARIOS), "nope=1")
    with pytest.raises(ValueError, match="weight 0"):
        load_mix(str(SCENARIOS), "short-expect=0,short-tool=0,short-talk=0")


def test_user_seeds_are_stable_and_distinct() -> None:
    assert user_seed(0, 0, 0) == user_seed(0, 0, 0)
    seeds = {user_seed(base, worker, user) for base in (0, 1) for worker in range(3) for user in range(50)}
    assert len(seeds) == 300
    mix = load_mix(str(SCENARIOS))
    first = [next_call(mix, random.Random(user_seed(7, 1, 2)))[::2] for _ in range(2)]
    assert first[0] == first[1]


def test_the_cli_runs_the_bundled_locustfile_headless() -> None:
    args = build_parser().parse_args([
        "load", "scenarios", "--to", "http://127.0.0.1:9/hook", "-u", "50", "-r", "5", "-t", "2m",
        "--seed", "3", "--weights", "tool-call=2", "--csv", "out", "--html", "r.html",
        "--locust-args", "--loglevel WARNING",
    ])
    argv = locust_argv(args)
    assert argv[:5] == [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    text = " ".join(argv[5:])
    assert text == (
        "--headless --host http://127.0.0.1:9/hook --users 50 --spawn-rate 5.0 --run-time 2m "
        "--mockvapi-scenarios scenarios --mockvapi-seed 3 --mockvapi-weights tool-call=2 "
        "--csv out --html r.html --loglevel WARNING"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/no/such/dir"], "no such file or bundled scenario"),
        ([str(SCENARIOS), "--weights", "nope=2"], "unknown scenarios ['nope']"),
        ([str(SCENARIOS), "--to", "ftp://x"], "--to must be an http(s) URL"),
        ([str(SCENARIOS), "--speed", "0"], "--speed must be > 0"),
    ],
)
def test_the_cli_refuses_unusable_runs_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    full = ["load", *argv] + ([] if "--to" in argv else ["--to", "http://127.0.0.1:9/hook"])
    assert main(full) == 2
    err = capsys.readouterr().err
    assert err.startswith("mockvapi load: ") and message in err
