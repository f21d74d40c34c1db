"""Work that runs later, once, in whichever bot process is free: background-run polls, digests.

`storage.jobs` keeps the jobs (due time, lease, fencing token); `bot.jobs.runner` claims and runs
them in each process. Capabilities register a handler per job kind at start-up.
"""

from bot.jobs.runner import Done, JobHandler, JobRunner, Outcome, RunAgain, retry_delay
from storage.jobs import Job

__all__ = ["Done", "Job", "JobHandler", "JobRunner", "Outcome", "RunAgain", "retry_delay"]
