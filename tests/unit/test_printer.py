"""The headless printer: a pane's error once, and `--json` without the 1 Hz meters' repeats."""

from __future__ import annotations

import io
import json

from conductor.core.events import Alert, HostSample, PaneDone, SlotSample
from conductor.printer import SAMPLE_EVERY_S, Printer


def test_a_failed_pane_prints_its_error_once():
    out = io.StringIO()
    p = Printer(out)
    p(Alert(pane="fast", level="error", message="pane fast: the baseline printed no `---` block", ts=0.0))
    p(PaneDone(pane="fast", reason="pane fast: the baseline printed no `---` block", ts=0.0))
    p(PaneDone(pane="slow", reason="reached 3 experiments", ts=0.0))
    text = out.getvalue()
    assert text.count("no `---` block") == 1
    assert "[fast] stopped by the error above" in text and "[slow] done: reached 3 experiments" in text


def test_json_prints_a_meter_when_it_changes_and_every_few_seconds():
    out = io.StringIO()
    p = Printer(out, as_json=True)
    for t in range(30):  # one slot busy at a steady 50%, then idle; the host steady
        busy = t < 20
        p(SlotSample(slot="gpu0", kind="gpu", busy=busy, pane="a" if busy else "", util=50.0 if busy else 0.0, ts=t))
        p(HostSample(cpu_percent=12.0, mem_used_mb=1.0, mem_total_mb=2.0, ts=t))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    slots = [e["ts"] for e in lines if e["type"] == "slot_sample"]
    hosts = [e["ts"] for e in lines if e["type"] == "host_sample"]
    assert slots == [0, SAMPLE_EVERY_S, 2 * SAMPLE_EVERY_S]  # t=20: it went idle, a change
    assert hosts == [0, SAMPLE_EVERY_S, 2 * SAMPLE_EVERY_S]
