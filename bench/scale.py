"""A week of history: what resume, the TUI and the readers cost at 500, 5,000 and 50,000 experiments.

Each run dir is made the way a real run leaves one, without running the experiments: the
real `conductor run` sets up 10 optuna panes on a fast workspace and runs their baselines;
then bench/scale_build.py writes the rest of the history straight into the ledger (rows
with summaries, two usage rows each, activity lines, telemetry samples), the tried commits
into the repo (git fast-import) with one loose ref per non-keep, one log per experiment,
and each pane's Optuna trials (6 knobs) into its study's files, as the optuna agent writes
them.

Then, with the conductor in `--tree` (default: this checkout), it times:

- resume: `conductor run` on the run dir until the first new experiment is recorded, and
  the process's peak RSS then;
- TUI in process (`up --in-process`, the demo): the app over an in-process orchestra
  (Textual's headless driver): first paint, history on screen (every pane's count as the
  ledger's), the first new experiment, and the worst event-loop lag from start to two seconds
  after it;
- `conductor up` (the default): the orchestra started in a process of its own, the app
  attached to it: the same stamps, the TUI's own loop lag, and the orchestra's loop lag as it
  measured it itself;
- `status`, `status --json`, `report`, `export` as subprocesses: wall time and peak RSS;
- `git for-each-ref` over the run's refs;

and prints each figure's growth from the smallest size to the largest.

    python bench/scale.py                            # 500, 5000, 50000; this checkout
    python bench/scale.py --sizes 500,5000 --tree /tmp/old --json old.json
    python bench/scale.py --keep /tmp/scale          # build once into /tmp/scale, reuse later

Targets at 50k (issue 15): resume <= 3 s, RSS <= 120 MiB, report <= 5 s, status <= 150 ms,
history on screen <= 1 s, loop lag <= 100 ms; growth 500 -> 50k <= 3x for resume, status, RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale_build import build_run  # noqa: E402

PANES = 10
TARGETS = {
    "resume_s": 3.0,
    "resume_rss_mib": 120.0,
    "report_s": 5.0,
    "status_s": 0.150,
    "tui_history_after_paint_s": 1.0,  # the cards blank after the first paint (the issue: 4.3 s)
    "tui_loop_lag_ms": 100.0,  # `conductor up --in-process` (and the demo): the TUI and the orchestra on one loop
    "up_history_after_paint_s": 1.0,
    "up_orchestra_lag_ms": 100.0,  # `conductor up`: the orchestra's own loop, the TUI attached from another process
}
GROWTH_LIMITED = ("resume_s", "status_s", "resume_rss_mib")
USED = ".measured"


def env_for(tree: Path) -> dict[str, str]:
    """The tree's conductor, with its bytecode cached as an installed one's is (a shell that
    sets PYTHONDONTWRITEBYTECODE would otherwise compile every module at every start)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(tree), "CONDUCTOR_NO_UPDATE_CHECK": "1"}


def timed(cmd: list[str], tree: Path, cwd: Path) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds) of one run of `cmd`; it must succeed. On a
    shared machine the CPU seconds say what the wall time would be unloaded. The peak RSS is
    what /usr/bin/time reports: a child forked from this (large) process would count its
    parent's pages in its own rusage."""
    rss_file = cwd / ".maxrss"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *cmd],
        cwd=cwd,
        env=env_for(tree),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.read().decode()[-800:]}")
    rss_kib = int(rss_file.read_text().split()[-1])
    return wall, rss_kib / 1024, usage.ru_utime + usage.ru_stime


def best_of(n: int, cmd: list[str], tree: Path, cwd: Path) -> tuple[float, float, float]:
    runs = [timed(cmd, tree, cwd) for _ in range(n)]
    return min(w for w, _, _ in runs), max(r for _, r, _ in runs), min(c for _, _, c in runs)


def cpu_s(pid: int) -> float:
    """CPU seconds a live process has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def resume(cfg: Path, tree: Path) -> tuple[float, float, float]:
    """`conductor run` until its first new experiment is recorded: (seconds, peak RSS MiB, CPU
    seconds it used by then)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--json"],
        cwd=cfg.parent,
        env=env_for(tree),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        for line in proc.stdout:
            if '"experiment_finished"' in line:
                return time.perf_counter() - t0, peak_rss_mib(proc.pid), cpu_s(proc.pid)
        raise SystemExit("conductor run ended before a new experiment")
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def child_stamps(script: str, cfg: Path, tree: Path, expected: int) -> tuple[float, dict]:
    """Run a bench child (scale_tui.py, scale_attach.py) on the run dir: (its launch time, the
    JSON line it printed last)."""
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, str(HERE / script), str(cfg), str(expected)],
        cwd=cfg.parent,
        env=env_for(tree),
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{script} failed: {out.stderr[-1500:]}")
    return t0, json.loads(out.stdout.strip().splitlines()[-1])


def tui(cfg: Path, tree: Path, expected: int) -> dict:
    """The app over an in-process orchestra (bench/scale_tui.py), as `conductor up --in-process` is."""
    t0, r = child_stamps("scale_tui.py", cfg, tree, expected)
    return {
        "tui_first_paint_s": r["first_paint"] - t0,
        "tui_history_s": r["history"] - t0 if r["history"] else float("nan"),
        "tui_history_after_paint_s": r["history"] - r["first_paint"] if r["history"] else float("nan"),
        "tui_history_cpu_s": r["history_cpu"] if r["history"] else float("nan"),
        "tui_first_experiment_s": r["first_experiment"] - t0 if r["first_experiment"] else float("nan"),
        "tui_loop_lag_ms": r["worst_lag_ms"],
        "tui_rss_mib": r["rss_mib"],
    }


def attached(cfg: Path, tree: Path, expected: int) -> dict:
    """`conductor up` as it runs by default (bench/scale_attach.py): the orchestra in a process
    of its own, the TUI attached; the orchestra's loop lag as it measured it itself."""
    t0, r = child_stamps("scale_attach.py", cfg, tree, expected)
    return {
        "up_first_paint_s": r["first_paint"] - t0,
        "up_history_after_paint_s": r["history"] - r["first_paint"] if r["history"] else float("nan"),
        "up_first_experiment_s": r["first_experiment"] - t0 if r["first_experiment"] else float("nan"),
        "up_orchestra_lag_ms": r["orchestra_worst_lag_ms"],
        "up_tui_lag_ms": r["tui_worst_lag_ms"],
        "up_tui_rss_mib": r["rss_mib"],
    }


def restore(dest: Path, pristine: Path) -> None:
    """Put the run dir back as built (same absolute paths: worktrees and the ledger name them)."""
    shutil.rmtree(dest)
    subprocess.run(["cp", "-a", str(pristine), str(dest)], check=True)


def measure(dest: Path, pristine: Path | None, tree: Path, expected: int, repeats: int) -> dict:
    if pristine is not None and (dest / USED).exists():  # an earlier measurement resumed it: back to as built
        restore(dest, pristine)
    (dest / USED).touch()
    cfg = dest / "conductor.toml"
    run_dir = dest / "run"
    py = [sys.executable, "-m", "conductor"]
    out: dict[str, float] = {}
    out["status_s"], out["status_rss_mib"], out["status_cpu_s"] = best_of(
        repeats, [*py, "status", "-c", str(cfg)], tree, cfg.parent
    )
    out["status_json_s"], out["status_json_rss_mib"], out["status_json_cpu_s"] = best_of(
        repeats, [*py, "status", "-c", str(cfg), "--json"], tree, cfg.parent
    )
    out["report_s"], out["report_rss_mib"], out["report_cpu_s"] = timed(
        [*py, "report", "-c", str(cfg), "-o", str(cfg.parent / "report")], tree, cfg.parent
    )
    out["export_s"], out["export_rss_mib"], out["export_cpu_s"] = timed(
        [*py, "export", "-c", str(cfg), "-o", str(cfg.parent / "export.csv")], tree, cfg.parent
    )
    repo = run_dir / "repos" / "s"
    t0 = time.perf_counter()
    subprocess.run(["git", "-C", str(repo), "for-each-ref", "refs/conductor"], capture_output=True, check=True)
    out["for_each_ref_s"] = time.perf_counter() - t0
    out["resume_s"], out["resume_rss_mib"], out["resume_cpu_s"] = resume(cfg, tree)
    out.update(tui(cfg, tree, expected))  # over the resumed dir: its history is the built one, and a few rows more
    out.update(attached(cfg, tree, expected))
    return out


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def growth_table(results: dict[int, dict]) -> str:
    sizes = sorted(results)
    keys = list(results[sizes[0]])
    head = f"{'figure':<24}" + "".join(f"{s:>12,}" for s in sizes) + f"{'growth':>9}{'target':>10}"
    lines = [head]
    for k in keys:
        vals = [results[s].get(k, float("nan")) for s in sizes]
        first, last = vals[0], vals[-1]
        growth = last / first if first and first == first else float("nan")
        target = TARGETS.get(k)
        mark = f"{target:g}" if target is not None else ""
        if k in GROWTH_LIMITED:
            mark += " /3x"
        lines.append(f"{k:<24}" + "".join(f"{v:>12.3f}" for v in vals) + f"{growth:>8.1f}x{mark:>10}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="500,5000,50000")
    ap.add_argument("--tree", default=str(HERE.parent), help="the conductor checkout to time")
    ap.add_argument("--keep", default=None, metavar="DIR", help="build into DIR/<size> once, reuse it after")
    ap.add_argument("--repeats", type=int, default=3, help="runs of status (best taken)")
    ap.add_argument("--json", default=None, metavar="FILE", help="write the figures there too")
    args = ap.parse_args()
    tree = Path(args.tree).resolve()
    # byte-compiled, as an install leaves it
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "conductor")], check=True)
    base = Path(args.keep) if args.keep else Path(subprocess.check_output(["mktemp", "-d"], text=True).strip())
    results: dict[int, dict] = {}
    loads = {}
    print(f"run dirs in {base}", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        dest = base / str(size)
        pristine = base / f"{size}.pristine" if args.keep else None  # to measure the same dir again later
        if pristine is None or not (pristine / "conductor.toml").is_file():
            shutil.rmtree(dest, ignore_errors=True)
            t0 = time.perf_counter()
            build_run(dest, size, PANES, tree)
            print(f"built {size:,} experiments in {time.perf_counter() - t0:.1f} s", flush=True)
            if pristine is not None:
                subprocess.run(["cp", "-a", str(dest), str(pristine)], check=True)
        loads[size] = uptime()
        results[size] = measure(dest, pristine, tree, size, args.repeats)
        print(
            f"{size:,}: {json.dumps({k: round(v, 4) for k, v in results[size].items()})}  [{loads[size]}]", flush=True
        )
    print(f"\ntree {tree}\n{growth_table(results)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"tree": str(tree), "results": results, "load": loads}, indent=1))


if __name__ == "__main__":
    main()
