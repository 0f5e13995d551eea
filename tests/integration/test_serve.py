"""`conductor serve` in a real headless Chromium: the token, two browsers at once, read-only,
and the page's screen against the terminal's (tmux) at the same size."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import FIXTURES, write_config

sys.path.insert(0, str(FIXTURES))
from headless_chromium import chromium, free_port  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed"),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
KEY_BAR = re.compile(r"1-9 0 A-N pane.*q quit")  # the bar as wide as the screen: its head and its end
TITLES = re.compile(r"(fast-\d) · optuna")


def drawn(screen: str) -> bool:
    """The whole dashboard is on the screen: the key bar and both cards' titles."""
    return bool(KEY_BAR.search(screen)) and set(TITLES.findall(screen)) == {"fast-1", "fast-2"}


def conductor(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conductor", *args], cwd=cwd, capture_output=True, text=True, timeout=90
    )


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def tmux_screen(tmp_path: Path, run_dir: Path, cols: int, rows: int) -> str:
    sock = f"conductor-serve-{tmp_path.name}"
    cmd = f"env -u COLUMNS -u LINES {sys.executable} -m conductor attach --read-only --runs-dir {run_dir}"
    tmux = ["tmux", "-L", sock]
    subprocess.run([*tmux, "new-session", "-d", "-s", "v", "-x", str(cols), "-y", str(rows), cmd], check=True)
    try:
        end = time.monotonic() + 30
        screen = ""
        while time.monotonic() < end:
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "v"], capture_output=True, text=True).stdout
            if drawn(screen):
                return screen
            time.sleep(0.3)
        raise AssertionError(f"the terminal never showed the TUI:\n{screen}")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


async def refused_pause(page) -> str:
    """Press p (pause) until the read-only refusal shows. An attached view opens with the
    "while you were away" summary, which may arrive after the first frame and take the key;
    on a loaded machine the toast may also come and go between two reads of the page."""
    for _ in range(4):
        if "while you were away" in await page.terminal_text():
            await page.key("\x1b")
            await page.wait_for_text(lambda t: "while you were away" not in t, timeout=15)
        await page.key("p")
        try:
            return await page.wait_for_text(lambda t: "read-only" in t, timeout=10)
        except AssertionError:
            continue
    raise AssertionError("p was never refused as read-only")


def test_serve_in_a_real_browser(tmp_path, fastws):
    train = fastws / "train.py"
    train.write_text(train.read_text().replace("SLEEP = 0.05", "SLEEP = 0.3"))
    cfg = write_config(tmp_path, fastws, panes=2)
    assert conductor("run", "-c", str(cfg), "--detach", cwd=tmp_path).returncode == 0
    run_dir = tmp_path / ".conductor"
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "conductor", "serve", "--runs-dir", str(run_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = re.search(r"at (http://127\.0\.0\.1:\d+/\?token=\S+)", serve.stdout.readline()).group(1)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            except urllib.error.HTTPError as exc:
                assert exc.code == 403  # up, and no page without the token
                break
            except OSError:
                time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.urlopen(url.replace("token=", "token=x"), timeout=5)
        assert wrong.value.code == 403

        async def browse():
            async with chromium() as open_page:
                first, second = await open_page(url), await open_page(url)
                shown = [await p.wait_for_text(drawn) for p in (first, second)]
                png = await first.screenshot()
                return shown, png, await refused_pause(first)

        shown, png, refused = asyncio.run(browse())
        cols, rows = max(len(line) for line in shown[0].splitlines()), len(shown[0].splitlines())
        term = lines_of(tmux_screen(tmp_path, run_dir, cols, rows))  # the terminal at the page's size
    finally:
        serve.terminate()
        serve.wait(10)
        conductor("stop", "--runs-dir", str(run_dir), cwd=tmp_path)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "browser.png").write_bytes(png)
    page = lines_of(shown[0])
    assert "this view is read-only" in refused
    # the terminal shows the same screen: as many rows, the same key bar, the same cards
    assert len(term) == len(page) == rows
    assert [ln for ln in term if KEY_BAR.search(ln)] == [ln for ln in page if KEY_BAR.search(ln)]
    assert TITLES.findall("\n".join(term)) == TITLES.findall("\n".join(page))  # the cards, in the same places
    assert page[0].split("·")[0] == term[0].split("·")[0]  # "conductor RUN"
    assert set(lines_of(shown[1])[-1:]) == set(page[-1:])  # the second browser: the same key bar
