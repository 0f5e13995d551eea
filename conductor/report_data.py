"""What `conductor report` draws, as plain data (no matplotlib): the series of each pane's
progress plot, each pane's best curve against experiments, time and dollars, and the run
read from its ledger (read-only, through its query methods) with its standings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from conductor.core.ledger import Ledger, PaneRecord
from conductor.core.record import ExperimentRecord, Status
from conductor.core.standings import version_of


class PlotRow(NamedTuple):
    """What the report reads of an experiment (a whole ExperimentRecord, its summary decoded, is
    most of the time a week of history takes to read)."""

    seq: int
    status: str
    metric: float | None
    is_baseline: bool
    description: str
    program_sha: str
    started_at: float
    finished_at: float


def plot_rows(ledger: Ledger) -> dict[str, list[PlotRow]]:
    """Every pane's rows in seq order, in one query."""
    sha = "program_sha" if ledger.schema_version >= 2 else "''"
    out: dict[str, list[PlotRow]] = {}
    for pane, *r in ledger.select(
        f"SELECT pane, seq, status, metric, is_baseline, description, {sha}, started_at, finished_at"
        " FROM experiments ORDER BY pane, seq"
    ):
        r[3] = bool(r[3])
        out.setdefault(pane, []).append(PlotRow(*r))
    return out


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


@dataclass(frozen=True)
class ProgressSeries:
    """What one pane's progress plot shows. Only keeps and discards carry a metric."""

    kept: list[tuple[int, float, str]] = field(default_factory=list)  # seq, metric, description
    discarded: list[tuple[int, float]] = field(default_factory=list)
    crashed: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    best_steps: list[tuple[int, float]] = field(default_factory=list)  # running best from the first keep on
    program_changes: list[tuple[int, str]] = field(default_factory=list)  # seq, program sha it ran under from there
    last_seq: int = 0


def progress_series(rows: list[ExperimentRecord] | list[PlotRow], pane: PaneRecord | None = None) -> ProgressSeries:
    s = ProgressSeries(last_seq=max((r.seq for r in rows), default=0))
    best: float | None = None
    program = None
    for r in rows:
        version = version_of(pane, r) if pane is not None else r.program_sha
        if program is not None and version != program:
            s.program_changes.append((r.seq, version))
        program = version
        if r.status == Status.KEEP and _finite(r.metric):
            s.kept.append((r.seq, r.metric, r.description))
            best = r.metric
        elif r.status == Status.DISCARD and _finite(r.metric):
            s.discarded.append((r.seq, r.metric))
        elif r.status == Status.REJECTED:
            s.rejected.append(r.seq)
        elif r.status in (Status.CRASH, Status.KEEP, Status.DISCARD):
            s.crashed.append(r.seq)  # no usable metric: drawn on the strip, whatever a TSV would say
        if best is not None:
            s.best_steps.append((r.seq, best))
    return s


def y_window(s: ProgressSeries, goal: str) -> tuple[float, float] | None:
    """Y limits that keep the kept curve readable: near misses shown, wild discards clipped."""
    kept = [m for _, m, _ in s.kept]
    values = kept or [m for _, m in s.discarded]
    if not values:
        return None
    lo, hi = min(values), max(values)
    span = (hi - lo) or max(abs(hi) * 0.05, 1e-6)
    worse, better = span * 1.5, span * 0.3  # room for the labels above the best
    lo, hi = (lo - better, hi + worse) if goal == "min" else (lo - worse, hi + better)
    everything = values + [m for _, m in s.discarded]
    full_lo, full_hi = min(everything), max(everything)
    if full_hi - full_lo <= 4 * (hi - lo):
        lo, hi = min(lo, full_lo), max(hi, full_hi)
    pad = (hi - lo) * 0.05
    return lo - pad - (hi - lo) * 0.10, hi + pad  # extra room at the bottom for the strip


@dataclass(frozen=True)
class BestCurve:
    """One pane's best metric after each experiment, against experiments, seconds and dollars."""

    seq: list[int]
    seconds: list[float]
    usd: list[float]
    best: list[float]


def best_curve(rows: list[ExperimentRecord] | list[PlotRow], usage: list[tuple[float, float]]) -> BestCurve:
    """`usage`: (timestamp, usd) rows of the pane; dollars are those spent by each experiment's end.
    One pass: rows in finish order take the usage up to their finish once, whatever the order they
    are drawn in."""
    curve = BestCurve([], [], [], [])
    if not rows:
        return curve
    start = min(r.started_at for r in rows)
    spent = sorted(usage)
    by_finish = sorted(range(len(rows)), key=lambda i: rows[i].finished_at)
    usd_by: list[float] = [0.0] * len(rows)
    total, j = 0.0, 0
    for i in by_finish:
        while j < len(spent) and spent[j][0] <= rows[i].finished_at:
            total += spent[j][1]
            j += 1
        usd_by[i] = total
    best: float | None = None
    for i, r in enumerate(rows):
        if r.status == Status.KEEP and _finite(r.metric):
            best = r.metric
        if best is None:
            continue
        curve.seq.append(r.seq)
        curve.seconds.append(max(0.0, r.finished_at - start))
        curve.usd.append(usd_by[i])
        curve.best.append(best)
    return curve


@dataclass
class RunData:
    run_dir: Path
    name: str
    panes: list[PaneRecord]
    rows: dict[str, list[PlotRow]]
    usage: dict[str, list[tuple[float, float]]]
    status: dict  # pane_status(): panes, totals, leaderboard

    def workspaces(self) -> list[tuple[str, list[PaneRecord]]]:
        order: dict[str, list[PaneRecord]] = {}
        for p in self.panes:
            order.setdefault(p.workspace, []).append(p)
        return list(order.items())


def load_run(run_dir: Path) -> RunData:
    from conductor.status import pane_status

    ledger = Ledger.reader(run_dir)
    try:
        with ledger.snapshot():  # the plots and the tables count the same rows
            panes = ledger.panes()
            rows = plot_rows(ledger)
            usage: dict[str, list[tuple[float, float]]] = {p.name: [] for p in panes}
            for pane, ts, usd in ledger.select("SELECT pane, ts, usd FROM usage"):
                usage.setdefault(pane, []).append((ts, usd))
            return RunData(
                run_dir=run_dir,
                name=ledger.get_meta("run") or run_dir.name,
                panes=panes,
                rows={p.name: rows.get(p.name, []) for p in panes},
                usage=usage,
                status=pane_status(ledger),
            )
    finally:
        ledger.close()


def time_unit(seconds: float) -> tuple[str, float]:
    if seconds < 120:
        return "seconds", 1.0
    if seconds < 2 * 3600:
        return "minutes", 60.0
    return "hours", 3600.0


def short(text: str, n: int = 44) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def program_label(run: RunData, pane: PaneRecord) -> str:
    """The program version(s) a pane's experiments ran under, oldest first, with the current title."""
    board = run.status["leaderboard"]
    score = next((p for p in board["panes"] if p["pane"] == pane.name), None)
    versions = (score["programs"] if score else []) or [pane.program_sha]
    shas = " → ".join(sha[:7] or "?" for sha in versions)
    title = score["program_title"] if score else ""
    return f"program{'s' if len(versions) > 1 else ''} {shas}" + (f" · {short(title, 50)}" if title else "")
