"""Git packed on a schedule: after a run whose upkeep packed every few experiments, no tried
commit's ref is loose, the loose objects went into packs, and every commit the ledger names
is still reachable from a ref (and the run's invariants hold)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import write_config
from engine_helpers import check_invariants, git, run_orchestra

from conductor.core import git_upkeep
from conductor.core.ledger import Ledger


def test_refs_and_objects_are_packed_and_every_tried_commit_stays_reachable(tmp_path, fastws, monkeypatch):
    monkeypatch.setattr(git_upkeep, "PACK_EVERY", 2)
    monkeypatch.setattr(git_upkeep, "CHECK_S", 0.05)
    (fastws / "train.py").write_text((fastws / "train.py").read_text().replace("SLEEP = 0.05", "SLEEP = 0.3"))
    cfg = write_config(tmp_path, fastws)
    run_orchestra(cfg, max_experiments=8)
    run_dir = tmp_path / ".conductor"
    ledger = Ledger(run_dir / "ledger.db")
    rows = ledger.experiments("fast")
    worktree = ledger.panes()[0].worktree
    ledger.close()
    assert len(rows) == 8
    common = git(worktree, "rev-parse", "--git-common-dir")
    packed = (Path(worktree) / common / "packed-refs").read_text()
    tried = [r for r in rows if r.status != "keep" and r.status != "rejected"]
    assert tried and any(f"{r.commit} refs/conductor/" in packed for r in tried)
    loose = subprocess.run(
        ["find", f"{worktree}/{common}/refs/conductor", "-type", "f"], capture_output=True, text=True
    )
    assert len(loose.stdout.split()) < len(tried)  # only those after the last pack are loose
    assert list((Path(worktree) / common / "objects" / "pack").glob("*.pack"))
    reachable = set(git(worktree, "rev-list", "--all").split())
    assert {r.commit for r in rows} <= reachable
    for r in rows:  # and each one's tree is whole
        git(worktree, "ls-tree", "-r", r.commit)
    check_invariants(run_dir)
