"""The job and record contracts (storage/jobs.py, storage/records.py) on every backend."""

from __future__ import annotations

import asyncio

import pytest

from storage import RedisStore, Store

NOW = 1_800_000_000.0
LEASE = 30.0


async def test_a_due_job_is_claimed_by_one_owner_until_its_lease_ends(store: Store) -> None:
    await store.jobs.schedule("poll:1", "agent_poll", NOW, {"run": "r1"})
    assert await store.jobs.claim_due("later", NOW - 1, LEASE, 10) == []  # not due yet

    [job] = await store.jobs.claim_due("a", NOW, LEASE, 10)
    assert (job.id, job.kind, job.data) == ("poll:1", "agent_poll", {"run": "r1"})
    assert await store.jobs.claim_due("b", NOW + 1, LEASE, 10) == []  # leased to "a"

    # "a" died: once the lease ends "b" takes it, and "a" can no longer act on it.
    [taken] = await store.jobs.claim_due("b", NOW + LEASE + 1, LEASE, 10)
    assert taken.token > job.token
    assert not await store.jobs.renew(job, NOW + LEASE + 2, LEASE)
    assert not await store.jobs.reschedule(job, NOW + 100)
    assert not await store.jobs.finish(job)
    stored = await store.jobs.get("poll:1")
    assert stored is not None and stored.owner == "b"
    assert await store.jobs.finish(taken)
    assert await store.jobs.get("poll:1") is None
    assert await store.jobs.count() == 0


async def test_reschedule_sets_the_next_due_time_and_data(store: Store) -> None:
    await store.jobs.schedule("digest:C1", "digest", NOW, {"n": 1})
    [job] = await store.jobs.claim_due("a", NOW, LEASE, 10)
    assert await store.jobs.renew(job, NOW + 5, LEASE)
    assert await store.jobs.reschedule(job, NOW + 60, {"n": 2}, failed=True)
    assert await store.jobs.next_due() == NOW + 60
    assert await store.jobs.claim_due("a", NOW + 59, LEASE, 10) == []
    [again] = await store.jobs.claim_due("b", NOW + 60, LEASE, 10)
    assert again.data == {"n": 2}
    assert again.attempts == 1
    assert await store.jobs.reschedule(again, NOW + 120)
    [third] = await store.jobs.claim_due("b", NOW + 120, LEASE, 10)
    assert third.attempts == 0  # a successful run resets the failure count


async def test_replacing_a_job_fences_out_its_current_holder(store: Store) -> None:
    await store.jobs.schedule("digest:C1", "digest", NOW, {"rule": "daily"})
    [held] = await store.jobs.claim_due("a", NOW, LEASE, 10)
    await store.jobs.schedule("digest:C1", "digest", NOW + 3600, {"rule": "weekly"})
    assert not await store.jobs.reschedule(held, NOW + 10)
    stored = await store.jobs.get("digest:C1")
    assert stored is not None
    assert (stored.data, stored.due_at, stored.owner) == ({"rule": "weekly"}, NOW + 3600, None)
    assert await store.jobs.cancel("digest:C1")
    assert not await store.jobs.cancel("digest:C1")


async def test_claims_take_the_oldest_due_jobs_first_up_to_the_limit(store: Store) -> None:
    for i in range(5):
        await store.jobs.schedule(f"j{i}", "k", NOW + i, {"i": i})
    claimed = await store.jobs.claim_due("a", NOW + 10, LEASE, 3)
    assert [j.id for j in claimed] == ["j0", "j1", "j2"]
    assert await store.jobs.count() == 5


async def test_concurrent_claimers_never_share_a_job(redis_flushed: str) -> None:
    stores = [RedisStore.from_url(redis_flushed) for _ in range(4)]
    try:
        for i in range(200):
            await stores[0].jobs.schedule(f"j{i}", "k", NOW, {})
        batches = await asyncio.gather(*(s.jobs.claim_due(f"o{n}", NOW, LEASE, 80)
                                         for n, s in enumerate(stores)))
        ids = [job.id for batch in batches for job in batch]
        assert len(ids) == 200 and len(set(ids)) == 200
    finally:
        for s in stores:
            await s.close()


# -- records ----------------------------------------------------------------------------------


async def test_records_create_once_and_update_with_a_fence(store: Store) -> None:
    assert await store.records.create("run", "r1", {"status": "running", "parts": []}, 60)
    assert not await store.records.create("run", "r1", {"status": "other"}, 60)
    merged = await store.records.update("run", "r1", {"status": "posting", "parts": ["1.1"]},
                                        expect={"status": "running"})
    assert merged == {"status": "posting", "parts": ["1.1"]}
    # The fence refuses a second process doing the same step.
    assert await store.records.update("run", "r1", {"status": "posting"},
                                      expect={"status": "running"}) is None
    assert await store.records.update("run", "r1", {"by": "U1"}, expect={"by": None}) == {
        "status": "posting", "parts": ["1.1"], "by": "U1"}
    assert await store.records.get("run", "r1") == {"status": "posting", "parts": ["1.1"],
                                                    "by": "U1"}
    assert await store.records.update("run", "missing", {"a": 1}) is None
    await store.records.delete("run", "r1")
    assert await store.records.get("run", "r1") is None


async def test_record_indexes_list_by_score(store: Store) -> None:
    for i, rec_id in enumerate(["a", "b", "c"]):
        await store.records.index_add("runs:U1", rec_id, NOW + i)
    assert await store.records.index_list("runs:U1") == ["c", "b", "a"]
    assert await store.records.index_list("runs:U1", 2, newest_first=False) == ["a", "b"]
    await store.records.index_remove("runs:U1", "b")
    assert await store.records.index_list("runs:U1") == ["c", "a"]
    assert await store.records.index_list("runs:nobody") == []


@pytest.mark.parametrize("ttl", [0.2])
async def test_records_expire(store: Store, ttl: float) -> None:
    await store.records.put("run", "r2", {"x": 1}, ttl)
    await asyncio.sleep(ttl + 0.1)
    assert await store.records.get("run", "r2") is None
