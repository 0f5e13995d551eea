"""Shared bench plumbing: a fast workspace in a temp dir and an orchestra run in-process."""

from __future__ import annotations

import asyncio
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

import psutil

from conductor.config import load_config
from conductor.core.orchestra import Orchestra

REPO = Path(__file__).resolve().parents[1]
FASTWS = REPO / "tests" / "fixtures" / "fastws"


def machine() -> str:
    return f"{platform.machine()}, {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}"


def fast_workspace(dest: Path, sleep: float) -> Path:
    ws = dest / "ws"
    shutil.copytree(FASTWS, ws, ignore=shutil.ignore_patterns("__pycache__"))
    train = ws / "train.py"
    train.write_text(train.read_text().replace("SLEEP = 0.05", f"SLEEP = {sleep}"))
    return ws


def config(dest: Path, ws: Path, panes: int, slots: int, budget_s: float = 5, timeout_s: float = 60):
    path = dest / "conductor.toml"
    path.write_text(
        f'[conductor]\nslots = {slots}\n\n[[workspace]]\nname = "b"\npath = "{ws}"\npanes = {panes}\n'
        f'agent = {{ kind = "optuna" }}\ntime_budget_s = {budget_s}\ntimeout_s = {timeout_s}\n'
    )
    return load_config(path)


def run_for(cfg, seconds: float, agent_factory) -> Orchestra:
    orch = Orchestra(cfg, agent_factory=agent_factory)
    orch.open()

    async def main():
        task = asyncio.create_task(orch.run())
        await asyncio.sleep(seconds)
        orch.stop()
        try:
            await task
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(main())
    finally:
        orch.close()
    return orch


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    idx = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[idx]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def tmpdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="conductor-bench-"))
