"""Helpers for engine tests: a scripted agent, a runner, and the run-dir invariants."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from conductor.agents.base import create_agent
from conductor.config import load_config
from conductor.core import results_tsv
from conductor.core.board import migrations
from conductor.core.events import Event
from conductor.core.ledger import Ledger
from conductor.core.orchestra import Orchestra
from conductor.core.reconcile import best_so_far


@dataclass
class Step:
    description: str
    edits: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> {CONST: literal}
    raw: dict[str, str] = field(default_factory=dict)  # file -> full new content


def set_constants(text: str, values: dict[str, str]) -> str:
    for name, literal in values.items():
        text, n = re.subn(rf"^{name} = .*$", f"{name} = {literal}", text, count=1, flags=re.M)
        assert n == 1, name
    return text


class ScriptedAgent:
    """Applies its steps in order, one experiment each, then idles until stopped."""

    kind = "scripted"

    def __init__(self, steps: list[Step]):
        self.steps = steps
        self.outcomes = []

    async def run(self, session) -> None:
        for step in self.steps:
            await session.checkpoint()
            for rel, values in step.edits.items():
                p = Path(session.worktree_path) / rel
                p.write_text(set_constants(p.read_text(), values))
            for rel, content in step.raw.items():
                (Path(session.worktree_path) / rel).write_text(content)
            self.outcomes.append(await session.run_experiment(step.description))
        await asyncio.Event().wait()


def run_orchestra(
    cfg_path: Path,
    agents: dict[str, ScriptedAgent] | None = None,
    max_experiments=None,
    subscribe=None,
    on_open=None,
):
    """Run to completion in-process; returns (orchestra, events). `subscribe` is one more bus
    subscriber; `on_open(orchestra)` runs once the orchestra is open, before it runs."""
    cfg = load_config(cfg_path)
    agents = agents or {}
    events: list[Event] = []
    by_pane = iter(agents.values()) if agents else None

    def factory(_config):
        return next(by_pane)

    orch = Orchestra(cfg, max_experiments=max_experiments, agent_factory=factory if agents else create_agent)
    orch.bus.subscribe(events.append)
    if subscribe is not None:
        orch.bus.subscribe(subscribe)
    orch.open()
    if on_open is not None:
        on_open(orch)
    try:
        asyncio.run(orch.run())
    finally:
        orch.close()
    return orch, events


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def check_invariants(run_dir: Path) -> None:
    """After any stop: ledger == results.tsv, keeps are ancestors of the head, tree clean at
    the best commit, no duplicate rows, no experiment process left."""
    ledger = Ledger(run_dir / "ledger.db")
    try:
        for pane in ledger.panes():
            rows = ledger.experiments(pane.name)
            seqs = [r.seq for r in rows]
            assert seqs == list(range(1, len(rows) + 1)), f"{pane.name}: seqs {seqs}"
            wt = Path(pane.worktree)
            tsv = results_tsv.read(wt / "results.tsv")
            upstream = [(r.commit[:7], "crash" if r.status == "interrupted" else r.status) for r in rows]
            assert [(t[0], t[3]) for t in tsv] == upstream, pane.name
            head = git(wt, "rev-parse", "HEAD")
            moves = migrations(ledger, pane.name)  # a move onto a sibling's best starts a new line
            best = best_so_far(rows, pane.base_commit, moves).best_commit
            assert head == best, f"{pane.name}: head {head[:7]} is not the best commit {best[:7]}"
            since = moves[-1].after_seq if moves else 0
            for r in (r for r in rows if r.status == "keep" and r.seq > since):
                subprocess.run(["git", "merge-base", "--is-ancestor", r.commit, head], cwd=wt, check=True)
            status = git(wt, "status", "--porcelain", "--untracked-files=all")
            dirty = [
                ln
                for ln in status.splitlines()
                if not ln.endswith(("results.tsv", "run.log")) and "__pycache__" not in ln
            ]
            assert dirty == [], f"{pane.name}: dirty worktree {dirty}"
            for r in rows:
                if r.status == "crash":
                    assert r.metric is None
    finally:
        ledger.close()
    left = leftover_processes(run_dir, wait_s=5.0)  # a killed process group may take a moment on a loaded machine
    assert left == [], left


def leftover_processes(run_dir: Path, wait_s: float = 2.0) -> list[str]:
    """Processes whose cwd is inside the run dir (a killed process may take a moment to go)."""
    deadline = time.time() + wait_s
    while True:
        found = _processes_in(run_dir)
        if not found or time.time() > deadline:
            return found
        time.sleep(0.1)


def _processes_in(run_dir: Path) -> list[str]:
    out = []
    root = str(run_dir.resolve())
    for p in psutil.process_iter(["pid", "cwd", "cmdline"]):
        try:
            cwd = p.info["cwd"] or ""
        except psutil.Error:
            continue
        if cwd.startswith(root):
            out.append(f"{p.info['pid']} {' '.join(p.info['cmdline'] or [])}")
    return out
