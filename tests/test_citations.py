"""apply_citations: markers at safe points, deduplicated numbered sources, robust offsets."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.gemini import Citation
from bot.rendering import render_answer
from bot.rendering.citations import apply_citations


def cite(url: str, start: object, end: object, title: str | None = None) -> Citation:
    return Citation(url=url, title=title, start_index=start, end_index=end)  # type: ignore[arg-type]


def test_markers_at_span_ends_and_sources_in_order_of_first_use() -> None:
    text = "Paris is the capital. It is on the Seine. It has the Louvre."
    text_out, sources = apply_citations(text, [
        cite("https://b.example/louvre", 42, 60, "Louvre"),
        cite("https://a.example/paris", 0, 21, "About Paris"),
        cite("https://b.example/louvre", 22, 41, "Louvre"),
    ])
    assert text_out == ("Paris is the capital.[1] It is on the Seine.[2] "
                        "It has the Louvre.[2]")
    assert sources == ("Sources:\n\n1. [About Paris](https://a.example/paris)\n"
                       "2. [Louvre](https://b.example/louvre)")


def test_several_sources_on_one_span_and_domain_labels() -> None:
    text = "Water boils at 100 °C."
    text_out, sources = apply_citations(text, [
        cite("https://www.physics.example/boil", 0, len(text)),
        cite("https://chem.example/water?x=1", 0, len(text), title="  Water\nfacts "),
        cite("https://www.physics.example/boil", 0, len(text)),
    ])
    assert text_out == "Water boils at 100 °C.[1][2]"
    assert "1. [physics.example](https://www.physics.example/boil)" in sources
    assert "2. [Water facts](https://chem.example/water?x=1)" in sources


def test_never_splits_a_word_link_code_span_or_bold() -> None:
    text = "See `some code` and [the docs](https://d.example/x) for **bold words** here."
    out, _ = apply_citations(text, [
        cite("https://a.example", 0, 8),    # inside the code span
        cite("https://b.example", 0, 25),   # inside the link text
        cite("https://c.example", 0, text.index("ords**")),  # inside a **bold** word
        cite("https://e.example", 0, 2),    # inside the word "See"
    ])
    assert out == ("See[1] `some code`[2] and [the docs](https://d.example/x)[3] for "
                   "**bold words**[4] here.")


def test_code_blocks_and_table_rows_stay_intact() -> None:
    text = "Intro line.\n\n```\nprint(1)\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    out, _ = apply_citations(text, [cite("https://a.example", 0, 22),
                                    cite("https://b.example", 0, len(text))])
    assert out.startswith("Intro line.[1]\n\n```\nprint(1)\n```")
    assert out.endswith("| 1 | 2[2] |")


def test_marker_after_a_bare_url_or_before_a_parenthesis_cannot_join_it() -> None:
    out, _ = apply_citations("Go to https://x.example/a now", [cite("https://s.example", 0, 12)])
    assert out == "Go to https://x.example/a [1] now"
    out, _ = apply_citations("Term(defined)", [cite("https://s.example", 0, 4)])
    assert "[1]" in out and "[1](" not in out


def test_utf8_byte_offsets_are_recognised() -> None:
    first = "Crème brûlée is French."
    text = f"{first} Bratwurst is German."
    end_first = len(first.encode("utf-8"))  # byte offsets: beyond the character positions
    out, _ = apply_citations(text, [cite("https://fr.example", 0, end_first),
                                    cite("https://de.example", end_first + 1,
                                         len(text.encode("utf-8")))])
    assert out == "Crème brûlée is French.[1] Bratwurst is German.[2]"


def test_character_offsets_are_kept_when_bytes_cannot_explain_them() -> None:
    text = "Über alles. Straße frei."
    out, _ = apply_citations(text, [cite("https://a.example", 0, 11)])  # 11 = after "alles."
    assert out == "Über alles.[1] Straße frei."


@pytest.mark.parametrize("start,end", [
    (5, 2), (-3, 4), (None, None), (0, None), ("0", "4"), (True, 3), (0, 10**9),
])
def test_bad_offsets_never_crash_and_keep_the_source(start: object, end: object) -> None:
    text = "Short answer."
    out, sources = apply_citations(text, [cite("https://a.example/x", start, end)])
    assert out.replace("[1]", "") == text
    assert out.count("[1]") <= 1
    assert "1. [a.example](https://a.example/x)" in sources


def test_unusable_urls_are_ignored_and_odd_characters_escaped() -> None:
    out, sources = apply_citations("Text.", [
        cite("javascript:alert(1)", 0, 5), cite("not a url", 0, 5),
        cite("https://a.example/a path (1)", 0, 5, title="A [weird] title"),
    ])
    assert out == "Text.[1]"
    assert sources == ("Sources:\n\n1. [A \\[weird\\] title]"
                       "(https://a.example/a%20path%20%281%29)")


def test_no_citations_means_no_sources() -> None:
    assert apply_citations("Hello.", []) == ("Hello.", "")


@dataclass
class _Duck:
    url: str
    title: str | None = None
    start_index: int | None = 0
    end_index: int | None = 3


def test_sources_render_as_links_in_slack() -> None:
    text, sources = apply_citations("Fact one. Fact two.", [_Duck("https://a.example/1"),
                                                            _Duck("https://b.example/2",
                                                                  end_index=19)])
    shown = render_answer(f"{text}\n\n{sources}")[0].blocks[0]["text"]
    assert "Fact[1] one. Fact two.[2]" in shown
    assert "1. [a.example](https://a.example/1)" in shown
