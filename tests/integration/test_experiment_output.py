"""An experiment's output through conductor to its log: redacted, capped, live, and the run
still ends when its processes do (real subprocesses through `run_process`)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import textwrap
from pathlib import Path

import psutil

from conductor.core.experiment import experiment_env, run_process
from conductor.core.secrets import SecretNames, redactor_for

SECRET = "sk-live-0123456789abcdefXYZ"
MARKER = re.compile(rb"\n\[conductor: +(\d+) bytes of output cut here \(max_log_mb\)\]\n")


def child(tmp_path: Path, code: str) -> str:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    return f"{sys.executable} {script}"


def run(tmp_path: Path, command: str, *, timeout_s: float = 60, **kw):
    kw.setdefault("env", dict(os.environ))
    return asyncio.run(
        asyncio.wait_for(
            run_process(command, cwd=tmp_path, log_path=tmp_path / "run.log", timeout_s=timeout_s, **kw),
            timeout=timeout_s + 30,  # a hang fails the test instead of blocking the suite
        )
    )


def test_a_secret_of_conductor_printed_in_pieces_never_reaches_the_log(tmp_path):
    """The experiment cannot see conductor's secrets in its env, but may get one another way
    (here a file): printed in two writes, it is still masked in the log."""
    (tmp_path / "leak.txt").write_text(SECRET)
    conductor_env = {**os.environ, "MY_SERVICE_PASS": SECRET, "DB_URL": "postgres://u:pw@db/x"}
    names = SecretNames(["DB_URL"])
    env = experiment_env(conductor_env, {}, {}, names)
    assert "MY_SERVICE_PASS" not in env and "DB_URL" not in env and env["PATH"] == os.environ["PATH"]
    command = child(
        tmp_path,
        """
        import os, sys, time
        secret = open("leak.txt").read()
        print("env:", os.environ.get("MY_SERVICE_PASS"), os.environ.get("DB_URL"), flush=True)
        for cut in (3, 11, len(secret) - 1):
            sys.stdout.write("key=" + secret[:cut]); sys.stdout.flush(); time.sleep(0.15)
            sys.stderr.write(secret[cut:] + "\\n"); sys.stderr.flush(); time.sleep(0.15)
        print("url postgres://u:pw@db/x")
        print("---"); print("score: 1.0")
        """,
    )
    result = run(tmp_path, command, env=env, redactor=redactor_for(conductor_env, ["DB_URL"]))
    log = (tmp_path / "run.log").read_bytes()
    assert SECRET.encode() not in log and b"pw@db" not in log
    assert log.count(b"key=[redacted]\n") == 3 and b"url [redacted]" in log
    assert b"env: None None" in log
    assert result.summary == {"score": 1.0}


def test_200_mb_of_output_leave_a_capped_log_and_the_metric(tmp_path):
    command = child(
        tmp_path,
        """
        import sys
        print("first line")
        chunk = ("x" * 1023 + "\\n") * 1024
        for _ in range(200):
            sys.stdout.write(chunk)
        print("---"); print("score: 3.5")
        for i in range(300):
            print("teardown chatter", i, "y" * 1000)
        """,
    )
    cap = 4 * 2**20
    result = run(tmp_path, command, max_log_bytes=cap)
    log = (tmp_path / "run.log").read_bytes()
    assert len(log) <= cap
    m = MARKER.search(log)
    assert m and log.startswith(b"first line\nxxx") and int(m.group(1)) > 200 * 2**20 - cap
    assert log.endswith(b"teardown chatter 299 " + b"y" * 1000 + b"\n")
    assert result.exit_code == 0 and result.summary == {"score": 3.5}


def test_a_summary_then_300_kb_of_output_is_judged_by_its_metric(tmp_path):
    command = child(
        tmp_path,
        """
        print("---"); print("score: 2.0")
        for i in range(300):
            print("z" * 1023)
        """,
    )
    assert run(tmp_path, command).summary == {"score": 2.0}


def test_the_log_grows_while_the_experiment_runs(tmp_path):
    """The child waits until the test has seen its first line in the log: no deadlock means live."""
    command = child(
        tmp_path,
        """
        import os, time
        print("first", flush=True)
        while not os.path.exists("go"):
            time.sleep(0.02)
        print("---"); print("score: 1.0")
        """,
    )

    async def scenario():
        task = asyncio.create_task(
            run_process(command, cwd=tmp_path, env=dict(os.environ), log_path=tmp_path / "run.log", timeout_s=30)
        )
        while not (tmp_path / "run.log").exists() or b"first" not in (tmp_path / "run.log").read_bytes():
            assert not task.done()
            await asyncio.sleep(0.02)
        (tmp_path / "go").touch()
        return await task

    result = asyncio.run(scenario())
    assert result.exit_code == 0 and result.summary == {"score": 1.0}


def test_binary_output_is_logged_byte_for_byte(tmp_path):
    blob = os.urandom(3 * 2**20) + b"\xff\xfe bad \xc3\x28 bytes\n"
    (tmp_path / "blob.bin").write_bytes(blob)
    command = child(tmp_path, "import sys; sys.stdout.buffer.write(open('blob.bin', 'rb').read())")
    result = run(tmp_path, command, redactor=redactor_for({"API_KEY": SECRET}))
    assert result.exit_code == 0
    assert (tmp_path / "run.log").read_bytes() == blob


def test_a_child_that_closes_its_output_early_still_runs_to_its_end(tmp_path):
    command = child(
        tmp_path,
        """
        import os, time
        print("bye", flush=True)
        os.close(1); os.close(2)
        time.sleep(0.5)
        open("finished", "w").close()
        """,
    )
    result = run(tmp_path, command)
    assert result.exit_code == 0 and (tmp_path / "finished").exists()
    assert (tmp_path / "run.log").read_bytes() == b"bye\n"


def test_a_process_holding_the_pipe_after_the_leader_exits_does_not_hang_the_run(tmp_path):
    """One straggler stays in the group (killed with it), one leaves it with setsid and no
    tag: the run ends after the leader, the pipe is let go after a short drain."""
    command = child(
        tmp_path,
        """
        import subprocess, sys
        code = "import os, time; open(os.environ['PIDFILE'], 'w').write(str(os.getpid())); time.sleep(600)"
        subprocess.Popen([sys.executable, "-c", code], env={"PIDFILE": "in_group.pid"})
        subprocess.Popen([sys.executable, "-c", code], env={"PIDFILE": "escaped.pid"}, start_new_session=True)
        import time
        while not (__import__("os").path.exists("in_group.pid") and __import__("os").path.exists("escaped.pid")):
            time.sleep(0.02)
        print("---"); print("score: 4.0")
        """,
    )
    try:
        result = run(tmp_path, command, timeout_s=60)
        assert result.exit_code == 0 and result.summary == {"score": 4.0}
        assert not result.timed_out
        in_group = int((tmp_path / "in_group.pid").read_text())
        assert not psutil.pid_exists(in_group) or psutil.Process(in_group).status() == psutil.STATUS_ZOMBIE
    finally:
        escaped = int((tmp_path / "escaped.pid").read_text())
        os.kill(escaped, signal.SIGKILL)


def test_a_timeout_still_kills_the_group_and_keeps_what_it_printed(tmp_path):
    command = child(
        tmp_path,
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("---"); print("score: 1.0", flush=True)
        time.sleep(600)
        """,
    )
    result = run(tmp_path, command, timeout_s=1.0)
    assert result.timed_out and result.exit_code is None and result.summary == {}
    assert b"score: 1.0" in (tmp_path / "run.log").read_bytes()
