"""Re-raise a cancellation that a library turned into another error, so loops stop."""

from __future__ import annotations

import asyncio


def raise_if_cancelling() -> None:
    """Raise CancelledError if the current task was asked to stop.

    Some awaits lose a cancellation: redis-py can swallow one that arrives mid-command (the
    command returns normally) or report it as a ConnectionError, and Python 3.11's wait_for can
    drop one. A loop that carries on would then never stop, and shutdown would wait on it
    forever: call this at the top of every iteration of a loop that awaits the store.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
