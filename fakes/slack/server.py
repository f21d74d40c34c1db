"""FakeSlack: the in-process aiohttp server serving the fake Web API and file routes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import api_chat, api_conversations, api_files, api_stream
from .api_files import receive_upload
from .events import Delivery, EventSender
from .models import Call, Message, ResponseRecord, SlackError
from .responses import ResponseUrl, apply_response
from .socket_mode import SocketModeHub
from .state import Workspace
from .transport import check_token, is_bot_bearer, login_page, read_args

Handler = Callable[[Workspace, dict[str, Any]], dict[str, Any]]
SCOPES = (
    "app_mentions:read,chat:write,commands,assistant:write,channels:history,groups:history,"
    "im:history,mpim:history,channels:read,groups:read,im:read,im:write,channels:join,"
    "files:write,files:read,reactions:write,reactions:read,users:read"
)


class FakeSlack(Workspace):
    """A stateful fake of Slack's Web API, strict about what real Slack rejects."""

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        team_id: str = "T1",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        *,
        api_app_id: str = "A1",
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(bot_token=bot_token, app_token=app_token, team_id=team_id,
                         bot_user_id=bot_user_id, bot_id=bot_id, api_app_id=api_app_id)
        self.host = host
        self.port = 0
        self.methods: dict[str, Handler] = {
            **api_chat.METHODS, **api_stream.METHODS, **api_conversations.METHODS,
            **api_files.METHODS,
        }
        self.echo_deliveries: list[Delivery] = []
        self.echo_errors: list[BaseException] = []
        self._runner: web.AppRunner | None = None
        self._response_urls: dict[str, ResponseUrl] = {}
        self._echo: EventSender | None = None
        self._echo_changes = False
        self._echo_queue: asyncio.Queue[dict[str, Any]] | None = None
        self._echo_task: asyncio.Task[None] | None = None
        self.socket_mode = SocketModeHub()
        self.delays: dict[str, list[float]] = {}
        self.watchers: list[Callable[[], None]] = []
        """Called after every served request (a viewer such as the playground redraws)."""

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Make the next calls of `method` answer only after `seconds` (a slow Slack)."""
        self.delays.setdefault(method, []).extend([seconds] * times)

    def record(self, call: Call) -> None:
        """Keep one served call and tell the watchers that something may have changed."""
        self.calls.append(call)
        self.notify_watchers()

    def notify_watchers(self) -> None:
        """Tell every watcher that the workspace may have changed."""
        for watcher in list(self.watchers):
            watcher()

    # lifecycle -----------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """Base URL for AsyncWebClient(base_url=...)."""
        return f"{self.base_url}/api/"

    async def start(self) -> FakeSlack:
        """Bind a free port on the host and start serving."""
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get("/files-pri/{key}/{tail:.*}", self._download)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/link/", self.socket_mode.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._echo_queue = asyncio.Queue()
        return self

    async def stop(self) -> None:
        """Stop the echo worker and the server."""
        if self._echo_task is not None:
            self._echo_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._echo_task
            self._echo_task = None
        await self.socket_mode.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Web API -------------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        """Serve one Web API method call and record it."""
        method = request.match_info["method"]
        args, token, parse_error = await read_args(request)
        headers: dict[str, str] = {}
        try:
            handler = self.methods.get(method)
            if handler is None:
                raise SlackError("unknown_method")
            check_token(self, method, token)
            if self.delays.get(method):
                await asyncio.sleep(self.delays[method].pop(0))
            fault = self.limiter.take_fault(method)
            if fault is not None:
                raise fault
            if parse_error:
                raise SlackError(parse_error)
            if self.rate_limits:
                self.limiter.check(method, args, self.now(), self.history_mode)
            body: dict[str, Any] = {"ok": True, **handler(self, args)}
            status = 200
        except SlackError as err:
            body, status, headers = err.body(), err.status, dict(err.headers)
        self.record(Call(method, args, dict(request.headers), self.now(), status,
                         body.get("ok") is True, body.get("error")))
        if status == 0 and request.transport is not None:
            request.transport.close()  # scripted connection reset: no HTTP answer at all
            return web.Response()
        headers["x-oauth-scopes"] = SCOPES
        return web.json_response(body, status=status, headers=headers)

    # files ---------------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        """The upload_url: raw bytes, no auth; answers text/plain `OK - <n>`."""
        file_id = request.match_info["file_id"]
        data = await request.read()
        fault = self.limiter.take_fault("(upload)")
        if fault is not None:
            status, text = fault.status, fault.code
        else:
            status, text = receive_upload(self, file_id, data)
        if status == 0 and request.transport is not None:
            request.transport.close()
            return web.Response()
        self.record(Call("(upload)", {"file_id": file_id, "bytes": len(data)},
                         dict(request.headers), self.now(), status, status == 200,
                         None if status == 200 else text))
        return web.Response(status=status, text=text, content_type="text/plain")

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """url_private(_download): the file with the bot token, else Slack's HTML login page."""
        key = request.match_info["key"]
        file_id = key.split("-", 1)[1] if "-" in key else ""
        authed = is_bot_bearer(self, request)
        found = file_id in self.file_content
        status = 200 if authed and found else (404 if authed else 200)
        error = None if authed and found else ("file_not_found" if authed else "login_page")
        self.record(Call("(download)", {"file_id": file_id}, dict(request.headers),
                         self.now(), status, error is None, error))
        if not authed:
            return login_page()
        if not found:
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        meta = self.files[file_id]
        return web.Response(
            body=self.file_content[file_id], content_type=meta["mimetype"],
            headers={"Content-Disposition": f"attachment; filename=\"{meta['name']}\""},
        )

    # response_url --------------------------------------------------------------------------
    def new_response_url(
        self, channel: str | None = None, user: str | None = None, *,
        message_ts: str | None = None, thread_ts: str | None = None,
    ) -> str:
        """Issue a response_url on this fake (5 uses, 30 minutes), bound to a channel/user."""
        rid = uuid.uuid4().hex
        self._response_urls[rid] = ResponseUrl(rid, self.now(), channel, user, message_ts,
                                               thread_ts)
        return f"{self.base_url}/response/{rid}"

    async def _response(self, request: web.Request) -> web.Response:
        """Accept one JSON post on a response_url and record it in `responses`."""
        slot = self._response_urls.get(request.match_info["rid"])
        raw = await request.text()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        if slot is None:
            status, answer = 404, {"ok": False, "error": "no_service"}
        else:
            status, answer = apply_response(self, slot, body)
        self.responses.append(ResponseRecord(str(request.url), body if isinstance(body, dict)
                                             else {"raw": raw}, self.now(), status))
        self.notify_watchers()
        return web.json_response(answer, status=status)

    # event echo ----------------------------------------------------------------------------
    def echo_events_to(
        self, url: str, signing_secret: str, *, include_changes: bool = False
    ) -> EventSender:
        """Echo the bot's own posts back as signed `message` events carrying bot_id."""
        self._echo = EventSender(url, signing_secret, self.team_id, self.api_app_id,
                                 self.bot_user_id)
        self._echo_changes = include_changes
        if self._on_bot_change not in self.listeners:
            self.listeners.append(self._on_bot_change)
        return self._echo

    async def drain_echoes(self) -> None:
        """Wait until every queued echo event has been delivered."""
        if self._echo_queue is not None:
            await self._echo_queue.join()

    def _on_bot_change(self, kind: str, msg: Message, previous: dict[str, Any] | None) -> None:
        """Queue the event Slack would send for a bot post (or change, if asked)."""
        if self._echo is None or self._echo_queue is None:
            return
        if kind != "posted" and not self._echo_changes:
            return
        channel_type = self.channels[msg.channel].channel_type
        base = {"type": "message", "channel": msg.channel, "channel_type": channel_type}
        if kind == "posted":
            event = {**self.to_json(msg), **base, "event_ts": msg.ts}
        elif kind == "changed":
            ts = self.next_ts()
            event = {**base, "subtype": "message_changed", "hidden": True, "ts": ts,
                     "event_ts": ts, "message": self.to_json(msg), "previous_message": previous}
        else:
            ts = self.next_ts()
            event = {**base, "subtype": "message_deleted", "hidden": True, "ts": ts,
                     "event_ts": ts, "deleted_ts": msg.ts}
        self._echo_queue.put_nowait(event)
        if self._echo_task is None or self._echo_task.done():
            self._echo_task = asyncio.get_running_loop().create_task(self._echo_worker())

    async def _echo_worker(self) -> None:
        """Deliver queued echo events one at a time, in order."""
        assert self._echo_queue is not None
        while True:
            event = await self._echo_queue.get()
            try:
                if self._echo is not None:
                    self.echo_deliveries.append(await self._echo.send_event(event))
            except Exception as exc:  # the bot may be down; keep the failure for tests
                self.echo_errors.append(exc)
            finally:
                self._echo_queue.task_done()
