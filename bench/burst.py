"""Sends signed events to a request URL and prints each one's ack latency (ms) as JSON.

Runs as its own process so the load generator's timing is not skewed by the fakes'
event loop. Reads {"url", "secret", "events": [...], "gap_s"} (one after another) or
{..., "rate"} (events/s, open loop) from stdin.
"""

from __future__ import annotations

import asyncio
import json
import sys

from fakes.slack import EventSender


async def send(job: dict) -> list[float]:  # type: ignore[type-arg]
    """Deliver the events one after another; their HTTP response times in ms."""
    sender = EventSender(url=job["url"], signing_secret=job["secret"])
    latencies: list[float] = []
    if job.get("rate"):  # open loop: event i goes out at i / rate seconds, answered or not
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def one(i: int, event: dict) -> float:  # type: ignore[type-arg]
            await asyncio.sleep(max(0.0, start + i / job["rate"] - loop.time()))
            delivery = await sender.send_event(event)
            if delivery.status != 200:
                raise SystemExit(f"event not acked: HTTP {delivery.status}")
            return delivery.elapsed_s * 1000

        return list(await asyncio.gather(*(one(i, e) for i, e in enumerate(job["events"]))))
    for event in job["events"]:
        delivery = await sender.send_event(event)
        if delivery.status != 200:
            raise SystemExit(f"event not acked: HTTP {delivery.status}")
        latencies.append(delivery.elapsed_s * 1000)
        if job.get("gap_s"):
            await asyncio.sleep(job["gap_s"])
    return latencies


if __name__ == "__main__":
    print(json.dumps(asyncio.run(send(json.load(sys.stdin)))))
