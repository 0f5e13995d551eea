"""The durable record of a run: SQLite in WAL mode, one file in the run dir.

Everything shown anywhere is written here first, so a stop at any instant loses nothing
that was shown. Panes, experiments, token usage and agent messages live here; `conductor
status`, reports and resume read it back. One connection per Ledger, guarded by a lock so
the asyncio thread and worker threads can share it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor.core.record import ExperimentRecord

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS panes (
    name TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    agent TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    branch TEXT NOT NULL,
    worktree TEXT NOT NULL,
    metric TEXT NOT NULL,
    goal TEXT NOT NULL,
    base_commit TEXT NOT NULL,
    program_sha TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    position INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pane TEXT NOT NULL,
    seq INTEGER NOT NULL,
    commit_sha TEXT NOT NULL,
    parent_sha TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    metric REAL,
    memory_gb REAL NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    slot TEXT NOT NULL DEFAULT '',
    log_path TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    summary TEXT NOT NULL DEFAULT '{}',
    is_baseline INTEGER NOT NULL DEFAULT 0,
    agent_ref TEXT NOT NULL DEFAULT '',
    seed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (pane, seq)
);
CREATE INDEX IF NOT EXISTS experiments_pane ON experiments (pane, seq);
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pane TEXT NOT NULL,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    input INTEGER NOT NULL DEFAULT 0,
    output INTEGER NOT NULL DEFAULT 0,
    cache_write_5m INTEGER NOT NULL DEFAULT 0,
    cache_write_1h INTEGER NOT NULL DEFAULT 0,
    cache_read INTEGER NOT NULL DEFAULT 0,
    usd REAL NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS usage_pane ON usage (pane);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pane TEXT NOT NULL,
    ts REAL NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pane TEXT NOT NULL,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_pane ON activity (pane, id);
CREATE TABLE IF NOT EXISTS reruns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pane TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    ts REAL NOT NULL,
    seed INTEGER NOT NULL,
    metric REAL,
    log_path TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS samples (
    ts REAL NOT NULL,
    slot TEXT NOT NULL,
    pane TEXT,
    busy REAL NOT NULL,
    util REAL,
    mem_used_mb REAL,
    temp_c REAL
);
"""


@dataclass(frozen=True)
class PaneRecord:
    name: str
    workspace: str
    agent: str
    model: str
    branch: str
    worktree: str
    metric: str
    goal: str
    base_commit: str
    program_sha: str = ""
    created_at: float = 0.0
    position: int = 0


@dataclass(frozen=True)
class UsageTotals:
    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0
    usd: float = 0.0

    def as_dict(self) -> dict[str, int]:
        return {
            "input": self.input,
            "output": self.output,
            "cache_write": self.cache_write,
            "cache_read": self.cache_read,
        }


_EXP_COLS = (
    "pane, seq, commit_sha, status, metric, description, reason, parent_sha, memory_gb, "
    "started_at, finished_at, slot, log_path, exit_code, summary, is_baseline, agent_ref, seed"
)


def _row_to_experiment(r: tuple) -> ExperimentRecord:
    return ExperimentRecord(
        pane=r[0],
        seq=r[1],
        commit=r[2],
        status=r[3],
        metric=r[4],
        description=r[5],
        reason=r[6],
        parent=r[7],
        memory_gb=r[8],
        started_at=r[9],
        finished_at=r[10],
        slot=r[11],
        log_path=r[12],
        exit_code=r[13],
        summary=json.loads(r[14] or "{}"),
        is_baseline=bool(r[15]),
        agent_ref=r[16],
        seed=r[17],
    )


class Ledger:
    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        self._lock = threading.Lock()
        if readonly:
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
        else:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def save_copy(self, dest: Path) -> None:
        """Write everything this connection sees into a new database file at `dest`."""
        with self._lock:
            target = sqlite3.connect(dest)
            try:
                self._db.backup(target)
            finally:
                target.close()

    # ------------------------------------------------------------ meta

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------ panes

    def upsert_pane(self, p: PaneRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO panes (name, workspace, agent, model, branch, worktree, metric, goal, base_commit,"
                " program_sha, created_at, position) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET agent=excluded.agent, model=excluded.model,"
                " program_sha=excluded.program_sha, position=excluded.position",
                (
                    p.name,
                    p.workspace,
                    p.agent,
                    p.model,
                    p.branch,
                    p.worktree,
                    p.metric,
                    p.goal,
                    p.base_commit,
                    p.program_sha,
                    p.created_at or time.time(),
                    p.position,
                ),
            )

    def panes(self) -> list[PaneRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, workspace, agent, model, branch, worktree, metric, goal, base_commit,"
                " program_sha, created_at, position FROM panes ORDER BY position, rowid"
            ).fetchall()
        return [PaneRecord(*r) for r in rows]

    def pane(self, name: str) -> PaneRecord | None:
        return next((p for p in self.panes() if p.name == name), None)

    # ------------------------------------------------------------ experiments

    def record_experiment(self, e: ExperimentRecord) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT INTO experiments ({_EXP_COLS}) VALUES ({','.join('?' * 18)})",
                (
                    e.pane,
                    e.seq,
                    e.commit,
                    e.status,
                    e.metric,
                    e.description,
                    e.reason,
                    e.parent,
                    e.memory_gb,
                    e.started_at,
                    e.finished_at,
                    e.slot,
                    e.log_path,
                    e.exit_code,
                    json.dumps(e.summary, default=str),
                    int(e.is_baseline),
                    e.agent_ref,
                    e.seed,
                ),
            )

    def experiments(self, pane: str | None = None) -> list[ExperimentRecord]:
        sql = f"SELECT {_EXP_COLS} FROM experiments"
        args: tuple = ()
        if pane is not None:
            sql += " WHERE pane = ?"
            args = (pane,)
        sql += " ORDER BY pane, seq" if pane is None else " ORDER BY seq"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_row_to_experiment(r) for r in rows]

    def experiment_count(self, pane: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM experiments WHERE pane = ?", (pane,)).fetchone()[0]

    def has_commit(self, pane: str, commit: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM experiments WHERE pane = ? AND commit_sha = ? LIMIT 1", (pane, commit)
            ).fetchone()
        return row is not None

    # ------------------------------------------------------------ tokens and messages

    def record_usage(
        self,
        pane: str,
        model: str,
        *,
        input: int,
        output: int,
        cache_write_5m: int = 0,
        cache_write_1h: int = 0,
        cache_read: int = 0,
        usd: float = 0.0,
        request_id: str = "",
        source: str = "",
        ts: float | None = None,
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO usage (pane, ts, model, request_id, input, output, cache_write_5m, cache_write_1h,"
                " cache_read, usd, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    pane,
                    ts or time.time(),
                    model,
                    request_id,
                    input,
                    output,
                    cache_write_5m,
                    cache_write_1h,
                    cache_read,
                    usd,
                    source,
                ),
            )

    def usage_totals(self, pane: str | None = None) -> UsageTotals:
        sql = (
            "SELECT COALESCE(SUM(input),0), COALESCE(SUM(output),0), COALESCE(SUM(cache_write_5m + cache_write_1h),0),"
            " COALESCE(SUM(cache_read),0), COALESCE(SUM(usd),0) FROM usage"
        )
        args: tuple = ()
        if pane is not None:
            sql += " WHERE pane = ?"
            args = (pane,)
        with self._lock:
            r = self._db.execute(sql, args).fetchone()
        return UsageTotals(int(r[0]), int(r[1]), int(r[2]), int(r[3]), float(r[4]))

    def add_message(self, pane: str, role: str, text: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO messages (pane, ts, role, text) VALUES (?,?,?,?)", (pane, time.time(), role, text)
            )

    def messages(self, pane: str, limit: int = 200) -> list[tuple[float, str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT ts, role, text FROM messages WHERE pane = ? ORDER BY id DESC LIMIT ?", (pane, limit)
            ).fetchall()
        return list(reversed(rows))

    def record_activity(self, rows: list[tuple[str, float, str, str]]) -> None:
        """Agent activity lines (pane, ts, kind, text), in one transaction."""
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT INTO activity (pane, ts, kind, text) VALUES (?,?,?,?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def recent_activity(self, pane: str, limit: int) -> list[tuple[float, str, str]]:
        """The pane's last `limit` activity lines (ts, kind, text), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ts, kind, text FROM activity WHERE pane = ? ORDER BY id DESC LIMIT ?", (pane, limit)
            ).fetchall()
        return list(reversed(rows))

    def trim_activity(self, keep_per_pane: int) -> None:
        """Keep only each pane's last `keep_per_pane` lines: the table stays small for ever."""
        with self._lock:
            panes = [r[0] for r in self._db.execute("SELECT DISTINCT pane FROM activity").fetchall()]
            for pane in panes:
                self._db.execute(
                    "DELETE FROM activity WHERE pane = ? AND id <= (SELECT id FROM activity WHERE pane = ? "
                    "ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (pane, pane, keep_per_pane),
                )

    def record_sample(
        self,
        ts: float,
        slot: str,
        pane: str | None,
        busy: float,
        util: float | None,
        mem_used_mb: float | None,
        temp_c: float | None,
    ) -> None:
        """One downsampled telemetry row (a minute of a slot); `busy` is the busy fraction."""
        with self._lock:
            self._db.execute(
                "INSERT INTO samples (ts, slot, pane, busy, util, mem_used_mb, temp_c) VALUES (?,?,?,?,?,?,?)",
                (ts, slot, pane, busy, util, mem_used_mb, temp_c),
            )

    def record_rerun(self, pane: str, commit: str, seed: int, metric: float | None, log_path: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO reruns (pane, commit_sha, ts, seed, metric, log_path) VALUES (?,?,?,?,?,?)",
                (pane, commit, time.time(), seed, metric, log_path),
            )

    def execute(self, sql: str, args: tuple = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()
