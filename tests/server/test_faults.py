"""Server-wide faults: `mockvapi serve --fault`, the control plane's /_mockvapi/faults, and an abrupt
websocket close of a `vapi.websocket` call as its client sees it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mockvapi.scenario.faults import FaultPlan
from mockvapi.serve import fault_plan, serve
from mockvapi.testing import MockVapi

TOKEN = "test-token"
PCM_16K = {"format": "pcm_s16le", "container": "raw", "sampleRate": 16000}


@pytest.fixture
async def vapi() -> AsyncIterator[MockVapi]:
    async with MockVapi(serve=True, token=TOKEN, strict=False, faults=["duplicate:status-update"]) as mock:
        yield mock


async def websocket_call(vapi: MockVapi) -> tuple[str, list[str], int | None]:
    """Create a vapi.websocket call over REST, read its text frames until the socket goes away."""
    body = {"assistant": {"name": "Jordan"}, "transport": {"provider": "vapi.websocket", "audioFormat": PCM_16K}}
    got: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        async with http.post(f"{vapi.server.url}/call", json=body) as response:
            created = await response.json()
        async with http.ws_connect(created["transport"]["websocketCallUrl"]) as ws:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    got.append(json.loads(frame.data)["type"])
            code = ws.close_code
    call = vapi.find_call(created["id"])
    assert call is not None
    async with asyncio.timeout(10):
        await call.wait()
    return created["id"], got, code


@pytest.mark.parametrize(("fault", "code", "marker"), [
    ("close-websocket:model-output", 1006, "close"),  # no close frame: an abnormal closure
    ("close-websocket:model-output,code=1011", 1011, "close 1011"),
])
async def test_websocket_closes_abruptly_mid_turn(vapi: MockVapi, fault: str, code: int, marker: str) -> None:
    vapi.faults = [fault]
    call_id, got, close_code = await websocket_call(vapi)
    assert close_code == code
    assert got and "model-output" not in got and got[-1] != "status-update"  # cut off mid-call
    call = vapi.find_call(call_id)
    assert call is not None
    [closed] = call.deliveries(channel="websocket", injected=True)
    assert (closed.message_type, closed.injected, closed.sent) == ("model-output", marker, False)
    sent = [d.message_type for d in call.deliveries(channel="websocket") if d.sent]
    assert sent == got  # nothing recorded as sent after the close
    assert call.ended_reason is not None  # the call itself played on to its end


async def test_control_plane_reads_replaces_and_clears_the_server_wide_faults(vapi: MockVapi) -> None:
    url = f"{vapi.server.url}/_mockvapi/faults"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            assert (r.status, (await r.json())["faults"]) == (200, ["duplicate:status-update"])
        async with http.put(url, json={"faults": ["drop:hang", {"delay": {"type": "hang", "by": "2s"}}]}) as r:
            body = await r.json()
            assert r.status == 200 and body["faults"] == ["drop:hang", "delay:hang,by=2s"]
            assert body["plan"][1] == {"delay": {"type": "hang", "by": 2.0}}
        yaml = {"Content-Type": "application/yaml"}  # text/plain is refused: a page could send it
        async with http.put(url, data="- stale-token\n- retry-5xx: {times: 3}\n") as r:
            assert r.status == 415
        async with http.put(url, data="- stale-token\n- retry-5xx: {times: 3}\n", headers=yaml) as r:
            assert (await r.json())["faults"] == ["stale-token", "retry-5xx,times=3"]
        assert vapi.faults.compact() == ["stale-token", "retry-5xx,times=3"]
        async with http.put(url, data="- delay: {type: hang, by: soon}\n", headers=yaml) as r:
            error = await r.json()
            assert r.status == 400 and error["message"][0].startswith("<posted faults>:1:27: expected a duration")
        async with http.put(url, json={"faults": ["drp:hang"]}) as r:
            assert r.status == 400 and "did you mean 'drop'?" in json.dumps(await r.json())
        async with http.put(url, json=[1]) as r:
            assert r.status == 400
        async with http.delete(url) as r:
            assert (await r.json())["faults"] == [] and not vapi.faults
        async with http.post(f"{vapi.server.url}/_mockvapi/reset") as r:
            assert r.status == 200
        assert vapi.faults.compact() == ["duplicate:status-update"]  # back to the plan it started with


async def test_calls_created_over_rest_get_the_server_wide_faults(vapi: MockVapi) -> None:
    hooks: list[str] = []

    def hook(body: dict[str, Any]) -> None:
        hooks.append(body["message"]["type"])

    vapi.webhook = hook
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        http.post(f"{vapi.server.url}/call", json={"assistant": {"name": "Riley"}}) as r,
    ):
        created = await r.json()
    call = vapi.find_call(created["id"])
    assert call is not None
    await call.wait()
    assert [d.injected for d in call.deliveries(injected=True)] == ["duplicate"]
    first = hooks.index("status-update")
    assert hooks[first + 1] == "status-update"


def test_serve_options_build_one_plan(tmp_path: Any) -> None:
    file = tmp_path / "faults.yaml"
    file.write_text("faults:\n  - drop: hang\n")
    plan = fault_plan(["duplicate:tool-calls", "retry-5xx,times=3"], str(file))
    assert plan.compact() == ["drop:hang", "duplicate:tool-calls", "retry-5xx,times=3"]
    assert fault_plan() == FaultPlan()


def test_serve_refuses_bad_faults_without_a_traceback(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve(port=0, faults=["dely:hang,by=2s"]) == 2
    err = capsys.readouterr().err
    assert "cannot serve: bad faults" in err and "did you mean 'delay'?" in err and "Traceback" not in err
    file = tmp_path / "f.yaml"
    file.write_text("- drop: {type: hang, nth: 0}\n")
    assert serve(port=0, faults_file=str(file)) == 2
    assert f"{file}:1:27: Input should be greater than or equal to 1" in capsys.readouterr().err
