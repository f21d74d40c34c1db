"""The playground's web server: the page, its live feed (SSE), and what the page posts."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from playground.bridge import BadRequest, Bridge
from playground.message_html import IMAGE_TYPES

STATIC = Path(__file__).with_name("static")
BRIDGE_KEY = web.AppKey("bridge", Bridge)
LABEL_KEY = web.AppKey("label", str)
READY_KEY = web.AppKey("ready", Callable[[], bool])
MAX_UPLOAD = 100 * 1024 * 1024
KEEPALIVE_S = 15.0


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


@web.middleware
async def same_origin(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuse other sites: the page has no login, so only itself, on this machine, may use it."""
    host = urlsplit(f"//{request.host}").hostname or ""
    if host not in LOCAL_HOSTS:  # a rebinding DNS name pointing at 127.0.0.1
        return web.json_response({"ok": False, "error": "Open the playground as 127.0.0.1."},
                                 status=403)
    origin = request.headers.get("Origin")
    if request.method == "POST" and origin and urlsplit(origin).netloc != request.host:
        return web.json_response({"ok": False, "error": "Cross-site request refused."},
                                 status=403)
    return await handler(request)


def create_page_app(bridge: Bridge, label: str, ready: Callable[[], bool]) -> web.Application:
    """The aiohttp app serving the playground page."""
    app = web.Application(client_max_size=MAX_UPLOAD, middlewares=[same_origin])
    app[BRIDGE_KEY] = bridge
    app[LABEL_KEY] = label
    app[READY_KEY] = ready
    app.router.add_get("/", page)
    app.router.add_get("/events", events)
    app.router.add_get("/files/{file_id}", file_content)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/messages", post_message)
    app.router.add_post("/api/files", upload_file)
    app.router.add_post("/api/actions", click)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    return app


def _channels(bridge: Bridge) -> list[dict[str, Any]]:
    """The sidebar's conversations, channels first."""
    slack = bridge.slack
    out = [{"id": c.id, "name": c.name, "im": c.is_im} for c in slack.channels.values()]
    return sorted(out, key=lambda c: (c["im"], c["name"]))


async def page(request: web.Request) -> web.Response:
    """The page itself: sidebar, message list, thread pane, composers."""
    bridge = request.app[BRIDGE_KEY]
    label = request.app[LABEL_KEY]
    channels = _channels(bridge)
    nav = []
    for group, is_im in (("Channels", False), ("Direct messages", True)):
        nav.append(f'<div class="nav-h">{group}</div>')
        for c in (c for c in channels if c["im"] == is_im):
            shown = ('<span class="presence"></span>gemini<span class="app-badge">APP</span>'
                     if is_im else f'<span class="hash">#</span>{html.escape(c["name"])}')
            nav.append(f'<a class="nav-item" href="#{c["id"]}" data-channel="{c["id"]}">'
                       f"{shown}</a>")
    config = {"channels": {c["id"]: {"name": c["name"], "im": c["im"]} for c in channels},
              "first": channels[0]["id"], "you": bridge.you, "bot": bridge.slack.bot_user_id}
    offline = "offline" in label
    body = TEMPLATE.format(
        nav="".join(nav), label=html.escape(label), mode_class="offline" if offline else "real",
        config=json.dumps(config).replace("</", "<\\/"),
        css=_static_url(request, "app.css"), js=_static_url(request, "app.js"))
    return web.Response(text=body, content_type="text/html")


def _static_url(request: web.Request, name: str) -> str:
    """A cache-busting URL of a static file."""
    return str(request.app.router["static"].url_for(filename=name))


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the full state first, then every change."""
    feed = request.app[BRIDGE_KEY].feed
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    queue, first = feed.subscribe()
    try:
        await resp.write(f"data: {first}\n\n".encode())
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_S):
                    update = await queue.get()
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            if update is None:
                break
            await resp.write(f"data: {update}\n\n".encode())
    except ConnectionResetError:
        pass  # the page was closed
    finally:
        feed.unsubscribe(queue)
    with contextlib.suppress(ConnectionResetError):
        await resp.write_eof()
    return resp


async def _json(request: web.Request) -> dict[str, Any]:
    """The posted JSON object, or 400."""
    try:
        data = await request.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": "Send a JSON object."}),
                                 content_type="application/json")
    return data


def _refused(err: BadRequest) -> web.Response:
    return web.json_response({"ok": False, "error": str(err)}, status=400)


async def post_message(request: web.Request) -> web.Response:
    """The composer's send: a message (or a /command) from you."""
    bridge = request.app[BRIDGE_KEY]
    data = await _json(request)
    files = data.get("files") or []
    if not isinstance(files, list):
        files = []
    try:
        ts = bridge.post(str(data.get("channel") or ""), str(data.get("text") or ""),
                         str(data["thread_ts"]) if data.get("thread_ts") else None,
                         [str(f) for f in files])
    except BadRequest as err:
        return _refused(err)
    return web.json_response({"ok": True, "ts": ts})


async def upload_file(request: web.Request) -> web.Response:
    """One attached file (multipart field `file`)."""
    bridge = request.app[BRIDGE_KEY]
    try:
        form = await request.post()
    except ValueError:
        form = None
    field = form.get("file") if form is not None else None
    if not isinstance(field, web.FileField):
        return web.json_response({"ok": False, "error": "Attach a file."}, status=400)
    content = field.file.read()
    mimetype = field.content_type if field.content_type != "application/octet-stream" else None
    stored = bridge.upload(field.filename or "file", mimetype, content)
    bridge.feed.poke()
    return web.json_response({"ok": True, "file": {k: stored[k] for k in (
        "id", "name", "mimetype", "size")}})


async def click(request: web.Request) -> web.Response:
    """A button press on a message."""
    bridge = request.app[BRIDGE_KEY]
    data = await _json(request)
    action = data.get("action")
    if not isinstance(action, dict):
        return web.json_response({"ok": False, "error": "No action."}, status=400)
    try:
        bridge.click(str(data.get("channel") or ""), str(data.get("ts") or ""), action)
    except BadRequest as err:
        return _refused(err)
    return web.json_response({"ok": True})


async def file_content(request: web.Request) -> web.Response:
    """A shared file's bytes: images inline, anything else as a download."""
    slack = request.app[BRIDGE_KEY].slack
    file_id = request.match_info["file_id"]
    meta = slack.files.get(file_id)
    if meta is None or file_id not in slack.file_content:
        raise web.HTTPNotFound(text="No such file.")
    mime = str(meta.get("mimetype") or "application/octet-stream")
    inline = mime in IMAGE_TYPES
    name = str(meta.get("name") or "file").replace('"', "")
    disposition = f'{"inline" if inline else "attachment"}; filename="{name}"'
    return web.Response(body=slack.file_content[file_id],
                        content_type=mime if inline else "application/octet-stream",
                        headers={"Content-Disposition": disposition,
                                 "X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "private, max-age=3600"})


async def healthz(request: web.Request) -> web.Response:
    """200 once the bot behind the page is ready."""
    ready = request.app[READY_KEY]()
    return web.json_response({"ok": ready}, status=200 if ready else 503)


TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gemini playground</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div class="app">
  <nav class="sidebar" aria-label="Conversations">
    <div class="ws"><div class="ws-name">Gemini playground</div>
      <div class="ws-sub">a local stand-in for your Slack workspace</div></div>
    {nav}
    <div class="model {mode_class}" id="model-label" title="Which model answers">{label}</div>
  </nav>
  <main class="pane channel-pane" aria-label="Messages">
    <header class="pane-head"><h1 id="channel-title"></h1>
      <span class="pane-sub" id="channel-sub"></span></header>
    <div id="messages" class="messages" role="log" aria-live="polite" tabindex="0"></div>
    <form class="composer" id="composer-main" autocomplete="off">
      <div class="chips" aria-live="polite"></div>
      <textarea rows="1" aria-label="Message" placeholder="Message"></textarea>
      <div class="composer-bar">
        <label class="attach" title="Attach files">📎<input type="file" multiple hidden></label>
        <span class="hint"><b>Enter</b> to send · <b>Shift+Enter</b> for a new line</span>
        <button type="submit" class="send" aria-label="Send">Send</button>
      </div>
    </form>
  </main>
  <aside class="pane thread-pane" id="thread" aria-label="Thread" hidden>
    <header class="pane-head"><h2>Thread</h2><span class="pane-sub" id="thread-sub"></span>
      <button type="button" class="close" id="thread-close" aria-label="Close thread">×</button>
    </header>
    <div id="thread-messages" class="messages" role="log" aria-live="polite" tabindex="0"></div>
    <div class="status" id="thread-status" aria-live="polite"></div>
    <form class="composer" id="composer-thread" autocomplete="off">
      <div class="chips" aria-live="polite"></div>
      <textarea rows="1" aria-label="Reply" placeholder="Reply…"></textarea>
      <div class="composer-bar">
        <label class="attach" title="Attach files">📎<input type="file" multiple hidden></label>
        <span class="hint"><b>Enter</b> to send</span>
        <button type="submit" class="send" aria-label="Send reply">Send</button>
      </div>
    </form>
  </aside>
  <div class="drop-hint" id="drop-hint" hidden>Drop files to attach them</div>
</div>
<noscript>The playground needs JavaScript for live updates.</noscript>
<script id="config" type="application/json">{config}</script>
<script src="{js}"></script>
</body>
</html>
"""
