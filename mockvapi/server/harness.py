"""`MockServer`: the REST app wired to the call engine, plus the `/_mockvapi/` control plane.

Calls created through the API play a scenario: the one named in the assistant's
`metadata.mockvapi.scenario`, else the server's default. The call record (GET /call/{id}) follows the
call as it plays (status, messages) and, once ended, carries exactly what the end-of-call-report did.

Control plane (optionally behind its own Bearer token; never reachable from another site's page, see
`mockvapi.server.guard`; secrets in what it answers are redacted):
    GET    /_mockvapi/scenarios                 names of the scenarios the server can play
    POST   /_mockvapi/scenarios                 load a scenario from YAML (body), or {"path": DIR_OR_FILE}
                                                inside a folder given to `serve --scenarios` (else 403)
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
import difflib
import json
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, Literal

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from mockvapi.engine.clock import RealClock, VirtualClock
from mockvapi.engine.context import CallOverrides
from mockvapi.engine.events import Event
from mockvapi.engine.faults import ApiFaults, ApiHit
from mockvapi.engine.journal import Delivery, Problem
from mockvapi.engine.player import FAILED_BEFORE_START, CallPlayer
from mockvapi.engine.redaction import redact_json
from mockvapi.errors import (
    ApiError,
    BadRequest,
    MockVapiError,
    NotFound,
    ScenarioError,
    ScenarioProblem,
    SourceLocation,
    TooManyRequests,
    Unauthorized,
)
from mockvapi.library import bundled_dir, bundled_names
from mockvapi.scenario.fault_files import load_fault_text
from mockvapi.scenario.faults import FaultPlan, plan_of
from mockvapi.scenario.loader import LoadedScenario, load_file, load_text
from mockvapi.scenario.schema import End, Scenario, Step
from mockvapi.server.app import create_app, error_response
from mockvapi.server.backend import Backend, CallRecord, iso_from_ms
from mockvapi.server.files import ScenarioFolders
from mockvapi.server.guard import check_control_request, token_matches
from mockvapi.server.handlers import HOOKS_KEY, Handler, base_url, read_json
from mockvapi.server.host import CallT, Host
from mockvapi.transports.webcall import CLOSE_ENDED, CLOSE_UNKNOWN, WebCallJoin, serve_web_call
from mockvapi.transports.websocket import serve_control, serve_transport

log = logging.getLogger("mockvapi.server")
PREFIX = "/_mockvapi"
# One advance moves at most a day: calls last minutes, and epoch milliseconds overflow near 1e305 s.
MAX_ADVANCE_SECONDS = 86_400
# Reset and forget wait this long (real seconds) for a stopped call's deliveries in flight.
STOP_SECONDS = 10.0
# A connection must deliver a request's headers within this many seconds of opening (or of its last
# answer): a client that connects and stalls is dropped, not held forever.
HEADER_TIMEOUT_SECONDS = 30.0

# A web call plays once the page's SDK has joined and said `playable`. One nobody joins within this many
# call seconds ends as Vapi ends a web call whose customer never came in with a microphone.
WEB_JOIN_SECONDS = 60.0
WEB_NOT_JOINED_REASON = "customer-did-not-give-microphone-permission"


class _OneLineBadRequests(logging.Filter):
    """aiohttp logs every malformed request (CL+TE, 1,000 headers, a huge line) with a traceback: make
    it one line, so a client (or an attacker) cannot fill the log with tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            # The first line only, shortened: what follows quotes the request's bytes (its headers, too).
            reason = str(exc.message).strip().splitlines()[0][:100] if str(exc.message).strip() else ""
            peer = record.args[:1] if isinstance(record.args, tuple) else ()
            record.msg = "bad HTTP request from %s: %s %s: %s"
            record.args = (*(peer or ("?",)), exc.code, type(exc).__name__, reason)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_http_log = logging.getLogger("mockvapi.server.http")
_http_log.addFilter(_OneLineBadRequests())


class MockServer(Generic[CallT]):
    """The stand-alone mock: REST API + websocket/control URLs + control plane, on one port."""

    header_timeout: float = HEADER_TIMEOUT_SECONDS

    def __init__(self, vapi: Host[CallT], *, control_token: str | None = None) -> None:
        self.vapi = vapi
        self.control_token = control_token
        self.loaded: dict[str, LoadedScenario] = {}
        # The only files a request can make the server read (none unless `serve --scenarios DIR`).
        self.folders = ScenarioFolders(vapi.scenario_folders)
        # Seeded ids only when a seed was asked for: otherwise call ids, and the listen/control/transport
        # URLs built from them, are unguessable.
        self.backend = Backend(seed=vapi.seed, now_ms=vapi.clock.epoch_ms)
        self.public_url: str | None = vapi.public_url
        self.app = create_app(
            backend=self.backend,
            public_url=self.public_url,
            tokens=[vapi.token] if vapi.token else None,
            on_call_created=self._call_created,
            on_transport_ws=self._transport,
            on_listen_ws=self._listen,
            on_control=self._control,
            on_web_ws=self._web,
            extra_routes=self._control_routes(),
        )
        self.app[HOOKS_KEY].admit_calls = self._admit
        self.app.middlewares.append(self._api_fault_middleware())
        self._api_faults: ApiFaults | None = None  # the `api` faults of vapi.faults, counting since it was set
        self.web_join_seconds = WEB_JOIN_SECONDS
        # On a real clock a web call made for a browser (POST /call/web, or POST /call with the daily
        # transport) waits for its page to join, as on Vapi. On a virtual clock, where no browser keeps
        # up and tests create web calls just to play a scenario, it plays at once; so does a web call
        # made by POST /call with no transport (a server's test that wants the call's webhooks).
        self.web_calls_wait = isinstance(vapi.clock, RealClock)
        self._web_waiting: dict[str, _WebWait] = {}  # web calls created, not yet joined
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.address = ""
        self.initial_faults: FaultPlan = vapi.faults
        # REST records forgotten with their calls (or as calls that could not start), past max_calls.
        self.forgotten_records = 0
        self._unstarted: deque[str] = deque()  # ids of records whose call could not start, oldest first
        for root in self.folders.roots:
            try:
                files = self.folders.files(self.folders.locate(str(root)))
            except ApiError as exc:
                raise MockVapiError(f"--scenarios {root}: {exc}") from None
            for file in files:
                try:
                    self._keep([self.folders.read(file)])
                except ApiError as exc:  # a FIFO, a symlink out of the folder...: not served, and said so
                    log.warning("mockvapi: --scenarios %s: skipped %s: %s", root, file.name, exc)
        self.backend.assistant_check = self.check_assistant

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=5, keepalive_timeout=self.header_timeout, logger=_http_log
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.vapi.host, self.vapi.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        host, port = sockets[0].getsockname()[:2]
        # Where the socket listens, and where clients are told to go (they differ behind a proxy or NAT).
        self.address = f"http://{self.vapi.host if self.vapi.host != '0.0.0.0' else host}:{port}"
        self.url = self.public_url or self.address

    async def aclose(self) -> None:
        self._drop_web_waits()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- scenarios ----------------------------------------------------------------------------

    def read_path(self, path: str | Path) -> list[LoadedScenario]:
        """Read one scenario file or every *.yaml in a folder, inside `folders` only (blocking: run it off
        the event loop). Raises Forbidden outside them, BadRequest or ScenarioError."""
        target = self.folders.locate(str(path))
        return [self.folders.read(file) for file in self.folders.files(target)]

    def load_path(self, path: str | Path) -> list[str]:
        """Load one scenario file or every *.yaml in a folder (inside `folders`); returns the names loaded."""
        return self._keep(self.read_path(path))

    def _keep(self, scenarios: list[LoadedScenario]) -> list[str]:
        for loaded in scenarios:
            self.loaded[loaded.scenario.name] = loaded
        return [loaded.scenario.name for loaded in scenarios]

    def check_assistant(self, assistant: Mapping[str, Any], where: str = "") -> None:
        """BadRequest (400, Vapi's error body) for an assistant whose `metadata.mockvapi.scenario` names no
        scenario this server plays: refused when it is created, as Vapi refuses a bad assistant, rather
        than a call that ends at once with the reason only in the server's log."""
        metadata = assistant.get("metadata")
        ours = metadata.get("mockvapi") if isinstance(metadata, Mapping) else None
        name = ours.get("scenario") if isinstance(ours, Mapping) else None
        if name is None or name == "" or (isinstance(name, str) and self._plays(name)):
            return
        names = self.scenario_names()
        near = difflib.get_close_matches(str(name).replace("_", "-"), names, n=1) if isinstance(name, str) else []
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise BadRequest([f"{where}metadata.mockvapi.scenario {str(name)[:100]!r} is not a scenario this server "
                          f"plays{hint} (scenarios: {', '.join(names)})"])

    def _plays(self, name: str) -> bool:
        """A scenario's own name, or the file name (without .yaml) of one in the served folder."""
        if name in self.scenario_names() or name.removesuffix(".yaml") in bundled_names():
            return True
        folder = self.vapi.scenarios_dir
        plain = name.removesuffix(".yaml")
        return folder is not None and "/" not in plain and "\\" not in plain and not plain.startswith(".") and (
            folder / f"{plain}.yaml"
        ).is_file()

    def scenario_names(self) -> list[str]:
        return sorted(set(self.loaded) | set(bundled_names()))

    def pick(self, assistant: Mapping[str, Any] | None) -> LoadedScenario | str:
        metadata = (assistant or {}).get("metadata")
        name = None
        if isinstance(metadata, Mapping) and isinstance(metadata.get("mockvapi"), Mapping):
            name = metadata["mockvapi"].get("scenario")
        name = str(name) if name else self.vapi.default_scenario
        return self.loaded.get(name) or name

    async def _scenario(self, assistant: Mapping[str, Any] | None) -> Scenario | LoadedScenario:
        """The scenario a call with ``assistant`` plays; a file is read off the event loop."""
        choice = self.pick(assistant)
        if isinstance(choice, LoadedScenario):
            return choice
        return await asyncio.to_thread(self._find_scenario, choice)

    def _find_scenario(self, name: str) -> Scenario | LoadedScenario:
        """A scenario a request named (blocking). Never a path: the command line's `--default-scenario`,
        YAML text, a NAME.yaml in the `--scenarios` folders, or a bundled name; else ScenarioError."""
        if name == self.vapi.default_scenario:
            return self.vapi.load(name)  # given on the command line, so trusted as a path too
        if "\n" in name:
            return load_text(name, "<metadata.mockvapi.scenario>")
        path = self.folders.named(name)
        try:
            if path is not None:
                return self.folders.read(path)
        except ApiError as exc:
            raise ScenarioError([ScenarioProblem(SourceLocation(name[:100], 1, 1), str(exc))]) from None
        if name.removesuffix(".yaml") in bundled_names():
            return load_file(bundled_dir() / f"{name.removesuffix('.yaml')}.yaml")
        known = ", ".join(self.scenario_names())
        raise ScenarioError([
            ScenarioProblem(SourceLocation("metadata.mockvapi.scenario", 1, 1),
                            f"no scenario named {name[:100]!r} (known: {known})")
        ])

    # -- calls --------------------------------------------------------------------------------

    async def _call_created(self, record: CallRecord, assistant: Mapping[str, Any] | None) -> None:
        try:
            self._start(record, await self._scenario(assistant), assistant, assistant_request=None)
        except ScenarioError as exc:
            # POST /call has its record already; as when Vapi cannot load an assistant, the call ends at
            # once (instead of sitting "queued" forever) and the reason is recorded where tests look.
            detail = "; ".join(str(p) for p in exc.problems)
            self._not_started(record, "scenario", f"cannot play the call: {detail}", "call.start.error-get-assistant")
        except Exception as exc:  # a bug, or input nothing checked: the call still ends, and says why
            log.exception("call %s (%s) cannot start", record.id, record.type)
            self._not_started(record, "call-failed", f"cannot start the call: {type(exc).__name__}: {exc}"[:500],
                              FAILED_BEFORE_START)

    def _not_started(self, record: CallRecord, kind: str, detail: str, reason: str) -> None:
        self.vapi.journal.problem(Problem(record.id, kind, detail, 0.0))
        record.apply({"status": "ended", "endedReason": reason})
        log.warning("call %s (%s) cannot start: %s", record.id, record.type, detail)
        self._unstarted.append(record.id)
        while len(self._unstarted) > self.vapi.max_calls:
            self.forget_records([self._unstarted.popleft()])

    def _admit(self, count: int) -> None:
        """Refuse (429, Retry-After) calls that would take the running ones past `max_running_calls`."""
        running, limit = self.vapi.running_calls, self.vapi.max_running_calls
        if running + count > limit:
            asked = f"{count} more calls" if count > 1 else "another call"
            raise TooManyRequests(
                f"Too many calls in progress: {running} running, {asked} would pass the limit of {limit} "
                "(mockvapi serve --max-running-calls); retry when calls have ended"
            )

    def forget_records(self, call_ids: Iterable[str]) -> None:
        """Drop the REST records of calls MockVapi forgot past `max_calls` (GET /call/{id} then 404s)."""
        for call_id in call_ids:
            if self.backend.calls.pop(call_id, None) is not None:
                self.forgotten_records += 1

    def _start(
        self,
        record: CallRecord,
        scenario: Scenario | LoadedScenario,
        assistant: Mapping[str, Any] | None,
        *,
        assistant_request: bool | None,
    ) -> None:
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
            squad=self._squad_of(record.data, phone),
            find_squad=lambda squad_id: self.backend.call_squad({"squadId": squad_id}),
        )
        if record.type == "webCall" and record.for_browser and self.web_calls_wait:
            # Held until the page joins (see _web); the timer ends it if nobody does.
            timer = asyncio.ensure_future(self._web_timeout(record.id))
            self._web_waiting[record.id] = _WebWait(record, scenario, overrides, timer)
        else:
            websocket = record.type == "vapi.websocketCall"
            self._launch(record, scenario, overrides, wait_for_client=10.0 if websocket else None)
        log.info(
            "call %s (%s) plays %r",
            record.id,
            record.type,
            scenario.scenario.name if isinstance(scenario, LoadedScenario) else scenario.name,
        )

    def _squad_of(self, call: Mapping[str, Any], phone: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The squad the call runs: its own `squad`/`squadId`, else its phone number's squadId when the call
        names no assistant (as Backend.call_assistant picks the first member)."""
        squad = self.backend.call_squad(call)
        if squad is None and phone is not None and phone.get("squadId") and not (
                call.get("assistant") or call.get("assistantId")):
            squad = self.backend.call_squad({"squadId": phone["squadId"]})
        return squad

    def _launch(
        self,
        record: CallRecord,
        scenario: Scenario | LoadedScenario,
        overrides: CallOverrides,
        *,
        wait_for_client: float | None = None,
    ) -> CallT:
        return self.vapi.start_call(
            scenario,
            call_id=record.id,
            overrides=overrides,
            listeners=[_RecordUpdater(record)],
            wait_for_client=wait_for_client,
        )

    # -- web calls ----------------------------------------------------------------------------

    async def _web_timeout(self, call_id: str) -> None:
        await self.vapi.clock.sleep(self.web_join_seconds)
        wait = self._web_waiting.pop(call_id, None)
        if wait is None:
            return
        log.info("web call %s: nobody joined in %gs; it ends %s", call_id, self.web_join_seconds,
                 WEB_NOT_JOINED_REASON)
        self._launch(wait.record, _not_joined(wait.scenario), wait.overrides)

    def _drop_web_waits(self, call_ids: Iterable[str] | None = None) -> None:
        for call_id in list(self._web_waiting) if call_ids is None else call_ids:
            wait = self._web_waiting.pop(call_id, None)
            if wait is not None:
                wait.timer.cancel()

    async def _web(self, call_id: str, request: web.Request) -> web.StreamResponse:
        """The page's stand-in for daily-js joins a web call (its webCallUrl, upgraded to a websocket)."""
        journal, clock = self.vapi.journal, self.vapi.clock

        async def join() -> WebCallJoin:
            wait = self._web_waiting.pop(call_id, None)
            if wait is not None:
                wait.timer.cancel()
                return WebCallJoin(player=self._launch(wait.record, wait.scenario, wait.overrides).player)
            call = self.vapi.find_call(call_id)
            if call is None or call.player.done.is_set():
                return WebCallJoin(close_code=CLOSE_ENDED, reason="the call has ended")
            return WebCallJoin(player=call.player)

        known = None
        call = self.vapi.find_call(call_id)
        if call_id not in self._web_waiting and (call is None or call.player.done.is_set()):
            if call is None and call_id not in self.backend.calls:
                known = WebCallJoin(close_code=CLOSE_UNKNOWN, reason="no web call with this id")
            else:
                known = WebCallJoin(close_code=CLOSE_ENDED, reason="the call has ended")
        return await serve_web_call(request, join, journal, clock, known=known)

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

    # -- faults on the REST API ------------------------------------------------------------------

    def api_faults(self) -> ApiFaults:
        """The `api` faults in force: those of `vapi.faults`, counted from when that plan was set."""
        plan = self.vapi.faults
        if self._api_faults is None or self._api_faults.plan is not plan:
            self._api_faults = ApiFaults(plan)
        return self._api_faults

    def _api_fault_middleware(self) -> Any:
        @web.middleware
        async def api_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith(PREFIX + "/") or request.method == "OPTIONS":
                return await handler(request)  # the control plane and CORS preflights are never hit
            faults = self.api_faults()
            if not faults:
                return await handler(request)
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else request.path
            hit = faults.hit(request.method, route, request.path)
            if hit is None:
                return await handler(request)
            self._record_api_fault(request, hit)
            fault = hit.fault
            if fault.delay is not None:
                await self.vapi.clock.sleep(fault.delay)
                return await handler(request)
            if fault.drop:
                log.info("%s %s: injected fault, connection dropped unanswered", request.method, request.path)
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # aiohttp ends the request quietly: its connection is gone
            assert fault.status is not None
            status = fault.status
            phrase = _REASONS.get(status, "Error")
            body = {"message": f"mockvapi: injected fault ({hit.marker})", "error": phrase, "statusCode": status}
            headers = {"Retry-After": str(fault.retry_after if fault.retry_after is not None else 1)} if (
                status in (429, 503)) else None
            return web.json_response(body, status=status, headers=headers)

        return api_faults

    def _record_api_fault(self, request: web.Request, hit: ApiHit) -> None:
        info = request.match_info
        call_id = info.get("id") if request.path.startswith("/call/") else info.get("call_id")
        self.vapi.journal.record(Delivery(
            call_id=call_id or "",
            channel="api",
            target=f"{request.method} {request.path}",
            message_type=f"{hit.fault.method} {hit.fault.path}",
            message={"method": request.method, "path": request.path, "query": request.query_string},
            at=0.0,
            status=hit.fault.status,
            injected=hit.marker,
            sent=not hit.fault.drop,
        ))

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
            try:
                check_control_request(request, self.public_url)
            except ApiError as exc:
                return error_response(exc)
            if self.control_token is not None:
                header = request.headers.get("Authorization", "")
                if not token_matches(header, [f"Bearer {self.control_token}"]):
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
            names = self._keep(await asyncio.to_thread(self.read_path, body["path"]))
        else:
            text = await self._text(request)
            names = self._keep([await asyncio.to_thread(load_text, text, "<posted>")])
        return web.json_response({"loaded": names}, status=201)

    async def _inbound_call(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        phone_id = body.get("phoneNumberId")
        if not isinstance(phone_id, str):
            raise BadRequest(["phoneNumberId must be a string"])
        customer = body.get("customer") if isinstance(body.get("customer"), dict) else None
        self._admit(1)
        record = self.backend.create_inbound_call(phone_id, base_url=base_url(request), customer=customer)
        assistant = record.assistant
        if isinstance(body.get("scenario"), str):
            assistant = {**(assistant or {}), "metadata": {"mockvapi": {"scenario": body["scenario"]}}}
        try:
            self._start(record, await self._scenario(assistant), assistant, assistant_request=record.assistant is None)
        except ScenarioError:
            self.backend.calls.pop(record.id, None)  # a 400 leaves no call behind
            raise
        return web.json_response(redact_json(record.to_json()), status=201)

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
            text = "".join(json.dumps(d.to_dict(redact=True)) + "\n" for d in rows)
            return web.Response(text=text, content_type="application/x-ndjson")
        deliveries = [d.to_dict(redact=True) for d in rows]
        return web.json_response({"deliveries": deliveries, "dropped": self.vapi.journal.dropped})

    async def _problems(self, request: web.Request) -> web.Response:
        return web.json_response({"problems": [p.to_dict(redact=True) for p in self.vapi.journal.problems]})

    async def _status(self, request: web.Request) -> web.Response:
        vapi, journal = self.vapi, self.vapi.journal
        return web.json_response({
            "calls": {"held": len(vapi.calls), "running": vapi.running_calls, "forgotten": vapi.forgotten_calls,
                      "maxCalls": vapi.max_calls, "maxRunningCalls": vapi.max_running_calls},
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
        self._drop_web_waits()
        await self._stop(self.vapi.calls)
        self.vapi.calls.clear()
        self.vapi.forgotten_calls = 0  # as the journal's `dropped` restarts
        self.forgotten_records = 0
        self._unstarted.clear()
        self.vapi.journal.clear()
        self.backend.reset()
        self.vapi.faults = self.initial_faults
        self._api_faults = None  # the same plan as at the start: its requests are counted afresh
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
        self._drop_web_waits([call_id])
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
_REASONS = {408: "Request Timeout", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


class _WebWait:
    """A web call created through the API, waiting for its page to join."""

    def __init__(
        self,
        record: CallRecord,
        scenario: Scenario | LoadedScenario,
        overrides: CallOverrides,
        timer: asyncio.Future[None],
    ) -> None:
        self.record = record
        self.scenario = scenario
        self.overrides = overrides
        self.timer = timer


def _not_joined(scenario: Scenario | LoadedScenario) -> Scenario:
    """The call as it goes when nobody joins: no greeting, no turns, just the end (with its webhooks)."""
    base = scenario.scenario if isinstance(scenario, LoadedScenario) else scenario
    return base.model_copy(
        update={
            "steps": [Step(end=End(reason=WEB_NOT_JOINED_REASON))],
            "assistant": base.assistant.model_copy(update={"firstMessage": None}),
            "expect": None,
            "faults": [],
        }
    )


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
