"""The `run_agent` tool: the model hands a long task to a managed agent in the background."""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.logs import get_logger
from bot.tools.registry import Tool, ToolContext, ToolError

log = get_logger("tools.agents")

DECLARATION: dict[str, Any] = {
    "type": "function",
    "name": "run_agent",
    "description": (
        "Start a managed agent on a long task in the background (minutes to an hour): it works "
        "in a remote sandbox with code execution and files, and its result is posted in this "
        "Slack thread when it is done. Use it for work too long to do in one answer (write and "
        "run code, multi-step analyses, research). After it starts, tell the person in one "
        "sentence that the agent is working on it and the result will appear in this thread."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "task": {
                "type": "string",
                "description": "Everything the agent needs to do the task on its own: the goal, "
                               "the inputs, and what the result should look like.",
            },
        },
        "required": ["task"],
    },
}


def agent_tool(settings: Settings) -> Tool | None:
    """The run_agent tool, when agents are enabled."""
    if not settings.agents_enabled:
        return None
    return Tool(declaration=DECLARATION, handler=run_agent, progress="Starting an agent…",
                title="Starting the agent")


async def run_agent(args: dict[str, Any], ctx: ToolContext) -> str:
    """Handle a run_agent call: start a background run whose result lands in this thread."""
    from bot.agents.start import RunRequest, start_run

    task = args.get("task")
    if not isinstance(task, str) or not task.strip():
        raise ToolError("the request named no task for the agent")
    run_id = await start_run(ctx.services, RunRequest(
        kind="tool", task=task.strip(), asker=ctx.user_id, team_id=ctx.team_id,
        channel=ctx.channel, thread_ts=ctx.thread_ts, attach=False))
    log.info("agent_tool_started", run=run_id, channel=ctx.channel)
    return ("Started: the agent is working on it in the background; its status card is in this "
            "thread and its result will be posted here when it finishes.")
