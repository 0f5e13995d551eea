"""The comparison plot reads at 24 panes: a colour per program variant (its panes in distinct
shades of it), a legend of variants, and every line named at its end."""

from __future__ import annotations

import colorsys

from matplotlib.colors import to_rgb
from recorded_ledger import T0, sha

from conductor.core.ledger import Ledger, PaneRecord
from conductor.core.record import ExperimentRecord
from conductor.report_data import load_run
from conductor.report_plots import _new_figure, draw_compare

PROGRAMS = {"A": "# Tune the optimiser\n", "B": "# Change the architecture\n", "C": "# Search the knobs\n"}


def write_run(run_dir):
    run_dir.mkdir()
    ledger = Ledger(run_dir / "ledger.db")
    ledger.set_meta("run", "r24")
    for i in range(24):
        text = PROGRAMS["ABC"[i % 3]]
        ledger.record_program(text)
        name = f"tiny-{i + 1}"
        ledger.upsert_pane(PaneRecord(name, "tiny", "optuna", "", "b", "/x", "loss", "min", "0" * 40, sha(text), T0, i))
        for seq in range(1, 4):
            metric = 1.0 - 0.01 * seq * (1 + i % 5)
            ledger.record_experiment(
                ExperimentRecord(
                    pane=name,
                    seq=seq,
                    commit=f"{i:02d}{seq:038d}",
                    status="keep",
                    metric=metric,
                    started_at=T0 + seq * 100,
                    finished_at=T0 + seq * 100 + 90,
                    slot="gpu0",
                    is_baseline=seq == 1,
                    program_sha=sha(text),
                )
            )
    ledger.close()
    return run_dir


def test_24_panes_are_coloured_by_variant_and_named_at_their_ends(tmp_path):
    run = load_run(write_run(tmp_path / "run"))
    fig = _new_figure(4.5)
    draw_compare(fig, run)
    ax = fig.axes[0]
    lines = {line.get_gid().removeprefix("pane:"): to_rgb(line.get_color()) for line in ax.get_lines()}
    assert len(lines) == 24
    assert sorted(t.get_text() for t in ax.texts if t.get_gid() == "label") == sorted(lines)
    hues = {}
    for i in range(24):
        h, _, _ = colorsys.rgb_to_hls(*lines[f"tiny-{i + 1}"])
        hues.setdefault("ABC"[i % 3], set()).add(round(h, 2))
    assert all(len(h) == 1 for h in hues.values())  # one hue per variant
    assert len({next(iter(h)) for h in hues.values()}) == 3  # three variants, three hues
    assert len(set(lines.values())) == 24  # and no two panes drawn alike
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"{sha(PROGRAMS[k])[:7]} {PROGRAMS[k][2:].strip()} (8 panes)" for k in "ABC"]
