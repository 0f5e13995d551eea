"""TUI load: the conductor app in a real terminal (tmux) under a synthetic event storm.

Ten panes, each with 100 activity lines/s and 10 token events/s, an experiment every few
seconds, telemetry at 1 Hz, for 60 s. Measured from outside: the app process's CPU (% of
one core) and resident memory, and key-to-screen latency (press a pane key, poll
`tmux capture-pane` until that pane shows as selected; median and p95 of 30 presses).
Run once with the timer-drained bridge (what the app does) and once with per-event widget
updates (the naive approach), so the ratio shows. `--mode real` drives the real orchestra
instead: a run dir with `--history` experiments of history (bench/scale_build.py: 10 optuna
panes on a fast workspace, 2 slots) resumed under the app as `conductor up` does, with the
same activity and token storm published on its bus beside what its panes really do.

    python bench/tui_load.py                 # both modes, 60 s each, prints a table
    python bench/tui_load.py --write         # ... and writes the "TUI load" section of bench/RESULTS.md
    python bench/tui_load.py --mode batched --seconds 20
    python bench/tui_load.py --mode real --history 50000

Targets (issue 3): <= 10% of one core, p95 key latency <= 100 ms, RSS <= 200 MB.
TUI_LOAD_DEBUG=1 also prints every key latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PANE_KEYS = "1234567890"
SIZE = (200, 50)
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## TUI load"


# ---------------------------------------------------------------- the child: app + synthetic engine


class SyntheticEngine:
    """The Orchestra's shape, driven by a clock instead of research: rates are exact over time."""

    def __init__(self, panes: int, activity_hz: float, token_hz: float, experiment_every_s: float):
        from conductor.core.bus import EventBus

        self.bus = EventBus()
        self.ledger = None
        self.names = [f"loop-{i + 1}" for i in range(panes)]
        self.activity_hz = activity_hz
        self.token_hz = token_hz
        self.experiment_every_s = experiment_every_s
        self.commands: list = []
        self.published = 0
        self._stop = False

    def command(self, cmd) -> None:
        self.commands.append(cmd)

    def stop(self, pane=None) -> None:
        self._stop = True

    def publish(self, event) -> None:
        self.published += 1
        self.bus.publish(event)

    async def run(self) -> None:
        from conductor.core import events as ev

        rng = random.Random(7)
        slots = ("gpu0", "gpu1", "gpu2", "gpu3")
        info = tuple(
            {
                "name": n,
                "workspace": "synthetic",
                "agent": "anthropic",
                "model": "claude-sonnet-4-5",
                "metric": "val_bpb",
                "goal": "min",
                "budget_s": 20.0,
                "program": "",
                "worktree": "",
                "log_dir": "",
            }
            for n in self.names
        )
        self.publish(ev.RunStarted(run="bench", run_dir="/tmp/bench", panes=info, slots=slots))
        start = time.time()
        sent = {"activity": 0, "tokens": 0, "telemetry": 0}
        seq = dict.fromkeys(self.names, 0)
        best = dict.fromkeys(self.names, 3.0)
        next_exp = {n: start + rng.uniform(0.5, self.experiment_every_s) for n in self.names}
        for n in self.names:
            self.publish(ev.PaneState(pane=n, state="thinking"))
        while not self._stop:
            now = time.time()
            elapsed = now - start
            due = int(elapsed * self.activity_hz) - sent["activity"]
            for _ in range(due):
                k = sent["activity"]
                for n in self.names:
                    self.publish(
                        ev.AgentActivity(
                            pane=n,
                            kind=("text", "tool", "result")[k % 3],
                            text=f"step {k}: considering the learning rate schedule and width",
                        )
                    )
                sent["activity"] += 1
            due = int(elapsed * self.token_hz) - sent["tokens"]
            for _ in range(due):
                for n in self.names:
                    self.publish(
                        ev.TokenUsage(
                            pane=n,
                            model="claude-sonnet-4-5",
                            input=900,
                            output=120,
                            cache_write=0,
                            cache_read=4000,
                            usd=0.0042,
                        )
                    )
                sent["tokens"] += 1
            if int(elapsed) > sent["telemetry"]:
                sent["telemetry"] = int(elapsed)
                for i, slot in enumerate(slots):
                    self.publish(
                        ev.SlotSample(
                            slot=slot,
                            kind="gpu",
                            busy=True,
                            pane=self.names[i],
                            util=rng.uniform(60, 99),
                            mem_used_mb=rng.uniform(2e4, 7e4),
                            mem_total_mb=81559.0,
                        )
                    )
                self.publish(ev.HostSample(cpu_percent=rng.uniform(20, 60), mem_used_mb=9000, mem_total_mb=32000))
                self.publish(
                    ev.TokenRates(
                        pane="",
                        in_per_s=49000.0,
                        out_per_s=1200.0,
                        usd_per_h=151.0,
                        usd_total=0.0042 * 10 * sent["tokens"],
                    )
                )
            for n in self.names:
                if now >= next_exp[n]:
                    next_exp[n] = now + self.experiment_every_s
                    seq[n] += 1
                    metric = best[n] + rng.uniform(-0.05, 0.08)
                    status = "keep" if metric < best[n] else rng.choice(("discard", "discard", "crash"))
                    if status == "crash":
                        metric = None
                    prev = best[n]
                    if status == "keep":
                        best[n] = metric
                    self.publish(
                        ev.ExperimentStarted(
                            pane=n, seq=seq[n], commit=f"{seq[n]:040x}", description="tune", slot="gpu0", budget_s=20.0
                        )
                    )
                    self.publish(
                        ev.ExperimentFinished(
                            pane=n,
                            seq=seq[n],
                            commit=f"{seq[n]:040x}",
                            status=status,
                            metric_name="val_bpb",
                            metric=metric,
                            best=best[n],
                            baseline=3.0,
                            delta=None if metric is None else metric - prev,
                            description=f"idea {seq[n]}: WIDTH {rng.randint(64, 256)}",
                            reason="",
                            duration_s=20.0,
                        )
                    )
                    self.publish(ev.PaneState(pane=n, state="running", deadline=time.time() + 20.0))
            await asyncio.sleep(0.01)
        self.publish(ev.RunFinished(reason="stopped"))


class StormOver:
    """A real orchestra, with the synthetic storm's activity and token events on its bus too."""

    def __init__(self, orchestra, activity_hz: float, token_hz: float):
        self._orch = orchestra
        self.activity_hz = activity_hz
        self.token_hz = token_hz
        self.published = 0

    def __getattr__(self, name: str):
        return getattr(self._orch, name)

    async def run(self) -> None:
        storm = asyncio.create_task(self._storm())
        try:
            await self._orch.run()
        finally:
            storm.cancel()

    async def _storm(self) -> None:
        from conductor.core import events as ev

        names, start, sent = list(self._orch.panes), time.time(), {"activity": 0, "tokens": 0}
        while True:
            elapsed = time.time() - start
            for _ in range(int(elapsed * self.activity_hz) - sent["activity"]):
                for n in names:
                    self._orch.bus.publish(ev.AgentActivity(pane=n, kind="text", text="considering the schedule"))
                    self.published += 1
                sent["activity"] += 1
            for _ in range(int(elapsed * self.token_hz) - sent["tokens"]):
                for n in names:
                    self._orch.bus.publish(
                        ev.TokenUsage(
                            pane=n, model="m", input=900, output=120, cache_write=0, cache_read=4000, usd=0.0042
                        )
                    )
                    self.published += 1
                sent["tokens"] += 1
            await asyncio.sleep(0.01)


def child(args: argparse.Namespace) -> int:
    from conductor.ui.app import ConductorApp

    if args.mode == "real":
        from conductor.agents.base import create_agent
        from conductor.config import load_config
        from conductor.core.orchestra import Orchestra

        orchestra = Orchestra(load_config(Path(args.config)), agent_factory=create_agent)
        orchestra.open()
        engine = StormOver(orchestra, args.activity_hz, args.token_hz)
    else:
        engine = SyntheticEngine(args.panes, args.activity_hz, args.token_hz, args.experiment_every_s)
    app = ConductorApp(engine=engine, refresh_hz=args.refresh_hz)
    if args.mode == "naive":
        from tui_naive import per_event

        per_event(app)
    started = time.time()
    try:
        app.run()
    finally:
        if args.mode == "real":
            engine.close()
    stats = {"published": engine.published, "seconds": time.time() - started}
    Path(args.stats).write_text(json.dumps(stats))
    return 0


# ---------------------------------------------------------------- the parent: tmux, psutil, keys


class Tmux:
    def __init__(self, socket: str):
        self.socket = socket

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "load")


def selected(screen: str) -> str | None:
    m = re.search(r"▶(\d)", screen)
    return m.group(1) if m else None


def measure(mode: str, seconds: float, panes: int, rates: dict, config: Path | None = None) -> dict:
    import psutil

    socket = f"conductor-bench-{os.getpid()}-{mode}"
    tmux = Tmux(socket)
    workdir = Path(tempfile.mkdtemp(prefix="tui-load-"))
    stats_path = workdir / "stats.json"
    pid_path = workdir / "pid"
    cmd = (
        f"echo $$ > {pid_path}; exec {sys.executable} {Path(__file__).resolve()} --child --mode {mode} "
        f"--panes {panes} --stats {stats_path} --activity-hz {rates['activity_hz']} "
        f"--token-hz {rates['token_hz']} --experiment-every-s {rates['experiment_every_s']} "
        f"--refresh-hz {rates['refresh_hz']}" + (f" --config {config}" if config else "")
    )
    subprocess.run(
        [
            "tmux",
            "-L",
            socket,
            "new-session",
            "-d",
            "-s",
            "load",
            "-x",
            str(SIZE[0]),
            "-y",
            str(SIZE[1]),
            "sh",
            "-c",
            cmd,
        ],
        check=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (pid_path.exists() and "1-9 0 pane" in tmux.screen()):
            time.sleep(0.2)
        proc = psutil.Process(int(pid_path.read_text().strip()))
        time.sleep(3.0)  # warm up: imports done, first layout drawn
        psutil.cpu_percent(None)  # start the whole-machine meter: other work on the cores skews latency
        cpu0, t0 = proc.cpu_times(), time.monotonic()
        rss: list[float] = []
        latencies: list[float] = []
        missed = 0
        presses = 30
        gap = seconds / presses
        current = selected(tmux.screen()) or "1"
        for i in range(presses):
            slot_end = t0 + (i + 1) * gap
            key = PANE_KEYS[(PANE_KEYS.index(current) + 1 + i % 3) % min(panes, 10)]
            sent = time.monotonic()
            tmux("send-keys", "-t", "load", key)
            while True:
                if selected(tmux.screen()) == key:
                    latencies.append(time.monotonic() - sent)
                    current = key
                    break
                if time.monotonic() - sent > 5.0:
                    missed += 1
                    break
                time.sleep(0.005)
            rss.append(proc.memory_info().rss / 2**20)
            while time.monotonic() < slot_end:
                time.sleep(min(1.0, slot_end - time.monotonic()))
                rss.append(proc.memory_info().rss / 2**20)
        cpu1, t1 = proc.cpu_times(), time.monotonic()
        machine = psutil.cpu_percent(None) * (psutil.cpu_count() or 1)
        cpu = 100.0 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (t1 - t0)
        tmux("send-keys", "-t", "load", "q")
        time.sleep(1.0)
        tmux("send-keys", "-t", "load", "y")
        try:
            proc.wait(timeout=30)
        except psutil.TimeoutExpired:
            proc.kill()
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    finally:
        tmux("kill-server")
        shutil.rmtree(workdir, ignore_errors=True)
    latencies.sort()
    if os.environ.get("TUI_LOAD_DEBUG"):
        print("latencies ms:", [round(1000 * x) for x in latencies], file=sys.stderr)
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * len(latencies))) - 1)] if latencies else None
    return {
        "mode": mode,
        "seconds": round(t1 - t0, 1),
        "cpu_percent": round(cpu, 1),
        "rss_mb_max": round(max(rss), 1),
        "latency_ms_median": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p95": round(1000 * p95, 1) if p95 is not None else None,
        "presses": len(latencies),
        "missed": missed,
        "events_per_s": round(stats.get("published", 0) / max(1.0, stats.get("seconds", 1.0)), 0),
        "others_percent": round(max(0.0, machine - cpu), 0),
    }


def table(results: list[dict]) -> str:
    head = (
        "| mode | CPU (% of one core) | RSS max (MB) | key latency median (ms) | p95 (ms) | presses seen | events/s "
        "| rest of the machine (% of one core) |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['mode']} | {r['cpu_percent']} | {r['rss_mb_max']} | {r['latency_ms_median']} | "
            f"{r['latency_ms_p95']} | {r['presses']}/30 | {r['events_per_s']:.0f} | {r['others_percent']:.0f} |"
        )
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) only the "TUI load" section of bench/RESULTS.md."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip() + "\n\n", old, count=1)
    else:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    RESULTS.write_text(new, encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("batched", "naive", "both", "real"), default="both")
    p.add_argument("--history", type=int, default=50_000, help="with --mode real: experiments already in the run")
    p.add_argument("--config", default="", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--panes", type=int, default=10)
    p.add_argument("--activity-hz", type=float, default=100.0)
    p.add_argument("--token-hz", type=float, default=10.0)
    p.add_argument("--experiment-every-s", type=float, default=4.0)
    p.add_argument("--refresh-hz", type=float, default=2.0, help="the app's drain/redraw rate")
    p.add_argument("--write", action="store_true", help="write the TUI load section of bench/RESULTS.md")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--stats", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    if shutil.which("tmux") is None:
        print("tmux is required", file=sys.stderr)
        return 2
    rates = {
        "activity_hz": args.activity_hz,
        "token_hz": args.token_hz,
        "experiment_every_s": args.experiment_every_s,
        "refresh_hz": args.refresh_hz,
    }
    modes = ("batched", "naive") if args.mode == "both" else (args.mode,)
    config = None
    if args.mode == "real":
        from scale_build import build_run

        config = build_run(Path(tempfile.mkdtemp(prefix="tui-load-run-")), args.history, args.panes, REPO)
    results = []
    for mode in modes:
        print(f"running {mode} for {args.seconds:.0f} s ...", file=sys.stderr)
        results.append(measure(mode, args.seconds, args.panes, rates, config))
        print(json.dumps(results[-1]), file=sys.stderr)
    out = table(results)
    print(out)
    if args.write:
        machine = f"{os.cpu_count()}-core {platform.machine()} VM, no GPU, Python {platform.python_version()}"
        ratio = ""
        if len(results) == 2 and results[0]["cpu_percent"]:
            ratio = (
                f"\nPer-event updates cost {results[1]['cpu_percent'] / results[0]['cpu_percent']:.1f}x the CPU "
                "of the timer-drained bridge."
            )
        text = (
            f"{SECTION}\n\n"
            f"`python bench/tui_load.py --write` ({time.strftime('%Y-%m-%d')}, {machine}; tmux {SIZE[0]}x{SIZE[1]}; "
            f"{args.panes} panes x {args.activity_hz:g} activity lines/s + {args.token_hz:g} token events/s, an "
            f"experiment per pane every {args.experiment_every_s:g} s, telemetry at 1 Hz; {args.seconds:g} s per mode; "
            "the event source runs inside the app process, so its CPU is included).\n"
            "Targets: <= 10% of one core, p95 key latency <= 100 ms, RSS <= 200 MB.\n\n"
            f"{out}\n{ratio}\n\n"
            "batched: the bus subscriber only appends to buffers; a 2 Hz timer drains them in one batch "
            "update; state changes and results draw at every tick, ages, meters, activity tails and the "
            "top bar at 1 Hz; a pane key changes the app's selection, not Textual focus (moving focus "
            "restyled two card subtrees and cost ~100 ms frames). naive (bench/tui_naive.py): every event is folded "
            "and redraws its card and the top bar at once.\n"
        )
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
