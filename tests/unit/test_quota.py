"""The quota book: latest per account and window, saved for status, the two alerts; the API
headers read as windows; the top bar's words."""

from __future__ import annotations

import json
import time

from conductor.agents.quota_headers import quota_from_headers
from conductor.core.bus import EventBus
from conductor.core.events import Alert, QuotaSample
from conductor.core.quota import QuotaBook, headline
from conductor.ui.lines import quota_text
from conductor.ui.model import RunModel


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def book(clock: Clock) -> tuple[QuotaBook, list[Alert], list[str]]:
    bus, alerts, saved = EventBus(), [], []
    bus.subscribe(lambda e: alerts.append(e) if isinstance(e, Alert) else None)
    q = QuotaBook(bus, saved.append, clock=clock)
    bus.subscribe(q.observe)
    return q, alerts, saved


def sample(u: float, resets_at: float, window: str = "five_hour", account: str = "claude-code") -> QuotaSample:
    return QuotaSample(account=account, window=window, utilization=u, resets_at=resets_at)


def test_a_nearly_spent_window_alerts_once_per_reset():
    clock = Clock(10_000.0)
    q, alerts, _ = book(clock)
    q.bus.publish(sample(0.5, 20_000.0))
    assert alerts == []
    q.bus.publish(sample(0.91, 20_000.0))
    q.bus.publish(sample(0.95, 20_000.0))
    assert len(alerts) == 1 and alerts[0].message.startswith("quota claude-code 5h: 91% spent, resets ")
    q.bus.publish(sample(0.92, 38_000.0))  # the next window
    assert len(alerts) == 2


def test_quota_unused_while_panes_could_run_alerts_and_is_saved():
    clock = Clock(100_000.0)
    q, alerts, saved = book(clock)
    resets = clock.t + 2 * 3600  # 3 of the 5 hours gone
    q.bus.publish(sample(0.10, resets))
    q.tick("")  # nothing could run more: no alert
    assert alerts == [] and len(saved) == 1
    assert json.loads(saved[0])[0] | {"updated_at": 0} == {
        "account": "claude-code",
        "window": "five_hour",
        "utilization": 0.10,
        "resets_at": resets,
        "status": "allowed",
        "updated_at": 0,
    }
    q.tick("2 pane(s) are paused or done")
    assert len(alerts) == 1 and "10% used with 60% of the window gone while 2 pane(s)" in alerts[0].message
    q.tick("2 pane(s) are paused or done")
    assert len(alerts) == 1  # not again for half an hour
    q.bus.publish(sample(0.5, resets))  # on pace: 50% >= 60% x 0.5
    clock.t += 3600
    q.tick("1 slot(s) are idle")
    assert len(alerts) == 1
    q.bus.publish(sample(0.02, clock.t + 60, window="tokens", account="anthropic"))  # a per-minute bucket
    clock.t += 3600
    q.tick("1 slot(s) are idle")
    assert all("anthropic" not in a.message for a in alerts)


def test_api_headers_are_windows():
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    headers = {
        "anthropic-ratelimit-tokens-limit": "2000000",
        "anthropic-ratelimit-tokens-remaining": "1500000",
        "anthropic-ratelimit-tokens-reset": reset,
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "nope",
    }
    (window, used, resets_at), *rest = quota_from_headers(headers)
    assert rest == [] and window == "tokens" and used == 0.25 and abs(resets_at - time.time() - 60) < 2


def test_the_top_bar_shows_the_most_used_long_window():
    run = RunModel(clock=time.time)
    assert quota_text(run) == ""
    resets = time.mktime((2026, 1, 1, 3, 10, 0, 0, 0, -1))
    for e in (
        sample(0.62, resets),
        sample(0.30, resets + 86400, window="seven_day"),
        sample(0.99, time.time() + 60, "tokens", "anthropic"),
    ):
        run.apply(e)
    assert headline(list(run.quota.values())).window == "five_hour"
    assert "quota[/] 62% of 5h, resets 03:10" in quota_text(run)
