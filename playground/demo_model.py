"""The offline demo model: scripted answers, picked from the question, that show every feature."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from fakes.gemini import Citation, FunctionCall, Reply, SearchCall
from fakes.gemini.structured import example, json_schema
from fakes.gemini.validate import CreateRequest
from playground.pictures import landscape

LABEL = "offline demo model — set GEMINI_API_KEY for real answers"
STREAMING = {"chunk_size": 5, "delay_s": 0.025}
"""Pacing of every demo answer: fast enough to read along, slow enough to watch it stream."""
LONG_PACING = {"chunk_size": 4, "delay_s": 0.05}

WELCOME = """Hi! I'm the **offline demo model** of this playground, so my answers are scripted \
— set `GEMINI_API_KEY` and restart to talk to the real Gemini.

You asked: _{question}_

Everything else here is the real bot, running just as it does in Slack. Try:
- **search** something, e.g. `@gemini search the latest Gemini news` — an answer with sources
- **draw** a picture, e.g. `@gemini draw a sunset`, then `make it blue`
- **table**: `@gemini compare Slack and email in a table`
- **long**: `@gemini tell me a long story` — press **Stop** while it writes
- attach a file (📎 or drop it on the page) and ask about it
- type `/gemini help` for the slash command

Replies in this thread continue the conversation; no need to mention me again."""

SEARCH_ANSWER = (
    "Here is what I found about *{topic}*.\n\n"
    "The Gemini Interactions API keeps a conversation on the server: each answer is an "
    "interaction, and the next one names it as `previous_interaction_id`, so a bot only sends "
    "the new message.\n\n"
    "Slack apps can stream an answer into a thread with `chat.startStream`, "
    "`chat.appendStream` and `chat.stopStream`, so people see it as it is written.\n\n"
    "Grounding with Google Search adds the sources an answer is based on, numbered below."
)
SEARCH_SOURCES = (
    ("https://ai.google.dev/gemini-api/docs/interactions", "Interactions API | Gemini API",
     "The Gemini Interactions API keeps a conversation"),
    ("https://docs.slack.dev/ai/developing-ai-apps", "Developing AI apps | Slack Developer Docs",
     "Slack apps can stream an answer"),
    ("https://ai.google.dev/gemini-api/docs/google-search", "Grounding with Google Search",
     "Grounding with Google Search adds"),
)

TABLE_ANSWER = """Here is a quick comparison:

| Topic | Slack | Email |
|---|---|---|
| Speed | seconds | minutes to days |
| Threads | built in | by subject line |
| Best for | quick back-and-forth | formal, external |

**In short:** Slack for conversations, email for records. A `code span`, a \
[link](https://slack.com) and ~~strikethrough~~ render too."""

STORY_PARAGRAPHS = [
    "Once upon a time, in a workspace far, far away, there was a channel called #general where "
    "nobody ever found anything.",
    "Messages scrolled past like leaves on a river. Questions were asked and never answered; "
    "answers were given to questions nobody remembered asking.",
    "One morning a small bot joined the channel. It did not say much. It waited to be "
    "mentioned, and when it was, it answered in the thread, one word after another, so "
    "everybody could watch the answer grow.",
    "People started asking it things. How do I rotate a token? What did we decide about the "
    "launch? Can you draw the team a sunset? It remembered each thread, and every reply in a "
    "thread picked up where the last one left off.",
    "Sometimes an answer went on for too long, and someone pressed Stop. The bot stopped at "
    "once, kept what it had written, and said who had stopped it. Nobody minded; they could "
    "always press Regenerate.",
    "Weeks went by. The channel got quieter, in a good way: fewer questions asked twice, fewer "
    "links lost, more threads that ended with a thumbs up.",
    "And the bot? It kept answering, one thread at a time, streaming every word, exactly once.",
]
STORY = "## The bot in #general\n\n" + "\n\n".join(STORY_PARAGRAPHS * 3) + "\n\n*The end.*"

CODE_ANSWER = """Here is a tiny Python example:

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"

print(greet("Slack"))
```

Run it and it prints `Hello, Slack!`."""


def _newest_input(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The content blocks of the newest user_input step."""
    for step in reversed(steps):
        if step.get("type") == "user_input":
            return [b for b in step.get("content") or [] if isinstance(b, dict)]
    return []


def _user_text(steps: list[dict[str, Any]]) -> str:
    """What the person wrote in the newest message, without the author prefix."""
    texts = [b for b in _newest_input(steps) if b.get("type") == "text"]
    said = str(texts[0].get("text") or "") if texts else ""
    if "New message:\n" in said:
        said = said.split("New message:\n", 1)[1]
    return re.sub(r"^<@[A-Z0-9]+>:\s*", "", said.strip())


def _attachments(steps: list[dict[str, Any]]) -> list[str]:
    """A description of every file that came with the newest message."""
    found: list[str] = []
    name = "a file"
    for block in _newest_input(steps)[1:]:
        text = str(block.get("text") or "")
        if block.get("type") == "text" and text.startswith("[Attached file: "):
            name = text.removeprefix("[Attached file: ").rstrip("]")
        elif block.get("type") == "text" and text.startswith("Attached file "):
            head, _, body = text.partition("\n")
            lines = max(0, body.count("\n") - 1)
            found.append(f"**{head.removeprefix('Attached file ').rstrip(':')}**, a text file "
                         f"of {lines} line{'s' if lines != 1 else ''}")
        elif block.get("data"):
            try:
                size = len(base64.b64decode(block["data"]))
            except (binascii.Error, ValueError):
                size = 0
            found.append(f"**{name}**, {block.get('mime_type') or 'a file'} of {size:,} bytes")
            name = "a file"
    return found


def _describe_files(files: list[str], question: str) -> str:
    """An answer about attached files."""
    return ("Thanks — I received your attachment" + ("s" if len(files) > 1 else "") + ":\n"
            + "\n".join(f"- {f}" for f in files)
            + "\n\nThe offline demo model doesn't really read files, but the bot downloaded "
            "them from Slack and sent them to the model exactly as it does for real Gemini."
            + (f"\n\nYour message: _{question}_" if question else ""))


def _search_reply(question: str) -> Reply:
    """A grounded answer with three cited sources."""
    topic = question.removeprefix("search").strip(" :?") or "your question"
    text = SEARCH_ANSWER.format(topic=topic[:80])
    citations = []
    for url, title, passage in SEARCH_SOURCES:
        start = len(text[: text.index(passage)].encode())
        citations.append(Citation(url=url, title=title, start_index=start,
                                  end_index=start + len(passage.encode())))
    return Reply(text=text, search=SearchCall(queries=[topic[:80]]), citations=citations,
                 step_delay_s=0.6, **STREAMING)


def _draw_reply(question: str, can_draw: bool) -> Reply:
    """Ask the bot's generate_image tool for a picture (an edit when it says 'make it')."""
    if not can_draw:
        return Reply(text="Image generation is switched off (`GEMINI_IMAGE_MODEL` is empty).",
                     **STREAMING)
    args: dict[str, Any] = {"prompt": question or "a sunset over hills"}
    if re.search(r"\b(make|turn) it\b", question.lower()):
        args["edit_last_image"] = True
    return Reply(text="Let me draw that.", function_calls=[FunctionCall("generate_image", args)],
                 **STREAMING)


def _after_tool(steps: list[dict[str, Any]]) -> Reply | None:
    """The answer once the bot's tool ran: the last step is its function_result."""
    if not steps or steps[-1].get("type") != "function_result":
        return None
    result = steps[-1].get("result")
    text = result if isinstance(result, str) else ""
    if text.startswith("Done"):
        return Reply(text="Here you go — drawn by the offline demo model. Ask for a change, "
                          "e.g. *make it blue*.", **STREAMING)
    return Reply(text="Sorry, that did not work.", **STREAMING)


def responder(image_model: str) -> Callable[[CreateRequest], Reply]:
    """The fake Gemini's responder: one scripted demo answer per request."""

    def reply(req: CreateRequest) -> Reply:
        schema = json_schema(req.body)
        if schema is not None:  # structured output: an example that fits the schema
            return Reply(text=json.dumps(example(schema, _user_text(req.steps))))
        if image_model and req.target == image_model:
            prompt = _user_text(req.steps) or "a picture"
            return Reply(image=landscape(prompt), text="A landscape in warm evening light.")
        after = _after_tool(req.steps)
        if after is not None:
            return after
        question = _user_text(req.steps)
        words = question.lower()
        files = _attachments(req.steps)
        if files:
            return Reply(text=_describe_files(files, question), **STREAMING)
        if re.search(r"\b(search|news|latest|weather|today)\b", words):
            return _search_reply(question)
        if re.search(r"\b(draw|paint|picture|image|sketch|make it|turn it)\b", words):
            can_draw = "generate_image" in req.tools.functions
            return _draw_reply(question, can_draw)
        if re.search(r"\b(long|story|essay)\b", words):
            return Reply(text=STORY, **LONG_PACING)
        if re.search(r"\b(table|compare|comparison)\b", words):
            return Reply(text=TABLE_ANSWER, **STREAMING)
        if re.search(r"\b(code|python|function)\b", words):
            return Reply(text=CODE_ANSWER, **STREAMING)
        shown = question.replace("_", " ")[:200] or "(nothing)"
        return Reply(text=WELCOME.format(question=shown), **STREAMING)

    return reply
