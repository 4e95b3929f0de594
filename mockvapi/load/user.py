"""`VapiCallUser`: a Locust user that is one phone line, playing scenario calls against a webhook.

Each user plays calls one after another (`wait_time` 0 by default: a line is never idle), each a
scenario picked from a weighted mix with the user's own seeded random generator: user *k* of worker
*w* always gets the same sequence of scenarios and call seeds for the same base seed. Calls are
played by `mockvapi.load.calls.GeventCall`, exactly as the delivery layer plays them.

Every delivery fires Locust's request event, ``request_type="webhook"``, named by message type, with
the target's latency and answer length, and as a failure (`DeliveryError`) when the target answered
non-2xx, timed out, refused the connection, or gave an answer the call could not use. Every finished
call fires ``request_type="call"`` named ``expect <scenario>`` (its wall time as response time), a
failure (`ExpectationFailed`) when the scenario's `expect` / `expect_reply` did not hold. The
request events carry the `DeliveryRecord` / `CallResult` as ``response`` and the call's scenario,
seed and id as ``context``, for listeners that keep the target's answers.

Settings, first found wins: the class attribute (subclass to fix them), the Locust option
(``--mockvapi-scenarios`` ...), the environment variable (``MOCKVAPI_SCENARIOS`` ...), the default:

=========== =================================== ======================= ==========================
setting     option                              environment variable    default
=========== =================================== ======================= ==========================
scenarios   ``--mockvapi-scenarios``            ``MOCKVAPI_SCENARIOS``  the bundled library
target      ``--host``                          ``MOCKVAPI_TARGET``     (required)
seed        ``--mockvapi-seed``                 ``MOCKVAPI_SEED``       0
weights     ``--mockvapi-weights``              ``MOCKVAPI_WEIGHTS``    1 for every scenario
speed       ``--mockvapi-speed``                ``MOCKVAPI_SPEED``      1 (real time)
profile     ``--mockvapi-profile``              ``MOCKVAPI_PROFILE``    realistic
=========== =================================== ======================= ==========================

``scenarios``: a folder (its *.yaml), or comma-separated files and bundled names. ``weights``:
``name=w,name=w`` by file stem; unlisted scenarios weigh 1, weight 0 leaves one out. ``speed``
plays calls faster than real time (for tests and smoke runs; load tests want 1).

While any user of the process plays, the cyclic GC is paced (`mockvapi.load.pacing`): its automatic
collections, which paused a worker of 400 real-time calls for hundreds of milliseconds, are off.

Importing this module imports locust, which monkey-patches the process for gevent.
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from locust import User, constant, events, task
from locust.env import Environment

from mockvapi.engine.expectations import EXPECTATION
from mockvapi.errors import DeliveryError, ExpectationFailed
from mockvapi.load.calls import CallResult, DeliveryRecord, GeventCall, WebhookClient
from mockvapi.load.mix import load_mix, next_call, user_seed
from mockvapi.load.pacing import PacingShare
from mockvapi.models.messages import Profile, profile_named
from mockvapi.scenario.loader import LoadedScenario

__all__ = ["VapiCallUser", "call_failure"]

_USER_INDEX = itertools.count()  # per process, across every VapiCallUser subclass
_PACING = PacingShare()  # one GC pacer per process while any user plays

_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("scenarios", "MOCKVAPI_SCENARIOS", "scenario folder, or comma-separated files/bundled names"),
    ("seed", "MOCKVAPI_SEED", "base seed: user k of worker w plays the same calls for the same seed"),
    ("weights", "MOCKVAPI_WEIGHTS", "scenario mix, e.g. tool-call=3,barge-in=1 (unlisted: 1)"),
    ("speed", "MOCKVAPI_SPEED", "call speed factor (1 = real time)"),
    ("profile", "MOCKVAPI_PROFILE", "message profile: realistic or spec"),
)


def _add_arguments(parser: Any) -> None:
    for name, env_var, help_text in _OPTIONS:
        parser.add_argument(f"--mockvapi-{name}", env_var=env_var, default=None, help=help_text)


# Registered on import, so any locustfile that imports this module gets the options (and Locust's
# master hands them to its workers).
events.init_command_line_parser.add_listener(_add_arguments)  # type: ignore[no-untyped-call]


def call_failure(result: CallResult) -> str:
    """Why a call failed, worded to group in Locust's failure table (no per-call ids or counts).

    The full sentences stay in `result.failures` and `result.error`."""
    if result.error is not None:
        return result.error.split("\n")[0][:200]
    parts = []
    for failure in result.failures:
        if " problem(s) recorded, at most " in failure:
            kinds = sorted({kind for _, kind, _ in result.problems if kind != EXPECTATION})
            parts.append("more problems than expect.problems allows: " + ", ".join(kinds))
        else:
            parts.append(failure)
    return "; ".join(parts)


class VapiCallUser(User):
    """One phone line: plays scenario calls against the target, reporting every delivery to Locust.

    Subclass it to fix settings (class attributes below; None: from options/environment) or to add
    an `on_call(result)` hook. The ready locustfile (`mockvapi/load/locustfile.py`) is one such subclass.
    """

    abstract = True
    wait_time = constant(0)

    scenarios: ClassVar[str | Sequence[str | Path] | None] = None
    target: ClassVar[str | None] = None
    seed: ClassVar[int | None] = None
    weights: ClassVar[str | Mapping[str, float] | None] = None
    speed: ClassVar[float | None] = None
    profile: ClassVar[Profile | None] = None

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        cls = type(self)
        spec = cls.scenarios if cls.scenarios is not None else self._setting("scenarios")
        self.mix = load_mix(spec, cls.weights if cls.weights is not None else self._setting("weights"))
        target = cls.target or self.host or environment.host or os.environ.get("MOCKVAPI_TARGET")
        if not target:
            raise ValueError("mockvapi: no target URL: pass --host URL (or set MOCKVAPI_TARGET)")
        self.client = WebhookClient(target)
        self.call_speed = float(cls.speed if cls.speed is not None else self._setting("speed") or 1.0)
        profile = cls.profile or self._setting("profile") or "realistic"
        self.message_profile = profile_named(profile)
        base = cls.seed if cls.seed is not None else int(self._setting("seed") or 0)
        runner = environment.runner
        self.worker_index = max(0, int(getattr(runner, "worker_index", 0) or 0))
        self.user_index = next(_USER_INDEX)
        self.user_seed = user_seed(base, self.worker_index, self.user_index)
        self.rng = random.Random(self.user_seed)
        self.calls_played = 0
        self.last_result: CallResult | None = None
        self._call: GeventCall | None = None
        self._paced = False

    def _setting(self, name: str) -> str | None:
        options = self.environment.parsed_options
        value = getattr(options, f"mockvapi_{name}", None) if options is not None else None
        if value is None:
            value = os.environ.get(f"MOCKVAPI_{name.upper()}")
        return None if value is None or value == "" else str(value)

    @task
    def play_call(self) -> None:
        """Play the next call of this user's seeded sequence."""
        self.play(*next_call(self.mix, self.rng))

    def play(self, name: str, scenario: LoadedScenario, seed: int) -> CallResult:
        """Play one call to its end and report it (its deliveries are reported as they finish)."""
        context = {"scenario": name, "seed": seed, "user": f"{self.worker_index}:{self.user_index}"}
        if not self._paced:  # here, not in on_start, which a subclass may override without super()
            _PACING.acquire()
            self._paced = True

        def delivered(record: DeliveryRecord) -> None:
            self.environment.events.request.fire(
                request_type="webhook",
                name=record.message_type,
                response_time=record.latency * 1000,
                response_length=record.response_length,
                response=record,
                context={**context, "call_id": record.call_id},
                exception=DeliveryError(record.reason or record.failure) if record.failure is not None else None,
            )

        call = GeventCall(scenario, self.client, seed=seed, speed=self.call_speed,
                          profile=self.message_profile, on_delivery=delivered)
        self._call = call
        try:
            result = call.run()
        finally:
            self._call = None
        failure = ExpectationFailed(call_failure(result)) if not result.passed else None
        self.environment.events.request.fire(
            request_type="call",
            name=f"expect {name}",
            response_time=result.wall * 1000,
            response_length=len(result.deliveries),
            response=result,
            context={**context, "call_id": result.call_id},
            exception=failure,
        )
        self.calls_played += 1
        self.last_result = result
        self.on_call(result)
        return result

    def on_call(self, result: CallResult) -> None:
        """Called after each call with its result (the target's answers are in `result.deliveries`)."""

    def on_stop(self) -> None:
        if self._call is not None:
            self._call.kill()
        self.client.close()
        if self._paced:
            self._paced = False
            _PACING.release()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(worker={self.worker_index}, user={self.user_index}, "
                f"seed={self.user_seed}, calls={self.calls_played}, target={self.client.url!r})")
