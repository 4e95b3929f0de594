"""mockvapi.load.pacing in child processes (they import gevent, which this process must not)."""

from __future__ import annotations

import json

from .conftest import run_child

SHARE_AND_TICKS = r'''
import gc, json, weakref
from gevent import monkey; monkey.patch_all()
import gevent
from mockvapi.engine.gcpace import GcPacer
from mockvapi.load.pacing import GeventTimers, PacingShare

out = {}
gc.enable()
share = PacingShare()
share.acquire()
share.acquire()
out["paced"] = [gc.isenabled(), share.pacer is not None]
share.release()
out["one_left"] = [gc.isenabled(), share.pacer is not None]
share.release()
share.release()  # more releases than acquires: nothing to undo
out["released"] = [gc.isenabled(), share.pacer is None]

# A tick runs in a greenlet of its own, not in the hub (a collection's finalizers may switch greenlets).
ran = []
handle = GeventTimers().call_later(0, lambda: ran.append(gevent.getcurrent() is not gevent.get_hub()))
handle.greenlet.join()
cancelled = GeventTimers().call_later(0, lambda: ran.append("cancelled ran"))
cancelled.cancel()
cancelled.greenlet.join()
out["ran"] = ran

# With the automatic GC off, the pacer's tick collects cyclic garbage once the young generation is due.
class Node:
    def __init__(self):
        self.me = self

gc.disable()
node = Node()
ref = weakref.ref(node)
del node
pacer = GcPacer(GeventTimers(), young_threshold=1)
pacer.start()
pacer._handle.greenlet.join()
out["collected"] = [ref() is None, pacer.collections[0]]
pacer.stop()
print(json.dumps(out))
'''

USERS_PACE_WHILE_THEY_PLAY = r'''
import gc, json
from gevent import monkey; monkey.patch_all()
import gevent
import gevent.event
from locust.env import Environment
from mockvapi.load import user as load_user
from mockvapi.load.user import VapiCallUser

seen = []
two_calls = gevent.event.Event()

class Line(VapiCallUser):
    scenarios = "tests/load/scenarios/short-talk.yaml"
    target = "http://127.0.0.1:9/hook"  # refused at once: calls end fast, their deliveries failed
    speed = 50.0

    def on_call(self, result):
        seen.append([gc.isenabled(), load_user._PACING.pacer is not None])
        if len(seen) == 2:
            two_calls.set()

gc.enable()
environment = Environment(user_classes=[Line], host=Line.target)
runner = environment.create_local_runner()
gevent.get_hub().loop.update_now()
runner.start(2, spawn_rate=100)
assert two_calls.wait(timeout=30)
runner.quit()
print(json.dumps({"during": seen[:2], "after": [gc.isenabled(), load_user._PACING.pacer is None]}))
'''


async def test_one_pacer_is_shared_and_its_ticks_run_in_greenlets_and_collect() -> None:
    code, out, err = await run_child("-c", SHARE_AND_TICKS)
    assert code == 0, err[-2000:]
    result = json.loads(out)
    assert result["paced"] == [False, True]
    assert result["one_left"] == [False, True]
    assert result["released"] == [True, True]
    assert result["ran"] == [True]
    collected, young_collections = result["collected"]
    assert collected and young_collections == 1


async def test_locust_users_pace_the_gc_while_they_play_and_restore_it_when_they_stop() -> None:
    code, out, err = await run_child("-c", USERS_PACE_WHILE_THEY_PLAY)
    assert code == 0, err[-2000:]
    result = json.loads(out)
    assert result["during"] == [[False, True], [False, True]]
    assert result["after"] == [True, True]
