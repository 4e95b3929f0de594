"""mockvapi.load.calls in a child process (it imports gevent, which this process must not)."""

from __future__ import annotations

import json

from .conftest import run_child

HANG_AFTER_A_LATE_REQUEST = r'''
import json
from mockvapi.engine.events import Ask, Event, Reply, Waiting
from mockvapi.library import resolve
from mockvapi.load.calls import GeventCall, WebhookClient
from mockvapi.models.messages import Hang


class Answer:
    """An answer that comes `after` seconds into the wait: ready once a wait allowed that long."""

    def __init__(self, after):
        self.after, self.allowed = after, None

    def wait(self, timeout):
        self.allowed = timeout

    def ready(self):
        return self.allowed is not None and self.allowed >= self.after

    def get(self):
        return Reply(200, {"results": []}, 0.1), None


# The call's clock reads 10 s since its start (base 0): it runs 10 s behind its plan (a slow reply answered
# as scripted).
call = GeventCall(resolve("happy-path"), WebhookClient("http://127.0.0.1:9/hook"), speed=1.0, clock=lambda: 10.0)
ask = Ask("tool-calls", Event(0, Hang(), history_len=0, step=None, seq=1), 20.0, 1.0, Reply(200, {}, 0.0))
out = {}
for behind in (10.0, 0.0):
    answer = Answer(after=0.1)
    reply, _ = call._answer(ask, answer, behind)
    out[str(behind)] = [type(reply).__name__, answer.allowed]
    call._hung.clear()
print(json.dumps(out))
'''


async def test_the_hang_threshold_counts_from_when_a_late_request_went_out() -> None:
    # As CallPlayer: a request that went out 10 s late has 1 s from then; one on time, 10 s into the call
    # with a 1 s threshold, has none left.
    code, out, err = await run_child("-c", HANG_AFTER_A_LATE_REQUEST)
    assert code == 0, err[-2000:]
    assert json.loads(out) == {"10.0": ["Reply", 1.0], "0.0": ["Waiting", 0.0]}
