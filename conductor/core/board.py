"""The workspace board: every pane's experiments on one workspace, the ideas in flight, the
moves onto a sibling's best, and the repeat test that reads them.

Panes on one workspace share one source repo and start from its HEAD, and an experiment may
change only editable files, so two experiments ran the same code exactly when their commits
have the same git tree: the tree's hash is the `change_key`. That one test covers an
identical diff made from the same start and an identical knob set (the knobs live in the
editable files); an identical diff made on top of a different best is different code and is
not a repeat. Descriptions are compared by core/similarity.py (a near repeat runs, and the
agent is told). A pane claims its idea while it queues and runs, so the others see it.

The ledger holds it all (schema version 3: the `board` view, `claims`, `migrations`); a
version-2 file opened read-only has no claims or migrations and no change columns.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass

from conductor.core.ledger import Ledger
from conductor.core.record import Status, delta
from conductor.core.similarity import NEAR_REPEAT, cosine, features

NEAR_WINDOW = 2000  # a near repeat is looked for among the workspace's latest entries
RECENT = 200  # entries a board view carries
OUTCOMES = (Status.KEEP, Status.DISCARD, Status.CRASH)  # what running a change again would give again

_COLS = (
    "id, workspace, pane, seq, commit_sha, description, change, change_key, status, reason, metric,"
    " previous_best, is_baseline, finished_at"
)
_COLS_V2 = (
    "e.id, p.workspace, e.pane, e.seq, e.commit_sha, e.description, '', '', e.status, e.reason, e.metric,"
    " NULL, e.is_baseline, e.finished_at"
)


@dataclass(frozen=True)
class BoardEntry:
    id: int
    workspace: str
    pane: str
    seq: int
    commit: str
    description: str
    change: str
    change_key: str
    status: Status
    reason: str
    metric: float | None
    previous_best: float | None
    is_baseline: bool
    finished_at: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "is_baseline", bool(self.is_baseline))

    @property
    def delta(self) -> float | None:
        return delta(self.metric, self.previous_best)


@dataclass(frozen=True)
class Claim:
    pane: str
    change_key: str
    description: str
    ts: float


@dataclass(frozen=True)
class Migration:
    pane: str
    ts: float
    after_seq: int  # the pane's last seq before the move
    from_commit: str
    to_commit: str
    source_pane: str
    source_seq: int
    best_before: float | None
    best_after: float


@dataclass(frozen=True)
class Repeat:
    """What a proposed change repeats: `exact` and `in flight` are not run, `near` is flagged."""

    kind: str  # "exact" | "in flight" | "near"
    pane: str
    seq: int
    description: str
    status: Status | None = None
    metric: float | None = None
    similarity: float = 1.0

    @property
    def refused(self) -> bool:
        return self.kind != "near"

    def text(self, metric_name: str) -> str:
        if self.kind == "in flight":
            return f"exact repeat of the change {self.pane} is running now ('{self.description}'): not run"
        gave = f"{self.status}" + (f", {metric_name} {self.metric:.6f}" if self.metric is not None else "")
        if self.kind == "exact":
            return f"exact repeat of {self.pane} #{self.seq} ('{self.description}'), which gave {gave}: not run again"
        return (
            f"near repeat (similarity {self.similarity:.2f}) of {self.pane} #{self.seq} ('{self.description}'), "
            f"which gave {gave}"
        )


@dataclass(frozen=True)
class BoardView:
    """The board as an agent's prompt reads it: the latest entries, each pane's best, the claims."""

    workspace: str
    recent: tuple[BoardEntry, ...]
    bests: tuple[BoardEntry, ...]
    claims: tuple[Claim, ...]
    migrated: tuple[str, ...]  # panes that moved onto a sibling's best


class Board:
    """One workspace's board over the ledger; shared by its panes (RunContext.board)."""

    def __init__(self, ledger: Ledger, workspace: str):
        self.ledger = ledger
        self.workspace = workspace
        self._features: dict[int, Counter[str]] = {}

    @property
    def _current(self) -> bool:
        return self.ledger.schema_version >= 3

    def _select(self, where: str = "", args: tuple = (), tail: str = "ORDER BY id") -> list[BoardEntry]:
        if self._current:
            sql = f"SELECT {_COLS} FROM board WHERE workspace = ? {where} {tail}"
        else:
            sql = (
                f"SELECT {_COLS_V2} FROM experiments e JOIN panes p ON p.name = e.pane"
                f" WHERE p.workspace = ? {where.replace('pane', 'e.pane')} {tail.replace('id', 'e.id')}"
            )
        return [BoardEntry(*row) for row in self.ledger.query(sql, (self.workspace, *args))]

    def entries(self, since_id: int = 0) -> list[BoardEntry]:
        """Every entry after `since_id`, oldest first."""
        return self._select("AND id > ?", (since_id,))

    def recent(self, n: int = RECENT) -> list[BoardEntry]:
        return list(reversed(self._select(tail=f"ORDER BY id DESC LIMIT {int(n)}")))

    def bests(self, goal: str) -> list[BoardEntry]:
        """Each pane's best kept entry, best first."""

        def rank(e: BoardEntry) -> float:
            value = e.metric if e.metric is not None else float("inf")
            return value if goal == "min" else -value

        if self._current:
            agg = "MIN" if goal == "min" else "MAX"  # SQLite: the other columns come from that row
            sql = (
                f"SELECT {_COLS}, {agg}(metric) FROM board WHERE workspace = ? AND status = 'keep'"
                " AND metric IS NOT NULL GROUP BY pane"
            )
            return sorted((BoardEntry(*row[:-1]) for row in self.ledger.query(sql, (self.workspace,))), key=rank)
        best: dict[str, BoardEntry] = {}
        for e in self.entries():
            if (
                e.status == Status.KEEP
                and e.metric is not None
                and (e.pane not in best or rank(e) < rank(best[e.pane]))
            ):
                best[e.pane] = e
        return sorted(best.values(), key=rank)

    def best_elsewhere(self, pane: str, goal: str) -> BoardEntry | None:
        """The best kept entry of the workspace's other panes."""
        return next((e for e in self.bests(goal) if e.pane != pane), None)

    def view(self, goal: str) -> BoardView:
        return BoardView(
            self.workspace,
            tuple(self.recent()),
            tuple(self.bests(goal)),
            tuple(self.claims()),
            tuple(dict.fromkeys(m.pane for m in self.migrations() if m.pane in self._panes())),
        )

    def _panes(self) -> set[str]:
        return {p.name for p in self.ledger.panes() if p.workspace == self.workspace}

    # ------------------------------------------------------------ claims

    def claims(self) -> list[Claim]:
        if not self._current:
            return []
        rows = self.ledger.query(
            "SELECT pane, change_key, description, ts FROM claims WHERE workspace = ? ORDER BY ts", (self.workspace,)
        )
        return [Claim(*r) for r in rows]

    def claim(self, pane: str, change_key: str, description: str) -> None:
        """`pane` is running this change now (one claim per pane: it runs one experiment at a time).
        A claim is a courtesy to the other panes: one that cannot be written never stops an
        experiment (its record, which must be durable, fails loudly on its own)."""
        with contextlib.suppress(sqlite3.Error):
            self.ledger.write(
                "INSERT OR REPLACE INTO claims (pane, workspace, change_key, description, ts) VALUES (?,?,?,?,?)",
                (pane, self.workspace, change_key, description, time.time()),
            )

    def release(self, pane: str) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.ledger.write("DELETE FROM claims WHERE pane = ?", (pane,))

    # ------------------------------------------------------------ repeats

    def find_repeat(self, pane: str, change_key: str, description: str) -> Repeat | None:
        """The earlier experiment (or claim) this change repeats, exactly or by its description."""
        if change_key:
            done = self._select(
                "AND change_key = ? AND status IN (?, ?, ?)", (change_key, *OUTCOMES), "ORDER BY id LIMIT 1"
            )
            if done:
                e = done[0]
                return Repeat("exact", e.pane, e.seq, e.description, e.status, e.metric)
            for c in self.claims():
                if c.pane != pane and c.change_key == change_key:
                    return Repeat("in flight", c.pane, 0, c.description)
        return self._near(pane, description)

    def _near(self, pane: str, description: str) -> Repeat | None:
        mine = features(description)
        if not mine:
            return None
        best: tuple[float, BoardEntry | Claim] | None = None
        candidates: list[BoardEntry | Claim] = [e for e in self.recent(NEAR_WINDOW) if not e.is_baseline]
        candidates += [c for c in self.claims() if c.pane != pane]
        for item in candidates:
            if isinstance(item, BoardEntry) and item.status not in OUTCOMES:
                continue
            score = cosine(mine, self._features_of(item))
            if score >= NEAR_REPEAT and (best is None or score > best[0]):
                best = (score, item)
        if best is None:
            return None
        score, item = best
        if isinstance(item, Claim):
            return Repeat("near", item.pane, 0, item.description, similarity=score)
        return Repeat("near", item.pane, item.seq, item.description, item.status, item.metric, score)

    def _features_of(self, item: BoardEntry | Claim) -> Counter[str]:
        if isinstance(item, Claim):
            return features(item.description)
        if item.id not in self._features:
            self._features[item.id] = features(item.description)
        return self._features[item.id]

    # ------------------------------------------------------------ migrations

    def record_migration(self, m: Migration) -> None:
        self.ledger.write(
            "INSERT INTO migrations (pane, ts, after_seq, from_commit, to_commit, source_pane, source_seq,"
            " best_before, best_after) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                m.pane,
                m.ts,
                m.after_seq,
                m.from_commit,
                m.to_commit,
                m.source_pane,
                m.source_seq,
                m.best_before,
                m.best_after,
            ),
        )

    def migrations(self, pane: str | None = None) -> list[Migration]:
        return migrations(self.ledger, pane)


def migrations(ledger: Ledger, pane: str | None = None) -> list[Migration]:
    """Every recorded move of a pane onto a sibling's best (of one pane, or all), oldest first."""
    if ledger.schema_version < 3:
        return []
    sql = (
        "SELECT pane, ts, after_seq, from_commit, to_commit, source_pane, source_seq, best_before, best_after"
        " FROM migrations"
    )
    rows = ledger.query(sql + " WHERE pane = ? ORDER BY id", (pane,)) if pane else ledger.query(sql + " ORDER BY id")
    return [Migration(*r) for r in rows]
