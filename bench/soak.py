"""Soak: 8 panes on a fast workspace with random crashes and timeouts, and kill -9 of
conductor itself at random moments, for 20 minutes. Reports experiments completed,
restarts, invariant violations (target 0), and conductor's RSS and open fds over time
(they must stay flat).

    python bench/soak.py [--minutes 20] [--panes 8] [--slots 2]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time

import psutil
from _common import REPO, fast_workspace, machine, tmpdir

sys.path.insert(0, str(REPO / "tests" / "integration"))
from engine_helpers import check_invariants  # noqa: E402

from conductor.core.ledger import Ledger  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--panes", type=int, default=8)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--kill-every", type=float, default=180, help="mean seconds between kill -9s")
    args = ap.parse_args()
    rng = random.Random(7)
    tmp = tmpdir()
    ws = fast_workspace(tmp, 0.3)
    train = ws / "train.py"
    train.write_text(train.read_text().replace('MODE = "ok"', 'MODE = "chaos"').replace("NOISE = 0.0", "NOISE = 0.3"))
    cfg = tmp / "conductor.toml"
    cfg.write_text(
        f'[conductor]\nslots = {args.slots}\n\n[[workspace]]\nname = "soak"\npath = "{ws}"\npanes = {args.panes}\n'
        f'agent = {{ kind = "optuna" }}\ntime_budget_s = 1\ntimeout_s = 3\ncrash_limit = 1000\n'
    )
    run_dir = tmp / ".conductor"
    log = open(tmp / "conductor.log", "w")  # noqa: SIM115
    end = time.time() + args.minutes * 60
    restarts, violations, samples = 0, [], []
    while time.time() < end:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conductor", "run", "-c", str(cfg)], cwd=tmp, stdout=log, stderr=subprocess.STDOUT
        )
        me = psutil.Process(proc.pid)
        born = time.time()
        deadline = min(end, time.time() + rng.expovariate(1 / args.kill_every))
        while time.time() < deadline and proc.poll() is None:
            try:
                if time.time() - born > 10:  # past start-up: imports, setup, baselines
                    samples.append((time.time(), me.memory_info().rss / 2**20, me.num_fds(), restarts))
            except psutil.Error:
                pass
            time.sleep(5)
        if time.time() >= end:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        restarts += 1
        # restart: reconcile only, then check the invariants
        subprocess.run(
            [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--max-experiments", "1"],
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
        try:
            check_invariants(run_dir)
        except AssertionError as exc:
            violations.append(str(exc))
    try:
        check_invariants(run_dir)
    except AssertionError as exc:
        violations.append(str(exc))
    ledger = Ledger(run_dir / "ledger.db")
    rows = ledger.experiments()
    ledger.close()
    by = {s: sum(1 for r in rows if r.status == s) for s in ("keep", "discard", "crash", "rejected")}
    timeouts = sum(1 for r in rows if r.reason == "timeout")
    print(f"machine: {machine()}")
    print(
        f"{args.minutes:g} min, {args.panes} panes, {args.slots} slots: {len(rows)} experiments {by}, {timeouts} timeouts"
    )
    print(f"kill -9 restarts: {restarts}; invariant violations: {len(violations)}")
    for v in violations[:5]:
        print("  violation:", v)
    if samples:
        first, last = samples[: max(1, len(samples) // 10)], samples[-max(1, len(samples) // 10) :]
        avg = lambda xs, i: sum(x[i] for x in xs) / len(xs)  # noqa: E731
        print(
            f"conductor RSS: first 10% {avg(first, 1):.0f} MiB, last 10% {avg(last, 1):.0f} MiB, max {max(s[1] for s in samples):.0f} MiB"
        )
        print(
            f"conductor fds: first 10% {avg(first, 2):.0f}, last 10% {avg(last, 2):.0f}, max {max(s[2] for s in samples)}"
        )
        # within one process's life (what must stay flat), for lives of at least two minutes
        lives: dict[int, list] = {}
        for sample in samples:
            lives.setdefault(sample[3], []).append(sample)
        for n, life in sorted(lives.items()):
            span = life[-1][0] - life[0][0]
            if span >= 120:
                print(
                    f"  life {n}: {span / 60:.1f} min, RSS {life[0][1]:.0f} -> {life[-1][1]:.0f} MiB"
                    f" (max {max(x[1] for x in life):.0f}), fds {life[0][2]} -> {life[-1][2]}"
                )
    print(f"ledger size: {(run_dir / 'ledger.db').stat().st_size / 2**20:.2f} MiB; run dir {tmp}")


if __name__ == "__main__":
    main()
