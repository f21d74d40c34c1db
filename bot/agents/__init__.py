"""Managed agents and background runs: started from Slack, polled by any bot process, their
result posted in the thread exactly once when they finish.

`record` (the run's durable record and its fence), `start` (record, card, job), `poll` (the job:
start, poll, finish), `outcome` and `posting` (what the thread gets, exactly once), `card`
(the status card), `cancel`, `listing`, `threads` (replies held while a run is going, then
continued with the agent), `tool` (`run_agent` for the model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.services import Services


def register_jobs(services: Services) -> None:
    """Let this process's job runner run background-run jobs."""
    from bot.agents.poll import run_job
    from bot.agents.record import JOB_KIND
    from bot.jobs import Job, Outcome

    async def handle(job: Job) -> Outcome:
        return await run_job(services, job)

    services.jobs.register(JOB_KIND, handle)
