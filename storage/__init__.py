"""Conversation-state storage: one `Store` interface, Redis and in-memory backends."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from storage.base import ClaimResult, Store, ThreadKey, ThreadState
from storage.memory import MemoryStore
from storage.redis_store import RedisStore

__all__ = [
    "ClaimResult",
    "MemoryStore",
    "RedisStore",
    "Store",
    "StoreUnavailable",
    "ThreadKey",
    "ThreadState",
    "open_store",
]


class StoreUnavailable(Exception):
    """The configured storage backend cannot be used (message never contains credentials)."""


def describe_url(url: str) -> str:
    """Where a Redis URL points (scheme, host, port, db), without user, password or query."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return f"unix://{parts.path}"
        port = parts.port or 6379
    except ValueError:
        return "<unparseable Redis URL>"
    return f"{parts.scheme}://{parts.hostname or 'localhost'}:{port}{parts.path}"


async def open_store(redis_url: str | None) -> Store:
    """Open the Redis store when a URL is given (checking it answers PING), else a MemoryStore."""
    if not redis_url:
        return MemoryStore()
    where = describe_url(redis_url)
    try:
        store = RedisStore.from_url(redis_url)
    except ValueError as exc:
        raise StoreUnavailable(f"invalid Redis URL for {where}: {_scrub(exc, redis_url)}") from None
    try:
        await store.client.ping()
    except Exception as exc:
        await store.close()
        reason = f"{type(exc).__name__}: {_scrub(exc, redis_url)}"
        # `from None`: the chained exception is not needed and must not carry the URL around.
        raise StoreUnavailable(f"Redis at {where} is unreachable ({reason})") from None
    return store


def _scrub(exc: BaseException, url: str) -> str:
    """The exception's text with the URL's passwords (userinfo or ?password=) blanked out."""
    text = str(exc)
    try:
        parts = urlsplit(url)
        secrets = [parts.password, *parse_qs(parts.query).get("password", [])]
    except ValueError:
        secrets = []
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text
