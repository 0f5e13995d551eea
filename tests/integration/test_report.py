"""`conductor report`, `status` and `export` on a recorded ledger (real SQLite) and on a real run.

The PNGs must exist, decode, have the size the figure constants give, and not be blank; a
crash (no metric) must never be drawn as a metric value, 0 or otherwise.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_config
from matplotlib.image import imread
from recorded_ledger import PANES, PROGRAMS, sha, write_recorded_run

from conductor.cli import main
from conductor.config import load_config
from conductor.core.record import ExperimentRecord
from conductor.report_data import load_run, progress_series
from conductor.report_plots import draw_progress, expected_size

TOTAL_EXPERIMENTS = sum(len(p.rows) for p in PANES)
TOTAL_USAGE = sum(len(p.usage) for p in PANES)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    return write_recorded_run(tmp_path_factory.mktemp("recorded") / "run")


def printed_paths(capsys) -> list[Path]:
    return [Path(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def assert_real_png(data: bytes | Path, size: tuple[int, int]) -> None:
    raw = data.read_bytes() if isinstance(data, Path) else data
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(io.BytesIO(raw), format="png")
    assert (pixels.shape[1], pixels.shape[0]) == size
    rgb = pixels[..., :3]
    assert rgb.std() > 0.05, "blank image"
    assert (rgb.min(axis=2) < 0.9).mean() > 0.01, "almost nothing drawn"


def test_report_writes_one_png_per_figure(recorded, capsys):
    assert main(["report", "--runs-dir", str(recorded)]) == 0
    paths = printed_paths(capsys)
    folder = recorded / "report"
    assert paths == [folder / "compare.png"] + [folder / f"progress-{p.name}.png" for p in PANES]
    run = load_run(recorded)
    assert expected_size("compare", run) == (1600, 900)  # two workspaces, one row each
    assert_real_png(paths[0], expected_size("compare", run))
    for path in paths[1:]:
        assert_real_png(path, expected_size("progress", run))


def test_report_sheet_and_self_contained_html(recorded, tmp_path, capsys):
    sheet = tmp_path / "out" / "morning.png"
    assert main(["report", "--runs-dir", str(recorded), "-o", str(sheet), "--html"]) == 0
    assert printed_paths(capsys) == [sheet, sheet.with_suffix(".html")]
    run = load_run(recorded)
    assert expected_size("sheet", run) == (1600, 900 + 4 * 600)
    assert_real_png(sheet, expected_size("sheet", run))
    page = sheet.with_suffix(".html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 1 + len(PANES)
    assert_real_png(base64.b64decode(images[0]), expected_size("compare", run))
    for encoded in images[1:]:
        assert_real_png(base64.b64decode(encoded), expected_size("progress", run))
    assert not re.search(r'(src|href)="(?!data:)', page), "the page must not load anything"
    assert "Program A: tune the optimiser" in page and "Program B: change the architecture" in page
    assert "warmup 5% of steps" in page  # a kept experiment's description, in its table
    assert "CPU-slot-hour" in page


def test_html_to_a_named_file_next_to_default_pngs(recorded, tmp_path, capsys):
    page = tmp_path / "page.html"
    assert main(["report", "--runs-dir", str(recorded), "-o", str(tmp_path / "figs"), "--html", str(page)]) == 0
    paths = printed_paths(capsys)
    assert paths[0] == tmp_path / "figs" / "compare.png" and paths[-1] == page
    assert page.read_text().startswith("<!doctype html>")


def test_crashes_are_on_the_strip_and_never_a_metric(recorded):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run = load_run(recorded)
    for record in run.panes:
        rows = run.rows[record.name]
        crashed = [r.seq for r in rows if r.status == "crash"]
        fig = Figure(figsize=(16, 6), dpi=100)
        FigureCanvasAgg(fig)
        draw_progress(fig, run, record)
        fig.canvas.draw()
        ax = fig.axes[0]
        metric_values = []
        for coll in ax.collections:
            if coll.get_offset_transform() == ax.transData:
                metric_values += [y for _, y in coll.get_offsets()]
        for line in ax.lines:
            metric_values += list(line.get_ydata())
        expected = {r.metric for r in rows if r.status in ("keep", "discard")}
        kept = {r.metric for r in rows if r.status == "keep"}
        assert kept <= set(metric_values)  # the kept points and the best line are data
        assert 0.0 not in metric_values
        assert set(metric_values) <= expected, record.name
        strip = [c for c in ax.collections if c.get_gid() == "crash-strip"]
        if crashed:
            (coll,) = strip
            assert coll.get_offset_transform() == ax.get_xaxis_transform()  # y in axes fractions, not data
            assert [x for x, _ in coll.get_offsets()] == crashed
        else:
            assert strip == []
        low, _ = ax.get_ylim()
        assert low > 0  # all metrics here are far from 0: a crash drawn at 0 could not hide


def test_a_crash_with_a_zero_metric_still_goes_to_the_strip():
    # an observed results.tsv writes 0.000000 for a crash; whatever reaches the ledger, it is no metric
    rows = [
        ExperimentRecord(pane="p", seq=1, commit="a", status="keep", metric=1.0, is_baseline=True),
        ExperimentRecord(pane="p", seq=2, commit="b", status="crash", metric=0.0),
        ExperimentRecord(pane="p", seq=3, commit="c", status="discard", metric=float("nan")),
        ExperimentRecord(pane="p", seq=4, commit="d", status="rejected", metric=None),
        ExperimentRecord(pane="p", seq=5, commit="e", status="keep", metric=0.9),
    ]
    s = progress_series(rows)
    assert s.kept == [(1, 1.0, ""), (5, 0.9, "")]
    assert s.discarded == []
    assert s.crashed == [2, 3] and s.rejected == [4]
    assert s.best_steps == [(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0), (5, 0.9)]


def test_status_json_and_table_carry_the_leaderboard(recorded, capsys):
    assert main(["status", "--runs-dir", str(recorded), "--json"]) == 0
    board = json.loads(capsys.readouterr().out)["leaderboard"]
    assert [(p["workspace"], p["rank"], p["panes"]) for p in board["programs"]] == [
        ("tiny", 1, ["tiny-1", "tiny-2"]),
        ("tiny", 2, ["tiny-3"]),
        ("fast", 1, ["fast-1"]),
    ]
    a = board["programs"][0]
    assert a["improvement"] == pytest.approx(0.0235)
    assert a["improvement_per_slot_hour"] == pytest.approx(0.047 / 1.2)
    assert a["improvement_per_usd"] == pytest.approx(0.047 / 0.9)
    assert main(["status", "--runs-dir", str(recorded)]) == 0
    table = capsys.readouterr().out
    assert "leaderboard: program.md variants by workspace" in table
    assert "Program B: change the" in table


def test_export_csv_keeps_missing_metrics_empty(recorded, tmp_path, capsys):
    out = tmp_path / "runs.csv"
    assert main(["export", "--runs-dir", str(recorded), "-o", str(out)]) == 0
    assert f"wrote {TOTAL_EXPERIMENTS} experiments and {TOTAL_USAGE} usage rows" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    experiments = [r for r in rows if r["record"] == "experiment"]
    usage = [r for r in rows if r["record"] == "usage"]
    assert (len(experiments), len(usage)) == (TOTAL_EXPERIMENTS, TOTAL_USAGE)
    crashes = [r for r in experiments if r["status"] in ("crash", "rejected")]
    assert len(crashes) == 6 and all(r["metric"] == "" for r in crashes)
    t1 = [r for r in experiments if r["pane"] == "tiny-1"]
    assert [float(r["metric"]) for r in t1 if r["status"] == "keep"] == [1.0, 0.99, 0.975]
    assert {r["program_sha"] for r in t1} == {sha(PROGRAMS["A"])} and t1[0]["workspace"] == "tiny"
    assert sum(float(r["usd"]) for r in usage) == pytest.approx(1.15)
    assert t1[0]["is_baseline"] == "1" and t1[1]["is_baseline"] == "0"


def test_export_jsonl_has_nulls_not_zeros(recorded, tmp_path, capsys):
    out = tmp_path / "runs.jsonl"
    assert main(["export", "--runs-dir", str(recorded), "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == TOTAL_EXPERIMENTS + TOTAL_USAGE
    crash = next(r for r in records if r["record"] == "experiment" and r["status"] == "crash")
    assert crash["metric"] is None
    use = next(r for r in records if r["record"] == "usage")
    assert use["pane"] == "tiny-1" and use["cache_read"] == 3000 and use["usage_model"] == "claude-sonnet-4-5"


def test_export_refuses_an_unknown_format(recorded, tmp_path, capsys):
    assert main(["export", "--runs-dir", str(recorded), "-o", str(tmp_path / "x.xlsx")]) == 2
    assert "name it .csv, .jsonl or .ndjson" in capsys.readouterr().err
    assert not (tmp_path / "x.xlsx").exists()


def test_report_without_a_run_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("conductor: no run found") and err.count("\n") == 1


def test_report_on_a_real_run(fastws, tmp_path):
    cfg = write_config(tmp_path, fastws, panes=2)
    run = subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--max-experiments", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    rep = subprocess.run(
        [sys.executable, "-m", "conductor", "report", "-c", str(cfg), "--html"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert rep.returncode == 0, rep.stderr
    paths = [Path(p) for p in rep.stdout.split()]
    assert [p.name for p in paths] == ["compare.png", "progress-fast-1.png", "progress-fast-2.png", "report.html"]
    loaded = load_run(load_config(cfg).runs_dir)
    assert_real_png(paths[0], expected_size("compare", loaded))
    assert_real_png(paths[1], expected_size("progress", loaded))
    assert np.isclose(loaded.status["leaderboard"]["programs"][0]["tried"], 6)


def test_figures_drawn_in_forked_workers_are_the_ones_drawn_in_turn(recorded):
    from conductor.report_render import draw_figures

    run = load_run(recorded)
    assert draw_figures(run, workers=2) == draw_figures(run, workers=1)
