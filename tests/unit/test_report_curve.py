"""The report's best curve in one pass: dollars by each experiment's end, as summing every usage
row for every experiment gives them, rows out of finish order included."""

from __future__ import annotations

import random

from conductor.core.record import ExperimentRecord
from conductor.report_data import best_curve


def test_dollars_by_each_end_match_the_plain_sum():
    rng = random.Random(5)
    rows = [
        ExperimentRecord(
            pane="p",
            seq=seq,
            commit=f"c{seq}",
            status=rng.choice(("keep", "discard", "crash")),
            metric=rng.uniform(0, 1),
            started_at=100.0 * seq,
            finished_at=100.0 * seq + rng.choice((50.0, 250.0)),  # a re-run can end after the next one
        )
        for seq in range(1, 60)
    ]
    usage = [(rng.uniform(0, 7000), rng.choice((0.1, 0.25))) for _ in range(200)]
    curve = best_curve(rows, usage)
    drawn = [r for r in rows if r.seq in set(curve.seq)]
    assert curve.usd == [sum(usd for ts, usd in sorted(usage) if ts <= r.finished_at) for r in drawn]
    assert curve.seq == [r.seq for r in drawn]


def test_a_long_run_labels_its_biggest_steps_the_first_and_the_last_keep():
    from conductor.report_plots import MAX_LABELS, labelled

    kept = [(i, 10.0 - i * 0.01 - (2.0 if i >= 7 else 0.0), "") for i in range(200)]  # one big step, at 7
    shown = labelled(kept, "min")
    assert len(shown) == MAX_LABELS
    assert {0, 7, 199} <= {s for s, _, _ in shown}
    assert labelled(kept[:MAX_LABELS], "min") == kept[:MAX_LABELS]


def test_a_running_best_thinned_to_its_changes_draws_the_same_steps():
    from conductor.report_plots import changes

    xs = list(range(1, 11))
    ys = [5.0, 5.0, 4.0, 4.0, 4.0, 3.5, 3.5, 3.5, 3.5, 3.5]
    assert changes(xs, ys) == ([1, 3, 6, 10], [5.0, 4.0, 3.5, 3.5])
    assert changes([7], [1.0]) == ([7], [1.0])
    for x in range(1, 11):  # under "post" steps, the value at every x is unchanged
        tx, ty = changes(xs, ys)
        at = max(i for i, t in enumerate(tx) if t <= x)
        assert ty[at] == ys[xs.index(x)]
