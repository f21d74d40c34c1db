"""The playground in a real browser (Debian's headless Chromium, driven by Playwright)."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Page, async_playwright, expect

from playground.stack import Playground

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_MS = 20_000
README_SHOT = os.environ.get("PLAYGROUND_SCREENSHOT")
"""Set to a path (docs/playground.png) to save the README's screenshot from this test setup."""


@pytest.fixture
async def page(playground: Playground) -> AsyncIterator[Page]:
    """A fresh Chromium page on the playground."""
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (a quick local check)
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium "
                    "(.ci/run installs it)", pytrace=False)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            tab = await context.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            await tab.goto(playground.url)
            await tab.evaluate("window.notReloaded = true")
            yield tab
            assert errors == [], f"JavaScript errors on the page: {errors}"
            assert await tab.evaluate("window.notReloaded") is True, "the page never reloads"
        finally:
            await browser.close()


async def assert_not_blank(page: Page, name: str, tmp_path: Path) -> Image.Image:
    """Take a screenshot and check it shows something: many colours, a filled message pane."""
    png = await page.screenshot(path=str(tmp_path / f"{name}.png"))
    shot = Image.open(io.BytesIO(png)).convert("RGB")
    colours = shot.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 200, f"{name}: the screenshot is nearly blank ({len(colours)} colours)"
    messages = shot.crop((260, 60, 1270, 700)).convert("L")
    dark = sum(1 for v in messages.getdata() if v < 128)
    assert dark > 2_000, f"{name}: no text in the message panes"
    return shot


async def send(page: Page, selector: str, *parts: str) -> None:
    """Type into a composer, Shift+Enter between parts, Enter to send."""
    box = page.locator(f"{selector} textarea")
    await box.click()
    for i, part in enumerate(parts):
        if i:
            await box.press("Shift+Enter")
        await box.press_sequentially(part, delay=5)
    await box.press("Enter")


async def test_mention_streams_into_the_thread_and_a_reply_continues_it(
        page: Page, playground: Playground, tmp_path: Path) -> None:
    await send(page, "#composer-main", "@gemini search the latest Gemini news")
    await expect(page.locator("#messages .status")).to_contain_text("gemini is searching")
    await expect(page.locator("#thread-status")).to_contain_text("gemini is searching")
    thread = page.locator("#thread-messages")
    await expect(page.locator("#thread")).to_be_visible()
    await expect(thread.locator(".msg.streaming .cursor").first).to_be_visible()
    source = thread.get_by_role("link", name="Interactions API | Gemini API")
    await expect(source).to_have_attribute(
        "href", "https://ai.google.dev/gemini-api/docs/interactions")
    await expect(thread.get_by_role("button", name="Regenerate")).to_be_visible()
    await expect(thread.locator(".msg .cursor")).to_have_count(0)

    await page.locator("#thread-close").click()
    await expect(page.locator("#thread")).to_be_hidden()
    await page.locator("#messages .thread-link").first.click()
    await expect(thread.get_by_role("button", name="Regenerate")).to_be_visible()

    await send(page, "#composer-thread", "compare Slack and email in a table", "please")
    await expect(thread.locator("th", has_text="Topic")).to_be_visible()
    await expect(thread.locator(".msg").last.get_by_role("button", name="Regenerate")
                 ).to_be_visible()
    replies = [m for m in playground.slack.messages["C0GENERAL"].values()
               if m.user == "UYOU" and m.is_reply]
    assert [m.text for m in replies] == ["compare Slack and email in a table\nplease"], \
        "Shift+Enter is a new line, Enter sends"
    await expect(page.locator("#thread-status")).to_have_text("")
    await send(page, "#composer-main", "@gemini what can you do?")
    await expect(thread.get_by_text("offline demo model").first).to_be_visible()
    await page.locator("#messages .thread-link").first.click()
    await expect(thread.locator("th", has_text="Topic")).to_be_visible()
    await page.mouse.move(600, 500)  # hover nothing
    shot = await assert_not_blank(page, "thread", tmp_path)
    if README_SHOT:
        shot.save(README_SHOT)


async def test_stop_on_a_long_answer_in_the_dm(page: Page, tmp_path: Path) -> None:
    await page.locator('.nav-item[data-channel="D0GEMINI"]').click()
    await expect(page.locator("#channel-title")).to_have_text("gemini")
    await send(page, "#composer-main", "tell me a long story")
    thread = page.locator("#thread-messages")
    await expect(thread.get_by_text("Once upon a time")).to_be_visible()
    stop = thread.get_by_role("button", name="Stop")
    await stop.click()
    await expect(thread.get_by_text("Stopped by")).to_be_visible()
    await expect(thread.get_by_role("button", name="Stop")).to_have_count(0)
    await expect(thread.get_by_role("button", name="Regenerate")).to_be_visible()
    await expect(thread.get_by_text("The end.")).to_have_count(0)
    await assert_not_blank(page, "stopped", tmp_path)

    await thread.get_by_role("button", name="Regenerate").click()
    await expect(thread.get_by_text("Stopped by")).to_have_count(0)
    await thread.get_by_role("button", name="Stop").click()
    await expect(thread.get_by_text("Stopped by")).to_be_visible()


async def test_attach_and_drop_files_and_see_an_image(
        page: Page, playground: Playground, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("first line\nsecond line\n")
    await page.locator("#composer-main input[type=file]").set_input_files(str(notes))
    await expect(page.locator("#composer-main .chip[data-file-id]")).to_have_count(1)
    await page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(new File(["a,b\\n1,2\\n"], "table.csv", {type: "text/csv"}));
        for (const type of ["dragenter", "dragover", "drop"]) {
            document.getElementById("messages").dispatchEvent(
                new DragEvent(type, {dataTransfer: data, bubbles: true}));
        }
    }""")
    await expect(page.locator("#composer-main .chip[data-file-id]")).to_have_count(2)
    await send(page, "#composer-main", "@gemini what is in these files?")
    thread = page.locator("#thread-messages")
    await expect(thread.locator(".file-card", has_text="notes.txt")).to_be_visible()
    await expect(thread.get_by_text("I received your attachments")).to_be_visible()
    await expect(thread.get_by_text("table.csv").last).to_be_visible()

    await send(page, "#composer-thread", "now draw a sunset")
    image = thread.locator(".file-img img")
    await expect(image).to_be_visible()
    await expect(thread.get_by_text("drawn by the offline demo model")).to_be_visible()
    width = await image.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width > 0, "the image the bot posted loads in the page"
    await image.scroll_into_view_if_needed()
    await assert_not_blank(page, "image", tmp_path)
