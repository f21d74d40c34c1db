"""Serves Slack's Socket Mode endpoint in its own process and prints each envelope's ack latency.

`python -m bench.socket_hub PORT`: the fake Slack's `socket_url` points the app here. Reads
{"idle": [payload, ...], "gap_s": s, "burst": [payload, ...]} from stdin, waits for the app to
connect, sends the idle envelopes one at a time `gap_s` apart, then the burst back to back;
prints {"idle": [ms], "burst": [ms], "connections": n} (time from sending to receiving the ack),
then serves on until terminated, so the app is stopped before its socket closes.
Its own process, so the fakes' event loop (busy serving the answers) does not skew the timing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from aiohttp import web

from fakes.slack.socket_mode import SocketModeHub


async def _timed(hub: SocketModeHub, payload: dict[str, Any]) -> float:
    started = time.perf_counter()
    if await hub.send("events_api", payload, ack_timeout_s=60) is None:
        raise SystemExit("an envelope was not acked within 60 s")
    return (time.perf_counter() - started) * 1000


async def main(port: int) -> None:
    """Serve /link/ until the job on stdin is done."""
    hub = SocketModeHub()
    app = web.Application()
    app.router.add_get("/link/", hub.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host="127.0.0.1", port=port).start()
    job = json.loads(await asyncio.to_thread(sys.stdin.read))
    await asyncio.wait_for(hub.connected.wait(), timeout=60)
    idle = []
    for payload in job["idle"]:
        idle.append(await _timed(hub, payload))
        await asyncio.sleep(job["gap_s"])
    burst = await asyncio.gather(*(_timed(hub, p) for p in job["burst"]))
    print(json.dumps({"idle": idle, "burst": burst, "connections": hub.opened}), flush=True)
    await asyncio.Event().wait()  # keep the socket open until SIGTERM (the app stops first)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
