"""A real run notifies a webhook on 127.0.0.1 through apprise, and no URL secret is recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, write_config

sys.path.insert(0, str(FIXTURES))
from webhook_server import WebhookServer  # noqa: E402

SECRET = "s3cr3tT0kenXYZ"


def test_a_run_notifies_the_webhook_and_masks_the_url(tmp_path, fastws):
    with WebhookServer() as server:
        url = f"json://127.0.0.1:{server.port}/hook/{SECRET}"
        hook = tmp_path / "hook.txt"
        extra = f'\n[notify]\nurls = ["{url}"]\nbatch_s = 0\ncommand = "echo $CONDUCTOR_NOTIFY_EVENTS >> {hook}"\n'
        cfg = write_config(tmp_path, fastws, extra=extra)
        run = subprocess.run(
            [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--max-experiments", "4"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        got = server.wait_for(1)
    assert got, "no notification reached the webhook"
    assert all(path == f"/hook/{SECRET}" for path, _ in got)
    messages = "\n".join(body["message"] for _, body in got)
    assert "run finished: all panes done" in messages
    assert "finished" in hook.read_text()
    run_dir = tmp_path / ".conductor"
    saved = (run_dir / "conductor.toml").read_text()
    assert SECRET not in saved and f"json://127.0.0.1:{server.port}/***" in saved
    status = subprocess.run(
        [sys.executable, "-m", "conductor", "status", "--runs-dir", str(run_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(status.stdout)["notify"]["urls"] == [f"json://127.0.0.1:{server.port}/***"]
    recorded = [run.stdout, run.stderr, status.stdout] + [
        p.read_text(errors="replace") for p in Path(run_dir).rglob("*") if p.is_file() and p.suffix in (".log", ".toml")
    ]
    assert not any(SECRET in text for text in recorded)
