"""The notifier: which events notify, batching and the hourly cap, a sender that never blocks
the publisher, and URLs' secrets masked."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from conductor.config.masking import mask_url
from conductor.config.schema import NotifyConfig
from conductor.core.events import Alert, ExperimentFinished, PaneState, RunFinished
from conductor.notify import NoticeWatch, Notifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from webhook_server import WebhookServer  # noqa: E402


def keep(seq: int, pane: str = "p") -> ExperimentFinished:
    return ExperimentFinished(
        pane=pane,
        seq=seq,
        commit="abc",
        status="keep",
        metric_name="loss",
        metric=1.0 - seq / 10,
        best=1.0 - seq / 10,
        baseline=1.0,
        delta=-0.1,
        description=f"idea {seq}",
        reason="",
        duration_s=1.0,
    )


def test_the_events_that_notify_and_those_that_do_not():
    watch = NoticeWatch(tuple(NotifyConfig().events), rate_limited_after_s=60)
    assert [n.kind for n in watch.observe(keep(1))] == ["new_best"]
    baseline = keep(0).to_dict()
    del baseline["type"]
    assert watch.observe(ExperimentFinished(**{**baseline, "is_baseline": True})) == []
    assert watch.observe(Alert(pane="p", level="error", message="3 crashes in a row: paused (press p)\nlog")) != []
    assert watch.observe(Alert(pane="p", level="warning", message="budget reached: $2.00 spent"))[0].kind == "paused"
    assert (
        watch.observe(Alert(pane="p", level="warning", message="plateau: no keep in 10 experiments"))[0].kind == "stuck"
    )
    assert watch.observe(Alert(pane=None, level="warning", message="slot gpu0 is idle")) == []
    assert watch.observe(PaneState(pane="p", state="paused")) == []  # the researcher's own pause
    assert watch.observe(RunFinished(reason="all panes done"))[0].text == "run finished: all panes done"


def test_a_long_usage_limit_wait_notifies_once():
    watch = NoticeWatch(("rate_limited",), rate_limited_after_s=60)
    watch.observe(PaneState(pane="p", state="waiting", detail="usage limit (five_hour) until 03:10", since=1000.0))
    assert watch.due(1030.0) == []
    due = watch.due(1061.0)
    assert len(due) == 1 and "usage limit" in due[0].text
    assert watch.due(2000.0) == []
    watch.observe(PaneState(pane="p", state="thinking"))
    watch.observe(PaneState(pane="p", state="waiting", detail="usage limit (x) until 04:00", since=3000.0))
    assert len(watch.due(3100.0)) == 1


def test_events_are_batched_capped_per_hour_and_flushed_at_the_end(tmp_path):
    hook_out = tmp_path / "hook.txt"
    cfg = NotifyConfig(command=f'echo "$CONDUCTOR_NOTIFY_EVENTS" >> {hook_out}', batch_s=0.3, max_per_hour=2)
    n = Notifier(cfg, "r1").start()
    try:
        for seq in (1, 2, 3):
            n(keep(seq))
        time.sleep(1.0)
        assert len(n.sent) == 1 and n.sent[0][0] == "conductor r1: 3 events"
        assert n.sent[0][1].splitlines()[0].startswith("p: new best loss 0.9 (-0.1) #1 idea 1")
        n(keep(4))
        time.sleep(0.8)
        n(keep(5))
        time.sleep(0.8)
        assert len(n.sent) == 2  # the cap: #5 waits
        n(RunFinished(reason="stopped"))
        time.sleep(1.0)
        assert len(n.sent) == 3 and "run finished: stopped" in n.sent[2][1] and "#5" in n.sent[2][1]
    finally:
        n.close()
    assert hook_out.read_text().split() == ["new_best", "new_best", "finished", "new_best"]


def test_a_slow_webhook_never_blocks_the_publisher():
    with WebhookServer(delay_s=1.5) as server:
        cfg = NotifyConfig(urls=(f"json://127.0.0.1:{server.port}/hook",), batch_s=0)
        n = Notifier(cfg, "r").start()
        try:
            n(keep(1))
            time.sleep(0.7)  # the worker is now inside the slow POST
            t0 = time.monotonic()
            for seq in range(2, 200):
                n(keep(seq))
            assert time.monotonic() - t0 < 0.1
        finally:
            n.close()
        got = server.wait_for(2)
    assert got[0][0] == "/hook" and "#1 idea 1" in got[0][1]["title"]


def test_urls_secrets_are_masked():
    assert mask_url("json://127.0.0.1:8123/hook/abcdef") == "json://127.0.0.1:8123/***"
    assert "ABCdef" not in mask_url("tgram://123456:ABCdef/-100123")
    assert mask_url("mailto://bob:hunter2@example.com?to=x@y.z") == "mailto://bob:***@example.com?to=***"
    assert mask_url("slack://TA1234/TB5678/TC9012") == "slack://***/***"
    assert mask_url("ntfys://ntfy.sh/my-secret-topic") == "ntfys://ntfy.sh/***"
