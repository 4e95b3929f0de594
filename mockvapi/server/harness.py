"""`MockServer`: the REST app wired to the call engine, plus the `/_mockvapi/` control plane.

Calls created through the API play a scenario: the one named in the assistant's
`metadata.mockvapi.scenario`, else the server's default. The call record (GET /call/{id}) follows the
call as it plays (status, messages) and, once ended, carries exactly what the end-of-call-report did.

Control plane (optionally behind its own Bearer token):
    GET    /_mockvapi/scenarios                 names of the scenarios the server can play
    POST   /_mockvapi/scenarios                 load a scenario from YAML (body), or {"path": DIR_OR_FILE}
    POST   /_mockvapi/inbound-call              {"phoneNumberId", "scenario"?, "customer"?}: assistant-request first
    POST   /_mockvapi/clock/advance             {"seconds": N}: move a virtual clock (0 to 86400)
    GET    /_mockvapi/journal                   deliveries (?callId=&type=&outcome=&format=jsonl)
    GET    /_mockvapi/problems                  recorded problems
    GET    /_mockvapi/status                    what is held and what was let go: calls (held, running,
                                                forgotten past max_calls), REST call records, journal
    GET    /_mockvapi/faults                    faults injected into every new call
    PUT    /_mockvapi/faults                    replace them: JSON {"faults": [...]} or a YAML list
    DELETE /_mockvapi/faults                    inject none
    POST   /_mockvapi/reset                     forget every call, assistant, phone number and delivery;
                                                faults back to those the server started with
    DELETE /_mockvapi/calls/{callId}            forget one call and its deliveries

Retention: past `MockVapi.max_calls` (`serve --max-calls`), the oldest ended calls are forgotten with
their REST records (GET /call/{id} then answers 404); their journal entries stay until the journal's own
bound evicts them. A call that could not start has a record and no call object: the last `max_calls`
of those are kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, Literal

from aiohttp import web

from mockvapi.engine.clock import VirtualClock
from mockvapi.engine.context import CallOverrides
from mockvapi.engine.events import Event
from mockvapi.engine.journal import Problem
from mockvapi.engine.player import CallPlayer
from mockvapi.errors import ApiError, BadRequest, NotFound, ScenarioError, Unauthorized
from mockvapi.library import bundled_names
from mockvapi.scenario.fault_files import load_fault_text
from mockvapi.scenario.faults import FaultPlan, plan_of
from mockvapi.scenario.loader import LoadedScenario, load_file, load_text
from mockvapi.server.app import create_app, error_response
from mockvapi.server.backend import Backend, CallRecord, iso_from_ms
from mockvapi.server.handlers import base_url, read_json
from mockvapi.server.host import CallT, Host
from mockvapi.transports.websocket import serve_control, serve_transport

log = logging.getLogger("mockvapi.server")
PREFIX = "/_mockvapi"
# One advance moves at most a day: calls last minutes, and epoch milliseconds overflow near 1e305 s.
MAX_ADVANCE_SECONDS = 86_400
# Reset and forget wait this long (real seconds) for a stopped call's deliveries in flight.
STOP_SECONDS = 10.0


class MockServer(Generic[CallT]):
    """The stand-alone mock: REST API + websocket/control URLs + control plane, on one port."""

    def __init__(self, vapi: Host[CallT], *, control_token: str | None = None) -> None:
        self.vapi = vapi
        self.control_token = control_token
        self.loaded: dict[str, LoadedScenario] = {}
        self.backend = Backend(seed=vapi.seed or 0, now_ms=vapi.clock.epoch_ms)
        self.app = create_app(
            backend=self.backend,
            tokens=[vapi.token] if vapi.token else None,
            on_call_created=self._call_created,
            on_transport_ws=self._transport,
            on_listen_ws=self._listen,
            on_control=self._control,
            extra_routes=self._control_routes(),
        )
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.initial_faults: FaultPlan = vapi.faults
        # REST records forgotten with their calls (or as calls that could not start), past max_calls.
        self.forgotten_records = 0
        self._unstarted: deque[str] = deque()  # ids of records whose call could not start, oldest first
        if vapi.scenarios_dir is not None:
            self.load_path(vapi.scenarios_dir)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.vapi.host, self.vapi.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        host, port = sockets[0].getsockname()[:2]
        self.url = f"http://{self.vapi.host if self.vapi.host != '0.0.0.0' else host}:{port}"

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- scenarios ----------------------------------------------------------------------------

    def load_path(self, path: str | Path) -> list[str]:
        """Load one scenario file or every *.yaml in a folder; returns the names loaded."""
        target = Path(path)
        files = sorted(target.glob("*.yaml")) if target.is_dir() else [target]
        names = []
        for file in files:
            loaded = load_file(file)
            self.loaded[loaded.scenario.name] = loaded
            names.append(loaded.scenario.name)
        return names

    def scenario_names(self) -> list[str]:
        return sorted(set(self.loaded) | set(bundled_names()))

    def pick(self, assistant: Mapping[str, Any] | None) -> LoadedScenario | str:
        metadata = (assistant or {}).get("metadata")
        name = None
        if isinstance(metadata, Mapping) and isinstance(metadata.get("mockvapi"), Mapping):
            name = metadata["mockvapi"].get("scenario")
        name = str(name) if name else self.vapi.default_scenario
        return self.loaded.get(name) or name

    # -- calls --------------------------------------------------------------------------------

    async def _call_created(self, record: CallRecord, assistant: Mapping[str, Any] | None) -> None:
        try:
            self._start(record, assistant, assistant_request=None)
        except ScenarioError as exc:
            # POST /call has its record already; as when Vapi cannot load an assistant, the call ends at
            # once (instead of sitting "queued" forever) and the reason is recorded where tests look.
            detail = "; ".join(str(p) for p in exc.problems)
            self.vapi.journal.problem(Problem(record.id, "scenario", f"cannot play the call: {detail}", 0.0))
            record.apply({"status": "ended", "endedReason": "call.start.error-get-assistant"})
            log.warning("call %s (%s) cannot start: %s", record.id, record.type, detail)
            self._unstarted.append(record.id)
            while len(self._unstarted) > self.vapi.max_calls:
                self.forget_records([self._unstarted.popleft()])

    def forget_records(self, call_ids: Iterable[str]) -> None:
        """Drop the REST records of calls MockVapi forgot past `max_calls` (GET /call/{id} then 404s)."""
        for call_id in call_ids:
            if self.backend.calls.pop(call_id, None) is not None:
                self.forgotten_records += 1

    def _start(
        self, record: CallRecord, assistant: Mapping[str, Any] | None, *, assistant_request: bool | None
    ) -> None:
        scenario = self.vapi.load(self.pick(assistant))
        phone = None
        if record.data.get("phoneNumberId") in self.backend.phone_numbers:
            phone = dict(self.backend.phone_numbers[str(record.data["phoneNumberId"])])
        overrides = CallOverrides(
            call=record.data,
            assistant=dict(assistant) if assistant else None,
            phone_number=phone,
            assistant_request=assistant_request,
            # An assistant-request reply's assistantId names an assistant created through this REST API.
            find_assistant=self.backend.assistants.get,
        )
        websocket = record.type == "vapi.websocketCall"
        self.vapi.start_call(
            scenario,
            call_id=record.id,
            overrides=overrides,
            listeners=[_RecordUpdater(record)],
            wait_for_client=10.0 if websocket else None,
        )
        log.info(
            "call %s (%s) plays %r",
            record.id,
            record.type,
            scenario.scenario.name if isinstance(scenario, LoadedScenario) else scenario.name,
        )

    def _player(self, record: CallRecord) -> CallPlayer:
        call = self.vapi.find_call(record.id)
        if call is None:
            raise NotFound(f"No live call {record.id}")
        return call.player

    async def _transport(self, record: CallRecord, request: web.Request) -> web.StreamResponse:
        return await serve_transport(request, self._player(record), self.vapi.journal, self.vapi.clock)

    async def _listen(self, record: CallRecord, request: web.Request) -> web.StreamResponse:
        return await serve_transport(
            request, self._player(record), self.vapi.journal, self.vapi.clock, listen_only=True
        )

    async def _control(self, record: CallRecord, request: web.Request) -> web.StreamResponse:
        return await serve_control(request, self._player(record), self.vapi.journal)

    # -- control plane ------------------------------------------------------------------------

    def _control_routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}/scenarios", self._guard(self._list_scenarios)),
            web.post(f"{PREFIX}/scenarios", self._guard(self._load_scenarios)),
            web.post(f"{PREFIX}/inbound-call", self._guard(self._inbound_call)),
            web.post(f"{PREFIX}/clock/advance", self._guard(self._advance)),
            web.get(f"{PREFIX}/journal", self._guard(self._journal)),
            web.get(f"{PREFIX}/problems", self._guard(self._problems)),
            web.get(f"{PREFIX}/status", self._guard(self._status)),
            web.get(f"{PREFIX}/faults", self._guard(self._get_faults)),
            web.put(f"{PREFIX}/faults", self._guard(self._put_faults)),
            web.delete(f"{PREFIX}/faults", self._guard(self._delete_faults)),
            web.post(f"{PREFIX}/reset", self._guard(self._reset)),
            web.delete(f"{PREFIX}/calls/{{call_id}}", self._guard(self._forget_call)),
        ]

    def _guard(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if self.control_token is not None:
                header = request.headers.get("Authorization", "")
                if header != f"Bearer {self.control_token}":
                    return error_response(Unauthorized("control plane: missing or wrong Bearer token"))
            try:
                response: web.StreamResponse = await handler(request)
                return response
            except ApiError as exc:
                return error_response(exc)
            except ScenarioError as exc:
                return web.json_response(
                    {"message": [str(p) for p in exc.problems], "error": "Bad Request", "statusCode": 400}, status=400
                )

        return guarded

    async def _text(self, request: web.Request) -> str:
        raw = await request.read()  # over client_max_size: 413 JSON from the app's middleware
        try:
            return raw.decode(request.charset or "utf-8")
        except (UnicodeDecodeError, LookupError):
            raise BadRequest(f"body is not {request.charset or 'utf-8'} text") from None

    async def _json(self, request: web.Request) -> dict[str, Any]:
        body = await read_json(request)  # the API's own reader: same 400s for bad JSON, NaN, bad UTF-8
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        return body

    async def _list_scenarios(self, request: web.Request) -> web.Response:
        return web.json_response({"scenarios": self.scenario_names(), "default": self.vapi.default_scenario})

    async def _load_scenarios(self, request: web.Request) -> web.Response:
        if request.content_type in ("application/json",):
            body = await self._json(request)
            if not isinstance(body.get("path"), str):
                raise BadRequest('send YAML, or JSON {"path": "<file or folder>"}')
            names = self.load_path(body["path"])
        else:
            loaded = load_text(await self._text(request), "<posted>")
            self.loaded[loaded.scenario.name] = loaded
            names = [loaded.scenario.name]
        return web.json_response({"loaded": names}, status=201)

    async def _inbound_call(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        phone_id = body.get("phoneNumberId")
        if not isinstance(phone_id, str):
            raise BadRequest(["phoneNumberId must be a string"])
        customer = body.get("customer") if isinstance(body.get("customer"), dict) else None
        record = self.backend.create_inbound_call(phone_id, base_url=base_url(request), customer=customer)
        assistant = record.assistant
        if isinstance(body.get("scenario"), str):
            assistant = {**(assistant or {}), "metadata": {"mockvapi": {"scenario": body["scenario"]}}}
        try:
            self._start(record, assistant, assistant_request=record.assistant is None)
        except ScenarioError:
            self.backend.calls.pop(record.id, None)  # a 400 leaves no call behind
            raise
        return web.json_response(record.to_json(), status=201)

    async def _advance(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        seconds = body.get("seconds")
        clock = self.vapi.clock
        if not isinstance(clock, VirtualClock):
            raise BadRequest("the clock is real; only a virtual clock can be advanced")
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not 0 <= seconds <= MAX_ADVANCE_SECONDS
        ):
            raise BadRequest([f"seconds must be a number from 0 to {MAX_ADVANCE_SECONDS}"])
        # An autojump clock's driver and advance() each wait for the loop to go idle, and each keeps it
        # busy for the other: hold the driver off while advancing by hand.
        autojump = clock.autojump
        clock.autojump = False
        try:
            await clock.advance(float(seconds))
        finally:
            clock.autojump = autojump
        return web.json_response({"now": clock.now()})

    async def _journal(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("outcome") not in _OUTCOMES:
            raise BadRequest(["outcome must be ok or failed"])
        outcome = _OUTCOMES[q.get("outcome")]
        rows = self.vapi.journal.deliveries(
            call_id=q.get("callId"), type=q.get("type"), channel=q.get("channel"), outcome=outcome
        )
        if q.get("format") == "jsonl":
            text = "".join(json.dumps(d.to_dict()) + "\n" for d in rows)
            return web.Response(text=text, content_type="application/x-ndjson")
        return web.json_response({"deliveries": [d.to_dict() for d in rows], "dropped": self.vapi.journal.dropped})

    async def _problems(self, request: web.Request) -> web.Response:
        return web.json_response({"problems": [p.to_dict() for p in self.vapi.journal.problems]})

    async def _status(self, request: web.Request) -> web.Response:
        vapi, journal = self.vapi, self.vapi.journal
        running = sum(1 for c in vapi.calls if c.task is None or not c.task.done())
        return web.json_response({
            "calls": {"held": len(vapi.calls), "running": running, "forgotten": vapi.forgotten_calls,
                      "maxCalls": vapi.max_calls},
            "records": {"held": len(self.backend.calls), "forgotten": self.forgotten_records},
            "journal": {"deliveries": len(journal), "problems": len(journal.problems), "dropped": journal.dropped,
                        "maxEntries": journal.max_entries},
        })

    async def _stop(self, calls: list[CallT]) -> None:
        """Cancel calls in flight and let their deliveries in flight finish (bounded), so that none of
        them lands in the journal after it is cleared."""
        running = [c.task for c in calls if c.task is not None and not c.task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=STOP_SECONDS)

    async def _reset(self, request: web.Request) -> web.Response:
        await self._stop(self.vapi.calls)
        self.vapi.calls.clear()
        self.vapi.forgotten_calls = 0  # as the journal's `dropped` restarts
        self.forgotten_records = 0
        self._unstarted.clear()
        self.vapi.journal.clear()
        self.backend.reset()
        self.vapi.faults = self.initial_faults
        return web.json_response({"reset": True})

    def _faults_body(self) -> web.Response:
        plan = self.vapi.faults
        full = [f.model_dump(by_alias=True, exclude_defaults=True) for f in plan.faults]
        return web.json_response({"faults": plan.compact(), "plan": full})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return self._faults_body()

    async def _put_faults(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            body = await read_json(request)
            items = body.get("faults") if isinstance(body, dict) else body
            if not isinstance(items, list):
                raise BadRequest('send JSON {"faults": [...]} or a YAML list of faults')
            self.vapi.faults = plan_of(items, source="<posted faults>")
        else:
            self.vapi.faults = load_fault_text(await self._text(request), "<posted faults>")
        return self._faults_body()

    async def _delete_faults(self, request: web.Request) -> web.Response:
        self.vapi.faults = FaultPlan()
        return self._faults_body()

    async def _forget_call(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        call = self.vapi.find_call(call_id)
        if call is None and call_id not in self.backend.calls:
            raise NotFound(f"Call {call_id} not found")
        if call is not None:
            await self._stop([call])
            if call in self.vapi.calls:  # a reset may have come meanwhile
                self.vapi.calls.remove(call)
        self.vapi.journal.clear(call_id)
        self.backend.calls.pop(call_id, None)
        return web.json_response({"forgotten": call_id})

    def __repr__(self) -> str:
        return f"MockServer({self.url or 'not started'}, {len(self.backend.calls)} calls)"


_OUTCOMES: dict[str | None, Literal["ok", "failed"] | None] = {None: None, "ok": "ok", "failed": "failed"}


class _RecordUpdater:
    """Moves a REST call record along as its call plays."""

    def __init__(self, record: CallRecord) -> None:
        self.record = record

    def __call__(self, player: CallPlayer, event: Event, wire: dict[str, Any]) -> None:
        kind = event.type
        update: dict[str, Any] = {}
        if kind == "status-update":
            update["status"] = wire["status"]
            # An assistant-request reply's assistantId becomes the call's (the call carries it from then on).
            assistant_id = (wire.get("call") or {}).get("assistantId")
            if isinstance(assistant_id, str) and self.record.data.get("assistantId") != assistant_id:
                update["assistantId"] = assistant_id
            if wire["status"] == "in-progress":
                update["startedAt"] = iso_from_ms(int(wire["timestamp"]))
            if wire.get("endedReason"):
                update["endedReason"] = wire["endedReason"]
        elif kind == "conversation-update":
            update["messages"] = wire["messages"]
        elif kind == "end-of-call-report":
            for key in ("endedReason", "artifact", "analysis", "cost", "startedAt", "endedAt"):
                if key in wire:
                    update[key] = wire[key]
            update["messages"] = wire["artifact"].get("messages", [])
        if not update:
            return
        try:
            self.record.apply(update)
        except ApiError as exc:  # a transition the table does not allow: keep the record as it was
            log.warning("call %s: record update %s refused: %s", self.record.id, sorted(update), exc)
