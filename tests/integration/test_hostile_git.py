"""Experiments that attack git and the run dir, with the sandbox off: real repos, real git,
the real orchestra. Every planted program writes a marker file if anything ever runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_config
from engine_helpers import ScriptedAgent, Step, check_invariants, git, run_orchestra

from conductor.core.events import Alert, RunFinished
from conductor.core.gitsafe import run_git
from conductor.core.history import commit_diff
from conductor.core.ledger import Ledger
from conductor.core.rundir import RunDir
from conductor.core.workspace import BranchMoved, Worktree
from conductor.verify import cmd_verify

TRAIN_HEADER = "import os, subprocess\n"


def unsandboxed_config(tmp_path: Path, ws: Path, *, panes: int = 1, run: str = "", extra: str = "") -> Path:
    if run:
        extra = f"run = '''{run}'''\n{extra}"
    cfg = write_config(tmp_path, ws, panes=panes, extra=extra)
    cfg.write_text(cfg.read_text().replace("[conductor]\n", '[conductor]\nsandbox = "off"\n', 1))
    return cfg


def rows(tmp_path: Path, pane: str = "fast"):
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        return ledger.experiments(pane)
    finally:
        ledger.close()


def hostile_train(fastws: Path, code: str) -> str:
    """train.py with `code` run first (the experiment's own change)."""
    return TRAIN_HEADER + code + "\n" + (fastws / "train.py").read_text()


def planting_script(marks: Path) -> str:
    """Shell that plants, in the repo of the worktree it runs in, every setting that makes git
    run a program: fsmonitor, hooks, a filter driver, an external diff, a textconv, a pager,
    all behind an include.path too. It never runs git itself after planting."""
    return f"""
common=$(git rev-parse --git-common-dir)
mk() {{ printf '#!/bin/sh\\ntouch {marks}/%s\\ncat\\n' "$1" > "{marks}/$1.sh"; chmod +x "{marks}/$1.sh"; }}
for m in fsmonitor hook filter_clean filter_smudge filter_process extdiff textconv pager included; do mk $m; done
git config core.fsmonitor {marks}/fsmonitor.sh
git config core.hooksPath "$common/hooks"
for h in pre-commit post-commit post-checkout reference-transaction post-index-change; do
  cp {marks}/hook.sh "$common/hooks/$h"
done
git config filter.evil.clean {marks}/filter_clean.sh
git config filter.evil.smudge {marks}/filter_smudge.sh
git config filter.evil.required true
git config diff.external {marks}/extdiff.sh
git config diff.evil.textconv {marks}/textconv.sh
git config core.pager {marks}/pager.sh
printf '[filter "sneaky"]\\n\\tprocess = {marks}/filter_process.sh\\n' > {marks}/included.cfg
git config include.path {marks}/included.cfg
mkdir -p "$common/info"
printf '* filter=evil diff=evil\\n*.py filter=sneaky\\n' > "$common/info/attributes"
"""


def test_planted_git_settings_never_run(tmp_path, fastws_repo):
    """Every experiment plants them; conductor's git and the researcher's own git afterwards
    run none of them, and the repo's .git is as it was. One pane: with the sandbox off, a
    second pane's experiment can plant a driver between conductor's scan of the config and
    the git process reading it (gitsafe's docstring), which no setting closes; the sandbox does."""
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "plant.sh"
    script.write_text(planting_script(marks))
    before_config = (fastws_repo / ".git" / "config").read_bytes()
    before_hooks = sorted(os.listdir(fastws_repo / ".git" / "hooks"))
    cfg = unsandboxed_config(tmp_path, fastws_repo, panes=1, run=f"sh {script}; python train.py")
    agent = ScriptedAgent(
        [Step("x up", edits={"train.py": {"X": "1.5"}}), Step("y down", edits={"train.py": {"Y": "0.0"}})]
    )
    _, events = run_orchestra(cfg, {"fast": agent}, max_experiments=2)
    got = rows(tmp_path, "fast")
    assert [r.status for r in got] == ["rejected"] * 2, [(r.status, r.reason) for r in got]
    assert all(".git/config" in r.reason for r in got), [r.reason for r in got]
    assert not any(r.is_baseline for r in got)  # a rejected baseline runs again next time
    assert (fastws_repo / ".git" / "config").read_bytes() == before_config
    assert sorted(os.listdir(fastws_repo / ".git" / "hooks")) == before_hooks
    assert not (fastws_repo / ".git" / "info" / "attributes").exists()
    check_invariants(tmp_path / ".conductor")
    wt = RunDir(tmp_path / ".conductor").worktree("fast")
    for cwd in (fastws_repo, wt):  # the researcher's own git, later
        subprocess.run(["git", "status"], cwd=cwd, check=True, capture_output=True)
    assert fired(marks) == []
    assert not any(isinstance(e, Alert) and e.level == "error" for e in events)

    # verify's throwaway worktree add, with a post-checkout hook and a smudge filter planted again
    subprocess.run(["sh", str(script)], cwd=wt, check=True)
    commit = rows(tmp_path, "fast")[-1].commit
    cmd_verify(tmp_path / ".conductor", "fast", commit[:10], 1)
    assert fired(marks) == []


def fired(marks: Path) -> list[str]:
    """The planted programs that ran (each touches its own name)."""
    return [m for m in os.listdir(marks) if not m.endswith((".sh", ".cfg"))]


def test_hardened_git_runs_no_planted_program(tmp_path, fastws_repo):
    """Straight at core/gitsafe.py: every command conductor uses, in a repo with everything
    planted after conductor's git first looked at it (its scan of the config is cached)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    run_git(fastws_repo, "status", "--porcelain")
    subprocess.run(["sh", "-c", planting_script(marks)], cwd=fastws_repo, check=True)
    (fastws_repo / "train.py").write_text("X = 9\n")
    (fastws_repo / "new.py").write_text("print(1)\n")
    run_git(fastws_repo, "status", "--porcelain", "-z", "--untracked-files=all")
    run_git(fastws_repo, "diff", "--no-ext-diff", "--no-textconv", "HEAD")
    run_git(fastws_repo, "add", "-A")
    run_git(fastws_repo, "commit", "-q", "-m", "x")
    run_git(fastws_repo, "reset", "-q", "--hard", "HEAD~1")
    run_git(fastws_repo, "worktree", "add", "-q", "--detach", str(tmp_path / "wt"), "HEAD")
    run_git(fastws_repo, "worktree", "remove", "--force", str(tmp_path / "wt"))
    assert "def evaluate" in commit_diff(fastws_repo, "HEAD")  # the TUI's zoom view: git show, no textconv
    # a driver that appears later in the included file only (the repo's own config unchanged)
    with (marks / "included.cfg").open("a") as f:
        f.write(f'[filter "late"]\n\tclean = {marks}/filter_late.sh\n')
    (marks / "filter_late.sh").write_text(f"#!/bin/sh\ntouch {marks}/filter_late\ncat\n")
    (marks / "filter_late.sh").chmod(0o755)
    with (fastws_repo / ".git" / "info" / "attributes").open("a") as f:
        f.write("*.txt filter=late\n")
    (fastws_repo / "notes.txt").write_text("late\n")
    run_git(fastws_repo, "add", "notes.txt")
    assert fired(marks) == []
    # the same status with plain git runs them: the plants are real
    subprocess.run(["git", "status"], cwd=fastws_repo, capture_output=True)
    assert "fsmonitor" in os.listdir(marks)


def test_untracked_file_outside_the_editable_set_is_rejected_and_every_experiment_starts_clean(tmp_path, fastws):
    shadow = "def evaluate(x, y):\n    return 0.5\n"
    venv = "mkdir -p .venv && echo '*' > .venv/.gitignore"  # as `python -m venv` does: ignored, so no matter
    cfg = unsandboxed_config(tmp_path, fastws, run=f"{venv}; touch leftover.txt; python train.py")
    (fastws / ".gitignore").write_text(".venv/\n")
    agent = ScriptedAgent(
        [
            Step("shadow prepare", edits={"train.py": {"X": "3.0"}}, raw={"prepare/__init__.py": shadow}),
            Step(
                "shadow it behind a .gitignore that ignores itself",
                edits={"train.py": {"X": "3.0"}},
                raw={"prepare/.gitignore": "*\n", "prepare/__init__.py": shadow},
            ),
            Step("x to 2", edits={"train.py": {"X": "2.0"}}),
        ]
    )
    (fastws / "prepare").mkdir()  # the folder exists in the copy; the agent's file does not
    (fastws / "prepare" / ".keep").write_text("")
    orch, _ = run_orchestra(cfg, {"fast": agent}, max_experiments=4)
    got_rows = rows(tmp_path)
    statuses = [r.status for r in got_rows]
    assert statuses == ["keep", "rejected", "rejected", "keep"], [(r.status, r.reason) for r in got_rows]
    assert got_rows[0].metric == 16.25
    assert "prepare/__init__.py" in got_rows[1].reason and "not editable" in got_rows[1].reason
    assert "prepare/.gitignore" in got_rows[2].reason
    assert got_rows[3].metric == 11.0  # the real evaluate, no shadow left behind
    wt = RunDir(tmp_path / ".conductor").worktree("fast")
    assert sorted(os.listdir(wt / "prepare")) == [".keep"]
    assert not (wt / "leftover.txt").exists()  # a keep cleans the tree too
    assert (wt / ".venv" / ".gitignore").exists()  # ignored files stay
    check_invariants(tmp_path / ".conductor")
    assert orch.failure is None


def test_protected_file_rewritten_during_the_run_is_rejected_and_restored(tmp_path, fastws):
    original = (fastws / "prepare.py").read_text()
    cfg = unsandboxed_config(tmp_path, fastws)
    rewrite = "open('prepare.py', 'w').write('def evaluate(x, y):\\n    return 0.5\\n')"
    agent = ScriptedAgent([Step("rewrite prepare during the run", raw={"train.py": hostile_train(fastws, rewrite)})])
    run_orchestra(cfg, {"fast": agent}, max_experiments=2)
    got = rows(tmp_path)
    assert [r.status for r in got] == ["keep", "rejected"], [(r.status, r.reason) for r in got]
    assert "protected file changed during the run: prepare.py" in got[1].reason
    assert got[1].metric is None
    wt = RunDir(tmp_path / ".conductor").worktree("fast")
    assert (wt / "prepare.py").read_text() == original
    check_invariants(tmp_path / ".conductor")


MOVE_REFS = """
me = subprocess.run(["git", "symbolic-ref", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
branches = subprocess.run(["git", "branch", "--format=%(refname:short)", "--list", "conductor/*"],
                          capture_output=True, text=True).stdout.split()
evil = subprocess.run(["git", "-c", "user.name=x", "-c", "user.email=x@x", "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "evil"],
                      capture_output=True, text=True).stdout.strip()
for b in branches:
    if b != me:
        subprocess.run(["git", "update-ref", "refs/heads/" + b, evil])
subprocess.run(["git", "reset", "-q", "--hard", evil])
subprocess.run(["git", "checkout", "-q", "--detach"])
"""


def test_moved_refs_and_head_are_restored_for_every_pane(tmp_path, fastws):
    cfg = unsandboxed_config(tmp_path, fastws, panes=2)
    agents = {
        "fast-1": ScriptedAgent(
            [
                Step("move everyone's git state", raw={"train.py": hostile_train(fastws, MOVE_REFS)}),
                Step("x to 2", edits={"train.py": {"X": "2.0"}}),
            ]
        ),
        "fast-2": ScriptedAgent([Step("x to 2.5", edits={"train.py": {"X": "2.5"}}) for _ in range(2)]),
    }
    run_orchestra(cfg, agents, max_experiments=3)
    by_pane = {pane: rows(tmp_path, pane) for pane in agents}
    hostile = next(p for p, got in by_pane.items() if any(r.description.startswith("move") for r in got))
    sibling = next(p for p in by_pane if p != hostile)
    got = by_pane[hostile]
    assert [r.status for r in got] == ["keep", "rejected", "keep"], [(r.status, r.reason) for r in got]
    assert f".git/worktrees/{hostile}/HEAD" in got[1].reason
    assert f"/{hostile}" in got[1].reason and f"/{sibling}" in got[1].reason  # both branches
    assert got[2].parent == got[0].commit
    for pane, pane_rows in by_pane.items():
        wt = RunDir(tmp_path / ".conductor").worktree(pane)
        assert git(wt, "symbolic-ref", "--short", "HEAD").endswith(pane)
        for r in pane_rows[1:]:
            if r.status != "rejected":
                assert git(wt, "rev-parse", f"{r.commit}^") == r.parent, (pane, r)
        assert "evil" not in git(wt, "log", "--format=%s")
    check_invariants(tmp_path / ".conductor")


REPLACE_LEDGER = """
import sqlite3
fake = sqlite3.connect('../../fake.db')
fake.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
fake.execute("INSERT INTO meta VALUES ('run', 'forged')")
fake.commit()
fake.close()
os.replace('../../fake.db', '../../ledger.db')
"""


@pytest.mark.parametrize("attack", ["deleted", "replaced"])
def test_deleted_or_replaced_ledger_stops_the_run_and_loses_nothing(tmp_path, fastws, attack):
    cfg = unsandboxed_config(tmp_path, fastws)
    code = "os.remove('../../ledger.db')" if attack == "deleted" else REPLACE_LEDGER
    agent = ScriptedAgent(
        [
            Step("x to 2", edits={"train.py": {"X": "2.0"}}),
            Step("attack the ledger", raw={"train.py": hostile_train(fastws, code)}),
            Step("never run", edits={"train.py": {"X": "2.5"}}),
        ]
    )
    orch, events = run_orchestra(cfg, {"fast": agent}, max_experiments=6)
    assert orch.failure == f"the run dir's ledger.db was {attack} while the run was live: stopping"
    assert [e.reason for e in events if isinstance(e, RunFinished)] == [orch.failure]
    got = rows(tmp_path)
    assert [r.description for r in got] == ["baseline", "x to 2", "attack the ledger"]
    assert got[1].status == "keep"
    check_invariants(tmp_path / ".conductor")
    aside = list((tmp_path / ".conductor").glob("ledger.db.replaced-*"))
    assert len(aside) == (1 if attack == "replaced" else 0)
    notes = [e.message for e in events if isinstance(e, Alert) and e.level == "info" and "ledger" in e.message]
    assert notes and notes[-1].startswith("the ledger this run recorded is back at")
    # a restart resumes the same run on the same branches
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    run_name = ledger.get_meta("run")
    ledger.close()
    assert run_name == orch.run_name
    again, _ = run_orchestra(cfg, {"fast": ScriptedAgent([Step("x to 2.5", edits={"train.py": {"X": "2.5"}})])}, 4)
    assert again.run_name == run_name and again.failure is None
    assert [r.description for r in rows(tmp_path)][-1] == "x to 2.5"
    check_invariants(tmp_path / ".conductor")


def test_deleted_lock_stops_the_run(tmp_path, fastws):
    cfg = unsandboxed_config(tmp_path, fastws)
    agent = ScriptedAgent(
        [
            Step("delete the lock", raw={"train.py": hostile_train(fastws, "os.remove('../../lock')")}),
            Step("never run", edits={"train.py": {"X": "2.5"}}),
        ]
    )
    orch, events = run_orchestra(cfg, {"fast": agent}, max_experiments=6)
    assert orch.failure == "the run dir's lock was deleted while the run was live: stopping"
    errors = [e.message for e in events if isinstance(e, Alert) and e.level == "error"]
    assert errors == [orch.failure]
    assert [r.description for r in rows(tmp_path)] == ["baseline", "delete the lock"]


def test_conductor_run_exits_non_zero_with_one_error_line_when_the_lock_goes(tmp_path, fastws):
    cfg = unsandboxed_config(tmp_path, fastws, run="rm -f ../../lock; python train.py")
    out = subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--max-experiments", "5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    line = "the run dir's lock was deleted while the run was live: stopping"
    errors = [ln for ln in (out.stdout + out.stderr).splitlines() if "error" in ln]
    assert len(errors) == 1 and errors[0].endswith(f"error: {line}"), out.stdout + out.stderr
    assert [r.description for r in rows(tmp_path)] == ["baseline"]


def test_a_commit_never_lands_on_a_branch_moved_behind_conductors_back(tmp_path, fastws_repo):
    wt, start = Worktree.ensure(fastws_repo, tmp_path / "wt", "conductor/t/p", ("train.py",), ("prepare.py",))
    try:
        evil = git(wt.path, "-c", "user.name=x", "-c", "user.email=x@x", "commit-tree", "HEAD^{tree}", "-m", "evil")
        git(wt.path, "update-ref", "refs/heads/conductor/t/p", evil)  # between conductor's check and its commit
        (wt.path / "train.py").write_text("X = 1\n")
        with pytest.raises(BranchMoved):
            wt.commit("x", ("train.py",))
        assert git(wt.path, "rev-parse", "refs/heads/conductor/t/p") == evil  # nothing committed on it
        assert [f.name for f in wt.restore_git_state()] == ["refs/heads/conductor/t/p"]
        assert git(wt.path, "rev-parse", "HEAD") == start
        assert git(wt.path, "rev-parse", f"{wt.commit('x', ('train.py',))}^") == start
    finally:
        wt.close()
