"""Seeded random answers: every message within every limit, every word visible, in order."""

from __future__ import annotations

import random
import re

import pytest

from bot.rendering import Limits, render_answer, render_streaming
from tests.rendering.helpers import assert_within_limits, is_subsequence, letters, visible_text

CJK = ["重要", "東京", "データ", "中文", "한국어"]


class Answer:
    """Builds a random Markdown answer and remembers the words a reader must see, in order."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.seed = seed
        self.n = 0
        self.words: list[str] = []

    def word(self) -> str:
        self.n += 1
        w = f"s{self.seed}w{self.n}"
        self.words.append(w)
        return w

    def inline(self, count: int) -> str:
        out = []
        for _ in range(count):
            r = self.rnd.random()
            if r < 0.06:
                out.append(f"**{self.word()} {self.word()}**")
            elif r < 0.10:
                out.append(f"*{self.word()}*")
            elif r < 0.13:
                out.append(f"~~{self.word()}~~")
            elif r < 0.16:
                out.append(f"`{self.word()}`")
            elif r < 0.20:
                out.append(f"[{self.word()} {self.word()}](https://ex.io/p_(q)?a=1&b=2)")
            elif r < 0.22:
                out.append(self.rnd.choice(["<@U0AB12CD>", "<!here>", "<https://x.y|x>"]))
            elif r < 0.24:
                out.append("a < b & c > d")
            elif r < 0.28:
                cjk = self.rnd.choice(CJK)
                out.append(f"これは**{cjk}**です {self.word()}")
            else:
                out.append(self.word())
        return " ".join(out)

    def paragraph(self) -> str:
        return self.inline(self.rnd.choice([5, 20, 80, 400]))

    def code(self) -> str:
        lang = self.rnd.choice(["", "python", "js", "sh"])
        rows = self.rnd.choice([3, 20, 300, 900])
        return f"```{lang}\n" + "\n".join(f"{self.word()} = {i}" for i in range(rows)) + "\n```"

    def listing(self, depth: int = 0) -> str:
        lines = []
        ordered = self.rnd.random() < 0.5
        pad = "   " * depth
        for i in range(self.rnd.choice([2, 5, 40])):
            marker = f"{i + 1}." if ordered else "-"
            lines.append(f"{pad}{marker} {self.inline(self.rnd.choice([3, 12]))}")
            if depth < 2 and self.rnd.random() < 0.15:
                lines.append(self.listing(depth + 1))
            if self.rnd.random() < 0.08:
                inner = "   " * (depth + 1)
                lines.append(f"\n{inner}```\n{inner}{self.word()}()\n{inner}```\n")
        return "\n".join(lines)

    def table(self) -> str:
        cols = self.rnd.choice([2, 4, 22])
        nrows = self.rnd.choice([1, 8, 130])
        head = "| " + " | ".join(self.word() for _ in range(cols)) + " |"
        sep = "|" + "---|" * cols
        rows = []
        for _ in range(nrows):
            cells = [self.word() if self.rnd.random() < 0.9 else "" for _ in range(cols)]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join([head, sep, *rows])

    def quote(self) -> str:
        return "\n".join(f"> {line}" for line in self.paragraph().split("\n"))

    def build(self) -> str:
        blocks = []
        for _ in range(self.rnd.choice([3, 8, 20])):
            kind = self.rnd.choice(["p", "p", "p", "code", "list", "table", "quote", "h", "hr"])
            if kind == "p":
                blocks.append(self.paragraph())
            elif kind == "code":
                blocks.append(self.code())
            elif kind == "list":
                blocks.append(self.listing())
            elif kind == "table":
                blocks.append(self.table())
            elif kind == "quote":
                blocks.append(self.quote())
            elif kind == "h":
                blocks.append("#" * self.rnd.randint(1, 6) + " " + self.inline(3))
            else:
                blocks.append("---")
        return "\n\n".join(blocks)


LIMITS = [Limits(), Limits(markdown_chars=2_000, table_chars=2_000, fallback_chars=300)]


@pytest.mark.parametrize("seed", range(60))
def test_random_answers_keep_limits_and_content(seed: int) -> None:
    answer = Answer(seed)
    markdown = answer.build()
    limits = LIMITS[seed % len(LIMITS)]
    messages = render_answer(markdown, limits=limits)
    assert_within_limits(messages, limits)
    seen = visible_text(messages)
    assert is_subsequence(answer.words, re.findall(r"[A-Za-z0-9]+", seen)), f"seed {seed}"
    assert _non_ascii_letters(seen) == _non_ascii_letters(markdown)  # CJK next to markers


@pytest.mark.parametrize("seed", range(20))
def test_random_prefixes_stream_safely(seed: int) -> None:
    markdown = Answer(seed).build()
    rnd = random.Random(seed)
    for cut in sorted(rnd.sample(range(1, len(markdown)), k=min(4, len(markdown) - 1))):
        messages = render_streaming(markdown[:cut])
        if messages:
            assert_within_limits(messages)


def _non_ascii_letters(text: str) -> str:
    return "".join(ch for ch in letters(text) if not ch.isascii())
