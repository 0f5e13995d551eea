"""The standings folded up to a point and kept in the ledger, so a reader folds only what came after.

core/standings_sql.py adds a run's standings up with aggregate queries, but those still read
every row: 0.4 s of queries at 50,000 experiments for `conductor status`. Experiments and
usage rows are only ever appended, so a fold made at a point stays right for the rows it
covered. A `Fold` holds, per pane, the same Tallies `pane_standings` would have after the
rows up to experiments id `exp_id`, plus what it needs to go on from there (the spans of
program versions its usage is credited by, each slot's sums); usage rows are folded once
they have an experiment to be credited to (spent at or before the pane's last finish), and
the rest stays pending until one finishes.

The running orchestra saves a fold in the ledger's meta table (core/standings_keeper.py); a reader loads it and
folds the rows since (`standings_from_ledger`: a few indexed queries, whatever the history).
A fold that cannot go on (none saved, a pane added, a program or goal changed under rows that
name none, a row out of order, an older schema) is not used: the reader takes the aggregate
queries, and the keeper saves a new one from them. tests/unit/test_standings_checkpoint.py
checks every path against the full fold.
"""

from __future__ import annotations

import bisect
import copy
import json
import math
from dataclasses import dataclass, field

from conductor.core import standings_sql as sql
from conductor.core.ledger import Ledger, PaneRecord, UsageTotals
from conductor.core.record import Status
from conductor.core.standings import PaneStandings, Tally

META_KEY = "standings_fold"
FORMAT = 1
FOLD_AT_MOST = 5000  # rows after a saved fold: beyond, the aggregate queries are faster


@dataclass
class PaneFold:
    program_sha: str
    goal: str
    upto_seq: int = 0
    last_finish: float | None = None  # of the rows folded: usage up to it is credited
    total: Tally = field(default_factory=Tally)
    versions: dict[str, Tally] = field(default_factory=dict)  # in the order first run
    spans: list[tuple[float, str]] = field(default_factory=list)  # (lower bound, version), as SpentOn's

    def credit(self, ts: float) -> str:
        """The version a usage row spent at `ts` (<= last_finish) is credited to."""
        lows = [lo for lo, _ in self.spans]
        return self.spans[bisect.bisect_left(lows, ts) - 1][1]


@dataclass
class Fold:
    schema_version: int
    exp_id: int = 0
    usage_id: int = 0
    panes: dict[str, PaneFold] = field(default_factory=dict)
    slots: dict[str, list[float]] = field(default_factory=dict)  # slot -> [experiments, busy s, last finish]


class Stale(Exception):
    """The saved fold cannot be carried on over these rows."""


# ------------------------------------------------------------------ reading and carrying on


def saved(ledger: Ledger) -> Fold | None:
    raw = ledger.get_meta(META_KEY)
    if not raw:
        return None
    try:
        return _from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):  # not one this conductor wrote
        return None


def carried_on(ledger: Ledger, fold: Fold, panes: list[PaneRecord]) -> tuple[Fold, dict[str, list]]:
    """`fold` with the rows after it (in place), and each pane's usage not yet credited:
    (ts, input, output, cache write, cache read, usd) rows. Raises Stale."""
    if fold.schema_version != ledger.schema_version or set(fold.panes) - {p.name for p in panes}:
        raise Stale
    for p in panes:
        mine = fold.panes.get(p.name)
        if mine is None:
            if fold.exp_id and ledger.select(
                "SELECT 1 FROM experiments WHERE pane = ? AND id <= ?", (p.name, fold.exp_id)
            ):
                raise Stale
            fold.panes[p.name] = PaneFold(p.program_sha, p.goal, total=Tally(p.goal))
        elif (mine.program_sha, mine.goal) != (p.program_sha, p.goal):
            raise Stale  # rows that name no program ran under the pane's: their credit moves
    goals = {p.name: p.goal for p in panes}
    credited_to = {name: pane.last_finish for name, pane in fold.panes.items()}  # usage credited so far
    rows = ledger.select(
        "SELECT e.id, e.pane, e.seq, e.status, e.is_baseline, e.metric, e.commit_sha, e.slot, e.started_at,"
        f" e.finished_at, {sql.version_sql(ledger)} FROM experiments e JOIN panes p ON p.name = e.pane"
        " WHERE e.id > ? ORDER BY e.pane, e.seq",
        (fold.exp_id,),
    )
    by_pane: dict[str, list] = {}
    for r in rows:
        by_pane.setdefault(r[1], []).append(r)
    for name, theirs in by_pane.items():
        _fold_rows(fold.panes[name], goals[name], theirs)
    for r in rows:
        slot = r[7]
        if slot:
            s = fold.slots.setdefault(slot, [0, 0.0, r[9]])
            s[0] += 1
            s[1] += max(0.0, r[9] - r[8])
            s[2] = max(s[2], r[9])
    fold.exp_id = max([fold.exp_id, *(r[0] for r in rows)])
    return fold, _credit_usage(ledger, fold, credited_to)


def _fold_rows(pane: PaneFold, goal: str, rows: list) -> None:
    if rows[0][2] <= pane.upto_seq or (pane.last_finish is not None and min(r[9] for r in rows) <= pane.last_finish):
        raise Stale  # a row before the fold's last: its usage credit and order would differ
    for _, _, seq, status, is_baseline, metric, commit, slot, started, finished, version in rows:
        row = sql.TallyRow(status, bool(is_baseline), metric, commit, slot, started, finished)
        gain = pane.total.add(row)
        pane.versions.setdefault(version, Tally(goal)).add_share(row, gain)
        pane.upto_seq = seq
    last_version = pane.spans[-1][1] if pane.spans else None
    prev = pane.last_finish
    for finished, version in sorted((r[9], r[10]) for r in rows):
        if version != last_version:
            pane.spans.append((-math.inf if prev is None else prev, version))
            last_version = version
        prev = finished
    pane.last_finish = prev


def _credit_usage(ledger: Ledger, fold: Fold, credited_to: dict[str, float | None]) -> dict[str, list]:
    """Credit the usage rows that now have an experiment to go to; return the rest per pane.
    `credited_to`: each pane's last finish before these rows (the fold holds the usage of rows
    up to `usage_id` spent by then)."""
    cols = "ts, input, output, cache_write_5m + cache_write_1h, cache_read, usd"
    fresh: dict[str, list] = {}
    for owner, *spent in ledger.select(
        f"SELECT pane, {cols}, id FROM usage WHERE id > ? ORDER BY id", (fold.usage_id,)
    ):
        fresh.setdefault(owner, []).append(spent)
    pending: dict[str, list] = {}
    top = fold.usage_id
    for name, pane in fold.panes.items():
        mine: list[tuple] = [tuple(u[:6]) for u in fresh.get(name, [])]
        top = max([top, *(u[6] for u in fresh.get(name, []))])
        lf, before = pane.last_finish, credited_to.get(name)
        if fold.usage_id:
            mine += ledger.select(
                f"SELECT {cols} FROM usage WHERE pane = ? AND ts > ? AND id <= ?",
                (name, -math.inf if before is None else before, fold.usage_id),
            )
        waiting = []
        for u in mine:
            if lf is not None and u[0] <= lf:
                share = pane.versions.setdefault(pane.credit(u[0]), Tally(pane.goal))
                share.usage = _plus(share.usage, u)
                pane.total.usage = _plus(pane.total.usage, u)
            else:
                waiting.append(u)
        pending[name] = waiting
    fold.usage_id = top
    return pending


def _plus(a: UsageTotals, u) -> UsageTotals:
    """`a` and one usage row (ts, input, output, cache write, cache read, usd)."""
    return sql.plus(a, UsageTotals(int(u[1]), int(u[2]), int(u[3]), int(u[4]), float(u[5])))


def standings(fold: Fold, panes: list[PaneRecord], pending: dict[str, list]) -> list[PaneStandings]:
    """What `pane_standings` gives over all the rows: the fold, with the pending usage going to
    each pane's current program. Copies: the fold itself is left as it was."""
    out = []
    for p in panes:
        pf = fold.panes[p.name]
        total = copy.deepcopy(pf.total)
        versions = copy.deepcopy(pf.versions)
        current = versions.setdefault(p.program_sha, Tally(p.goal))
        for u in pending.get(p.name, []):
            current.usage = _plus(current.usage, u)
            total.usage = _plus(total.usage, u)
        out.append(PaneStandings(p, total, versions, ()))
    return out


def slot_spans(fold: Fold, ledger: Ledger, hour_from: float) -> list[tuple[str, int, float, float, float]]:
    """core/standings_sql.slot_spans from the fold: the busy time since `hour_from` is the one
    thing read afresh (the rows that finished since, by an index)."""
    recent = dict(
        ledger.select(
            "SELECT slot, SUM(MAX(0.0, finished_at - MAX(started_at, ?))) FROM experiments"
            " WHERE finished_at > ? AND slot != '' GROUP BY slot",
            (hour_from, hour_from),
        )
    )
    return [(slot, int(n), busy, recent.get(slot, 0.0), last) for slot, (n, busy, last) in sorted(fold.slots.items())]


# ------------------------------------------------------------------ a fold from the aggregates


def from_aggregates(ledger: Ledger, panes: list[PaneRecord]) -> Fold:
    """A fold of every row, from the aggregate queries (call it inside `Ledger.snapshot`)."""
    exp_id = ledger.select("SELECT COALESCE(MAX(id), 0) FROM experiments")[0][0]
    usage_id = ledger.select("SELECT COALESCE(MAX(id), 0) FROM usage")[0][0]
    fold = Fold(ledger.schema_version, exp_id, usage_id)
    records = {p.name: p for p in panes}
    ver = sql.version_sql(ledger)
    acc = sql.fold_landmarks(ledger, records, ver)
    sql.add_the_rest(ledger, acc, records, ver)
    seqs = dict(ledger.select("SELECT pane, MAX(seq) FROM experiments GROUP BY pane"))
    for p in panes:
        a = acc[p.name]
        last, spans = sql.add_usage(ledger, p, a, ver, credited_only=True)
        order = sorted((v for v in a.versions if v in a.first_seq), key=a.first_seq.__getitem__)
        fold.panes[p.name] = PaneFold(
            p.program_sha, p.goal, seqs.get(p.name) or 0, last, a.total, {v: a.versions[v] for v in order}, spans
        )
    for slot, n, busy, finish in ledger.select(
        "SELECT slot, COUNT(*), SUM(MAX(0.0, finished_at - started_at)), MAX(finished_at)"
        " FROM experiments WHERE slot != '' GROUP BY slot"
    ):
        fold.slots[slot] = [n, busy, finish]
    return fold


def current(ledger: Ledger) -> tuple[Fold, list[PaneRecord], dict[str, list]]:
    """The fold of every row the ledger holds now, and each pane's pending usage (one snapshot)."""
    with ledger.snapshot():
        panes = ledger.panes()
        fold = saved(ledger)
        top = ledger.select("SELECT COALESCE(MAX(id), 0) FROM experiments")[0][0]
        if fold is not None and top - fold.exp_id <= FOLD_AT_MOST:
            try:
                fold, pending = carried_on(ledger, fold, panes)
                return fold, panes, pending
            except Stale:
                pass
        fold = from_aggregates(ledger, panes)
        fold, pending = carried_on(ledger, fold, panes)  # nothing after it: the pending usage
        return fold, panes, pending


def save(writer: Ledger, fold: Fold) -> None:
    writer.set_meta(META_KEY, json.dumps(_to_json(fold)))


# ------------------------------------------------------------------ json


def _tally_json(t: Tally) -> dict:
    u = t.usage
    return {
        "goal": t.goal,
        "experiments": t.experiments,
        "counts": {str(k): v for k, v in t.counts.items()},
        "baseline": t.baseline,
        "best": t.best,
        "best_commit": t.best_commit,
        "last_keep_at": t.last_keep_at,
        "since_keep": t.since_keep,
        "improvement": t.improvement,
        "slot_seconds": t.slot_seconds,
        "slot_kinds": sorted(t.slot_kinds),
        "first_start": t.first_start,
        "last_finish": t.last_finish,
        "usage": [u.input, u.output, u.cache_write, u.cache_read, u.usd],
    }


def _tally_from(d: dict) -> Tally:
    t = Tally(d["goal"])
    t.experiments = d["experiments"]
    t.counts = {s: d["counts"].get(str(s), 0) for s in Status}
    for name in ("baseline", "best", "best_commit", "last_keep_at", "since_keep", "improvement"):
        setattr(t, name, d[name])
    t.slot_seconds, t.slot_kinds = d["slot_seconds"], set(d["slot_kinds"])
    t.first_start, t.last_finish = d["first_start"], d["last_finish"]
    t.usage = UsageTotals(*d["usage"])
    return t


def _to_json(fold: Fold) -> dict:
    return {
        "format": FORMAT,
        "schema_version": fold.schema_version,
        "exp_id": fold.exp_id,
        "usage_id": fold.usage_id,
        "slots": fold.slots,
        "panes": {
            name: {
                "program_sha": p.program_sha,
                "goal": p.goal,
                "upto_seq": p.upto_seq,
                "last_finish": p.last_finish,
                "total": _tally_json(p.total),
                "versions": [[v, _tally_json(t)] for v, t in p.versions.items()],
                "spans": [[None if lo == -math.inf else lo, v] for lo, v in p.spans],
            }
            for name, p in fold.panes.items()
        },
    }


def _from_json(d: dict) -> Fold | None:
    if d.get("format") != FORMAT:
        return None
    panes = {
        name: PaneFold(
            p["program_sha"],
            p["goal"],
            p["upto_seq"],
            p["last_finish"],
            _tally_from(p["total"]),
            {v: _tally_from(t) for v, t in p["versions"]},
            [(-math.inf if lo is None else lo, v) for lo, v in p["spans"]],
        )
        for name, p in d["panes"].items()
    }
    return Fold(d["schema_version"], d["exp_id"], d["usage_id"], panes, {k: list(v) for k, v in d["slots"].items()})
