"""The `Store` contract, run against every backend, plus Redis-only multi-process checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from storage import (
    ClaimResult,
    MemoryStore,
    RedisStore,
    Store,
    StoreUnavailable,
    ThreadKey,
    ThreadState,
    open_store,
)
from storage.memory import slack_ts_micros

Elapse = Callable[[float], Awaitable[None]]

KEY = ThreadKey("T1", "C1", "1700000000.000100")
OTHER = ThreadKey("T1", "C2", "1700000000.000100")
LEASE = 0.1  # seconds; short leases are waited out with `elapse(LEASE + 0.05)`


def full_state() -> ThreadState:
    """A ThreadState with every field set to a non-default value."""
    return ThreadState(
        interaction_id="int-2",
        previous_interaction_id="int-1",
        model="gemini-x",
        turns=3,
        last_activity=1700000123.25,
        last_answer_ts="1700000000.000200",
        extra={"image_file_id": "F123", "nested": {"list": [1, "two", None], "ok": True}},
    )


# -- thread state -----------------------------------------------------------------------------


async def test_thread_state_round_trip(store: Store) -> None:
    assert await store.get_thread(KEY) is None
    state = full_state()
    await store.save_thread(KEY, state, ttl_s=60)
    assert await store.get_thread(KEY) == state
    assert await store.get_thread(OTHER) is None

    updated = state.model_copy(update={"turns": 4, "extra": {}})
    await store.save_thread(KEY, updated, ttl_s=60)
    assert await store.get_thread(KEY) == updated

    await store.delete_thread(KEY)
    assert await store.get_thread(KEY) is None
    await store.delete_thread(KEY)  # deleting a missing thread is fine


async def test_returned_state_is_a_copy(store: Store) -> None:
    await store.save_thread(KEY, full_state(), ttl_s=60)
    got = await store.get_thread(KEY)
    assert got is not None
    got.extra["image_file_id"] = "changed"
    assert await store.get_thread(KEY) == full_state()


async def test_ttls_expire_and_saving_restarts_them(store: Store, elapse: Elapse) -> None:
    # The file's only long wait (~1.1 s for Redis): thread TTL, TTL restart and DONE TTL.
    await store.save_thread(KEY, full_state(), ttl_s=1)
    await store.save_thread(OTHER, full_state(), ttl_s=1)
    assert await store.claim("evt", "w1", LEASE) is ClaimResult.CLAIMED
    await store.complete_claim("evt", "w1", ttl_s=1)

    await elapse(0.6)
    assert await store.get_thread(KEY) == full_state()
    assert await store.claim("evt", "w2", LEASE) is ClaimResult.DONE
    await store.save_thread(OTHER, full_state(), ttl_s=1)  # restarts OTHER's TTL

    await elapse(0.5)
    assert await store.get_thread(KEY) is None
    assert await store.get_thread(OTHER) == full_state()
    assert await store.claim("evt", "w2", LEASE) is ClaimResult.CLAIMED


# -- claims -----------------------------------------------------------------------------------


async def test_claim_in_progress_then_done(store: Store) -> None:
    assert await store.claim("evt", "w1", 30) is ClaimResult.CLAIMED
    assert await store.claim("evt", "w2", 30) is ClaimResult.IN_PROGRESS
    assert await store.claim("evt", "w1", 30) is ClaimResult.IN_PROGRESS  # not re-entrant
    assert await store.claim("other-evt", "w2", 30) is ClaimResult.CLAIMED

    assert await store.renew_claim("evt", "w2", 30) is False
    assert await store.renew_claim("evt", "w1", 30) is True

    await store.complete_claim("evt", "w2", ttl_s=60)  # not the owner: no effect
    assert await store.claim("evt", "w3", 30) is ClaimResult.IN_PROGRESS

    await store.complete_claim("evt", "w1", ttl_s=60)
    assert await store.claim("evt", "w2", 30) is ClaimResult.DONE
    await store.release_claim("evt", "w1")  # a DONE claim stays done
    assert await store.claim("evt", "w2", 30) is ClaimResult.DONE
    assert await store.renew_claim("evt", "w1", 30) is False


async def test_release_lets_another_owner_claim(store: Store) -> None:
    assert await store.claim("evt", "w1", 30) is ClaimResult.CLAIMED
    await store.release_claim("evt", "w2")  # not the owner: no effect
    assert await store.claim("evt", "w2", 30) is ClaimResult.IN_PROGRESS
    await store.release_claim("evt", "w1")
    assert await store.renew_claim("evt", "w1", 30) is False
    assert await store.claim("evt", "w2", 30) is ClaimResult.CLAIMED


async def test_expired_claim_can_be_reclaimed(store: Store, elapse: Elapse) -> None:
    assert await store.claim("evt", "w1", LEASE) is ClaimResult.CLAIMED
    assert await store.claim("late", "w1", LEASE) is ClaimResult.CLAIMED
    await elapse(LEASE + 0.05)

    assert await store.renew_claim("evt", "w1", 30) is False
    assert await store.claim("evt", "w2", 30) is ClaimResult.CLAIMED
    await store.complete_claim("evt", "w1", ttl_s=60)  # stale owner: w2's lease stands
    assert await store.claim("evt", "w3", 30) is ClaimResult.IN_PROGRESS
    await store.complete_claim("evt", "w2", ttl_s=60)
    assert await store.claim("evt", "w3", 30) is ClaimResult.DONE

    # Finished after its lease ran out and nobody took over: the work is still recorded done.
    await store.complete_claim("late", "w1", ttl_s=60)
    assert await store.claim("late", "w2", 30) is ClaimResult.DONE


async def test_concurrent_claims_have_exactly_one_winner(store: Store) -> None:
    results = await asyncio.gather(*(store.claim("evt", f"w{i}", 30) for i in range(20)))
    assert results.count(ClaimResult.CLAIMED) == 1
    assert results.count(ClaimResult.IN_PROGRESS) == 19


# -- turn queue -------------------------------------------------------------------------------


async def drain(store: Store, key: ThreadKey) -> list[str]:
    """Take every pending turn in order (peek, then remove)."""
    taken = []
    while (turn := await store.peek_turn(key)) is not None:
        taken.append(turn[0])
        await store.remove_turn(key, turn[0])
    return taken


async def test_turns_come_out_in_exact_ts_order(store: Store) -> None:
    # As floats, the 8600000000.* pair collides (both print 8600000000.000002); the
    # 1700000000.* pairs differ only in the last microsecond.
    assert float("8600000000.000001") == float("8600000000.000002")
    stamps = [
        "1700000000.000002",
        "8600000000.000002",
        "1700000000.000100",
        "1700000000.000001",
        "8600000000.000001",
        "1699999999.999999",
        "1700000001.000000",
    ]
    for i, ts in enumerate(stamps):
        await store.enqueue_turn(KEY, ts, {"i": i})
    assert await store.peek_turn(KEY) == ("1699999999.999999", {"i": 5})
    assert await drain(store, KEY) == sorted(stamps, key=Decimal)
    assert await store.peek_turn(KEY) is None


async def test_reenqueue_is_noop_and_queues_are_per_thread(store: Store) -> None:
    assert await store.enqueue_turn(KEY, "1700000000.000300", {"text": "first"}) is True
    assert await store.enqueue_turn(KEY, "1700000000.000300", {"text": "retry"}) is False
    await store.enqueue_turn(OTHER, "1700000000.000001", {"text": "elsewhere"})
    assert await store.peek_turn(KEY) == ("1700000000.000300", {"text": "first"})
    assert await drain(store, KEY) == ["1700000000.000300"]
    assert await store.peek_turn(OTHER) == ("1700000000.000001", {"text": "elsewhere"})

    await store.enqueue_turn(KEY, "1700000000.000300", {"text": "again"})  # after removal
    assert await store.peek_turn(KEY) == ("1700000000.000300", {"text": "again"})


async def test_claiming_in_a_thread_also_reads_its_state(store: Store) -> None:
    assert await store.claim_in_thread("evt-t", "w1", 30, KEY) == (ClaimResult.CLAIMED, None)
    state = full_state()
    await store.save_thread(KEY, state, ttl_s=60)
    assert await store.claim_in_thread("evt-t", "w2", 30, KEY) == (
        ClaimResult.IN_PROGRESS, state)
    await store.complete_claim("evt-t", "w1", 60)
    assert await store.claim_in_thread("evt-t", "w2", 30, KEY) == (ClaimResult.DONE, state)


async def test_enqueueing_a_new_threads_first_turn_gives_it_a_state(store: Store) -> None:
    joined = ThreadState(last_activity=1700000000.5)
    assert await store.enqueue_turn(KEY, "1700000000.000100", {}, new_state=joined,
                                    state_ttl_s=60)
    assert await store.get_thread(KEY) == joined
    # A thread that already has a state keeps it; a turn already pending sets nothing.
    later = full_state()
    await store.save_thread(OTHER, later, ttl_s=60)
    assert await store.enqueue_turn(OTHER, "1700000000.000200", {}, new_state=joined,
                                    state_ttl_s=60)
    assert await store.get_thread(OTHER) == later
    await store.delete_thread(KEY)
    assert not await store.enqueue_turn(KEY, "1700000000.000100", {}, new_state=joined,
                                        state_ttl_s=60)
    assert await store.get_thread(KEY) is None


async def test_handing_a_turn_over_updates_it_completes_its_claim_and_wakes_a_worker(
        store: Store) -> None:
    await store.claim("evt-h", "web-1", lease_s=30)
    await store.enqueue_turn(KEY, "1700000000.000100", {"pending": True})
    assert await store.hand_over_turn(KEY, "1700000000.000100", {"pending": False},
                                      claim="evt-h", owner="web-1", done_ttl_s=60)
    assert await store.peek_turn(KEY) == ("1700000000.000100", {"pending": False})
    assert await store.claim("evt-h", "web-2", lease_s=30) is ClaimResult.DONE
    assert await store.wait_ready(0.5) == KEY
    # A turn no longer pending is not re-created; the claim is still completed.
    await store.remove_turn(KEY, "1700000000.000100")
    await store.claim("evt-g", "web-1", lease_s=30)
    assert not await store.hand_over_turn(KEY, "1700000000.000100", {"late": True},
                                          claim="evt-g", owner="web-1", done_ttl_s=60)
    assert await store.peek_turn(KEY) is None
    assert await store.claim("evt-g", "web-2", lease_s=30) is ClaimResult.DONE


async def test_has_turn_and_remove_turn(store: Store) -> None:
    payload = {"user": "U1", "blocks": [{"type": "text", "n": 1.5}], "none": None}
    assert await store.has_turn(KEY, "1700000000.000200") is False
    await store.enqueue_turn(KEY, "1700000000.000200", payload)
    await store.enqueue_turn(KEY, "1700000000.000300", {})
    assert await store.has_turn(KEY, "1700000000.000200") is True
    assert await store.has_turn(OTHER, "1700000000.000200") is False

    got = await store.peek_turn(KEY)
    assert got == ("1700000000.000200", payload)
    got[1]["user"] = "changed"  # the returned payload is a copy
    assert await store.peek_turn(KEY) == ("1700000000.000200", payload)

    await store.remove_turn(KEY, "1700000000.000300")  # not the head: fine too
    await store.remove_turn(KEY, "1700000000.999999")  # unknown ts: no-op
    assert await store.has_turn(KEY, "1700000000.000300") is False
    await store.remove_turn(KEY, "1700000000.000200")
    assert await store.has_turn(KEY, "1700000000.000200") is False
    assert await store.peek_turn(KEY) is None


async def test_bad_arguments_are_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.enqueue_turn(KEY, "not-a-ts", {})
    with pytest.raises(ValueError):
        await store.enqueue_turn(KEY, "1700000000.0000001", {})  # beyond microseconds
    with pytest.raises(ValueError):
        await store.claim("evt", "w1", 0)
    with pytest.raises(ValueError):
        await store.acquire_lease("lease", "w1", -1)


# -- leases -----------------------------------------------------------------------------------


async def test_lease_is_exclusive_renewable_and_released_by_owner_only(store: Store) -> None:
    assert await store.acquire_lease("thread", "w1", 30) is True
    assert await store.acquire_lease("thread", "w2", 30) is False
    assert await store.acquire_lease("thread", "w1", 30) is False  # not re-entrant
    assert await store.acquire_lease("other", "w2", 30) is True

    assert await store.renew_lease("thread", "w2", 30) is False
    assert await store.renew_lease("thread", "w1", 30) is True

    await store.release_lease("thread", "w2")  # not the owner: no-op
    assert await store.acquire_lease("thread", "w3", 30) is False
    await store.release_lease("thread", "w1")
    assert await store.renew_lease("thread", "w1", 30) is False
    assert await store.acquire_lease("thread", "w2", 30) is True


async def test_lease_expires(store: Store, elapse: Elapse) -> None:
    assert await store.acquire_lease("thread", "w1", LEASE) is True
    await elapse(LEASE + 0.05)
    assert await store.renew_lease("thread", "w1", 30) is False
    assert await store.acquire_lease("thread", "w2", 30) is True
    await store.release_lease("thread", "w1")  # the lost owner cannot release w2's lease
    assert await store.acquire_lease("thread", "w3", 30) is False


async def test_concurrent_leases_have_exactly_one_winner(store: Store) -> None:
    results = await asyncio.gather(*(store.acquire_lease("t", f"w{i}", 30) for i in range(20)))
    assert results.count(True) == 1


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


# -- answer controls --------------------------------------------------------------------------


async def test_cancel_request_is_per_run_and_expires(store: Store, elapse: Elapse) -> None:
    run = f"{KEY}:1700000000.000200:0"
    ttl = 0.5  # the checks before it expires take a few round trips, even on a busy machine
    assert await store.cancel_requested(run) is None
    await store.request_cancel(run, "U1", ttl_s=ttl)
    assert await store.cancel_requested(run) == "U1"
    assert await store.cancel_requested(f"{KEY}:1700000000.000200:1") is None
    await store.request_cancel(run, "U2", ttl_s=ttl)  # a later press wins
    assert await store.cancel_requested(run) == "U2"
    await elapse(ttl + 0.05)
    assert await store.cancel_requested(run) is None
    with pytest.raises(ValueError):
        await store.request_cancel(run, "U1", ttl_s=0)


async def test_feedback_is_one_rating_per_user_and_counted(store: Store) -> None:
    assert await store.get_feedback("int-1") == {}
    assert await store.record_feedback("int-1", "U1", "positive", ttl_s=60) == {"positive": 1}
    assert await store.record_feedback("int-1", "U2", "negative", ttl_s=60) == {
        "positive": 1, "negative": 1}
    # U1 changes their mind: their earlier rating is replaced, not added.
    assert await store.record_feedback("int-1", "U1", "negative", ttl_s=60) == {"negative": 2}
    assert await store.record_feedback("int-2", "U1", "positive", ttl_s=60) == {"positive": 1}
    stored = await store.get_feedback("int-1")
    assert {user: r["value"] for user, r in stored.items()} == {"U1": "negative", "U2": "negative"}
    assert all(isinstance(r["ts"], float) for r in stored.values())


async def test_feedback_expires(store: Store, elapse: Elapse) -> None:
    await store.record_feedback("int-1", "U1", "positive", ttl_s=LEASE)
    await elapse(LEASE + 0.05)
    assert await store.get_feedback("int-1") == {}
    assert await store.record_feedback("int-1", "U2", "positive", ttl_s=60) == {"positive": 1}


# -- backend-specific -------------------------------------------------------------------------


def test_slack_ts_micros_is_exact() -> None:
    assert slack_ts_micros("1700000000.000100") == 1_700_000_000_000_100
    assert slack_ts_micros("1700000000.5") == 1_700_000_000_500_000
    assert slack_ts_micros("1700000000") == 1_700_000_000_000_000


async def test_memory_store_expires_on_the_real_monotonic_clock() -> None:
    store = MemoryStore()
    assert await store.acquire_lease("thread", "w1", 0.05) is True
    assert await store.acquire_lease("thread", "w2", 30) is False
    await asyncio.sleep(0.06)
    assert await store.acquire_lease("thread", "w2", 30) is True


async def test_two_redis_clients_share_state_and_claims(redis_flushed: str) -> None:
    a, b = RedisStore.from_url(redis_flushed), RedisStore.from_url(redis_flushed)
    try:
        await a.save_thread(KEY, full_state(), ttl_s=60)
        assert await b.get_thread(KEY) == full_state()

        assert await a.claim("evt", "proc-a", 30) is ClaimResult.CLAIMED
        assert await b.claim("evt", "proc-b", 30) is ClaimResult.IN_PROGRESS
        assert await b.renew_claim("evt", "proc-b", 30) is False
        await a.complete_claim("evt", "proc-a", ttl_s=60)
        assert await b.claim("evt", "proc-b", 30) is ClaimResult.DONE

        await a.enqueue_turn(KEY, "1700000000.000002", {"from": "a"})
        await b.enqueue_turn(KEY, "1700000000.000001", {"from": "b"})
        assert await a.peek_turn(KEY) == ("1700000000.000001", {"from": "b"})

        assert await a.acquire_lease("thread", "proc-a", 30) is True
        assert await b.acquire_lease("thread", "proc-b", 30) is False
        results = await asyncio.gather(
            *(s.claim("race", f"{s_i}-{i}", 30) for i in range(10) for s_i, s in enumerate((a, b)))
        )
        assert results.count(ClaimResult.CLAIMED) == 1
    finally:
        await a.close()
        await b.close()


async def test_redis_state_survives_reconnect(redis_flushed: str) -> None:
    first = RedisStore.from_url(redis_flushed)
    await first.save_thread(KEY, full_state(), ttl_s=60)
    await first.enqueue_turn(KEY, "1700000000.000001", {"n": 1})
    assert await first.claim("evt", "w1", 30) is ClaimResult.CLAIMED
    await first.close()

    second = RedisStore.from_url(redis_flushed)
    try:
        assert await second.get_thread(KEY) == full_state()
        assert await second.peek_turn(KEY) == ("1700000000.000001", {"n": 1})
        assert await second.claim("evt", "w2", 30) is ClaimResult.IN_PROGRESS
    finally:
        await second.close()


async def test_redis_key_layout_and_prefix_isolation(redis_flushed: str) -> None:
    store = RedisStore.from_url(redis_flushed, prefix="gs")
    other = RedisStore.from_url(redis_flushed, prefix="other")
    raw = aioredis.from_url(redis_flushed, decode_responses=True)
    try:
        await store.enqueue_turn(KEY, "1700000000.000100", {})
        await store.save_thread(KEY, full_state(), ttl_s=60)
        score = await raw.zscore("gs:turns:{T1:C1:1700000000.000100}", "1700000000.000100")
        assert score is not None and int(score) == 1_700_000_000_000_100
        assert 0 < await raw.pttl("gs:thread:{T1:C1:1700000000.000100}") <= 60_000
        assert await other.get_thread(KEY) is None
        assert await other.peek_turn(KEY) is None
    finally:
        await raw.aclose()
        await store.close()
        await other.close()


async def test_open_store_picks_backend(redis_flushed: str) -> None:
    memory = await open_store(None)
    assert isinstance(memory, MemoryStore)
    store = await open_store(redis_flushed)
    try:
        assert isinstance(store, RedisStore)
        assert await store.ping() is True
    finally:
        await store.close()


async def test_open_store_unreachable_hides_password() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await open_store("redis://:s3cret@127.0.0.1:1/0")
    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "s3cret" not in message and "s3cret" not in repr(caught.value)
    assert caught.value.__cause__ is None


async def test_pending_threads_lists_threads_with_queued_turns(store: Store) -> None:
    a, b = ThreadKey("T1", "C1", "1700000000.000100"), ThreadKey("T1", "C2", "1700000000.000200")
    assert await store.pending_threads() == []
    await store.enqueue_turn(a, "1700000001.000001", {"n": 1})
    await store.enqueue_turn(b, "1700000001.000002", {"n": 2})
    assert set(await store.pending_threads()) == {a, b}
    await store.remove_turn(a, "1700000001.000001")
    assert await store.pending_threads() == [b]


async def test_update_turn_replaces_only_a_pending_payload(store: Store) -> None:
    key = ThreadKey("T1", "C1", "1700000000.000100")
    assert not await store.update_turn(key, "1700000001.000001", {"n": 0})
    assert not await store.has_turn(key, "1700000001.000001")
    await store.enqueue_turn(key, "1700000001.000001", {"n": 1})
    assert await store.update_turn(key, "1700000001.000001", {"n": 2})
    assert await store.peek_turn(key) == ("1700000001.000001", {"n": 2})
    await store.remove_turn(key, "1700000001.000001")
    assert not await store.update_turn(key, "1700000001.000001", {"n": 3})
    assert await store.peek_turn(key) is None


async def test_token_bucket_starts_full_then_paces(store: Store,
                                                   elapse: Callable[[float], Awaitable[None]]
                                                   ) -> None:
    taken = [await store.take_token("chat.update", per_s=5.0, capacity=3) for _ in range(4)]
    assert taken[:3] == [0.0, 0.0, 0.0]
    assert 0.1 < taken[3] <= 0.2, "the fourth waits for a refill (1/5 s)"
    await elapse(0.25)
    assert await store.take_token("chat.update", per_s=5.0, capacity=3) == 0.0
    assert await store.take_token("other", per_s=5.0, capacity=1) == 0.0, "buckets are separate"


async def test_token_bucket_is_shared_by_two_clients(redis_flushed: str) -> None:
    one, two = RedisStore.from_url(redis_flushed), RedisStore.from_url(redis_flushed)
    try:
        assert await one.take_token("b", per_s=0.5, capacity=2) == 0.0
        assert await two.take_token("b", per_s=0.5, capacity=2) == 0.0
        assert await one.take_token("b", per_s=0.5, capacity=2) > 1.0
        assert await two.take_token("b", per_s=0.5, capacity=2) > 1.0
    finally:
        await one.close()
        await two.close()


async def test_paused_bucket_hands_out_nothing_until_the_pause_ends(
        store: Store, elapse: Callable[[float], Awaitable[None]]) -> None:
    assert await store.take_token("b", per_s=100.0, capacity=5) == 0.0
    await store.pause_bucket("b", 0.3)
    wait = await store.take_token("b", per_s=100.0, capacity=5)
    assert 0.2 < wait <= 0.3
    await elapse(0.35)
    assert await store.take_token("b", per_s=100.0, capacity=5) == 0.0


async def test_ready_threads_are_handed_over_in_order(store: Store) -> None:
    a, b = ThreadKey("T1", "C1", "1700000000.000100"), ThreadKey("T1", "C2", "1700000000.000200")
    assert await store.wait_ready(0.05) is None
    await store.notify_ready(a)
    await store.notify_ready(b)
    assert await store.wait_ready(1.0) == a
    assert await store.wait_ready(1.0) == b
    waiting = asyncio.ensure_future(store.wait_ready(2.0))
    await asyncio.sleep(0.05)
    await store.notify_ready(b)
    assert await waiting == b, "a waiting worker is woken by a hand-over"


async def test_thread_state_of_the_old_key_layout_is_still_read(redis_flushed: str) -> None:
    store = RedisStore.from_url(redis_flushed)
    raw = aioredis.from_url(redis_flushed, decode_responses=True)
    try:
        old = ThreadState(interaction_id="v1_old", turns=3).model_dump_json()
        await raw.set("gs:thread:T1:C1:1700000000.000100", old, px=60_000)
        state = await store.get_thread(KEY)
        assert state is not None and state.interaction_id == "v1_old"
        await store.delete_thread(KEY)
        assert await store.get_thread(KEY) is None
    finally:
        await store.close()
        await raw.aclose()
