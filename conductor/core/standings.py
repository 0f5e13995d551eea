"""Standings: what a run's experiments add up to, per pane and per program version, computed once.

`conductor status`, the leaderboard (in status, the report and the TUI's `l` screen), the
report, the export and the TUI's counts all take their numbers from here, so a keep count
is the same wherever it is shown. Pure: ledger rows in, numbers out; core/standings_sql.py gets
the same numbers from a run's ledger with aggregate queries.

Definitions:
- experiments: every recorded row, the baseline included. The baseline is the reference, not
  a try: it is counted under no status. tried = the rows after it = keeps + discards +
  crashes + rejected; keep rate = keeps / tried. An interrupted row (conductor stopped, or
  lost the node, mid-run: not the idea's fault) is counted apart and is no try.
- baseline: the metric of the pane's first baseline row that has one. best: the metric of the
  last kept row (the baseline being the first); best commit: that row's commit; last keep at:
  when the last keep after the baseline finished (None until one: "kept N ago" only after a
  keep); since keep: tries since the last keep (or since the baseline).
- improvement of a pane: how much better its best is than its baseline (`record.improvement`:
  positive = better whatever the goal, in the metric's units); None without a baseline.
- credit per program version: each experiment names the program.md version its agent was
  following when it proposed it (a row without one ran under its pane's program). Every row
  after the baseline is credited a gain: for a keep, how much better it is than the best
  before it; for anything else, 0. A version's improvement on a pane is the sum of the gains
  of the rows that ran under it, so a pane whose program was edited mid-run splits its
  improvement between the versions and the shares add up to the pane's improvement. Rows
  before a baseline (or of a pane without one) have nothing to gain over: no credit (None).
- slot-hours: summed durations of the rows that ran on a slot; wall hours: first start to
  last finish of the rows.
- tokens and usd: a usage row was spent on the pane's first experiment that finished at or
  after it, and counts for that experiment's program version; what was spent after the
  pane's last experiment counts for the pane's current program.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from conductor.core.ledger import PaneRecord, UsageRow, UsageTotals
from conductor.core.record import ExperimentRecord, Status, improvement


class Row(Protocol):
    """What standings read of an experiment: an ExperimentRecord, or the TUI's copy of an event."""

    @property
    def status(self) -> str: ...
    @property
    def is_baseline(self) -> bool: ...
    @property
    def metric(self) -> float | None: ...
    @property
    def commit(self) -> str: ...
    @property
    def slot(self) -> str: ...
    @property
    def started_at(self) -> float: ...
    @property
    def finished_at(self) -> float: ...


COUNTED = (Status.KEEP, Status.DISCARD, Status.CRASH, Status.REJECTED)  # the tries; interrupted is none


def counted_as(status: str, is_baseline: bool) -> Status | None:
    """The count an experiment adds one to; None for the baseline, which is no try."""
    return None if is_baseline else Status(status)


def _has_metric(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


@dataclass
class Tally:
    """Experiments folded in order: a pane's whole history, or one program version's share of it."""

    goal: str = "min"
    experiments: int = 0
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    baseline: float | None = None
    best: float | None = None
    best_commit: str | None = None
    last_keep_at: float | None = None
    since_keep: int = 0
    improvement: float | None = None
    slot_seconds: float = 0.0
    slot_kinds: set[str] = field(default_factory=set)
    first_start: float | None = None
    last_finish: float | None = None
    usage: UsageTotals = field(default_factory=UsageTotals)

    @property
    def tried(self) -> int:
        return sum(self.counts[s] for s in COUNTED)

    @property
    def keeps(self) -> int:
        return self.counts[Status.KEEP]

    @property
    def discards(self) -> int:
        return self.counts[Status.DISCARD]

    @property
    def crashes(self) -> int:
        return self.counts[Status.CRASH]

    @property
    def rejected(self) -> int:
        return self.counts[Status.REJECTED]

    @property
    def interrupted(self) -> int:
        return self.counts[Status.INTERRUPTED]

    @property
    def keep_rate(self) -> float | None:
        return self.keeps / self.tried if self.tried else None

    @property
    def slot_hours(self) -> float:
        return self.slot_seconds / 3600

    @property
    def wall_hours(self) -> float:
        if self.first_start is None or self.last_finish is None:
            return 0.0
        return max(0.0, self.last_finish - self.first_start) / 3600

    @property
    def slot_kind(self) -> str:
        """gpu, cpu, mixed, or "" when nothing ran on a slot."""
        kinds = set(self.slot_kinds)
        return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "")

    @property
    def tokens(self) -> int:
        u = self.usage
        return u.input + u.output + u.cache_write + u.cache_read

    def add(self, row: Row) -> float | None:
        """Fold in the pane's next experiment; returns the gain credited to it."""
        gain = self._gain(row)
        self._count(row)
        if self.baseline is not None and self.best is not None:
            self.improvement = improvement(self.goal, self.baseline, self.best)
        return gain

    def add_share(self, row: Row, gain: float | None) -> None:
        """Fold in one of a pane's experiments that ran under this version, with the gain the
        pane's tally credited it."""
        self._count(row)
        if gain is not None:
            self.improvement = (self.improvement or 0.0) + gain

    def _gain(self, row: Row) -> float | None:
        if row.is_baseline:
            return 0.0 if self.baseline is None and _has_metric(row.metric) else None
        reference = self.best if self.baseline is not None else None
        if reference is None:
            return None
        metric = row.metric
        if row.status == Status.KEEP and metric is not None and math.isfinite(metric):
            return improvement(self.goal, reference, metric)
        return 0.0

    def _count(self, row: Row) -> None:
        self.experiments += 1
        kind = counted_as(row.status, row.is_baseline)
        if kind is not None:
            self.counts[kind] += 1
        if row.is_baseline and _has_metric(row.metric) and self.baseline is None:
            self.baseline = row.metric
        if row.status == Status.KEEP and row.metric is not None:
            self.best, self.best_commit = row.metric, row.commit
            if not row.is_baseline:
                self.since_keep, self.last_keep_at = 0, row.finished_at
        elif not row.is_baseline and row.status != Status.INTERRUPTED:
            self.since_keep += 1
        if row.slot:
            self.slot_seconds += max(0.0, row.finished_at - row.started_at)
            self.slot_kinds.add("gpu" if row.slot.startswith("gpu") else "cpu")
        if row.started_at and (self.first_start is None or row.started_at < self.first_start):
            self.first_start = row.started_at
        if row.finished_at and (self.last_finish is None or row.finished_at > self.last_finish):
            self.last_finish = row.finished_at


def usage_totals(rows: Iterable[UsageRow]) -> UsageTotals:
    rows = list(rows)
    return UsageTotals(
        input=sum(u.input for u in rows),
        output=sum(u.output for u in rows),
        cache_write=sum(u.cache_write_5m + u.cache_write_1h for u in rows),
        cache_read=sum(u.cache_read for u in rows),
        usd=sum(u.usd for u in rows),
    )


@dataclass(frozen=True)
class PaneStandings:
    pane: PaneRecord
    total: Tally
    versions: dict[str, Tally]  # program sha -> this pane's share under it, in the order first run
    gains: tuple[float | None, ...]  # credited to each row, in row order

    @property
    def name(self) -> str:
        return self.pane.name


def version_of(pane: PaneRecord, row: ExperimentRecord) -> str:
    """The program version an experiment ran under: its own, else its pane's."""
    return row.program_sha or pane.program_sha


def usage_versions(pane: PaneRecord, rows: list[ExperimentRecord], usage: list[UsageRow]) -> list[str]:
    """The program version each usage row was spent on: that of the pane's first experiment
    finished at or after it, else the pane's current program."""
    ends = sorted((r.finished_at, version_of(pane, r)) for r in rows)
    finish_times = [t for t, _ in ends]
    out = []
    for u in usage:
        i = bisect.bisect_left(finish_times, u.ts)
        out.append(ends[i][1] if i < len(ends) else pane.program_sha)
    return out


def pane_standings(pane: PaneRecord, rows: list[ExperimentRecord], usage: list[UsageRow]) -> PaneStandings:
    total = Tally(pane.goal)
    versions: dict[str, Tally] = {}
    gains = []
    for r in rows:
        gain = total.add(r)
        gains.append(gain)
        versions.setdefault(version_of(pane, r), Tally(pane.goal)).add_share(r, gain)
    versions.setdefault(pane.program_sha, Tally(pane.goal))
    by_version: dict[str, list[UsageRow]] = {}
    for u, sha in zip(usage, usage_versions(pane, rows, usage), strict=True):
        by_version.setdefault(sha, []).append(u)
    for sha, spent in by_version.items():
        versions.setdefault(sha, Tally(pane.goal)).usage = usage_totals(spent)
    total.usage = usage_totals(usage)
    return PaneStandings(pane, total, versions, tuple(gains))
