"""Rolling token and cost meters: window, totals, and events only when the shown values change."""

from __future__ import annotations

from conductor.core.events import Alert, TokenUsage
from conductor.core.token_meters import TokenMeters


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def usage(pane: str, inp=0, out=0, cw=0, cr=0, usd=0.0) -> TokenUsage:
    return TokenUsage(pane=pane, model="m", input=inp, output=out, cache_write=cw, cache_read=cr, usd=usd)


def test_rates_over_the_window_per_pane_and_in_total():
    clock = Clock()
    meters = TokenMeters(window_s=60, clock=clock)
    meters.observe(usage("a", inp=100, cw=500, cr=600, out=300, usd=0.06))
    meters.observe(usage("b", inp=1200, out=600, usd=0.03))
    meters.observe(Alert(pane="a", level="info", message="ignored"))
    by_pane = {e.pane: e for e in meters.due()}
    assert set(by_pane) == {"a", "b", ""}
    a, total = by_pane["a"], by_pane[""]
    assert (a.in_per_s, a.out_per_s) == (20.0, 5.0)  # (100 + 500 + 600) / 60 s, 300 / 60 s
    assert a.usd_per_h == 3.6 and a.usd_total == 0.06
    assert (total.in_per_s, total.out_per_s, total.usd_total) == (40.0, 15.0, 0.09)


def test_only_changes_are_published_and_the_window_empties():
    clock = Clock()
    meters = TokenMeters(window_s=60, clock=clock)
    assert meters.due() == []  # nothing happened yet
    meters.observe(usage("a", inp=600, out=60, usd=0.01))
    assert len(meters.due()) == 2
    clock.now += 1
    assert meters.due() == []  # same shown values: no event
    clock.now += 60
    zeroed = meters.due()
    assert {(e.pane, e.in_per_s, e.out_per_s, e.usd_per_h, e.usd_total) for e in zeroed} == {
        ("a", 0.0, 0.0, 0.0, 0.01),
        ("", 0.0, 0.0, 0.0, 0.01),
    }
    clock.now += 1
    assert meters.due() == []


def test_totals_start_from_what_the_ledger_already_holds():
    meters = TokenMeters(usd_totals={"a": 1.5, "b": 0.25}, clock=Clock())
    events = {e.pane: e for e in meters.due()}
    assert events["a"].usd_total == 1.5 and events[""].usd_total == 1.75 and events["a"].in_per_s == 0.0
    meters.observe(usage("a", usd=0.5))
    assert {e.pane: e.usd_total for e in meters.due()} == {"a": 2.0, "": 2.25}


def test_the_meters_module_imports_nothing_heavy():
    import json
    import subprocess
    import sys

    probe = "import sys, json, conductor.core.token_meters\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    heavy = ("textual", "torch", "anthropic", "optuna", "matplotlib", "rich", "pynvml")
    assert [m for m in json.loads(out.stdout) if m.split(".")[0] in heavy] == []
