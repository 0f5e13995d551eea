"""Build a run dir with N experiments of history the way a real run leaves it, in seconds.

The real `conductor run` (of the tree under test) sets the run up: 10 optuna panes on a
fast workspace with 6 knobs, their worktrees, branches, programs and baselines. The rest of
the history is then written directly, as the engine would have written it:

- ledger: one row per experiment (1 keep in 16, crashes, rejected edits, discards), with a
  summary block like tinygpt's, two usage rows each (the token rows an LLM agent leaves),
  2,500 activity lines a pane (the table between two trims), a telemetry sample a minute
  per slot;
- git: every tried commit (git fast-import, a real tree per commit); a keep advances the
  pane's branch, every other commit stays under its ref refs/conductor/<run>/<pane>/<seq>:
  loose, as a conductor without core/git_upkeep.py leaves them, or packed by one that has it;
- logs/<pane>/<seq>-<commit>.log for every experiment, and each worktree's results.tsv;
- the standings fold (core/standings_keeper.py) a run's stop saves, when that conductor keeps one;
- each pane's Optuna study: agents/<pane>/optuna.journal as Optuna's JournalStorage writes
  it (create, one op per parameter, the result), and agents/<pane>/optuna-trials.jsonl, the
  compact trial log the windowed study (conductor/agents/optuna_history.py) keeps.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FASTWS = REPO / "tests" / "fixtures" / "fastws"
KNOBS = ("X", "Y", "A", "B", "C", "D")
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
WORKER = "bench-scale-0000"
STEP_S = 120.0  # one experiment a pane every two minutes: 5,000 a pane is a week
SUMMARY_KEYS = ("training_seconds", "total_seconds", "peak_vram_mb", "mfu_percent", "total_tokens_M", "num_steps")


def workspace(dest: Path) -> Path:
    ws = dest / "ws"
    shutil.copytree(FASTWS, ws, ignore=shutil.ignore_patterns("__pycache__"))
    train = ws / "train.py"
    text = train.read_text().replace("SLEEP = 0.05", "SLEEP = 0.0")
    text = text.replace("Y = 2.0\n", "Y = 2.0\nA = 0.0\nB = 0.0\nC = 0.0\nD = 0.0\n")
    train.write_text(text)
    toml = ws / "workspace.toml"
    extra = "".join(f'\n[[knob]]\nname = "{k}"\ntype = "float"\nlow = -5.0\nhigh = 5.0\n' for k in KNOBS[2:])
    toml.write_text(toml.read_text() + extra)
    return ws


def config(dest: Path, ws: Path, panes: int) -> Path:
    path = dest / "conductor.toml"
    path.write_text(
        f'[conductor]\nruns_dir = "{dest / "run"}"\nslots = 2\nsandbox = "off"\n\n'
        f'[[workspace]]\nname = "s"\npath = "{ws}"\npanes = {panes}\n'
        'agent = { kind = "optuna" }\ntime_budget_s = 5\ntimeout_s = 60\n'
    )
    return path


def set_up(cfg: Path, tree: Path) -> None:
    """The real conductor: worktrees, ledger, programs, and each pane's baseline."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--max-experiments", "1"]
    out = subprocess.run(cmd, cwd=cfg.parent, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"set-up run failed: {out.stdout[-1000:]}{out.stderr[-1000:]}")


def knob_text(template: str, values: dict[str, float]) -> str:
    lines = []
    for line in template.splitlines():
        name = line.split(" = ", 1)[0]
        lines.append(f"{name} = {values[name]:.4g}" if name in values and " = " in line else line)
    return "\n".join(lines) + "\n"


class PaneHistory:
    """One pane's planned experiments: status, metric, knob values, commit mark."""

    def __init__(self, rng: random.Random, name: str, count: int, baseline: float, t0: float):
        self.name = name
        self.rows: list[dict] = []
        best = baseline
        for i in range(count):
            seq = i + 2  # the baseline is seq 1
            roll = rng.random()
            status = "keep" if roll < 1 / 16 else "crash" if roll < 0.16 else "rejected" if roll < 0.2 else "discard"
            values = {k: rng.uniform(-5, 5) for k in KNOBS}
            if status == "keep":
                metric = best - abs(rng.gauss(0, 0.01)) * best
                best = metric
            elif status == "discard":
                metric = best + abs(rng.gauss(0, 0.05))
            else:
                metric = None
            start = t0 + seq * STEP_S
            self.rows.append(
                {
                    "seq": seq,
                    "status": status,
                    "metric": metric,
                    "values": values,
                    "started_at": start,
                    "finished_at": start + STEP_S * 0.8,
                    "trial": i + 1,  # trial 0 is the baseline, seeded into the study
                }
            )


def fast_import(repo: Path, run: str, panes: list[dict], histories: dict[str, PaneHistory], template: str) -> None:
    """Every tried commit into the repo; fills row["commit"] (a rejected edit names the best's)."""
    stream: list[str] = []
    mark = 0
    marks: dict[tuple[str, int], int] = {}
    for p in panes:
        best_ref = f":{0}"
        best_sha = p["head"]
        for r in histories[p["name"]].rows:
            if r["status"] == "rejected":
                continue
            mark += 1
            marks[(p["name"], r["seq"])] = mark
            body = knob_text(template, r["values"])
            msg = ", ".join(f"{k} {v:.4g}" for k, v in list(r["values"].items())[:2]) + "\n"
            ref = (
                f"refs/heads/conductor/{run}/{p['name']}"
                if r["status"] == "keep"
                else (f"refs/conductor/{run}/{p['name']}/{r['seq']:05d}")
            )
            parent = best_sha if best_ref == ":0" else best_ref
            stream += [
                f"commit {ref}",
                f"mark :{mark}",
                f"committer b <b@b> {int(r['finished_at'])} +0000",
                f"data {len(msg)}\n{msg}",
                f"from {parent}",
                f"M 644 inline train.py\ndata {len(body.encode())}\n{body}",
            ]
            if r["status"] == "keep":
                best_ref = f":{mark}"
    marks_file = repo.parent / f".{repo.name}.marks"
    subprocess.run(
        ["git", "fast-import", "--quiet", "--force", f"--export-marks={marks_file}"],
        cwd=repo,
        input="\n".join(stream) + "\n",
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    sha_of = dict(line.split() for line in marks_file.read_text().splitlines())
    marks_file.unlink()
    for p in panes:
        best = p["head"]
        for r in histories[p["name"]].rows:
            m = marks.get((p["name"], r["seq"]))
            r["commit"] = sha_of[f":{m}"] if m else best
            r["parent"] = best
            if r["status"] == "keep":
                best = r["commit"]
        p["best"] = best


def summary(rng: random.Random, r: dict) -> str:
    if r["metric"] is None:
        return "{}"
    s = {"score": r["metric"], **{k: round(rng.uniform(1, 1000), 3) for k in SUMMARY_KEYS}, "seed": 0.0}
    return json.dumps(s)


def write_ledger(db: sqlite3.Connection, histories: dict[str, PaneHistory], panes: list[dict], run_dir: Path) -> None:
    rng = random.Random(7)
    exp, usage, activity = [], [], []
    for p in panes:
        for r in histories[p["name"]].rows:
            log = run_dir / "logs" / p["name"] / f"{r['seq']:04d}-{r['commit'][:7]}.log"
            r["log"] = str(log)
            desc = ", ".join(f"{k} {v:.4g}" for k, v in r["values"].items())
            exp.append(
                (
                    p["name"], r["seq"], r["commit"], r["status"], r["metric"], desc,
                    "" if r["status"] in ("keep", "discard") else f"{r['status']}: exit 3",
                    r["parent"], 1.2, r["started_at"], r["finished_at"], f"cpu{r['seq'] % 2}", str(log),
                    None if r["status"] == "rejected" else (3 if r["status"] == "crash" else 0),
                    summary(rng, r), 0, f"trial:{r['trial']}", 0, p["program_sha"],
                )
            )  # fmt: skip
            for k in range(2):
                ts = r["started_at"] - 30 + k * 10
                usage.append(
                    (p["name"], ts, "claude-sonnet-4-5", f"req-{p['name']}-{r['seq']}-{k}", 3000, 400, 0, 0, 20000,
                     0.0171, "api")
                )  # fmt: skip
        last = histories[p["name"]].rows[-1]["finished_at"] if histories[p["name"]].rows else 0.0
        for k in range(2500):
            activity.append((p["name"], last - 2500 + k, "tool", f"trial {k}: X 0.1->0.2, Y 1->1.5 and more words"))
    samples = []
    t_first = min(r["started_at"] for h in histories.values() for r in h.rows[:1]) if exp else 0.0
    t_last = max(r["finished_at"] for h in histories.values() for r in h.rows[-1:]) if exp else 0.0
    t = t_first
    while t < t_last:
        samples += [(t, "cpu0", None, 0.9, None, None, None), (t, "cpu1", None, 0.9, None, None, None)]
        t += 60
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO experiments (pane, seq, commit_sha, status, metric, description, reason, parent_sha, memory_gb,"
        " started_at, finished_at, slot, log_path, exit_code, summary, is_baseline, agent_ref, seed, program_sha)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        exp,
    )
    db.executemany(
        "INSERT INTO usage (pane, ts, model, request_id, input, output, cache_write_5m, cache_write_1h, cache_read,"
        " usd, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        usage,
    )
    db.executemany("INSERT INTO activity (pane, ts, kind, text) VALUES (?,?,?,?)", activity)
    db.executemany(
        "INSERT INTO samples (ts, slot, pane, busy, util, mem_used_mb, temp_c) VALUES (?,?,?,?,?,?,?)", samples
    )
    db.execute("COMMIT")


def write_tsvs(run_dir: Path, tree: Path) -> None:
    """Each worktree's results.tsv level with the ledger, as the run that recorded the rows
    left it (one row appended an experiment), written by that conductor's own code."""
    code = (
        "import sys; from pathlib import Path; from conductor.core.ledger import Ledger;"
        " from conductor.core import results_tsv as t; ledger = Ledger(Path(sys.argv[1]) / 'ledger.db');"
        " [t.rewrite(Path(p.worktree) / t.FILENAME, p.metric, ledger.experiments(p.name)) for p in ledger.panes()];"
        " ledger.close()"
    )
    if (tree / "conductor" / "core" / "results_tsv.py").is_file():
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run([sys.executable, "-c", code, str(run_dir)], check=True, env=env)


def write_logs(histories: dict[str, PaneHistory]) -> None:
    for h in histories.values():
        for r in h.rows:
            metric = r["metric"] if r["metric"] is not None else 0.0
            text = "step 1/1\rstep 1/1 done\n" * 20 + f"---\nscore:            {metric:.6f}\npeak_vram_mb:     1228.8\n"
            if r["status"] == "crash":
                text = "Traceback (most recent call last):\nRuntimeError: boom\n"
            Path(r["log"]).write_text(text)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


DIST = json.dumps({"name": "FloatDistribution", "attributes": {"step": None, "low": -5.0, "high": 5.0, "log": False}})


def write_studies(run_dir: Path, histories: dict[str, PaneHistory], baselines: dict[str, float]) -> None:
    """Each pane's study: Optuna's journal (what JournalStorage would have appended) and the
    compact trial log of the windowed study."""
    for name, h in histories.items():
        agent_dir = run_dir / "agents" / name
        agent_dir.mkdir(parents=True, exist_ok=True)
        journal = [json.dumps({"op_code": 0, "worker_id": WORKER, "study_name": name, "directions": [1]})]
        compact, finished = [], []
        trials = [{"trial": 0, "values": dict.fromkeys(KNOBS, 0.0), "metric": baselines[name], "status": "keep",
                   "started_at": h.rows[0]["started_at"] - STEP_S if h.rows else 0.0}]  # fmt: skip
        trials += h.rows
        for r in trials:
            tid, start = r["trial"], r["started_at"]
            journal.append(
                json.dumps({"op_code": 4, "worker_id": WORKER, "study_id": 0, "datetime_start": _iso(start)})
            )
            for k in KNOBS:
                journal.append(
                    json.dumps(
                        {"op_code": 5, "worker_id": WORKER, "trial_id": tid, "param_name": k,
                         "param_value_internal": r["values"][k], "distribution": DIST}
                    )
                )  # fmt: skip
            done = r["metric"] is not None
            journal.append(
                json.dumps(
                    {"op_code": 6, "worker_id": WORKER, "trial_id": tid, "state": 1 if done else 3,
                     "values": [r["metric"]] if done else None, "datetime_complete": _iso(start + 96)}
                )
            )  # fmt: skip
            row = {"n": tid, "params": r["values"], "state": "complete" if done else "fail", "value": r["metric"]}
            compact.append(json.dumps(row))
            if done:
                finished.append(row)
        (agent_dir / "optuna.journal").write_text("\n".join(journal) + "\n")
        (agent_dir / "optuna-trials.jsonl").write_text("\n".join(compact) + "\n")
        best = sorted(finished, key=lambda t: t["value"])[:50]  # what TrialLog keeps beside it
        (agent_dir / "optuna-best.json").write_text(json.dumps(best))


def build_run(dest: Path, total: int, panes: int, tree: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    ws = workspace(dest)
    cfg = config(dest, ws, panes)
    set_up(cfg, tree)
    run_dir = dest / "run"
    db = sqlite3.connect(run_dir / "ledger.db", isolation_level=None)
    run = db.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()[0]
    rows = db.execute("SELECT name, worktree, program_sha FROM panes ORDER BY position").fetchall()
    infos = []
    for name, worktree, program_sha in rows:
        head = subprocess.run(["git", "-C", worktree, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        base = db.execute("SELECT metric, finished_at FROM experiments WHERE pane = ? AND seq = 1", (name,)).fetchone()
        infos.append({"name": name, "worktree": worktree, "program_sha": program_sha, "head": head.strip(),
                      "baseline": base[0], "t0": base[1]})  # fmt: skip
    rng = random.Random(total)
    per_pane = max(0, total // panes - 1)
    # the history ends where the set-up's baselines ran (now): they, and the run, began a week ago
    back = (per_pane + 2) * STEP_S
    db.execute("UPDATE experiments SET started_at = started_at - ?, finished_at = finished_at - ?", (back, back))
    db.execute("UPDATE panes SET created_at = created_at - ?", (back,))
    db.execute("UPDATE meta SET value = CAST(value AS REAL) - ? WHERE key = 'created_at'", (back,))
    db.execute("DELETE FROM meta WHERE key = 'standings_fold'")  # its rows moved: as a migration, drop it
    histories = {p["name"]: PaneHistory(rng, p["name"], per_pane, p["baseline"], p["t0"] - back) for p in infos}
    repo = run_dir / "repos" / "s"
    template = (Path(infos[0]["worktree"]) / "train.py").read_text()
    fast_import(repo, run, infos, histories, template)
    env = {**os.environ, **GIT_ENV}
    for p in infos:  # the branch moved under the worktree: check the best out, as a keep leaves it
        subprocess.run(["git", "-C", p["worktree"], "reset", "-q", "--hard", p["best"]], check=True, env=env)
    if (tree / "conductor" / "core" / "git_upkeep.py").is_file():  # that conductor packs as it goes
        subprocess.run(["git", "-C", str(repo), "pack-refs", "--all"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "repack", "-d", "-q"], check=True, env=env)
    write_ledger(db, histories, infos, run_dir)
    db.close()
    write_logs(histories)
    write_studies(run_dir, histories, {p["name"]: p["baseline"] for p in infos})
    write_tsvs(run_dir, tree)
    if (tree / "conductor" / "core" / "standings_keeper.py").is_file():  # its run's stop saves a fold
        keep = (
            "import sys; from conductor.core.ledger import Ledger; from conductor.core.standings_keeper import Keeper;"
        )
        keep += " Keeper(Ledger(sys.argv[1])).refresh(force=True)"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run([sys.executable, "-c", keep, str(run_dir / "ledger.db")], check=True, env=env)
    return cfg
