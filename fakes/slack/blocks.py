"""Block Kit validation (what Slack rejects) and the prose a person sees in blocks."""

from __future__ import annotations

from typing import Any

from .models import SlackError

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MARKDOWN_BLOCKS_BUDGET = 12_000

MESSAGE_BLOCK_TYPES = frozenset(
    {
        "section",
        "markdown",
        "header",
        "divider",
        "context",
        "actions",
        "context_actions",
        "rich_text",
        "image",
        "table",
    }
)
VIEW_BLOCK_TYPES = MESSAGE_BLOCK_TYPES | {"input"}
INTERACTIVE_ELEMENTS = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "timepicker",
        "overflow",
        "radio_buttons",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "workflow_button",
    }
)
RICH_TEXT_PARTS = frozenset(
    {"rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote"}
)
TABLE_CELLS = frozenset({"raw_text", "raw_number", "rich_text"})


class _Checker:
    """Collects Slack-style `[ERROR] ... [json-pointer:...]` messages."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.markdown_chars = 0

    def fail(self, msg: str, path: str) -> None:
        """Record one validation error."""
        self.errors.append(f"[ERROR] {msg} [json-pointer:{path}]")

    def text(
        self, obj: Any, path: str, max_len: int, *, plain_only: bool = False
    ) -> None:
        """Check a text composition object."""
        if not isinstance(obj, dict):
            self.fail("must be a text object", path)
            return
        kind = obj.get("type")
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed:
            self.fail(f"must be one of {list(allowed)}", f"{path}/type")
        self.string(obj.get("text"), f"{path}/text", max_len)

    def string(self, value: Any, path: str, max_len: int, *, min_len: int = 1) -> None:
        """Check a bounded string."""
        if not isinstance(value, str):
            self.fail("must be a string", path)
        elif len(value) < min_len:
            self.fail(f"must be more than {min_len - 1} characters", path)
        elif len(value) > max_len:
            self.fail(f"must be less than {max_len + 1} characters", path)

    def elements(self, block: dict[str, Any], path: str, max_n: int) -> list[Any]:
        """Check and return a block's non-empty, bounded `elements` list."""
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail("must provide a non-empty array", f"{path}/elements")
            return []
        if len(elements) > max_n:
            self.fail(f"must provide an array of no more than {max_n} items", f"{path}/elements")
        return elements

    def button(self, el: dict[str, Any], path: str) -> None:
        """Check a button element."""
        self.text(el.get("text"), f"{path}/text", 75, plain_only=True)
        if "value" in el:
            self.string(el["value"], f"{path}/value", 2000)
        if "url" in el:
            self.string(el["url"], f"{path}/url", 3000)
        if "style" in el and el["style"] not in ("primary", "danger"):
            self.fail("must be one of [primary, danger]", f"{path}/style")

    def element(self, el: Any, path: str, action_ids: set[str]) -> None:
        """Check an interactive element (actions block or section accessory)."""
        if not isinstance(el, dict) or el.get("type") not in INTERACTIVE_ELEMENTS:
            self.fail("unsupported element type", f"{path}/type")
            return
        action_id = el.get("action_id")
        if action_id is not None:
            self.string(action_id, f"{path}/action_id", 255)
            if action_id in action_ids:
                self.fail("action_id must be unique within the block", f"{path}/action_id")
            action_ids.add(action_id)
        if el["type"] == "button":
            self.button(el, path)


def _check_block(c: _Checker, block: dict[str, Any], path: str) -> None:
    """Check one block according to its type."""
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            c.fail("must provide either text or fields", path)
        if "text" in block:
            c.text(block["text"], f"{path}/text", 3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or not fields or len(fields) > 10:
                c.fail("fields must be an array of 1 to 10 items", f"{path}/fields")
            else:
                for i, f in enumerate(fields):
                    c.text(f, f"{path}/fields/{i}", 2000)
        accessory = block.get("accessory")
        if accessory is not None and not (
            isinstance(accessory, dict) and accessory.get("type") == "image"
        ):
            c.element(accessory, f"{path}/accessory", set())
    elif kind == "markdown":
        c.string(block.get("text"), f"{path}/text", MARKDOWN_BLOCKS_BUDGET)
        if isinstance(block.get("text"), str):
            c.markdown_chars += len(block["text"])
    elif kind == "header":
        c.text(block.get("text"), f"{path}/text", 150, plain_only=True)
    elif kind == "context":
        for i, el in enumerate(c.elements(block, path, 10)):
            if isinstance(el, dict) and el.get("type") == "image":
                continue
            c.text(el, f"{path}/elements/{i}", 3000)
    elif kind == "actions":
        seen: set[str] = set()
        for i, el in enumerate(c.elements(block, path, 25)):
            c.element(el, f"{path}/elements/{i}", seen)
    elif kind == "context_actions":
        for i, el in enumerate(c.elements(block, path, 5)):
            _check_context_action(c, el, f"{path}/elements/{i}")
    elif kind == "rich_text":
        for i, el in enumerate(c.elements(block, path, 10_000)):
            if not isinstance(el, dict) or el.get("type") not in RICH_TEXT_PARTS:
                c.fail("unsupported rich text element", f"{path}/elements/{i}")
    elif kind == "image":
        if "image_url" not in block and "slack_file" not in block:
            c.fail("must provide image_url or slack_file", path)
        c.string(block.get("alt_text"), f"{path}/alt_text", 2000)
    elif kind == "table":
        _check_table(c, block, path)


def _check_context_action(c: _Checker, el: Any, path: str) -> None:
    """Check a feedback_buttons or icon_button element of a context_actions block."""
    kind = el.get("type") if isinstance(el, dict) else None
    if kind in ("feedback_buttons", "icon_button") and "action_id" in el:
        c.string(el["action_id"], f"{path}/action_id", 255)
    if kind == "feedback_buttons":
        for side in ("positive_button", "negative_button"):
            btn = el.get(side)
            if not isinstance(btn, dict):
                c.fail("must provide a button", f"{path}/{side}")
                continue
            c.text(btn.get("text"), f"{path}/{side}/text", 75, plain_only=True)
            c.string(btn.get("value"), f"{path}/{side}/value", 2000)
            if "accessibility_label" in btn:
                c.string(btn["accessibility_label"], f"{path}/{side}/accessibility_label", 75)
    elif kind == "icon_button":
        c.string(el.get("icon"), f"{path}/icon", 100)
        c.text(el.get("text"), f"{path}/text", 75, plain_only=True)
    else:
        c.fail("must be feedback_buttons or icon_button", f"{path}/type")


def _check_table(c: _Checker, block: dict[str, Any], path: str) -> None:
    """Check a table block: at most 100 rows of at most 20 typed cells."""
    rows = block.get("rows")
    if not isinstance(rows, list) or not rows:
        c.fail("must provide a non-empty array", f"{path}/rows")
        return
    if len(rows) > 100:
        c.fail("must provide an array of no more than 100 items", f"{path}/rows")
    for r, row in enumerate(rows):
        if not isinstance(row, list) or not row or len(row) > 20:
            c.fail("a row must hold 1 to 20 cells", f"{path}/rows/{r}")
            continue
        for i, cell in enumerate(row):
            if not isinstance(cell, dict) or cell.get("type") not in TABLE_CELLS:
                c.fail("unsupported cell type", f"{path}/rows/{r}/{i}")


def validate_blocks(
    blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, types: frozenset[str] | None = None
) -> None:
    """Raise the SlackError real Slack answers for these blocks, if any."""
    types = types or MESSAGE_BLOCK_TYPES
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > max_blocks:
        raise SlackError(
            "msg_blocks_too_long",
            messages=[f"[ERROR] no more than {max_blocks} items allowed [json-pointer:/blocks]"],
        )
    c = _Checker()
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        path = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in types:
            c.fail("unsupported type", f"{path}/type")
            continue
        if "block_id" in block:
            c.string(block["block_id"], f"{path}/block_id", 255)
            if block["block_id"] in block_ids:
                c.fail("block_id must be unique", f"{path}/block_id")
            block_ids.add(block["block_id"])
        _check_block(c, block, path)
    if c.errors:
        raise SlackError("invalid_blocks", messages=c.errors)
    if c.markdown_chars > MARKDOWN_BLOCKS_BUDGET:
        raise SlackError(
            "msg_blocks_too_long",
            messages=["[ERROR] markdown blocks exceed 12000 characters [json-pointer:/blocks]"],
        )


def _rich_text(elements: list[Any]) -> str:
    """Flatten rich_text elements into the text a reader sees."""
    out: list[str] = []
    for el in elements:
        if not isinstance(el, dict):
            continue
        kind = el.get("type")
        if kind == "rich_text_list":
            items = [_rich_text([item]) for item in el.get("elements", [])]
            out.append("\n".join(f"• {item}" for item in items))
        elif kind in RICH_TEXT_PARTS:
            out.append(_rich_text(el.get("elements", [])).rstrip("\n"))
        elif kind == "text":
            out.append(el.get("text", ""))
        elif kind == "link":
            out.append(el.get("text") or el.get("url", ""))
        elif kind == "user":
            out.append(f"<@{el.get('user_id', '')}>")
        elif kind == "channel":
            out.append(f"<#{el.get('channel_id', '')}>")
        elif kind == "emoji":
            out.append(f":{el.get('name', '')}:")
        elif kind in ("date", "broadcast", "usergroup"):
            out.append(el.get("fallback") or el.get("range") or el.get("usergroup_id", ""))
    nested = any(isinstance(e, dict) and e.get("type") in RICH_TEXT_PARTS for e in elements)
    return ("\n" if nested else "").join(out)


def _cell_text(cell: Any) -> str:
    """The text shown in one table cell."""
    if not isinstance(cell, dict):
        return ""
    if cell.get("type") == "rich_text":
        return _rich_text(cell.get("elements", []))
    return str(cell.get("text", cell.get("value", "")))


def block_prose(blocks: list[dict[str, Any]] | None) -> list[str]:
    """Text pieces a person reads in these blocks (buttons and images excluded)."""
    out: list[str] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind in ("section", "header") and isinstance(block.get("text"), dict):
            out.append(block["text"].get("text", ""))
        if kind == "section":
            out.extend(f.get("text", "") for f in block.get("fields") or [])
        elif kind == "markdown":
            out.append(block.get("text", ""))
        elif kind == "context":
            out.extend(e.get("text", "") for e in block.get("elements", []) if "text" in e)
        elif kind == "rich_text":
            out.append(_rich_text(block.get("elements", [])))
        elif kind == "table":
            out.extend(" | ".join(_cell_text(c) for c in row) for row in block.get("rows", []))
    return [piece for piece in out if piece]


def block_buttons(blocks: list[dict[str, Any]] | None) -> list[str]:
    """The action_ids of every clickable control in these blocks, in order."""
    out: list[str] = []
    for block in blocks or []:
        elements = list(block.get("elements") or [])
        if block.get("type") == "section" and "accessory" in block:
            elements.append(block["accessory"])
        if block.get("type") not in ("actions", "context_actions", "section"):
            continue
        for el in elements:
            if isinstance(el, dict) and el.get("action_id"):
                out.append(el["action_id"])
    return out
