"""`conductor adopt PANE` / `--best [WORKSPACE]`: a pane's best commit into the researcher's repo.

The result lands on a new branch of the researcher's own repo (the workspace's repo, or
`--into REPO` for a plain-folder workspace); their working tree, index and current branch
are never touched: the commits are fetched into the object store and written with
`commit-tree` and `update-ref`, which refuses a branch that already exists. Without
`--squash` each kept experiment stays one commit, its message extended with its seq, its
metric and its delta; with `--squash` one commit holds the best tree and lists every kept
experiment. Every git command goes through `core/gitsafe.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conductor.config import load_config
from conductor.core.gitsafe import GitError, run_git
from conductor.core.ledger import Ledger
from conductor.core.record import ExperimentRecord, Status, improvement
from conductor.core.rundir import RunDir
from conductor.core.standings import PaneStandings
from conductor.core.standings_sql import standings_from_ledger
from conductor.core.workspace import is_git_repo
from conductor.errors import ConductorError

_TMP_REF = "refs/conductor-adopt/incoming"


@dataclass(frozen=True)
class Kept:
    record: ExperimentRecord
    delta: float | None  # metric - the best before it

    def line(self, metric_name: str) -> str:
        d = f" ({self.delta:+.6g})" if self.delta is not None else ""
        return f"#{self.record.seq} {metric_name} {self.record.metric:.6g}{d} {self.record.description}".rstrip()


def cmd_adopt(
    run_dir: Path, pane: str | None, best: str | None, squash: bool, branch: str | None, into: str | None
) -> int:
    ledger = Ledger.reader(run_dir)
    try:
        standings = standings_from_ledger(ledger)
        chosen = _choose(standings, pane, best)
        rows = ledger.experiments(chosen.name)
        run = ledger.get_meta("run") or "run"
    finally:
        ledger.close()
    p, t = chosen.pane, chosen.total
    if not t.best_commit or t.best_commit == p.base_commit or not t.keeps:
        raise ConductorError(f"pane '{p.name}' has no kept experiment yet: nothing to adopt")
    source = Path(p.worktree)
    target = _target_repo(run_dir, p.workspace, into)
    name = branch or f"adopt/{run}/{p.name}"
    if run_git(target, "check-ref-format", "--branch", name, check=False) != name:
        raise ConductorError(f"--branch {name!r} is not a valid branch name")
    if run_git(target, "rev-parse", "--verify", "-q", f"refs/heads/{name}", check=False):
        raise ConductorError(f"branch {name} already exists in {target}: pass another --branch")
    kept = kept_experiments(rows, p.goal)
    _fetch(target, source, t.best_commit)
    try:
        chain = run_git(target, "rev-list", "--reverse", "--first-parent", f"{p.base_commit}..{t.best_commit}")
        commits = chain.split()
        if squash:
            tip = _squash(target, p, t, kept, run)
        else:
            tip = _replay(target, p, commits, {k.record.commit: k for k in kept})
        run_git(target, "update-ref", "-m", "conductor adopt", f"refs/heads/{name}", tip, "")
    finally:
        run_git(target, "update-ref", "-d", _TMP_REF, check=False)
    best_text = f"{p.metric} {t.best:.6g}" if t.best is not None else p.metric
    shape = "1 squashed commit" if squash else f"{len(commits)} commit(s)"
    print(f"adopted pane {p.name} ({best_text}, {len(kept)} kept experiment(s)) as {shape} on branch {name}")
    print(f"  in {target}; your working tree and current branch are untouched: `git switch {name}` to look")
    return 0


def kept_experiments(rows: list[ExperimentRecord], goal: str) -> list[Kept]:
    """The keeps after the baseline, in order, each with its delta against the best before it."""
    out, best = [], None
    for r in rows:
        if r.status != Status.KEEP or r.metric is None:
            continue
        if not r.is_baseline and best is not None and improvement(goal, best, r.metric) > 0:
            out.append(Kept(r, r.metric - best))
        best = r.metric if best is None or improvement(goal, best, r.metric) > 0 else best
    return out


def _choose(standings: list[PaneStandings], pane: str | None, best: str | None) -> PaneStandings:
    if (pane is None) == (best is None):
        raise ConductorError("name a pane (`conductor adopt PANE`) or pass --best [WORKSPACE], not both")
    if pane is not None:
        for s in standings:
            if s.name == pane:
                return s
        raise ConductorError(f"no pane named '{pane}' in this run ({', '.join(s.name for s in standings)})")
    workspaces = sorted({s.pane.workspace for s in standings})
    if not best and len(workspaces) > 1:
        raise ConductorError(f"the run has several workspaces: --best WORKSPACE, one of {', '.join(workspaces)}")
    ws = best or (workspaces[0] if workspaces else "")
    candidates = [s for s in standings if s.pane.workspace == ws and s.total.best is not None and s.total.keeps]
    if not candidates:
        known = f" (workspaces: {', '.join(workspaces)})" if ws not in workspaces else ""
        raise ConductorError(f"no pane of workspace '{ws}' has a kept experiment{known}")
    goal = candidates[0].pane.goal
    return min(candidates, key=lambda s: s.total.best if goal == "min" else -s.total.best)  # type: ignore[operator]


def _target_repo(run_dir: Path, workspace: str, into: str | None) -> Path:
    if into:
        target = Path(into).expanduser().resolve()
        if not is_git_repo(target):
            raise ConductorError(f"--into {into}: not the top folder of a git repo")
        return target
    cfg = load_config(RunDir(run_dir).config)
    ws = next((w for w in cfg.workspaces if w.name == workspace), None)
    if ws is None or not is_git_repo(ws.path):
        where = f" ({ws.path})" if ws is not None else ""
        raise ConductorError(
            f"workspace '{workspace}'{where} is a plain folder, not a git repo: pass --into REPO to adopt into one"
        )
    return ws.path


def _fetch(target: Path, source: Path, commit: str) -> None:
    """The commit and its history into `target`'s object store, under a ref of conductor's own."""
    if _has(target, commit):  # a worktree of this very repo: the objects are there
        run_git(target, "update-ref", _TMP_REF, commit)
        return
    try:
        run_git(
            target, "-c", "protocol.file.allow=always", "fetch", "-q", "--no-tags", str(source), f"+{commit}:{_TMP_REF}"
        )
    except GitError as exc:
        raise ConductorError(f"could not fetch {commit[:12]} from {source}: {exc}") from None


def _has(repo: Path, commit: str) -> bool:
    return bool(run_git(repo, "rev-parse", "--verify", "-q", f"{commit}^{{commit}}", check=False))


def _squash(target: Path, p, t, kept: list[Kept], run: str) -> str:
    best = f": {p.metric} {t.best:.6g}" if t.best is not None else ""
    lines = [f"conductor: the best of pane {p.name} ({run}){best}", "", "Kept experiments:"]
    lines += [f"  {k.line(p.metric)}" for k in kept]
    tree = run_git(target, "rev-parse", f"{t.best_commit}^{{tree}}")
    return run_git(target, "commit-tree", tree, "-p", p.base_commit, "-m", "\n".join(lines))


def _replay(target: Path, p, commits: list[str], kept: dict[str, Kept]) -> str:
    """The first-parent chain again, each commit's message with its experiment's numbers."""
    parent = p.base_commit
    for sha in commits:
        message = run_git(target, "log", "-1", "--format=%B", sha).strip() or "experiment"
        if sha in kept:
            message += f"\n\nconductor: pane {p.name} {kept[sha].line(p.metric)}"
        tree = run_git(target, "rev-parse", f"{sha}^{{tree}}")
        parent = run_git(target, "commit-tree", tree, "-p", parent, "-m", message)
    return parent
