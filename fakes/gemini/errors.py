"""API errors in the wire shape the Interactions API uses."""

from __future__ import annotations

import json

from aiohttp import web

STATUS_CODES: dict[int, str] = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "aborted",
    413: "invalid_argument",
    429: "resource_exhausted",
    500: "internal",
    501: "unimplemented",
    503: "unavailable",
    504: "deadline_exceeded",
}

CODE_STATUSES: dict[str, int] = {
    "invalid_argument": 400,
    "failed_precondition": 400,
    "out_of_range": 400,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "aborted": 409,
    "already_exists": 409,
    "resource_exhausted": 429,
    "cancelled": 499,
    "internal": 500,
    "unknown": 500,
    "data_loss": 500,
    "unimplemented": 501,
    "unavailable": 503,
    "deadline_exceeded": 504,
}


class ApiError(Exception):
    """An HTTP error response: status, string code and message."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or STATUS_CODES.get(status, "unknown")
        self.message = message
        self.retry_after = retry_after

    def body(self) -> dict[str, object]:
        """The JSON error body."""
        return {"error": {"code": self.code, "message": self.message}}

    def response(self) -> web.Response:
        """Render as an aiohttp JSON response."""
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = _fmt_seconds(self.retry_after)
        return web.Response(
            status=self.status,
            text=json.dumps(self.body()),
            content_type="application/json",
            headers=headers,
        )


def bad_request(message: str) -> ApiError:
    """400 invalid_argument."""
    return ApiError(400, message, "invalid_argument")


def not_found(message: str) -> ApiError:
    """404 not_found."""
    return ApiError(404, message, "not_found")


def precondition(message: str) -> ApiError:
    """400 failed_precondition."""
    return ApiError(400, message, "failed_precondition")


def _fmt_seconds(value: float) -> str:
    """Retry-After value: integer seconds when whole, else a decimal."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
