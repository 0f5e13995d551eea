"""Experiments' logs through the whole orchestra (tests/fixtures/fastws): conductor's secrets
are kept from the experiment and masked in its log, and the summary block counts wherever
it is in the output."""

from __future__ import annotations

from pathlib import Path

from conftest import write_config
from engine_helpers import ScriptedAgent, Step, run_orchestra

from conductor.core.ledger import Ledger

PASS_VALUE = "hunter2-but-much-longer-0123"
DB_VALUE = "postgres://app:s3cret-pw@db.internal/prod"


def experiments(run_dir: Path):
    ledger = Ledger(run_dir / "ledger.db")
    try:
        return ledger.experiments("fast")
    finally:
        ledger.close()


def test_secrets_of_conductor_stay_out_of_the_experiment_and_its_log(tmp_path, fastws, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_PASS", PASS_VALUE)
    monkeypatch.setenv("DB_CONNECTION", DB_VALUE)  # secret only by the config's `secret_names`
    cfg = write_config(tmp_path, fastws)
    cfg.write_text(cfg.read_text().replace("[conductor]\n", '[conductor]\nsecret_names = ["DB_*"]\n'))
    train = (fastws / "train.py").read_text()
    # the experiment knows the values another way (spelled backwards in its source) and
    # prints them in pieces, flushed apart, along with what its environment holds
    leaky = train.replace(
        'print("---")',
        "\n".join(
            (
                'print("env:", os.environ.get("MY_SERVICE_PASS"), os.environ.get("DB_CONNECTION"), flush=True)',
                f"for s in ({PASS_VALUE[::-1]!r}, {DB_VALUE[::-1]!r}):",
                "    s = s[::-1]",
                '    sys.stdout.write("leak " + s[:7]); sys.stdout.flush(); time.sleep(0.2)',
                '    sys.stdout.write(s[7:] + "\\n"); sys.stdout.flush()',
                'print("---")',
            )
        ),
    )
    steps = [Step("leaks", raw={"train.py": leaky.replace("X = 0.5", "X = 1.0")})]
    run_orchestra(cfg, {"fast": ScriptedAgent(steps)}, max_experiments=2)
    rows = experiments(tmp_path / ".conductor")
    assert rows[1].status == "keep"
    log = Path(rows[1].log_path).read_bytes()
    assert b"env: None None" in log
    assert log.count(b"leak [redacted]\n") == 2
    for path in (tmp_path / ".conductor" / "logs").rglob("*"):
        if path.is_file():
            assert PASS_VALUE.encode() not in path.read_bytes() and DB_VALUE.encode() not in path.read_bytes()


def test_a_summary_followed_by_300_kb_of_output_is_judged_by_its_metric(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws)
    train = (fastws / "train.py").read_text()
    chatty = train + '\nfor i in range(300):\n    print("shutting down", i, "." * 1000)\n'
    steps = [Step("chatty teardown", raw={"train.py": chatty.replace("X = 0.5", "X = 1.0")})]
    run_orchestra(cfg, {"fast": ScriptedAgent(steps)}, max_experiments=2)
    rows = experiments(tmp_path / ".conductor")
    assert [(r.description, r.status, r.metric) for r in rows[1:]] == [("chatty teardown", "keep", 14.0)]
    assert Path(rows[1].log_path).stat().st_size > 300_000
