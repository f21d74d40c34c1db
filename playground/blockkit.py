"""Block Kit blocks as HTML, close to how Slack draws them; buttons carry what a click sends."""

from __future__ import annotations

import html
import json
from typing import Any

from playground.text_html import Names, emoji, link, markdown, mrkdwn, plain

Block = dict[str, Any]


def text_object(obj: Any, names: Names) -> str:
    """A text composition object (`mrkdwn` or `plain_text`)."""
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text") or "")
    return mrkdwn(text, names) if obj.get("type") == "mrkdwn" else plain(text)


def _attr(value: Any) -> str:
    """A value for a double-quoted HTML attribute."""
    return html.escape(str(value), quote=True)


def button(el: Block, block_id: str, names: Names, *, action_type: str = "button",
           label: str | None = None, value: Any = None, css: str = "") -> str:
    """A clickable button; the page posts its action_id/value/block_id back as block_actions."""
    shown = label if label is not None else text_object(el.get("text"), names)
    style = el.get("style")
    classes = " ".join(c for c in ("btn", f"btn-{style}" if style else "", css) if c)
    value = el.get("value") if value is None else value
    data = {"action_id": el.get("action_id") or "", "block_id": block_id,
            "type": action_type, "value": value}
    aria = el.get("accessibility_label")
    aria_attr = f' aria-label="{_attr(aria)}"' if aria else ""
    return (f'<button type="button" class="{classes}" data-action="{_attr(json.dumps(data))}"'
            f"{aria_attr}>{shown}</button>")


def _element(el: Any, block_id: str, names: Names) -> str:
    """One element of an actions/context/section block."""
    if not isinstance(el, dict):
        return ""
    kind = el.get("type")
    if kind == "button":
        if el.get("url"):
            return link(str(el["url"]), str((el.get("text") or {}).get("text") or el["url"]))
        return button(el, block_id, names)
    if kind in ("mrkdwn", "plain_text"):
        return f"<span>{text_object(el, names)}</span>"
    if kind == "image":
        return image(el.get("image_url"), el.get("slack_file"), el.get("alt_text"), "ctx-img")
    if kind == "feedback_buttons":
        sides = []
        for side in ("positive_button", "negative_button"):
            btn = el.get(side) or {}
            sides.append(button({**btn, "action_id": el.get("action_id")}, block_id, names,
                                action_type="feedback_buttons", css="btn-feedback",
                                label=text_object(btn.get("text"), names)))
        return "".join(sides)
    if kind == "icon_button":
        return button(el, block_id, names, action_type="icon_button", css="btn-icon")
    shown = html.escape(str(kind))
    return f'<span class="unsupported">[{shown} element]</span>'


def image(url: Any, slack_file: Any, alt: Any, css: str) -> str:
    """An image from a URL or a Slack file (served by the playground)."""
    src = str(url or "")
    if isinstance(slack_file, dict) and slack_file.get("id"):
        src = f"/files/{slack_file['id']}"
    if not src:
        return ""
    return f'<img class="{css}" src="{_attr(src)}" alt="{_attr(alt or "")}" loading="lazy">'


def _rich_inline(el: dict[str, Any], names: Names) -> str:
    """One inline rich_text element (text with style, link, mention, emoji…)."""
    kind = el.get("type")
    if kind == "text":
        out = plain(str(el.get("text") or ""))
    elif kind == "link":
        out = link(str(el.get("url") or ""), str(el.get("text") or el.get("url") or ""))
    elif kind == "user":
        out = f'<span class="mention">@{html.escape(names(str(el.get("user_id"))))}</span>'
    elif kind == "channel":
        out = f'<span class="mention">#{html.escape(names(str(el.get("channel_id"))))}</span>'
    elif kind == "emoji":
        out = html.escape(emoji(str(el.get("name") or "")))
    elif kind == "broadcast":
        out = f'<span class="mention">@{html.escape(str(el.get("range") or "here"))}</span>'
    else:
        out = html.escape(str(el.get("fallback") or el.get("text") or ""))
    style = el.get("style") or {}
    for key, tag in (("code", "code"), ("bold", "b"), ("italic", "i"), ("strike", "s")):
        if style.get(key):
            out = f"<{tag}>{out}</{tag}>"
    return out


def rich_text(elements: list[Any], names: Names) -> str:
    """The parts of a rich_text block (sections, lists, preformatted, quotes)."""
    out: list[str] = []
    for part in elements:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        inner = part.get("elements") or []
        if kind == "rich_text_section":
            out.append("<div>" + "".join(_rich_inline(e, names) for e in inner
                                         if isinstance(e, dict)) + "</div>")
        elif kind == "rich_text_list":
            tag = "ol" if part.get("style") == "ordered" else "ul"
            items = "".join(f"<li>{rich_text([item], names)}</li>" for item in inner)
            indent = int(part.get("indent") or 0)
            out.append(f'<{tag} style="margin-left:{indent * 1.2}em">{items}</{tag}>')
        elif kind == "rich_text_preformatted":
            out.append("<pre>" + "".join(_rich_inline({**e, "style": {}}, names)
                                         for e in inner if isinstance(e, dict)) + "</pre>")
        elif kind == "rich_text_quote":
            out.append("<blockquote>" + "".join(_rich_inline(e, names) for e in inner
                                                if isinstance(e, dict)) + "</blockquote>")
    return "".join(out)


def _cell(cell: Any, names: Names) -> str:
    """One table cell."""
    if not isinstance(cell, dict):
        return ""
    if cell.get("type") == "rich_text":
        return rich_text(cell.get("elements") or [], names)
    return plain(str(cell.get("text", cell.get("value", ""))))


def table(block: Block, names: Names) -> str:
    """A table block: the first row is the header."""
    rows = [r for r in block.get("rows") or [] if isinstance(r, list)]
    if not rows:
        return ""
    head = "".join(f"<th>{_cell(c, names)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_cell(c, names)}</td>" for c in row) + "</tr>"
                   for row in rows[1:])
    return (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def block(b: Any, index: int, names: Names) -> str:
    """One block as HTML."""
    if not isinstance(b, dict):
        return ""
    kind = b.get("type")
    block_id = str(b.get("block_id") or kind or index)
    if kind == "section":
        parts = []
        if b.get("text"):
            parts.append(f'<div class="section-text">{text_object(b["text"], names)}</div>')
        if b.get("fields"):
            cells = "".join(f"<div>{text_object(f, names)}</div>" for f in b["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        if isinstance(b.get("accessory"), dict):
            accessory = _element(b["accessory"], block_id, names)
            parts.append(f'<div class="accessory">{accessory}</div>')
        return f'<div class="blk section">{"".join(parts)}</div>'
    if kind == "markdown":
        return f'<div class="blk md">{markdown(str(b.get("text") or ""), names)}</div>'
    if kind == "header":
        return f'<div class="blk header">{text_object(b.get("text"), names)}</div>'
    if kind == "divider":
        return '<hr class="blk divider">'
    if kind == "context":
        items = "".join(_element(e, block_id, names) for e in b.get("elements") or [])
        return f'<div class="blk context">{items}</div>'
    if kind in ("actions", "context_actions"):
        items = "".join(_element(e, block_id, names) for e in b.get("elements") or [])
        return f'<div class="blk actions {kind}">{items}</div>'
    if kind == "rich_text":
        return f'<div class="blk rich">{rich_text(b.get("elements") or [], names)}</div>'
    if kind == "image":
        title = text_object(b.get("title"), names)
        caption = f'<div class="img-title">{title}</div>' if title else ""
        img = image(b.get("image_url"), b.get("slack_file"), b.get("alt_text"), "blk-img")
        return f'<div class="blk image">{caption}{img}</div>'
    if kind == "table":
        return f'<div class="blk">{table(b, names)}</div>'
    return f'<div class="blk unsupported">[{html.escape(str(kind))} block]</div>'


def blocks(items: list[Any] | None, names: Names) -> str:
    """A message's blocks as HTML."""
    return "".join(block(b, i, names) for i, b in enumerate(items or []))
