"""Keys that need a real engine behind the app: the leaderboard from a real ledger (`b`) and
zoom's board tab (`w`),
taking over a real (fake) Claude Code process (`a`), and `q`/`d` in a TUI attached to a
detached orchestra in another process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import settle

from conductor.agents.base import create_agent
from conductor.config import load_config
from conductor.core.control_client import request, socket_path
from conductor.core.orchestra import Orchestra
from conductor.core.remote import RemoteOrchestra
from conductor.leaderboard import leaderboard_from_ledger
from conductor.ui.app import ConductorApp
from conductor.ui.screens.confirm import ConfirmScreen
from conductor.ui.screens.dashboard import DashboardScreen
from conductor.ui.screens.feed import AwayScreen
from conductor.ui.screens.leaderboard import LeaderboardScreen, pane_rows, program_rows

ROOT = Path(__file__).resolve().parents[1]
FASTWS = ROOT / "fixtures" / "fastws"
FAKE_CLAUDE = ROOT / "fixtures" / "fake_claude"
SIZE = (160, 48)


def fast_copy(tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "fastws"
    shutil.copytree(FASTWS, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def config(tmp_path: Path, body: str) -> Path:
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(
        f'[conductor]\ncpu_slots = 1\n\n[[workspace]]\nname = "fast"\npath = "{fast_copy(tmp_path)}"\n{body}'
    )
    return cfg


async def wait_until(pilot, predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
        pilot.app.tick()
        await pilot.pause()


async def test_l_shows_the_leaderboard_of_the_ledger(tmp_path):
    cfg = config(tmp_path, 'panes = 2\nagent = { kind = "optuna" }\n')
    orch = Orchestra(load_config(cfg), agent_factory=create_agent, max_experiments=3, telemetry=False)
    orch.open()
    try:
        app = ConductorApp(engine=orch)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, app.engine_done.is_set)
            await settle(pilot)
            await pilot.press("b")
            screen = app.screen
            assert isinstance(screen, LeaderboardScreen)
            await asyncio.wait_for(screen.loaded.wait(), 10)
            board = leaderboard_from_ledger(orch.ledger)
            programs = screen.query_one("#lb-programs")
            panes = screen.query_one("#lb-panes")
            assert programs.row_count == 1 and panes.row_count == 2
            shown = [[str(c) for c in panes.get_row_at(i)] for i in range(panes.row_count)]
            assert shown == [list(r) for r in pane_rows(board)]
            assert [str(c) for c in programs.get_row_at(0)] == list(program_rows(board)[0])
            assert {r[0] for r in shown} == {"fast-1", "fast-2"}
            assert all(r[6] == "3" for r in shown)  # three experiments each, the baseline included
            await pilot.press("escape")
            assert isinstance(app.screen, DashboardScreen)
            await pilot.press("enter", "w")  # zoom, then its board tab: what every pane tried
            zoom = app.screen
            text = zoom.query_one("#board-text")
            await wait_until(pilot, lambda: "board of fast" in str(text.render()))
            shown = str(text.render())
            assert "fast-1" in shown and "fast-2" in shown and "best by pane" in shown
            await pilot.press("escape", "q")
    finally:
        orch.close()


async def test_a_takes_over_a_claude_pane_and_hands_it_back(tmp_path, monkeypatch):
    log = tmp_path / "fake.log"
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(log))
    command = f"{sys.executable} {FAKE_CLAUDE}"
    cfg = config(tmp_path, f'agent = {{ kind = "claude-code", command = {json.dumps(command)} }}\n')
    orch = Orchestra(load_config(cfg), agent_factory=create_agent, max_experiments=4, telemetry=False)
    orch.open()
    try:
        app = ConductorApp(engine=orch)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.model.panes.get("fast") and app.model.panes["fast"].experiments >= 2)
            await pilot.press("1", "a")
            await wait_until(pilot, lambda: log.exists() and '"interactive": true' in log.read_text())
            await wait_until(pilot, app.engine_done.is_set)
            await pilot.press("q")
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        session = json.loads((tmp_path / ".conductor" / "agents" / "fast" / "cli.json").read_text())["session_id"]
        assert {"interactive": True, "resume": session} in entries
        after = entries[[i for i, e in enumerate(entries) if e.get("interactive")][0] + 1 :]
        assert any("--resume" in e["argv"] for e in after if "argv" in e)  # the headless loop came back
        assert orch.ledger.experiments("fast")[-1].seq >= 3
    finally:
        orch.close()


async def test_a_on_an_optuna_pane_says_there_is_nothing_to_take_over(tmp_path):
    cfg = config(tmp_path, 'agent = { kind = "optuna" }\n')
    orch = Orchestra(load_config(cfg), agent_factory=create_agent, max_experiments=2, telemetry=False)
    orch.open()
    try:
        app = ConductorApp(engine=orch)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "fast" in app.model.panes)
            await pilot.press("1", "a")
            await pilot.pause()
            assert any("no Claude Code or Codex session" in n.message for n in app._notifications)
            await wait_until(pilot, app.engine_done.is_set)
            await pilot.press("q")
    finally:
        orch.close()


@pytest.fixture
def detached(tmp_path):
    cfg = config(tmp_path, 'panes = 2\nagent = { kind = "optuna" }\n')
    train = tmp_path / "fastws" / "train.py"
    train.write_text(train.read_text().replace("SLEEP = 0.05", "SLEEP = 0.3"))
    out = subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--detach"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / ".conductor"
    yield run_dir
    if socket_path(run_dir).exists():
        subprocess.run([sys.executable, "-m", "conductor", "stop", "--runs-dir", str(run_dir)], timeout=60)


async def attached_session(run_dir: Path, keys: tuple[str, ...]) -> ConductorApp:
    remote = RemoteOrchestra(run_dir)
    remote.open()
    try:
        app = ConductorApp(engine=remote)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: len(app.model.panes) == 2)
            await settle(pilot)
            await wait_until(pilot, lambda: app.away_since is None)  # a second attach opens with the summary
            if isinstance(app.screen, AwayScreen):
                await pilot.press("escape")
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
                if key == "q":
                    assert isinstance(app.screen, ConfirmScreen)
            await wait_until(pilot, lambda: not app.is_running)
    finally:
        remote.close()
    return app


async def test_attached_q_asks_detach_or_stop_and_d_detaches(detached):
    run_dir = detached
    # d on the dashboard: detach, the orchestra runs on
    await attached_session(run_dir, ("d",))
    assert request(run_dir, {"type": "hello"})["panes"] == ["fast-1", "fast-2"]
    # q, then d: the same
    await attached_session(run_dir, ("q", "d"))
    assert request(run_dir, {"type": "hello"})["panes"] == ["fast-1", "fast-2"]
    # q, then s: the orchestra stops, everything recorded
    app = await attached_session(run_dir, ("q", "s"))
    assert app.return_code == 0
    deadline = time.monotonic() + 30
    while socket_path(run_dir).exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not socket_path(run_dir).exists()


async def test_a_in_an_attached_tui_takes_over_through_the_orchestra(tmp_path, monkeypatch):
    """A detached orchestra runs a (fake) Claude Code pane; `a` in a TUI attached to it stops
    the headless process over the socket, runs the interactive CLI here on the same session
    (in this process's environment: the orchestra sends only its own variables), and the
    orchestra resumes the headless loop when it exits."""
    log = tmp_path / "fake.log"
    command = f"{sys.executable} {FAKE_CLAUDE}"
    cfg = config(tmp_path, f'agent = {{ kind = "claude-code", command = {json.dumps(command)} }}\n')
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(log))  # for the orchestra's CLI and the one run here
    out = subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--detach", "--max-experiments", "40"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    run_dir = tmp_path / ".conductor"
    remote = RemoteOrchestra(run_dir)
    remote.open()
    try:
        app = ConductorApp(engine=remote)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "fast" in app.model.panes and app.model.panes["fast"].experiments >= 1)
            await pilot.press("1", "a")
            await wait_until(pilot, lambda: log.exists() and '"interactive": true' in log.read_text())
            await wait_until(pilot, lambda: any("handed back" in n.message for n in app._notifications))
            entries = [json.loads(line) for line in log.read_text().splitlines()]
            session = json.loads((run_dir / "agents" / "fast" / "cli.json").read_text())["session_id"]
            assert {"interactive": True, "resume": session} in entries
            at = [i for i, e in enumerate(entries) if e.get("interactive")][0]

            def resumed() -> bool:
                later = [json.loads(line) for line in log.read_text().splitlines()][at + 1 :]
                return any("--resume" in e["argv"] for e in later if "argv" in e)

            await wait_until(pilot, resumed)  # the orchestra's headless loop came back
            await pilot.press("q", "s")
            await wait_until(pilot, lambda: not app.is_running)
    finally:
        remote.close()
        if socket_path(run_dir).exists():
            subprocess.run([sys.executable, "-m", "conductor", "stop", "--runs-dir", str(run_dir)], timeout=60)
