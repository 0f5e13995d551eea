"""Does the offline demo do real research? Baseline vs best val_bpb after 12 experiments.

Runs exactly `conductor demo --headless --panes 1 --max-experiments 12` in a fresh run dir
and reads `conductor status --json`. Target: best at least 2% below the baseline.

    python bench/demo_gain.py [--experiments 12] [--budget 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import machine, tmpdir


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiments", type=int, default=12)
    ap.add_argument("--budget", type=float, default=None, help="seconds; default: the workspace's own (20)")
    args = ap.parse_args()
    runs = tmpdir() / "demo"
    cmd = [
        sys.executable,
        "-m",
        "conductor",
        "demo",
        "--headless",
        "--panes",
        "1",
        "--max-experiments",
        str(args.experiments),
        "--runs-dir",
        str(runs),
        "--agent",
        "optuna",
    ]
    if args.budget:
        cmd += ["--budget", str(args.budget)]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"demo failed ({proc.returncode}): {proc.stderr[-2000:]}")
    lines = [
        ln
        for ln in proc.stdout.splitlines()
        if "#" in ln and ("keep" in ln or "discard" in ln or "crash" in ln or "baseline" in ln)
    ]
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "conductor", "status", "--runs-dir", str(runs), "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    pane = status["panes"][0]
    gain = (pane["baseline"] - pane["best"]) / pane["baseline"] * 100
    print(f"machine: {machine()}")
    print("\n".join(lines))
    print(
        f"{pane['experiments']} experiments in {wall / 60:.1f} min: keep {pane['keep']}, discard {pane['discard']}, crash {pane['crash']}"
    )
    print(f"baseline val_bpb {pane['baseline']:.4f} -> best {pane['best']:.4f}: {gain:.1f}% lower   (target >= 2%)")


if __name__ == "__main__":
    main()
