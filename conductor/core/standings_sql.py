"""Standings from aggregate queries: what `conductor status` and the leaderboard show, without
building a record for every experiment.

`standings.pane_standings` folds every row in order; at 50,000 experiments that is 50,000
records (each summary decoded) for a few counts. Of what a Tally holds, only the baseline,
the best, the gains and the tries since the last keep depend on the order, and those change
only at the baseline and keep rows, a few in a hundred. So: the baseline and keep rows are
folded in order through the same Tally (one small query); every other row only adds to
counts, slot time, first start and last finish, summed by one GROUP BY per (pane, program
version, status); and the usage a version was spent on is summed over its span of finish
times (a usage row counts for the first experiment finished at or after it). The result is
`pane_standings` over the full rows (tests/unit/test_standings_sql.py checks) without the
per-row `gains`, which only the export uses (it folds the rows itself, streaming); a
version's share carries what the leaderboard reads of it (counts, improvement, time, usage).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from conductor.core.ledger import Ledger, PaneRecord, UsageTotals
from conductor.core.record import Status
from conductor.core.standings import PaneStandings, Tally

_NEVER = 9e18  # a seq no row reaches: no gain is credited before the baseline and a best exist
_USAGE_SUMS = (
    "COALESCE(SUM(input),0), COALESCE(SUM(output),0), COALESCE(SUM(cache_write_5m + cache_write_1h),0),"
    " COALESCE(SUM(cache_read),0), COALESCE(SUM(usd),0)"
)


def version_sql(ledger: Ledger) -> str:
    """The program version of experiments row `e` (panes row `p`): its own, else its pane's."""
    if ledger.schema_version < 2:
        return "p.program_sha"
    return "CASE WHEN e.program_sha != '' THEN e.program_sha ELSE p.program_sha END"


@dataclass(frozen=True)
class TallyRow:
    """What a Tally reads of a baseline or keep row."""

    status: str
    is_baseline: bool
    metric: float | None
    commit: str
    slot: str
    started_at: float
    finished_at: float


@dataclass
class _Pane:
    total: Tally
    versions: dict[str, Tally]
    first_seq: dict[str, int]
    gains_from: float = _NEVER  # rows after this seq are credited a gain (0 unless a keep)
    reset_at: int = 0  # the seq of the last keep that reset "since keep"


def fold_landmarks(ledger: Ledger, panes: dict[str, PaneRecord], ver: str) -> dict[str, _Pane]:
    out = {name: _Pane(Tally(p.goal), {}, {}) for name, p in panes.items()}
    rows = ledger.select(
        f"SELECT e.pane, e.seq, e.status, e.is_baseline, e.metric, e.commit_sha, e.slot, e.started_at, e.finished_at,"
        f" {ver} FROM experiments e JOIN panes p ON p.name = e.pane"
        " WHERE e.is_baseline = 1 OR e.status = 'keep' ORDER BY e.pane, e.seq"
    )
    for pane, seq, status, is_baseline, metric, commit, slot, started, finished, version in rows:
        acc = out[pane]
        row = TallyRow(status, bool(is_baseline), metric, commit, slot, started, finished)
        gain = acc.total.add(row)
        share = acc.versions.setdefault(version, Tally(panes[pane].goal))
        share.add_share(row, gain)
        acc.first_seq.setdefault(version, seq)
        if acc.gains_from == _NEVER and acc.total.baseline is not None and acc.total.best is not None:
            acc.gains_from = seq
        if not is_baseline and status == Status.KEEP and metric is not None:
            acc.reset_at = seq
    return out


def add_the_rest(ledger: Ledger, acc: dict[str, _Pane], panes: dict[str, PaneRecord], ver: str) -> None:
    """Every row that is neither a baseline nor a keep: additive, summed per (pane, version, status)."""
    if not acc:
        return
    marks = [(name, a.gains_from, a.reset_at) for name, a in acc.items()]
    rows = ledger.select(
        f"WITH th(pane, gains_from, reset_at) AS (VALUES {','.join(['(?,?,?)'] * len(marks))})"
        f" SELECT e.pane, {ver}, e.status, COUNT(*), MIN(e.seq),"
        " SUM(CASE WHEN e.slot != '' THEN MAX(0.0, e.finished_at - e.started_at) ELSE 0.0 END),"
        " MAX(e.slot != '' AND substr(e.slot, 1, 3) = 'gpu'), MAX(e.slot != '' AND substr(e.slot, 1, 3) != 'gpu'),"
        " MIN(CASE WHEN e.started_at != 0 THEN e.started_at END), MAX(CASE WHEN e.finished_at != 0 THEN e.finished_at END),"
        " SUM(e.seq > th.gains_from), SUM(e.status != 'interrupted' AND e.seq > th.reset_at)"
        " FROM experiments e JOIN panes p ON p.name = e.pane JOIN th ON th.pane = e.pane"
        " WHERE e.is_baseline = 0 AND e.status != 'keep' GROUP BY e.pane, 2, e.status",
        [x for m in marks for x in m],
    )
    for pane, version, status, n, first_seq, slot_s, gpu, cpu, first, last, credited, since in rows:
        a = acc[pane]
        share = a.versions.setdefault(version, Tally(panes[pane].goal))
        a.first_seq[version] = min(a.first_seq.get(version, first_seq), first_seq)
        for t in (a.total, share):
            t.experiments += n
            t.counts[Status(status)] += n
            t.slot_seconds += slot_s
            t.slot_kinds |= {k for k, on in (("gpu", gpu), ("cpu", cpu)) if on}
            if first is not None and (t.first_start is None or first < t.first_start):
                t.first_start = first
            if last is not None and (t.last_finish is None or last > t.last_finish):
                t.last_finish = last
        a.total.since_keep += since
        if credited and share.improvement is None:
            share.improvement = 0.0  # rows after the baseline that gained nothing


def _usage_spans(ledger: Ledger, pane: PaneRecord, ver: str, versions: list[str] | None) -> list[tuple[float, str]]:
    """(lower bound, version): usage after the bound, up to the next one, was spent on that
    version; the last span ends at the pane's last finish, after which its current program pays.
    `versions`: those the pane's rows ran under, when known (one needs no query)."""
    if versions is not None and len(versions) == 1:
        return [(-math.inf, versions[0])]
    rows = ledger.select(
        f"SELECT prev_f, v FROM (SELECT {ver} AS v, LAG({ver}) OVER w AS prev_v, LAG(e.finished_at) OVER w AS prev_f"
        " FROM experiments e JOIN panes p ON p.name = e.pane WHERE e.pane = ?"
        f" WINDOW w AS (ORDER BY e.finished_at, {ver})) WHERE prev_v IS NULL OR prev_v != v",
        (pane.name,),
    )
    return [(-math.inf if lo is None else lo, v) for lo, v in rows]


def add_usage(
    ledger: Ledger, pane: PaneRecord, a: _Pane, ver: str, credited_only: bool = False
) -> tuple[float | None, list[tuple[float, str]]]:
    """Sum the pane's usage into its tallies, by the version each row was spent on; returns the
    pane's last finish and its spans. `credited_only`: leave out what was spent after the last
    finish (a fold goes on from here: core/standings_checkpoint.py)."""
    goal = pane.goal
    used = sorted(a.first_seq, key=a.first_seq.__getitem__)
    last = ledger.select("SELECT MAX(finished_at) FROM experiments WHERE pane = ?", (pane.name,))[0][0]
    spans = _usage_spans(ledger, pane, ver, used) if used else []
    ends = [lo for lo, _ in spans[1:]] + [last]
    bounds = [(lo, hi, v) for (lo, v), hi in zip(spans, ends, strict=True)] if spans else []
    if not credited_only:
        bounds.append((last if last is not None else -math.inf, math.inf, pane.program_sha))
    total = UsageTotals()
    for lo, hi, version in bounds:
        u = _usage_between(ledger, pane.name, lo, hi)
        share = a.versions.setdefault(version, Tally(goal))
        share.usage = plus(share.usage, u)
        total = plus(total, u)
    a.total.usage = total
    return last, spans


class SpentOn:
    """The program version a pane's usage row was spent on, from its timestamp (for the export)."""

    def __init__(self, ledger: Ledger, pane: PaneRecord):
        self.pane = pane
        spans = _usage_spans(ledger, pane, version_sql(ledger), None)
        self.lows = [lo for lo, _ in spans]
        self.versions = [v for _, v in spans]
        self.last = ledger.select("SELECT MAX(finished_at) FROM experiments WHERE pane = ?", (pane.name,))[0][0]

    def __call__(self, ts: float) -> str:
        if self.last is None or ts > self.last:
            return self.pane.program_sha
        return self.versions[bisect.bisect_left(self.lows, ts) - 1]


def _usage_between(ledger: Ledger, pane: str, lo: float, hi: float) -> UsageTotals:
    sql = f"SELECT {_USAGE_SUMS} FROM usage WHERE pane = ?"
    args: list = [pane]
    if lo != -math.inf:
        sql += " AND ts > ?"
        args.append(lo)
    if hi != math.inf:
        sql += " AND ts <= ?"
        args.append(hi)
    r = ledger.select(sql, args)[0]
    return UsageTotals(int(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4]))


def plus(a: UsageTotals, b: UsageTotals) -> UsageTotals:
    return UsageTotals(
        a.input + b.input,
        a.output + b.output,
        a.cache_write + b.cache_write,
        a.cache_read + b.cache_read,
        a.usd + b.usd,
    )


def standings_by_aggregates(ledger: Ledger) -> list[PaneStandings]:
    """Each pane's standings, in the panes' order, from a few aggregate queries over every row."""
    records = ledger.panes()
    panes = {p.name: p for p in records}
    ver = version_sql(ledger)
    acc = fold_landmarks(ledger, panes, ver)
    add_the_rest(ledger, acc, panes, ver)
    out = []
    for p in records:
        a = acc[p.name]
        add_usage(ledger, p, a, ver)
        order = sorted((v for v in a.versions if v in a.first_seq), key=a.first_seq.__getitem__)
        versions = {v: a.versions[v] for v in order}
        versions.setdefault(p.program_sha, a.versions.get(p.program_sha, Tally(p.goal)))
        out.append(PaneStandings(p, a.total, versions, ()))
    return out


def standings_from_ledger(ledger: Ledger) -> list[PaneStandings]:
    """Each pane's standings, in the panes' order: the fold the orchestra saved, carried on over
    the rows since, else the aggregate queries (core/standings_checkpoint.py)."""
    from conductor.core import standings_checkpoint as checkpoint  # it builds on this module

    fold, panes, pending = checkpoint.current(ledger)
    return checkpoint.standings(fold, panes, pending)


def slot_spans(ledger: Ledger, hour_from: float) -> list[tuple[str, int, float, float, float]]:
    """Per slot: (slot, experiments, busy seconds, busy seconds after `hour_from`, last finish)."""
    return ledger.select(
        "SELECT slot, COUNT(*), SUM(MAX(0.0, finished_at - started_at)),"
        " SUM(MAX(0.0, finished_at - MAX(started_at, ?))), MAX(finished_at)"
        " FROM experiments WHERE slot != '' GROUP BY slot ORDER BY slot",
        (hour_from,),
    )
