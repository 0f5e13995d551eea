"""Shared fixtures: a fast workspace copied into tmp dirs (as a folder or as a git repo)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FASTWS = FIXTURES / "fastws"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@localhost",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@localhost",
}


@pytest.fixture
def fastws(tmp_path: Path) -> Path:
    """A copy of the fast workspace as a plain template folder."""
    dest = tmp_path / "fastws"
    shutil.copytree(FASTWS, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture
def fastws_repo(fastws: Path) -> Path:
    """The fast workspace as the user's own git repo with one commit."""
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=fastws, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=fastws, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=fastws, check=True, env=env)
    return fastws


def write_config(
    tmp_path: Path, ws: Path, *, panes: int = 1, extra: str = "", head: str = "", agent: str = "optuna"
) -> Path:
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(
        f'{head}[conductor]\ncpu_slots = 1\n\n[[workspace]]\nname = "fast"\npath = "{ws}"\n'
        f'panes = {panes}\nagent = {{ kind = "{agent}" }}\n{extra}'
    )
    return cfg
