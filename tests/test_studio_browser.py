"""The studio end to end in headless Chromium (Debian's, driven by Playwright; no browser is
downloaded), with a tiny random-weight model: open a file and see its notes drawn, play and
see the cursor move, generate two candidates and keep one, select a span and rewrite it, undo,
download the MIDI and read it back. Every request to a host other than 127.0.0.1 is blocked
and fails the test: the page works offline. The screenshots of docs/studio.md are taken here
(TUPLET_UPDATE_SCREENSHOTS=1 writes them to docs/img/)."""

from __future__ import annotations

import os
import shutil
import struct
import time
import zlib
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytest.importorskip("fastapi", reason="the studio needs the studio extra (fastapi)")

from studio_support import BACH, TOKEN, free_port, save_tiny, serve
from tuplet.io import read_notes
from tuplet.studio import create_app

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str:
    """Debian's chromium, or a skip where this machine cannot have it installed."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    can_install = shutil.which("apt-get") is not None and os.geteuid() == 0
    if can_install:  # setup.sh installs it here: its absence is a setup failure, not a skip
        pytest.fail("chromium is missing: run `bash scripts/setup.sh` (apt-get install chromium)")
    pytest.skip("no chromium, and no apt-get as root to install it (scripts/setup.sh says how)")


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e '.[test]'")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=path,
            headless=True,
            args=["--disable-gpu", "--disable-quic", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required"],
        )  # fmt: skip
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("studio")
    model = save_tiny(root / "tiny")
    port = free_port()
    app = create_app(model, root / "project", TOKEN, port=port)
    with serve(app, port) as base:
        yield base


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("TUPLET_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs" / "img"
    return tmp_path_factory.mktemp("shots")


@pytest.fixture
def page(browser, server):
    """A fresh page of the studio; requests off 127.0.0.1 are aborted and fail the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 820}, accept_downloads=True)
    foreign: list[str] = []
    problems: list[str] = []

    def route(r) -> None:
        if urlparse(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            foreign.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # (a refused request is logged by the browser as "Failed to load resource"; the page shows
    # its message, which the tests check)
    pg.on(
        "console",
        lambda m: problems.append(m.text)
        if m.type == "error" and not m.text.startswith("Failed to load resource")
        else None,
    )
    pg.goto(server + "/")
    until(pg, "document.body.dataset.ready === '1'")
    yield pg
    context.close()
    assert foreign == [], f"the page asked another host: {foreign}"
    assert problems == [], problems


def until(page, expression: str, timeout: float = 20_000) -> None:
    """Wait until a JS expression is true (polled with evaluate, which the page's CSP allows:
    Playwright's wait_for_function would need 'unsafe-eval')."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout / 1000:g} s: {expression}")
        time.sleep(0.05)


def coloured_pixels(page) -> int:
    """Pixels of the roll that are neither its background nor grey grid."""
    return page.evaluate(
        """() => {
        const c = document.getElementById('roll');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {
          const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
          if (Math.max(r, g, b) - Math.min(r, g, b) > 40) n++;
        }
        return n;
    }"""
    )


def open_bach(page) -> None:
    position = page.evaluate("window.studio.state.history.position")
    page.set_input_files("#open", str(BACH))
    until(page, f"window.studio.state.history.position === {position + 1}")
    until(page, "window.studio.drawnNotes > 0")


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def wait_candidates(page, n: int) -> None:
    until(page, f"document.querySelectorAll('.candidate').length === {n}", timeout=60_000)


# ------------------------------------------------------------------------------ tests
def test_open_a_file_and_see_its_notes_drawn(page, shots) -> None:
    assert page.evaluate("window.studio.drawnNotes") == 0  # a new project: an empty piece
    open_bach(page)
    assert page.evaluate("window.studio.drawnNotes") == len(read_notes(BACH))
    assert coloured_pixels(page) > 2000
    assert page.locator("#tracks li").count() == len(read_notes(BACH).tracks)
    assert "opened bwv66.6.mid" in page.inner_text("#message")
    before = page.evaluate("window.studio.view.pxPerBeat")
    page.click("#zoom-in")
    assert page.evaluate("window.studio.view.pxPerBeat") > before
    page.click("#zoom-out")
    page.locator("#tracks li .hide").first.click()  # hide a track: fewer notes drawn
    assert page.evaluate("window.studio.drawnNotes") < len(read_notes(BACH))
    page.locator("#tracks li .hide").first.click()
    page.screenshot(path=str(shots / "studio-piece.png"))
    assert png_size(shots / "studio-piece.png") == (1200, 820)


def test_a_file_that_is_not_music_gets_a_message(page, tmp_path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not music")
    page.set_input_files("#open", str(bad))
    until(page, "document.getElementById('message').textContent.length > 0")
    assert "not a file tuplet reads" in page.inner_text("#message")


def test_play_moves_the_cursor_and_a_click_seeks(page) -> None:
    open_bach(page)
    page.click("#play")
    until(page, "!document.getElementById('audio').paused", timeout=20_000)
    until(page, "window.studio.playhead > 0.5", timeout=20_000)
    duration = page.evaluate("document.getElementById('audio').duration")
    assert duration > read_notes(BACH).length_seconds - 0.5
    page.click("#stop")
    assert page.evaluate("document.getElementById('audio').paused")
    box = page.locator("#roll").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + 50)  # seek half-way
    beat = page.evaluate("window.studio.playhead")
    shown = page.evaluate("window.studio.view.beat0 + document.getElementById('roll').width "
                          "/ window.studio.view.pxPerBeat")  # fmt: skip
    assert abs(beat - shown / 2) < 1.0


def test_generate_two_candidates_and_keep_one(page, shots) -> None:
    page.click("#new")
    page.select_option("#mode", "generate")
    page.fill("#bars", "2")
    page.fill("#n", "2")
    page.fill("#instruments", "piano")
    page.click("text=Advanced")
    page.fill("#seed", "5")
    page.click("#go")
    wait_candidates(page, 2)
    cards = page.locator(".candidate")
    assert "seed" in cards.first.inner_text() and "Acoustic Grand Piano" in cards.first.inner_text()
    cards.nth(1).locator(".audition").click()  # audition B, then back to A
    assert page.inner_text("#source") == "candidate 2"
    page.screenshot(path=str(shots / "studio-candidates.png"))
    cards.nth(0).locator(".current").click()
    assert page.inner_text("#source") == "current piece"
    notes = page.evaluate("window.studio.candidates[1].piece.notes.length")
    cards.nth(1).locator(".keep").click()
    until(page, "document.querySelectorAll('.candidate').length === 0")
    assert page.evaluate("window.studio.state.piece.notes.length") == notes
    assert page.locator("#history li.current").inner_text() == "generate 2 bars"


def test_select_a_span_rewrite_it_undo_and_download(page, shots, tmp_path) -> None:
    open_bach(page)
    before = page.evaluate("window.studio.state.piece.notes")
    box = page.locator("#roll").bounding_box()
    px = page.evaluate("window.studio.view.pxPerBeat") * box["width"] / page.evaluate(
        "document.getElementById('roll').width"
    )
    y = box["y"] + 100
    page.mouse.move(box["x"] + 4.2 * px, y)  # drag from beat 4 to beat 8
    page.mouse.down()
    page.mouse.move(box["x"] + 6 * px, y, steps=4)
    page.mouse.move(box["x"] + 7.8 * px, y, steps=4)
    page.mouse.up()
    assert page.evaluate("window.studio.selection") == {"start": 4, "end": 8}
    page.locator("#tracks li .sel").first.check()  # only the first track
    page.select_option("#mode", "rewrite")
    page.fill("#n", "1")
    page.click("#go")
    wait_candidates(page, 1)
    page.screenshot(path=str(shots / "studio-rewrite.png"))
    page.locator(".candidate .keep").click()
    until(page, "document.querySelectorAll('.candidate').length === 0")
    assert page.locator("#history li.current").inner_text() == "rewrite beats 4:8"
    page.click("#undo")
    until(page, "window.studio.state.history.can_redo")
    after = page.evaluate("window.studio.state.piece.notes")
    assert sorted(map(tuple, after)) == sorted(map(tuple, before))
    with page.expect_download() as download:
        page.click("#dl-mid")
    path = tmp_path / "downloaded.mid"
    download.value.save_as(path)
    back = read_notes(path)
    assert back.equals(read_notes(BACH))


def test_screenshots_are_small(shots) -> None:
    for name in ("studio-piece.png", "studio-candidates.png", "studio-rewrite.png"):
        path = shots / name
        assert path.is_file(), name
        assert path.stat().st_size < 400_000
        zlib.crc32(path.read_bytes())
