"""Fixtures for the TUI tests: a fixed time zone, a fake engine with a scripted run, a real git
repo with experiment commits for the zoom view."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeEngine, fixed_clock, pane_names, scripted_run  # noqa: E402

from conductor.ui.app import ConductorApp  # noqa: E402


@pytest.fixture(autouse=True)
def own_config_home(tmp_path, monkeypatch):
    """The theme `t` keeps goes to a folder of the test's own, never the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Activity timestamps render in local time: pin it so snapshots match anywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_app(n: int = 4, *, engine: FakeEngine | None = None, **kwargs) -> tuple[ConductorApp, FakeEngine]:
    engine = engine or FakeEngine(scripted_run(n, **kwargs.pop("script", {})))
    kwargs.setdefault("clock", fixed_clock)
    return ConductorApp(engine=engine, **kwargs), engine


async def settle(pilot) -> None:
    """Let the engine worker publish, then drain and draw (no waiting for the timer), until
    the ledger's history is folded in and every pane has a card that has drawn itself: the
    same state however loaded the machine is."""
    app = pilot.app
    for _ in range(200):
        await pilot.pause()
        app.tick()
        await pilot.pause()
        cards = app.dashboard.cards
        drawn = len(cards) == len(app.model.panes) and (
            app.dashboard.table_view or all(c._last for c in cards.values())  # hidden cards under the table never draw
        )
        started = bool(app.model.panes)  # the engine starts once a resumed run's history is read
        if app.dashboard._ready and started and drawn and not app.bridge.holding:
            break
        await asyncio.sleep(0.01)
    app.tick()
    await pilot.pause()


GIT_ENV = {
    "GIT_AUTHOR_NAME": "conductor",
    "GIT_AUTHOR_EMAIL": "conductor@localhost",
    "GIT_COMMITTER_NAME": "conductor",
    "GIT_COMMITTER_EMAIL": "conductor@localhost",
    "GIT_AUTHOR_DATE": "2025-06-15T10:00:00+0000",
    "GIT_COMMITTER_DATE": "2025-06-15T10:00:00+0000",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def experiment_repo(tmp_path) -> tuple[Path, list[str]]:
    """A worktree with a baseline commit and five experiment commits, each changing train.py;
    the discarded ones live only under refs/conductor/..., as the engine leaves them."""
    repo = tmp_path / "worktree"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    train = repo / "train.py"
    lines = ["LEARNING_RATE = 1e-3", "DEPTH = 2", "WIDTH = 128", "BATCH_SIZE = 16", "WEIGHT_DECAY = 0.1"]
    train.write_text("\n".join(lines) + "\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "baseline")
    commits = [git(repo, "rev-parse", "HEAD").strip()]
    changes = [
        ("BATCH_SIZE = 16", "BATCH_SIZE = 8"),
        ("WEIGHT_DECAY = 0.1", "WEIGHT_DECAY = 0.02"),
        ("WIDTH = 128", "WIDTH = 96"),
        ("DEPTH = 2", "DEPTH = 3"),
        ("LEARNING_RATE = 1e-3", "LEARNING_RATE = 3e-3"),
    ]
    for i, (old, new) in enumerate(changes, start=2):
        train.write_text(train.read_text().replace(old, new))
        git(repo, "commit", "-q", "-am", new)
        sha = git(repo, "rev-parse", "HEAD").strip()
        git(repo, "update-ref", f"refs/conductor/demo/tinygpt-1/{i:05d}", sha)
        commits.append(sha)
    return repo, commits


def repo_script(tmp_path: Path, repo: Path, commits: list[str], n: int = 4) -> dict:
    """scripted_run arguments that point pane 1 at the real repo, and write its logs."""
    run_dir = tmp_path / "run"
    name = pane_names(n)[0]
    logs = run_dir / "logs" / name
    logs.mkdir(parents=True)
    for seq, sha in enumerate(commits, start=1):
        (logs / f"{seq:04d}-{sha[:7]}.log").write_text(f"step 1/10\rstep 10/10\n---\nval_bpb: {3.0 - seq / 100:.4f}\n")
    program = run_dir / "programs" / "program.md"
    program.parent.mkdir(parents=True)
    program.write_text("# tinygpt\nLower val_bpb within the time budget.\n")
    return {
        "run_dir": str(run_dir),
        "worktrees": {name: str(repo)},
        "commits": {name: commits},
        "program": str(program),
    }


async def zoom_loaded(pilot) -> None:
    """Wait until the zoom view has read the ledger and shows the selected row's diff and log
    (never for the engine worker, which runs on)."""
    from textual.widgets import DataTable

    await pilot.pause()
    screen = pilot.app.screen
    loaded = getattr(screen, "loaded", None)
    if loaded is None:
        return
    await asyncio.wait_for(loaded.wait(), timeout=10)
    table = screen.query_one(DataTable)
    for _ in range(500):
        await pilot.pause()
        if table.row_count == 0:
            break
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        if screen.detail_shown == key:
            break
        await asyncio.sleep(0.01)
    else:
        raise TimeoutError("the zoom view never showed the selected experiment")
    await pilot.pause()
