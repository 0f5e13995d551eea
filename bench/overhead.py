"""Per-experiment orchestration overhead on a branch with 1,000 commits.

Overhead = wall time of `run_experiment` minus the experiment process's own lifetime:
guard (git status + protected hashes), commit, slot lease, judge, ledger, results.tsv,
and the keep-ref + reset of a discard. Target: median <= 150 ms.

    python bench/overhead.py [--experiments 40] [--commits 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import time
from pathlib import Path

from _common import config, fast_workspace, machine, median, pct, run_for, tmpdir

GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}


def deep_repo(ws: Path, commits: int) -> None:
    """Turn `ws` into a repo whose HEAD has `commits` ancestors (via git fast-import)."""
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=ws, check=True, env=env)
    lines = []
    for i in range(1, commits + 1):
        body = f"history {i}\n"
        msg = f"commit {i}\n"
        lines.append("commit refs/heads/main")
        lines.append(f"committer b <b@b> {1700000000 + i} +0000")
        lines.append(f"data {len(msg)}\n{msg}")
        lines.append(f"M 644 inline history.txt\ndata {len(body)}\n{body}")
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=ws, input="\n".join(lines) + "\n", text=True, check=True, env=env
    )
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=ws, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=ws, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "workspace"], cwd=ws, check=True, env=env)


class TimingAgent:
    kind = "timing"

    def __init__(self, limit: int, samples: list[float], done: asyncio.Event | None = None):
        self.limit = limit
        self.samples = samples

    async def run(self, session) -> None:
        for i in itertools.count():
            if i >= self.limit:
                await asyncio.Event().wait()
            path = Path(session.worktree_path) / "train.py"
            value = 3.0 - 1.0 / (i + 2) if i % 4 == 0 else -4.0  # one keep in four
            text = "\n".join(f"X = {value}" if ln.startswith("X = ") else ln for ln in path.read_text().splitlines())
            path.write_text(text + "\n")
            t0 = time.perf_counter()
            outcome = await session.run_experiment(f"x={value}")
            self.samples.append((time.perf_counter() - t0 - outcome.duration_s) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiments", type=int, default=40)
    ap.add_argument("--commits", type=int, default=1000)
    args = ap.parse_args()
    tmp = tmpdir()
    ws = fast_workspace(tmp, 0.0)
    deep_repo(ws, args.commits)
    depth = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=ws, capture_output=True, text=True).stdout
    cfg = config(tmp, ws, panes=1, slots=1)
    samples: list[float] = []
    run_for(cfg, 2.0 + args.experiments * 0.5, lambda _c: TimingAgent(args.experiments, samples))
    print(f"machine: {machine()}")
    print(f"branch depth {depth.strip()} commits, {len(samples)} experiments (1 keep in 4)")
    print(
        f"overhead per experiment: median {median(samples):.1f} ms, p95 {pct(samples, 0.95):.1f} ms   (target median <= 150 ms)"
    )


if __name__ == "__main__":
    main()
