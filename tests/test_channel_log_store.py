"""The channel-log contract (storage/channel_log.py) on both backends."""

from __future__ import annotations

from storage import RedisStore, Store
from storage.channel_log import RETENTION_S, LoggedMessage

NOW = 1_800_000_000.0


def msg(offset: float, text: str, user: str = "U1", thread: str | None = None) -> LoggedMessage:
    return LoggedMessage(f"{NOW + offset:.6f}", user, text, thread)


async def test_records_messages_in_time_order_with_edits_and_deletes(store: Store) -> None:
    log = store.channel_log
    assert await log.since("T1", "C1") is None
    assert await log.start("T1", "C1", NOW) == NOW
    assert await log.start("T1", "C1", NOW + 50) == NOW  # already recording: kept
    first, second, reply = msg(1, "first"), msg(2, "second"), msg(3, "re", "U2",
                                                                   f"{NOW + 1:.6f}")
    for m in (second, reply, first):
        await log.add("T1", "C1", m, NOW + 3)
    assert [m.text for m in await log.between("T1", "C1", NOW, NOW + 10)] == [
        "first", "second", "re"]
    assert (await log.between("T1", "C1", NOW, NOW + 10))[2].thread_ts == f"{NOW + 1:.6f}"
    assert await log.edit("T1", "C1", second.ts, "second, edited / Grüße 🎉")
    assert not await log.edit("T1", "C1", f"{NOW + 9:.6f}", "never recorded")
    await log.delete("T1", "C1", first.ts)
    assert [m.text for m in await log.between("T1", "C1", NOW, NOW + 10)] == [
        "second, edited / Grüße 🎉", "re"]
    # (oldest, latest]: the bounds exclude the oldest and include the latest.
    assert [m.text for m in await log.between("T1", "C1", NOW + 2, NOW + 3)] == ["re"]
    assert await log.between("T1", "C2", NOW, NOW + 10) == []
    await log.drop("T1", "C1")
    assert await log.since("T1", "C1") is None
    assert await log.between("T1", "C1", NOW, NOW + 10) == []


async def test_messages_past_the_retention_are_trimmed(store: Store) -> None:
    log = store.channel_log
    await log.add("T1", "C1", msg(0, "old"), NOW)
    await log.add("T1", "C1", msg(RETENTION_S + 10, "new"), NOW + RETENTION_S + 10)
    assert [m.text for m in await log.between("T1", "C1", 0, NOW + RETENTION_S + 20)] == ["new"]
    if isinstance(store, RedisStore):
        ttl = await store.client.pttl("gs:chlog:{T1:C1}:ts")
        assert 0 < ttl <= RETENTION_S * 1000


async def test_gaps_and_heartbeats(store: Store) -> None:
    log = store.channel_log
    assert await log.heartbeat(NOW) is None
    assert await log.heartbeat(NOW + 30) == NOW
    await log.add_gap(NOW + 100, NOW + 400)
    await log.add_gap(NOW + 1000, NOW + 1100)
    assert await log.gaps(NOW, NOW + 5000) == [(NOW + 100, NOW + 400), (NOW + 1000, NOW + 1100)]
    assert await log.gaps(NOW + 400, NOW + 999) == []
    assert await log.gaps(NOW + 300, NOW + 1000) == [(NOW + 100, NOW + 400),
                                                     (NOW + 1000, NOW + 1100)]
    await log.add_gap(NOW + RETENTION_S + 2000, NOW + RETENTION_S + 2100)
    assert await log.gaps(0, NOW + 2 * RETENTION_S) == [
        (NOW + RETENTION_S + 2000, NOW + RETENTION_S + 2100)]
