"""`conductor demo` in a real terminal: tmux at 160x48, real keys, the screen read back as text.

The bundled tinygpt workspace runs offline with the optuna agent. The test waits for the first
experiment row, then presses 2, Enter, Escape, n and q (confirming), checks the screen after
each key, and finally that the conductor and every process of its run are gone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

ROW = re.compile(r"\b(base|keep|disc|crash|rej)\s+\d+\.\d+")


class Tmux:
    def __init__(self, socket: str):
        self.socket = socket

    def __call__(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=60)
        return out.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "demo")

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "demo", *keys)

    def wait_for(self, what, timeout: float, step: float = 0.25) -> str:
        """Poll the screen until `what(screen)` is true; fail with the last screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if what(screen):
                return screen
            time.sleep(step)
        raise AssertionError(f"timed out after {timeout}s; the screen was:\n{screen}")


def wait_until(condition, timeout: float, step: float = 0.1) -> None:
    """Wait for something to happen (not for an amount of time): `timeout` only bounds a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {timeout}s"
        time.sleep(step)


def selected_pane(screen: str) -> str | None:
    m = re.search(r"▶(\d)", screen)
    return m.group(1) if m else None


def run_processes(runs_dir: Path, ignore: set[int]) -> list[psutil.Process]:
    """Processes of the run: the conductor (its command line names the run dir) and anything
    started in the run dir (experiments run in the worktrees). The tmux server and the pane's
    shell, which also carry the command line, are not the run's."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "name"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            cwd = proc.info["cwd"] or ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if proc.pid in ignore or (proc.info["name"] or "").startswith("tmux"):
            continue
        if str(runs_dir) in cmd or cwd.startswith(str(runs_dir)):
            found.append(proc)
    return found


@pytest.mark.timeout(480)  # the demo measures its noise floor first: three baseline runs a pane
def test_demo_in_tmux(tmp_path):
    runs_dir = tmp_path / "runs"
    socket = f"conductor-test-{os.getpid()}"
    tmux = Tmux(socket)
    conductor = Path(sys.executable).with_name("conductor")
    command = (
        f"cd {tmp_path} && PATH={conductor.parent}:$PATH env -u ANTHROPIC_API_KEY {conductor} demo --budget 5 "
        "--max-experiments 3 "
        f"--runs-dir {runs_dir}; echo CONDUCTOR_EXIT=$?; sleep 600"
    )
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "demo", "-x", "160", "-y", "48", command],
        check=True,
        timeout=10,
    )
    try:
        shell = int(tmux("display-message", "-p", "-t", "demo", "#{pane_pid}").strip())
        screen = tmux.wait_for(lambda s: ROW.search(s), timeout=360)
        assert run_processes(runs_dir, {shell}), "the conductor should be running now"
        assert "conductor" in screen and "tinygpt-1" in screen and "tinygpt-2" in screen
        assert selected_pane(screen) == "1"

        tmux.keys("2")
        screen = tmux.wait_for(lambda s: selected_pane(s) == "2", timeout=60)

        tmux.keys("Enter")
        screen = tmux.wait_for(lambda s: "experiments" in s and "program.md" in s, timeout=60)
        assert "tinygpt-2" in screen.splitlines()[0]
        screen = tmux.wait_for(lambda s: "commit " in s or "baseline" in s, timeout=60)

        tmux.keys("Escape")
        screen = tmux.wait_for(lambda s: "A-N pane" in s and "tinygpt-1" in s, timeout=60)
        flagged = set(re.findall(r"(\d) tinygpt-\d+ · \S+ ●", screen))

        tmux.keys("n")
        if flagged:
            screen = tmux.wait_for(lambda s: selected_pane(s) in flagged, timeout=60)
        else:
            screen = tmux.wait_for(lambda s: "no pane needs attention" in s or selected_pane(s) != "2", timeout=60)

        finished = "run finished" in tmux.screen()
        tmux.keys("q")
        screen = tmux.wait_for(lambda s: "Stop them and quit?" in s or "CONDUCTOR_EXIT=" in s, timeout=60)
        if not finished:  # 3 experiments of 5 s per pane: the loops are still running here
            assert "Stop them and quit?" in screen and "loop(s) are running" in screen
            tmux.keys("y")
        screen = tmux.wait_for(lambda s: "CONDUCTOR_EXIT=" in s, timeout=60)
        assert "CONDUCTOR_EXIT=0" in screen

        deadline = time.monotonic() + 10
        while run_processes(runs_dir, {shell}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert run_processes(runs_dir, {shell}) == []
        status = subprocess.run(
            [str(conductor), "status", "--runs-dir", str(runs_dir), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0 and '"tinygpt-1"' in status.stdout
    finally:
        tmux("kill-server")


def test_e_suspends_for_the_editor_and_the_loops_keep_running(tmp_path):
    """`e` in a real terminal: the app gives the terminal to $EDITOR, the engine keeps running
    experiments meanwhile, and the screen comes back with the reload acknowledged. The agent is
    a command that follows program.md (an optuna pane would say it cannot)."""
    fastws = Path(__file__).resolve().parents[1] / "fixtures" / "fastws"
    runs_dir = tmp_path / "runs"
    agent = tmp_path / "agent.py"
    agent.write_text(
        "import random, re, subprocess\n"
        "while True:\n"
        "    text = open('train.py').read()\n"
        "    x = round(random.uniform(-5, 5), 3)\n"
        "    open('train.py', 'w').write(re.sub(r'^X = .*$', f'X = {x}', text, count=1, flags=re.M))\n"
        "    subprocess.run(['conductor', 'exp', '-m', f'X {x}'])\n"
    )
    (tmp_path / "conductor.toml").write_text(
        f'[conductor]\nruns_dir = "{runs_dir}"\n\n[[workspace]]\npath = "{fastws}"\n'
        f'agent = {{ kind = "command", command = "{sys.executable} {agent}" }}\n'
    )
    editor = tmp_path / "editor.sh"
    release = tmp_path / "release-the-editor"  # the editor stays open until the test has seen experiments run
    editor.write_text(
        f'#!/bin/sh\necho "EDITOR OPEN $1"\nwhile [ ! -e {release} ]; do sleep 0.05; done\n'
        'echo "Prefer small steps." >> "$1"\n'
    )
    editor.chmod(0o755)
    socket = f"conductor-test-e-{os.getpid()}"
    tmux = Tmux(socket)
    conductor = Path(sys.executable).with_name("conductor")
    command = (
        f"cd {tmp_path} && PATH={conductor.parent}:$PATH EDITOR={editor} {conductor} up -c conductor.toml"
        " --max-experiments 400; "
        "echo CONDUCTOR_EXIT=$?; sleep 600"
    )
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "demo", "-x", "160", "-y", "48", command],
        check=True,
        timeout=10,
    )
    try:
        tmux.wait_for(lambda s: ROW.search(s), timeout=60)
        tmux.keys("e")
        tmux.wait_for(lambda s: "EDITOR OPEN" in s and "fastws.md" in s, timeout=60)
        from conductor.core.ledger import Ledger

        ledger = Ledger(runs_dir / "ledger.db", readonly=True)
        try:  # the engine records experiments while the editor has the terminal
            before = len(ledger.experiments("fastws"))
            wait_until(lambda: len(ledger.experiments("fastws")) > before, timeout=120)
        finally:
            ledger.close()
        release.touch()
        tmux.wait_for(lambda s: "A-N pane" in s, timeout=60)  # the screen is back
        # the reload acknowledged: the card's activity line, read where it is kept (on screen it
        # scrolls away within a second at this workspace's pace, faster than a loaded poll)
        ledger = Ledger(runs_dir / "ledger.db", readonly=True)
        try:
            wait_until(
                lambda: any("program.md changed" in row[-1] for row in ledger.recent_activity("fastws", 2000)),
                timeout=60,
            )
        finally:
            ledger.close()
        assert "Prefer small steps." in (runs_dir / "programs" / "fastws.md").read_text()
        tmux.keys("q")  # `up` is a client of its orchestra: q asks whether to stop it or detach
        screen = tmux.wait_for(lambda s: "stop the orchestra (s)" in s or "CONDUCTOR_EXIT=" in s, timeout=60)
        if "stop the orchestra (s)" in screen:
            tmux.keys("s")
        assert "CONDUCTOR_EXIT=0" in tmux.wait_for(lambda s: "CONDUCTOR_EXIT=" in s, timeout=60)
        from conductor.core.control_client import socket_path

        assert not socket_path(runs_dir).exists()  # the orchestra has stopped, not only the TUI
    finally:
        tmux("kill-server")


def test_closing_the_terminal_stops_an_in_process_run_and_leaves_no_process(tmp_path):
    """`up --in-process` and SIGHUP (the terminal window closed, ssh dropped): the run stops as
    with q, experiments in flight are killed and recorded, and the conductor exits even though
    it has no tty left."""
    fastws = Path(__file__).resolve().parents[1] / "fixtures" / "fastws"
    runs_dir = tmp_path / "runs"
    (tmp_path / "conductor.toml").write_text(
        f'[conductor]\nruns_dir = "{runs_dir}"\n\n[[workspace]]\npath = "{fastws}"\nagent = {{ kind = "optuna" }}\n'
        "panes = 2\n"
    )
    socket = f"conductor-test-hup-{os.getpid()}"
    tmux = Tmux(socket)
    conductor = Path(sys.executable).with_name("conductor")
    command = f"cd {tmp_path} && exec {conductor} up --in-process -c conductor.toml --max-experiments 5000"
    subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "demo", "-x", "120", "-y", "40", command],
        check=True,
        timeout=10,
    )
    try:
        tmux.wait_for(lambda s: ROW.search(s), timeout=60)
        app = psutil.Process(int(tmux("display-message", "-p", "-t", "demo", "#{pane_pid}").strip()))
        assert "conductor" in " ".join(app.cmdline())  # exec: the pane's process is the conductor
        # one more experiment started after the one on screen (a pid file while it runs): closed
        # now, it is a row whether it finishes or is cut short; one that never started would not be
        wait_until(lambda: any((runs_dir / "pids").glob("*.pid")), timeout=60, step=0.02)
    finally:
        tmux("kill-server")
    try:
        app.wait(timeout=30)
    except psutil.TimeoutExpired:
        app.kill()
        raise AssertionError("the conductor did not exit after its terminal closed") from None
    deadline = time.monotonic() + 10
    while run_processes(runs_dir, set()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run_processes(runs_dir, set()) == []
    from conductor.core.ledger import Ledger

    ledger = Ledger(runs_dir / "ledger.db", readonly=True)
    try:
        rows = ledger.experiments()
    finally:
        ledger.close()
    assert len(rows) >= 2 and not (runs_dir / "pids" / "fastws-1.pid").exists()


def pane_totals(screen: str) -> dict[str, int]:
    """Experiments per pane as its card counts them (K+D+C+R, the baseline apart)."""
    totals = {}
    names = re.findall(r"\d (fastws-\d) · optuna", screen)  # card titles, not the slot line's holder
    counts = re.findall(r"K(\d+) D(\d+) C(\d+) R(\d+)", screen)
    for name, c in zip(names, counts, strict=False):
        totals[name] = sum(int(x) for x in c)
    return totals


def test_a_detached_run_outlives_its_terminal_and_a_new_one_attaches(tmp_path):
    """`conductor up` in tmux (the orchestra in a process of its own, the TUI attached); close
    the whole tmux server mid-run (the terminal is gone); the orchestra goes on; `conductor up`
    from a new tmux server attaches and finds every experiment recorded meanwhile, on screen
    and in the ledger, until the run finishes."""
    ws = tmp_path / "fastws"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "fastws", ws)
    train = ws / "train.py"
    train.write_text(train.read_text().replace("SLEEP = 0.05", "SLEEP = 0.3"))
    runs_dir = tmp_path / "runs"
    (tmp_path / "conductor.toml").write_text(
        f'[conductor]\nruns_dir = "{runs_dir}"\ncpu_slots = 1\n\n[[workspace]]\npath = "{ws}"\n'
        'agent = { kind = "optuna" }\npanes = 2\n'
    )
    conductor = Path(sys.executable).with_name("conductor")
    first = Tmux(f"conductor-test-d1-{os.getpid()}")
    command = f"cd {tmp_path} && {conductor} up -c conductor.toml --max-experiments 60; echo ATTACH_EXIT=$?; sleep 600"
    subprocess.run(
        ["tmux", "-L", first.socket, "new-session", "-d", "-s", "demo", "-x", "160", "-y", "48", command],
        check=True,
        timeout=10,
    )
    from conductor.core.control_client import request, socket_path
    from conductor.core.ledger import Ledger

    def recorded() -> list:
        ledger = Ledger(runs_dir / "ledger.db", readonly=True)
        try:
            return ledger.experiments()
        finally:
            ledger.close()

    second = Tmux(f"conductor-test-d2-{os.getpid()}")
    orchestra = 0
    try:
        first.wait_for(lambda s: ROW.search(s) and "fastws-2" in s, timeout=90)
        orchestra = int((runs_dir / "lock").read_text())  # the run dir's lock holds the orchestra's pid
    finally:
        first("kill-server")  # the terminal goes away: the attached TUI gets SIGHUP and detaches
    try:
        at_close = len(recorded())
        wait_until(lambda: len(recorded()) > at_close, timeout=120)  # experiments go on with no terminal at all
        assert psutil.pid_exists(orchestra), "the orchestra died with the terminal"
        assert request(runs_dir, {"type": "hello"})["panes"] == ["fastws-1", "fastws-2"]
        meanwhile = len(recorded())
        subprocess.run(
            [
                "tmux",
                "-L",
                second.socket,
                "new-session",
                "-d",
                "-s",
                "demo",
                "-x",
                "160",
                "-y",
                "48",
                f"cd {tmp_path} && {conductor} up -c conductor.toml; echo ATTACH_EXIT=$?; sleep 600",
            ],
            check=True,
            timeout=10,
        )  # `up` on a run dir with a live orchestra attaches to it
        second.wait_for(lambda s: "while you were away" in s, timeout=60)  # what happened since the last look
        second.keys("Escape")
        screen = second.wait_for(lambda s: "run finished" in s and "while you were away" not in s, timeout=120)
        rows = recorded()
        for pane in ("fastws-1", "fastws-2"):
            seqs = [r.seq for r in rows if r.pane == pane]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{pane}: a gap in {seqs}"
        shown = pane_totals(screen)
        assert shown == {
            p: sum(1 for r in rows if r.pane == p and not r.is_baseline) for p in ("fastws-1", "fastws-2")
        }, screen
        assert sum(shown.values()) + 2 == len(rows) >= meanwhile
        second.keys("q")
        assert "ATTACH_EXIT=0" in second.wait_for(lambda s: "ATTACH_EXIT=" in s, timeout=20)
        deadline = time.monotonic() + 20
        while psutil.pid_exists(orchestra) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not psutil.pid_exists(orchestra) and not socket_path(runs_dir).exists()
    finally:
        second("kill-server")
        if psutil.pid_exists(orchestra):
            subprocess.run([str(conductor), "stop", "--runs-dir", str(runs_dir)], timeout=60)
