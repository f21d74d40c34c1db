"""Web API transport rules: merging query/form/JSON arguments and checking the token."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .args import parse_json_fields
from .models import SlackError
from .state import Workspace

APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head><body>"
    "<h1>Sign in to fake-team</h1><form action=\"/signin\" method=\"post\">"
    "<input name=\"email\"><input name=\"password\" type=\"password\"></form></body></html>"
)


async def read_args(request: web.Request) -> tuple[dict[str, Any], str | None, str | None]:
    """Merge query → form → JSON arguments; return (args, token, deferred parse error)."""
    # A `token` inside a JSON body is ignored: Slack reads it only from the Authorization
    # header, the query string or a form body.
    args: dict[str, Any] = dict(request.query.items())
    error: str | None = None
    if request.method == "POST" and request.can_read_body:
        if request.content_type in FORM_TYPES:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        elif request.content_type == "application/json":
            raw = await request.read()
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
            if isinstance(body, dict):
                body.pop("token", None)
                args.update(body)
            else:
                error = "invalid_json"
    token = args.pop("token", None)
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        token = auth[len("Bearer ") :].strip()
    error = error or parse_json_fields(args)
    return args, (str(token) if token else None), error


def check_token(ws: Workspace, method: str, token: str | None) -> None:
    """not_authed / invalid_auth / not_allowed_token_type, as Slack answers them."""
    if not token:
        raise SlackError("not_authed")
    if token == ws.app_token:
        if method not in APP_TOKEN_METHODS:
            raise SlackError("not_allowed_token_type")
    elif token == ws.bot_token:
        if method in APP_TOKEN_METHODS:
            raise SlackError("not_allowed_token_type")
    else:
        raise SlackError("invalid_auth")


def is_bot_bearer(ws: Workspace, request: web.Request) -> bool:
    """Whether a request carries `Authorization: Bearer <bot token>`."""
    return request.headers.get("Authorization", "") == f"Bearer {ws.bot_token}"


def login_page() -> web.Response:
    """What Slack serves to a file URL request without a valid token: HTML, status 200."""
    return web.Response(text=LOGIN_PAGE, content_type="text/html", status=200)
