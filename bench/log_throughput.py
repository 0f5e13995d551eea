"""What it costs that conductor writes experiments' logs itself (core/logfile.py).

A fast-printing child runs through the old path (its stdout and stderr are the log file)
and through `run_process`'s pipe (redacted by five secrets, summary tracked; once with a
cap above the output, once with the default 64 MiB cap cutting), interleaved so machine load
hits all alike. Per path: the child's wall time, output MB/s, and the CPU of the conductor
process (this one: event loop and log thread) while it streams.

Children: `bulk` writes 1 MiB at a time as fast as it can; `lines` prints short lines,
flushing each (a chatty training loop: one write per line).

    python bench/log_throughput.py [--mb 400] [--lines 300000] [--runs 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine  # noqa: E402
from conductor.core.experiment import run_process  # noqa: E402
from conductor.core.secrets import Redactor  # noqa: E402

BULK = """
import sys
chunk = (("x" * 1023 + "\\n") * 1024).encode()
for _ in range({mb}):
    sys.stdout.buffer.write(chunk)
sys.stdout.buffer.flush()
print("---"); print("score: 1.0")
"""
LINES = """
for i in range({lines}):
    print(f"step {{i:>8}} | loss: {{1.0 / (i + 1):.6f}} | lr: 0.0003 | dt: 12ms", flush=True)
print("---"); print("score: 1.0")
"""
SECRETS = {f"BENCH_SECRET_{i}_KEY": f"sk-bench-{i}-{'q' * (20 + i)}" for i in range(5)}


async def direct(command: str, cwd: Path, log_path: Path) -> None:
    """The path before: the child's stdout and stderr are the log file itself."""
    with open(log_path, "wb") as log:
        proc = await asyncio.create_subprocess_shell(
            command, cwd=cwd, stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True
        )
    await proc.wait()


async def piped(command: str, cwd: Path, log_path: Path, cap: int) -> None:
    result = await run_process(
        command,
        cwd=cwd,
        env=dict(os.environ),
        log_path=log_path,
        timeout_s=600,
        redactor=Redactor(SECRETS),
        max_log_bytes=cap,
    )
    assert result.summary == {"score": 1.0}, result.summary


def cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def measure(path: str, command: str, cwd: Path) -> dict[str, float]:
    log_path = cwd / f"{path}.log"
    run = {
        "direct": lambda: direct(command, cwd, log_path),
        "pipe": lambda: piped(command, cwd, log_path, cap=2**40),
        "pipe+cap": lambda: piped(command, cwd, log_path, cap=64 * 2**20),
    }[path]
    wall0, me0, kids0 = time.perf_counter(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    asyncio.run(run())
    wall = time.perf_counter() - wall0
    out = {
        "wall_s": wall,
        "conductor_cpu_s": cpu(resource.RUSAGE_SELF) - me0,
        "child_cpu_s": cpu(resource.RUSAGE_CHILDREN) - kids0,
        "log_mb": log_path.stat().st_size / 2**20,
    }
    log_path.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=400, help="MiB the bulk child writes")
    ap.add_argument("--lines", type=int, default=300_000, help="lines the chatty child prints")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    print(f"machine: {machine()}; load average before: {os.getloadavg()[0]:.2f}")
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="logbench-") as tmp:
        cwd = Path(tmp)
        children = {"bulk": (BULK.format(mb=args.mb), args.mb), "lines": (LINES.format(lines=args.lines), None)}
        for name, (code, _) in children.items():
            (cwd / f"{name}.py").write_text(code)
        for name, (_, mb) in children.items():
            command = f"{sys.executable} {cwd / name}.py"
            runs: dict[str, list[dict[str, float]]] = {"direct": [], "pipe": [], "pipe+cap": []}
            for _ in range(args.runs):
                for path in runs:
                    runs[path].append(measure(path, command, cwd))
            out_mb = mb if mb is not None else runs["direct"][0]["log_mb"]
            results[name] = {}
            print(f"\n{name}: {out_mb:.0f} MiB of output, median of {args.runs}")
            print(
                f"  {'path':<9} {'wall s':>7} {'MiB/s':>7} {'conductor CPU s':>16} {'CPU %':>6} {'child CPU s':>12} {'log MiB':>8}"
            )
            for path, rows in runs.items():
                med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
                med["mib_per_s"] = out_mb / med["wall_s"]
                med["conductor_cpu_pct"] = 100 * med["conductor_cpu_s"] / med["wall_s"]
                results[name][path] = med
                print(
                    f"  {path:<9} {med['wall_s']:>7.2f} {med['mib_per_s']:>7.0f} {med['conductor_cpu_s']:>16.2f}"
                    f" {med['conductor_cpu_pct']:>6.0f} {med['child_cpu_s']:>12.2f} {med['log_mb']:>8.1f}"
                )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
