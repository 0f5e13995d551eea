"""The engine end to end on real git, real subprocesses and real SQLite."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_config
from engine_helpers import ScriptedAgent, Step, check_invariants, git, leftover_processes, run_orchestra, set_constants

from conductor.core.ledger import Ledger
from conductor.core.results_tsv import read as read_tsv


def tree_checksum(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and ".git" not in p.relative_to(folder).parts:
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_keep_discard_crash_timeout_rejected(tmp_path, fastws_repo):
    before = tree_checksum(fastws_repo)
    cfg = write_config(tmp_path, fastws_repo, extra="timeout_s = 2\ncrash_limit = 10\n")
    steps = [
        Step("x to 3", edits={"train.py": {"X": "3.0"}}),  # 10.0 < 16.25: keep
        Step("x to 0", edits={"train.py": {"X": "0.0"}}),  # 19.0: discard
        Step("crash", edits={"train.py": {"MODE": '"crash"'}}),
        Step("hang", edits={"train.py": {"MODE": '"hang"'}}),
        Step("touch the harness", raw={"prepare.py": "def evaluate(x, y):\n    return 0.0\n"}),
        Step("nan", edits={"train.py": {"MODE": '"nan"'}}),
        Step("no summary", edits={"train.py": {"MODE": '"nosummary"'}}),
        Step("y to -1", edits={"train.py": {"Y": "-1.0"}}),  # 1.0: keep
        Step("edit a non-editable file", raw={"program.md": "be lazy\n"}),
    ]
    agent = ScriptedAgent(steps)
    orch, events = run_orchestra(cfg, {"fast": agent}, max_experiments=10)

    run_dir = tmp_path / ".conductor"
    ledger = Ledger(run_dir / "ledger.db")
    rows = ledger.experiments("fast")
    assert [(r.status, r.description) for r in rows] == [
        ("keep", "baseline"),
        ("keep", "x to 3"),
        ("discard", "x to 0"),
        ("crash", "crash"),
        ("crash", "hang"),
        ("rejected", "touch the harness"),
        ("crash", "nan"),
        ("crash", "no summary"),
        ("keep", "y to -1"),
        ("rejected", "edit a non-editable file"),
    ]
    assert rows[0].metric == 16.25 and rows[1].metric == 10.0 and rows[2].metric == 19.0 and rows[8].metric == 1.0
    assert rows[0].is_baseline and rows[0].memory_gb == 0.5
    assert rows[3].reason == "exit code 3"
    assert rows[4].reason == "timeout"
    assert "protected file changed: prepare.py" in rows[5].reason
    assert rows[6].reason == "score is nan"
    assert rows[7].reason == "no score in the summary block"
    assert "not editable: program.md" in rows[9].reason
    # the crash's log tail reached the agent; the outcome reads like a tool result
    crash = agent.outcomes[2]
    assert "RuntimeError: boom" in crash.log_tail and "CRASH" in crash.text()
    assert agent.outcomes[1].delta == pytest.approx(9.0)
    # every rejected/crashed/discarded commit stays reachable for diffs and re-runs
    wt = run_dir / "worktrees" / "fast"
    refs = git(wt, "for-each-ref", "--format=%(refname)", "refs/conductor/").splitlines()
    assert len(refs) == 5  # discard + 4 crashes (rejected edits were never committed)
    assert git(wt, "show", "-s", "--format=%s", rows[2].commit) == "x to 0"
    # the branch is the pane's own and its history is the keeps
    assert git(wt, "rev-parse", "--abbrev-ref", "HEAD") == f"conductor/{orch.run_name}/fast"
    assert git(wt, "log", "--format=%s", "-3").splitlines() == ["y to -1", "x to 3", "init"]
    assert (wt / "prepare.py").read_text().startswith('"""The fixed harness')
    # the TSV speaks upstream's format; crashes are 0.000000 there, but have no metric in the ledger
    tsv = (wt / "results.tsv").read_text().splitlines()
    assert tsv[0] == "commit\tscore\tmemory_gb\tstatus\tdescription"
    assert tsv[4].split("\t")[1:4] == ["0.000000", "0.0", "crash"]
    kinds = [e.type for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert sum(1 for e in events if e.type == "experiment_finished") == 10
    ledger.close()
    check_invariants(run_dir)
    # the user's repo and working tree are untouched (worktrees live in the run dir)
    assert tree_checksum(fastws_repo) == before
    assert git(fastws_repo, "status", "--porcelain") == ""


def test_timeout_kills_grandchildren(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, extra="timeout_s = 1.5\n")
    agent = ScriptedAgent([Step("hang", edits={"train.py": {"MODE": '"hang"'}})])
    t0 = time.time()
    run_orchestra(cfg, {"fast": agent}, max_experiments=2)
    assert time.time() - t0 < 15
    assert leftover_processes(tmp_path / ".conductor") == []
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    last = ledger.experiments("fast")[-1]
    ledger.close()
    assert (last.status, last.reason, last.metric) == ("crash", "timeout", None)
    assert 1.4 < last.duration_s < 6


def test_two_panes_share_one_slot_and_stop_at_max(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, panes=2)
    orch, events = run_orchestra(cfg, max_experiments=5)
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    assert [p.name for p in ledger.panes()] == ["fast-1", "fast-2"]
    for pane in ("fast-1", "fast-2"):
        rows = ledger.experiments(pane)
        assert len(rows) == 5
        assert rows[0].is_baseline
        assert all(r.slot == "cpu0" for r in rows if r.status != "rejected")
    # one slot: no two experiments ever overlapped
    spans = sorted((r.started_at, r.finished_at) for r in ledger.experiments())
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.01
    done = [e for e in events if e.type == "pane_done"]
    assert {e.pane for e in done} == {"fast-1", "fast-2"}
    assert all("reached 5 experiments" in e.reason for e in done)
    ledger.close()
    check_invariants(tmp_path / ".conductor")


def _conductor(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conductor", *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kw
    )


def _trials(log: Path) -> int:
    """Complete trials in the study's trial log (agents/optuna_history.py): each number's last line."""
    last = {}
    for line in log.read_text().splitlines():
        row = json.loads(line)
        last[row["n"]] = row["state"]
    return sum(1 for state in last.values() if state == "complete")


def test_resume_continues_branch_counts_and_study(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws)
    first = _conductor("run", "-c", str(cfg), "--max-experiments", "4", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run_dir = tmp_path / ".conductor"
    status1 = json.loads(_conductor("status", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    journal = run_dir / "shared" / "fast" / "optuna-trials.jsonl"  # the workspace's one study (share_study)
    assert _trials(journal) == 4  # the baseline seeded into the study + 3 trials
    second = _conductor("run", "-c", str(cfg), "--max-experiments", "7", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "resuming run" in second.stdout
    assert "baseline" not in second.stdout  # the baseline is not run again
    status2 = json.loads(_conductor("status", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    p1, p2 = status1["panes"][0], status2["panes"][0]
    assert (p1["experiments"], p2["experiments"]) == (4, 7)
    assert p2["branch"] == p1["branch"] and p2["baseline"] == p1["baseline"]
    assert p2["best"] <= p1["best"]
    assert p2["tokens"] == {"input": 0, "output": 0, "cache_write": 0, "cache_read": 0} and p2["usd"] == 0
    assert _trials(journal) == 7  # the same study went on
    ledger = Ledger(run_dir / "ledger.db")
    proposed = [  # "X 0.5->1.2, Y 2.0->-3" -> the values tried, whatever the values before
        tuple(part.split("->")[-1] for part in r.description.split(", "))
        for r in ledger.experiments("fast")
        if not r.is_baseline
    ]
    ledger.close()
    assert len(set(proposed)) == len(proposed), proposed  # a restart does not replay the same trials
    check_invariants(run_dir)
    # a third run with the same limit does nothing but report the panes done
    third = _conductor("run", "-c", str(cfg), "--max-experiments", "7", cwd=tmp_path)
    assert third.returncode == 0 and "done: reached 7 experiments" in third.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_records_interrupted_experiment(tmp_path, fastws, sig):
    cfg = write_config(tmp_path, fastws)
    (fastws / "train.py").write_text((fastws / "train.py").read_text().replace("SLEEP = 0.05", "SLEEP = 30"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg)], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    deadline = time.time() + 30
    for line in proc.stdout:
        if "#1 running" in line or time.time() > deadline:
            break
    time.sleep(0.3)
    t0 = time.time()
    proc.send_signal(sig)
    rest = proc.stdout.read()
    assert proc.wait(timeout=20) == 130
    assert time.time() - t0 < 5
    assert "interrupted" in rest
    run_dir = tmp_path / ".conductor"
    ledger = Ledger(run_dir / "ledger.db")
    rows = ledger.experiments("fast")
    ledger.close()
    assert [r.status for r in rows] == ["interrupted"] and "interrupted" in rows[0].reason
    assert not rows[0].is_baseline  # so the baseline runs again next time
    check_invariants(run_dir)
    assert read_tsv(run_dir / "worktrees" / "fast" / "results.tsv")[0][3] == "crash"


def test_a_queued_pane_shows_how_many_are_ahead_as_the_queue_moves(tmp_path, fastws):
    """Four panes on one slot: a waiting pane's "queued (k ahead)" counts down while it waits,
    and the age of its wait is kept (same `since`) as k changes."""
    cfg = write_config(tmp_path, fastws, panes=4)
    orch, events = run_orchestra(cfg, max_experiments=3)
    queued = [e for e in events if e.type == "pane_state" and e.state == "queued"]
    waits: dict[tuple[str, float], list[int]] = {}
    for e in queued:
        waits.setdefault((e.pane, e.since), []).append(int(e.detail.split("(")[1].split()[0]))
    moving = [ks for ks in waits.values() if len(ks) > 1]
    assert moving, "no pane ever saw the queue move"
    assert any(ks[-1] < max(ks) for ks in moving)
    assert all(ks[i] >= ks[i + 1] for ks in moving for i in range(1, len(ks) - 1))


def test_agent_activity_survives_a_restart(tmp_path, fastws):
    """Activity lines go to the ledger; the next start replays each pane's last lines, marked
    `replayed` (the headless printer does not print them twice), then a restart marker."""
    cfg = write_config(tmp_path, fastws)
    _, first = run_orchestra(cfg, max_experiments=3)
    before = [(e.kind, e.text) for e in first if e.type == "agent_activity"]
    assert before
    _, second = run_orchestra(cfg, max_experiments=4)
    lines = [e for e in second if e.type == "agent_activity"]
    replayed = [(e.kind, e.text) for e in lines if e.replayed]
    assert replayed == before
    first_new = next(i for i, e in enumerate(lines) if not e.replayed)
    assert all(e.replayed for e in lines[:first_new])  # the old lines come first
    assert lines[first_new].text == "conductor restarted: the lines above are from before"
    _, third = run_orchestra(cfg, max_experiments=5)
    markers = [e for e in third if e.type == "agent_activity" and e.text.startswith("conductor restarted")]
    assert [e.replayed for e in markers] == [True, False]  # each restart stays in the history
    assert min(e.ts for e in lines if not e.replayed) >= max(e.ts for e in lines if e.replayed)
    import io

    from conductor.printer import Printer

    out = io.StringIO()
    for e in lines[:first_new]:
        Printer(out)(e)
        Printer(out, as_json=True)(e)
    assert out.getvalue() == ""


def test_each_experiment_is_credited_to_the_program_its_agent_followed(tmp_path, fastws):
    """The researcher edits program.md mid-run: experiments proposed before the agent read the
    new text stay with the old version; the ledger keeps both versions' texts."""
    from conductor.core.ledger_schema import program_sha

    class Reader(ScriptedAgent):
        async def run(self, session):
            program = Path(session.program_path)
            for i, step in enumerate(self.steps):
                if i == 2:
                    program.write_text("# v2: try bigger steps\n")  # the researcher's edit (`e`)
                if i != 2:  # the agent reads it only from the step after the edit
                    session.program_text()
                p = Path(session.worktree_path) / "train.py"
                p.write_text(set_constants(p.read_text(), step.edits["train.py"]))
                self.outcomes.append(await session.run_experiment(step.description))
            await asyncio.Event().wait()

    steps = [Step(f"x{i}", {"train.py": {"X": str(i / 2)}}) for i in range(4)]
    cfg = write_config(tmp_path, fastws)
    original = (fastws / "program.md").read_text()
    run_orchestra(cfg, {"fast": Reader(steps)}, max_experiments=5)
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        rows = ledger.experiments("fast")
        shas = [r.program_sha for r in rows]
        v1, v2 = program_sha(original), program_sha("# v2: try bigger steps\n")
        assert shas == [v1, v1, v1, v1, v2]  # baseline, x0, x1, x2 (proposed before reading v2), x3
        texts = {p.sha: p.text for p in ledger.programs()}
        assert texts[v1] == original and texts[v2] == "# v2: try bigger steps\n"
    finally:
        ledger.close()


def test_a_change_holding_a_secret_is_rejected_and_never_committed(tmp_path, fastws, monkeypatch):
    secret = "sk-ant-test-" + "9" * 24
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    steps = [Step("store the key", raw={"train.py": (fastws / "train.py").read_text() + f'\nKEY = "{secret}"\n'})]
    cfg = write_config(tmp_path, fastws)
    run_orchestra(cfg, {"fast": ScriptedAgent(steps)}, max_experiments=2)
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        row = ledger.experiments("fast")[-1]
    finally:
        ledger.close()
    assert row.status == "rejected" and "secret" in row.reason and "train.py" in row.reason
    repo = tmp_path / ".conductor" / "repos" / "fast"
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True)
    assert secret.encode() not in objects.stdout
    hits = [p for p in (tmp_path / ".conductor").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert hits == []


def test_the_run_dir_is_owner_only(tmp_path, fastws):
    import stat

    cfg = write_config(tmp_path, fastws)
    run_orchestra(cfg, max_experiments=2)
    run_dir = tmp_path / ".conductor"
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    for path in [run_dir / "ledger.db", *(run_dir / "logs").rglob("*.log")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_a_stop_records_running_experiments_as_interrupted_and_queued_ones_not_at_all(tmp_path, fastws):
    """Two panes on one slot, stopped while one runs and the other waits for the slot: the
    running one is an `interrupted` row (a crash in results.tsv, upstream's word), counted
    apart in status; the waiting one never started, so it is no row."""
    import asyncio

    from conductor.agents.base import create_agent
    from conductor.config import load_config
    from conductor.core.events import PaneState
    from conductor.core.orchestra import Orchestra
    from conductor.status import pane_status

    (fastws / "train.py").write_text((fastws / "train.py").read_text().replace("SLEEP = 0.05", "SLEEP = 30"))
    cfg = load_config(write_config(tmp_path, fastws, panes=2))
    orch = Orchestra(cfg, agent_factory=create_agent, telemetry=False)
    states: dict[str, str] = {}

    def on_event(event) -> None:
        if isinstance(event, PaneState):
            states[event.pane] = event.state
            if sorted(states.values()) == ["baseline", "queued"] or sorted(states.values()) == ["queued", "running"]:
                orch.stop()

    orch.bus.subscribe(on_event)
    orch.open()
    try:
        asyncio.run(asyncio.wait_for(orch.run(), 60))
    except asyncio.CancelledError:
        pass
    finally:
        orch.close()
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        rows = ledger.experiments()
        status = pane_status(ledger)
    finally:
        ledger.close()
    assert [(r.status, r.is_baseline) for r in rows] == [("interrupted", False)], rows
    assert rows[0].slot == "cpu0"
    assert status["totals"]["interrupted"] == 1 and status["totals"]["crash"] == 0
    check_invariants(tmp_path / ".conductor")
