"""The UI's pure parts: event folding, attention, layout arithmetic and number formatting."""

from __future__ import annotations

import pytest
from fakes import NOW, T0, scripted_run
from textual.content import Content

from conductor.core.events import AgentActivity, ExperimentFinished, PaneState, RunStarted, TokenRates, TokenUsage
from conductor.core.record import ExperimentRecord
from conductor.ui import format as f
from conductor.ui import lines
from conductor.ui.bridge import Bridge
from conductor.ui.layout import card_plan, grid_columns, row_counts
from conductor.ui.model import RunModel
from conductor.ui.rates import RollingRate


def plain(markup: str) -> str:
    return Content.from_markup(markup).plain


def model_with(events) -> RunModel:
    m = RunModel(lambda: NOW)
    m.apply_all(events)
    return m


def finished(pane="a", seq=1, status="keep", metric=1.0, best=1.0, base=False, ts=T0) -> ExperimentFinished:
    return ExperimentFinished(
        pane=pane,
        seq=seq,
        commit="c" * 40,
        status=status,
        metric_name="loss",
        metric=metric,
        best=best,
        baseline=2.0,
        delta=None,
        description="d",
        reason="",
        duration_s=1.0,
        is_baseline=base,
        ts=ts,
    )


def started(*names) -> RunStarted:
    panes = tuple({"name": n, "agent": "optuna", "metric": "loss", "goal": "min"} for n in names)
    return RunStarted(run="r", run_dir="/x", panes=panes, slots=("cpu0",), ts=T0)


def test_counts_exclude_the_baseline_and_track_the_running_best():
    m = model_with(
        [
            started("a"),
            finished(seq=1, metric=2.0, best=2.0, base=True),
            finished(seq=2, status="discard", metric=2.5, best=2.0),
            finished(seq=3, status="keep", metric=1.5, best=1.5, ts=T0 + 100),
            finished(seq=4, status="crash", metric=None, best=1.5),
            finished(seq=5, status="rejected", metric=None, best=1.5),
        ]
    )
    p = m.panes["a"]
    assert p.counts == {"keep": 1, "discard": 1, "crash": 1, "rejected": 1, "interrupted": 0}
    assert p.keep_rate == 25.0
    assert (p.baseline, p.best) == (2.0, 1.5)
    assert p.best_series == [2.0, 2.0, 1.5, 1.5, 1.5]
    assert p.last_keep_ts == T0 + 100 and p.since_keep == 2
    assert plain(lines.best_line(p)) == "best 1.5000 -0.5000 ↓ vs base · loss"
    assert plain(lines.counts_line(p, T0 + 160)) == "K1 D1 C1 R1 25% · kept 1m ago"
    base_only = model_with([started("b"), finished(pane="b", seq=1, metric=2.0, best=2.0, base=True)]).panes["b"]
    assert base_only.experiments == 1 and plain(lines.counts_line(base_only, T0)) == "K0 D0 C0 R0 - · no keep yet"


def test_unseen_flags_only_for_panes_not_in_view_and_cleared_when_selected():
    m = model_with([started("a", "b")])
    m.apply(finished(pane="a", seq=2, status="crash", metric=None))
    m.apply(finished(pane="b", seq=2, status="keep"))
    assert m.selected == "a"
    assert m.panes["a"].attention(10) is None  # the researcher is looking at it
    assert m.panes["b"].attention(10) == "new best"
    assert m.next_attention().name == "b"
    m.select("b")
    assert m.panes["b"].attention(10) is None
    assert m.next_attention() is None


def test_attention_order_failed_before_stuck_before_new_best():
    m = model_with([started("a", "b", "c", "d")])
    m.select("d")
    m.apply(PaneState(pane="a", state="error", detail="boom", ts=T0))
    for seq in range(2, 14):
        m.apply(finished(pane="b", seq=seq, status="discard", metric=3.0))
    m.apply(finished(pane="c", seq=2, status="keep"))
    assert m.panes["a"].attention(10) == "failed"
    assert m.panes["b"].attention(10) == "stuck: 12 without keep"
    assert [p.name for p in _cycle(m, 4)] == ["a", "b", "c", "a"]
    alerts = m.derived_alerts(NOW)
    assert ("error", "a failed: boom") in alerts and ("warning", "b stuck: 12 without keep") in alerts


def _cycle(m: RunModel, n: int):
    out = []
    for _ in range(n):
        p = m.next_attention()
        out.append(p)
        m.select(p.name)
    return out


def test_token_meters_come_from_usage_until_the_engine_sends_rates():
    m = model_with([started("a")])
    assert m.panes["a"].rates(NOW) is None and m.rates(NOW) is None
    for i in range(6):
        m.apply(
            TokenUsage(
                pane="a", model="x", input=1000, output=100, cache_write=0, cache_read=0, usd=0.01, ts=NOW - 50 + i * 10
            )
        )
    tin, tout, per_h = m.panes["a"].rates(NOW)
    assert (tin, tout) == pytest.approx((6000 / 50, 600 / 50))
    assert per_h == pytest.approx(0.06 / 50 * 3600)
    m.apply(TokenRates(pane="a", in_per_s=7.0, out_per_s=3.0, usd_per_h=1.5, usd_total=2.0, ts=NOW))
    assert m.panes["a"].rates(NOW) == (7.0, 3.0, 1.5)
    assert m.panes["a"].usd_total == 2.0


def test_rolling_rate_forgets_old_usage():
    r = RollingRate(window_s=60)
    r.add(0.0, 600, 60, 0.6)
    assert r.rates(30.0) == pytest.approx((20.0, 2.0, 72.0))
    assert r.rates(200.0) == (0.0, 0.0, 0.0)


def test_activity_buffer_is_bounded_and_readers_resume_where_they_stopped():
    m = model_with([started("a")])
    for i in range(2500):
        m.apply(AgentActivity(pane="a", kind="text", text=f"t{i}", ts=T0))
    p = m.panes["a"]
    assert len(p.activity) == 2000
    assert [x.text for x in p.new_activity(2497)] == ["t2497", "t2498", "t2499"]
    assert len(p.new_activity(0)) == 2000  # a reader far behind gets what is still held
    assert p.new_activity(2500) == []


def test_bridge_buffers_without_folding_until_drained():
    m = RunModel(lambda: NOW)
    bridge = Bridge(m)
    for e in scripted_run(2):
        bridge(e)
    assert m.panes == {} and bridge.pending
    assert bridge.drain() is True
    assert set(m.panes) == {"tinygpt-1", "tinygpt-2"}
    assert bridge.drain() is False


def test_bridge_reads_the_ledger_on_run_start_and_skips_what_it_holds():
    m = RunModel(lambda: NOW)
    events = scripted_run(1)
    rows = [e for e in events if isinstance(e, ExperimentFinished)]

    def record(e):  # the ledger's row for an event
        return ExperimentRecord(
            pane=e.pane,
            seq=e.seq,
            commit=e.commit,
            status=e.status,
            metric=e.metric,
            description=e.description,
            reason=e.reason,
            slot=e.slot,
            log_path=e.log_path,
            is_baseline=e.is_baseline,
            started_at=e.ts - 1.0,
            finished_at=e.ts,
        )

    bridge = Bridge(m, on_run_started=lambda _: m.load_history([record(e) for e in rows[:3]]))
    for e in events:
        bridge(e)
    bridge.drain()
    p = m.panes["tinygpt"]
    assert p.experiments == len(rows)  # three from the ledger, the rest from events, none twice


def test_state_lines_say_what_the_pane_is_doing():
    m = model_with(scripted_run(10))
    texts = {name: plain(lines.state_line(p, m, NOW)) for name, p in m.panes.items()}
    assert texts["tinygpt-1"] == "running 0:10 of 0:20 budget on cpu0"
    over = plain(lines.state_line(m.panes["tinygpt-1"], m, NOW + 15))  # past the budget: evaluating
    assert over == "running 0:25 of 0:20 spent, evaluating on cpu0"
    assert texts["tinygpt-3"] == "queued for a slot 0:12 (1 ahead)"
    assert texts["tinygpt-5"] == "crashed: AgentFatal: bad key"
    assert texts["tinygpt-6"] == "waiting for rate limit 0:15 rate limited, retry in 30s"
    assert texts["tinygpt-7"] == "done: reached 6 experiments"


def test_formatters_never_invent_numbers():
    for fn in (f.metric, f.delta, f.si, f.usd, f.percent):
        assert fn(None) == f.DASH
    assert f.metric(float("nan")) == f.DASH
    assert f.gigabytes(None, 80_000) == f.DASH
    assert plain(f.gigabytes(40 * 1024, 80 * 1024)) == "40.0/80G"
    assert (f.clock(7), f.clock(754), f.clock(3723)) == ("0:07", "12:34", "1:02:03")
    assert (f.age(45), f.age(720), f.age(3 * 3600 + 300), f.age(2 * 86400 + 4 * 3600)) == (
        "45s",
        "12m",
        "3h05m",
        "2d04h",
    )
    assert (f.metric(2.81234), f.metric(123.456), f.delta(-0.0231)) == ("2.8123", "123.46", "-0.0231")
    assert (f.delta(0.0006), f.metric(0.00042), f.delta(0.0)) == ("+6.0e-04", "4.20e-04", "+0.0000")
    assert (f.si(1234), f.si(35.2), f.usd(0.4219)) == ("1.2k", "35", "$0.42")
    assert plain(f.esc("[exit 1] $x")) == "[exit 1] $x"


@pytest.mark.parametrize(
    ("n", "size", "expected"),
    [
        (1, (200, 46), [1]),
        (4, (200, 46), [2, 2]),
        (10, (200, 46), [4, 3, 3]),
        (10, (120, 36), [4, 3, 3]),
        (10, (80, 20), [3, 3, 2, 2]),
        (12, (200, 46), [4, 4, 4]),
    ],
)
def test_row_counts_fill_the_width(n, size, expected):
    counts = row_counts(n, *size)
    assert counts == expected and sum(counts) == n
    cols = grid_columns(counts)
    assert all(cols % c == 0 for c in counts)


def test_short_cards_drop_activity_first_then_rows_then_sparkline_then_meters():
    assert card_plan(14).activity > 0 and card_plan(14).rows >= 3
    assert card_plan(8).activity == 0 and card_plan(8).rows == 3
    assert card_plan(5).rows == 0 and card_plan(5).sparkline
    assert not card_plan(4).sparkline and card_plan(4).meters
    assert not card_plan(3).meters and card_plan(3).counts
    assert not card_plan(2).counts


def test_a_workspace_plateau_sets_when_its_panes_count_as_stuck():
    m = model_with(
        [RunStarted(run="r", run_dir="/x", panes=({"name": "a", "plateau": 3}, {"name": "b"}), slots=("cpu0",), ts=T0)]
    )
    for seq in range(2, 6):
        for pane in ("a", "b"):
            m.apply(finished(pane=pane, seq=seq, status="discard", metric=3.0))
    assert m.panes["a"].attention(10) == "stuck: 4 without keep"
    assert m.panes["b"].attention(10) is None  # the default, 10, is not reached
    assert ("warning", "a stuck: 4 without keep") in m.derived_alerts(NOW)


def test_the_slots_line_follows_the_pool_and_groups_cluster_slots_by_node():
    from conductor.core.events import HostSample, SlotSample

    m = model_with([RunStarted(run="r", run_dir="/x", panes=({"name": "a"},), slots=("box2:gpu0",), ts=T0)])
    m.apply(
        HostSample(cpu_percent=10, mem_used_mb=1024, mem_total_mb=4096, slots=("box2:gpu0", "box2:gpu1", "box3:gpu0"))
    )
    m.apply(SlotSample(slot="box2:gpu1", kind="gpu", busy=True, pane="a", util=87.0, mem_used_mb=None, ts=T0))
    text = Content.from_markup(lines.slots_text(m)).plain
    assert text.startswith("slots box2: gpu0 idle | gpu1 87% a · box3: gpu0 idle · host cpu")
    m.apply(HostSample(cpu_percent=10, mem_used_mb=1024, mem_total_mb=4096, slots=("box3:gpu0",)))  # box2 left
    assert "box2" not in Content.from_markup(lines.slots_text(m)).plain
