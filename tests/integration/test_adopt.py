"""`conductor adopt`: the best commit onto a new branch of the researcher's real repo, their
working tree and current branch untouched; `--squash`; `--best`; a plain folder with --into."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import GIT_ENV, write_config


def conductor(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "conductor", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True, env=env).stdout.strip()


def run_until_a_keep(tmp_path: Path, ws: Path, panes: int = 1) -> tuple[Path, dict]:
    cfg = write_config(tmp_path, ws, panes=panes)
    out = conductor("run", "-c", str(cfg), "--max-experiments", "8", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    status = json.loads(conductor("status", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    assert all(p["keep"] >= 1 for p in status["panes"]), status["panes"]
    return cfg, status


def test_adopt_puts_the_best_on_a_new_branch_and_touches_nothing_else(tmp_path, fastws_repo):
    repo = fastws_repo
    start = git(repo, "rev-parse", "HEAD")
    cfg, status = run_until_a_keep(tmp_path, repo)
    pane = status["panes"][0]
    (repo / "train.py").write_text((repo / "train.py").read_text() + "\n# my own edit, not committed\n")
    dirty = git(repo, "status", "--porcelain")

    out = conductor("adopt", "fast", "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    branch = f"adopt/{status['run']}/fast"
    assert branch in out.stdout
    assert git(repo, "branch", "--show-current") == "main" and git(repo, "rev-parse", "HEAD") == start
    assert git(repo, "status", "--porcelain") == dirty
    assert git(repo, "rev-parse", f"{branch}^{{tree}}") == git(repo, "rev-parse", f"{pane['best_commit']}^{{tree}}")
    log = git(repo, "log", "--format=%B", f"{start}..{branch}")
    assert log.count("conductor: pane fast #") == pane["keep"]
    assert git(repo, "merge-base", branch, "main") == start

    squashed = conductor("adopt", "fast", "--squash", "--branch", "best-one", "-c", str(cfg), cwd=tmp_path)
    assert squashed.returncode == 0, squashed.stderr
    assert git(repo, "rev-list", "--count", f"{start}..best-one") == "1"
    message = git(repo, "log", "-1", "--format=%B", "best-one")
    assert message.startswith("conductor: the best of pane fast") and "Kept experiments:" in message
    assert message.count("\n  #") == pane["keep"] and "score" in message
    assert git(repo, "rev-parse", "best-one^{tree}") == git(repo, "rev-parse", f"{branch}^{{tree}}")

    again = conductor("adopt", "fast", "--branch", "best-one", "-c", str(cfg), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert git(repo, "rev-list", "--count", f"{start}..best-one") == "1"


def test_adopt_best_from_a_plain_folder_needs_a_repo_to_go_into(tmp_path, fastws):
    cfg, status = run_until_a_keep(tmp_path, fastws, panes=2)
    refused = conductor("adopt", "--best", "-c", str(cfg), cwd=tmp_path)
    assert refused.returncode == 2 and "--into REPO" in refused.stderr
    home = tmp_path / "mine"
    home.mkdir()
    git(home, "init", "-q", "-b", "main")
    git(home, "commit", "-q", "--allow-empty", "-m", "my project")
    out = conductor("adopt", "--best", "--squash", "--into", str(home), "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    best = min(status["panes"], key=lambda p: p["best"])
    branch = f"adopt/{status['run']}/{best['name']}"
    assert git(home, "branch", "--show-current") == "main"
    assert git(home, "rev-parse", f"{branch}:train.py") == git(
        Path(best["worktree"]), "rev-parse", f"{best['best_commit']}:train.py"
    )
    assert git(home, "for-each-ref", "refs/conductor-adopt") == ""
