"""The durable record of a run: SQLite in WAL mode, one file in the run dir.

Everything shown anywhere is written here first, so a stop at any instant loses nothing
that was shown. Panes, experiments, program versions, token usage and agent messages live
here; `conductor status`, reports and resume read it back through the query methods below
(no reader writes SQL). One connection per Ledger, guarded by a lock so the asyncio thread
and worker threads can share it. Readers open it read-only (`Ledger.reader`); only a
writable Ledger migrates an older file (core/ledger_schema.py), and a read-only one reads a
version-1 file as it is: each experiment then ran under its pane's program.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conductor.core.ledger_schema import open_schema, pane_programs, program_sha, schema_version
from conductor.core.record import ExperimentRecord
from conductor.core.rundir import RunDir
from conductor.errors import ConductorError


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


@dataclass(frozen=True)
class ProgramVersion:
    """One program.md version. `text_known` is False for a version a version-1 ledger named but
    whose text was lost (the file was edited before the migration): readers show the sha alone.
    `parent` and `generation` are lineage, for programs that evolve from one another."""

    sha: str
    text: str
    text_known: bool = True
    created_at: float = 0.0
    parent: str = ""
    generation: int = 0


@dataclass(frozen=True)
class UsageRow:
    pane: str
    ts: float
    model: str
    request_id: str
    input: int
    output: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int
    usd: float
    source: str


@dataclass(frozen=True)
class Sample:
    """One downsampled telemetry row: a minute of a slot."""

    ts: float
    slot: str
    pane: str | None
    busy: float
    util: float | None
    mem_used_mb: float | None
    temp_c: float | None


@dataclass(frozen=True)
class Rerun:
    pane: str
    commit: str
    ts: float
    seed: int
    metric: float | None
    log_path: str


_EXP_COLS = (
    "pane, seq, commit_sha, status, metric, description, reason, parent_sha, memory_gb, "
    "started_at, finished_at, slot, log_path, exit_code, summary, is_baseline, agent_ref, seed, program_sha, "
    "change, change_key, cpu_share, starved"
)
# a version-3 file has no cpu_share or starved: nothing was measured
_EXP_COLS_V3 = _EXP_COLS.replace("cpu_share, starved", "NULL, 0")
# a version-2 file has no experiments.change or change_key either
_EXP_COLS_V2 = _EXP_COLS_V3.replace("change, change_key", "'', ''")
# a version-1 file has no experiments.program_sha either: every row ran under its pane's program
_EXP_COLS_V1 = _EXP_COLS_V2.replace(
    "program_sha", "COALESCE((SELECT program_sha FROM panes WHERE panes.name = experiments.pane), '')"
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
        program_sha=r[18],
        change=r[19],
        change_key=r[20],
        cpu_share=r[21],
        starved=bool(r[22]),
    )


def unreadable(path: Path, exc: Exception) -> str:
    return (
        f"{path} is not a readable conductor ledger ({exc}); nothing was changed: "
        "move it aside to start a new run there, or restore it from a copy"
    )


class Ledger:
    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        self.run_dir = RunDir(self.path.parent)
        self._lock = threading.Lock()
        self._snapshot_lock = threading.RLock()
        self.readonly = readonly
        try:
            if readonly:
                uri = f"file:{self.path}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
            else:
                self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                open_schema(self._db, self.run_dir)
            self.schema_version = schema_version(self._db)
        except sqlite3.DatabaseError as exc:
            raise ConductorError(unreadable(self.path, exc)) from None

    @classmethod
    def reader(cls, run_dir: Path) -> Ledger:
        """A run's ledger opened read-only, for everything that only reads it (status, report,
        export, an attached TUI); a one-line error when there is no run there."""
        path = RunDir(run_dir).ledger
        if not path.is_file():
            raise ConductorError(
                f"no run found in {run_dir} (no ledger.db); start one with `conductor run` or `conductor demo`"
            )
        ledger = cls(path, readonly=True)
        if ledger.schema_version == 0:
            ledger.close()
            raise ConductorError(f"no run recorded in {run_dir} yet (ledger.db is empty)")
        return ledger

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

    def record_experiment(self, e: ExperimentRecord, previous_best: float | None = None) -> None:
        """`previous_best`: the pane's best the experiment was judged against (the board's delta)."""
        with self._lock:
            self._db.execute(
                f"INSERT INTO experiments ({_EXP_COLS}, previous_best) VALUES ({','.join('?' * 24)})",
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
                    e.program_sha,
                    e.change,
                    e.change_key,
                    e.cpu_share,
                    int(e.starved),
                    previous_best,
                ),
            )

    def experiments(self, pane: str | None = None) -> list[ExperimentRecord]:
        cols = {1: _EXP_COLS_V1, 2: _EXP_COLS_V2, 3: _EXP_COLS_V3}.get(self.schema_version, _EXP_COLS)
        sql = f"SELECT {cols} FROM experiments"
        args: tuple = ()
        if pane is not None:
            sql += " WHERE pane = ?"
            args = (pane,)
        sql += " ORDER BY pane, seq" if pane is None else " ORDER BY seq"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_row_to_experiment(r) for r in rows]

    def select(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        """The rows of one read query: for the aggregate readers of core (core/standings_sql.py),
        which add up what would take every row to build as records."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read-only ledger: every query inside sees the same rows (one read transaction, WAL);
        nested or from several threads, the outermost holds it. A writer's connection is shared
        with its writes, so there it is a no-op."""
        if not self.readonly:
            yield
            return
        with self._snapshot_lock:
            with self._lock:
                outer = not self._db.in_transaction
                if outer:
                    self._db.execute("BEGIN")
            try:
                yield
            finally:
                if outer:
                    with self._lock:
                        self._db.execute("COMMIT")

    def recent_experiments(self, pane: str, limit: int) -> list[ExperimentRecord]:
        """The pane's last `limit` experiments, oldest first."""
        sql = f"SELECT {_EXP_COLS if self.schema_version >= 2 else _EXP_COLS_V1} FROM experiments"
        with self._lock:
            rows = self._db.execute(sql + " WHERE pane = ? ORDER BY seq DESC LIMIT ?", (pane, limit)).fetchall()
        return [_row_to_experiment(r) for r in reversed(rows)]

    def _stream(self, sql: str, args: tuple = (), page: int = 500):
        """Rows of one query a page at a time: a reader's memory stays one page whatever the table
        (for readers, whose connection nothing else uses meanwhile)."""
        with self._lock:
            cursor = self._db.execute(sql, args)
        while True:
            with self._lock:
                rows = cursor.fetchmany(page)
            if not rows:
                return
            yield from rows

    def experiments_page(self, pane: str, after_seq: int, limit: int) -> list[ExperimentRecord]:
        """Up to `limit` of the pane's experiments after `after_seq`, in seq order: history read in
        pieces (the TUI's load, the export), no statement left open between them."""
        sql = f"SELECT {_EXP_COLS if self.schema_version >= 2 else _EXP_COLS_V1} FROM experiments"
        with self._lock:
            rows = self._db.execute(
                sql + " WHERE pane = ? AND seq > ? ORDER BY seq LIMIT ?", (pane, after_seq, limit)
            ).fetchall()
        return [_row_to_experiment(r) for r in rows]

    def iter_experiments(self, pane: str, page: int = 500):
        """A pane's experiments in seq order, read a page at a time."""
        after = 0
        while rows := self.experiments_page(pane, after, page):
            yield from rows
            after = rows[-1].seq

    def iter_usage(self):
        """Every usage row in the order they were spent, read a page at a time."""
        sql = (
            "SELECT pane, ts, model, request_id, input, output, cache_write_5m, cache_write_1h, cache_read, usd,"
            " source FROM usage ORDER BY ts, id"
        )
        for r in self._stream(sql):
            yield UsageRow(*r)

    def experiment_count(self, pane: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM experiments WHERE pane = ?", (pane,)).fetchone()[0]

    def has_commit(self, pane: str, commit: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM experiments WHERE pane = ? AND commit_sha = ? LIMIT 1", (pane, commit)
            ).fetchone()
        return row is not None

    # ------------------------------------------------------------ the board's tables (core/board.py)

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Rows of one read; for the modules that own a table of their own (core/board.py)."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def write(self, sql: str, args: tuple = ()) -> None:
        with self._lock:
            self._db.execute(sql, args)

    # ------------------------------------------------------------ program versions

    def record_program(self, text: str, parent: str = "", generation: int = 0) -> str:
        """Store a program.md version (once per content) and return its sha; a version whose text
        a migration could not recover gets it here."""
        sha = program_sha(text)
        with self._lock:
            self._db.execute(
                "INSERT INTO programs (sha, text, text_known, created_at, parent, generation) VALUES (?,?,1,?,?,?)"
                " ON CONFLICT(sha) DO UPDATE SET text = excluded.text, text_known = 1 WHERE programs.text_known = 0",
                (sha, text, time.time(), parent, generation),
            )
        return sha

    def programs(self) -> list[ProgramVersion]:
        """Every program version recorded, oldest first."""
        with self._lock:
            if self.schema_version < 2:
                return [ProgramVersion(sha, text, known) for sha, text, known in pane_programs(self._db, self.run_dir)]
            rows = self._db.execute(
                "SELECT sha, text, text_known, created_at, parent, generation FROM programs ORDER BY created_at, rowid"
            ).fetchall()
        return [ProgramVersion(r[0], r[1], bool(r[2]), r[3], r[4], r[5]) for r in rows]

    def program(self, sha: str) -> ProgramVersion | None:
        return next((p for p in self.programs() if p.sha == sha), None)

    def record_variant(self, sha: str, workspace: str, evolver: str, reasoning: str) -> None:
        """Why an evolved program version was written, and by which evolver (conductor/evolve.py)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO variants (sha, workspace, evolver, reasoning, created_at) VALUES (?,?,?,?,?)",
                (sha, workspace, evolver, reasoning, time.time()),
            )

    def variants_of(self, workspace: str) -> set[str]:
        """The versions evolved for `workspace` (run or not yet)."""
        with self._lock:
            try:
                rows = self._db.execute("SELECT sha FROM variants WHERE workspace = ?", (workspace,)).fetchall()
            except sqlite3.OperationalError:  # read-only and older than the table
                return set()
        return {r[0] for r in rows}

    def variant_reasons(self) -> dict[str, tuple[str, str]]:
        """sha -> (evolver, reasoning) of every evolved version; empty for a file without the table."""
        with self._lock:
            try:
                rows = self._db.execute("SELECT sha, evolver, reasoning FROM variants").fetchall()
            except sqlite3.OperationalError:  # read-only and older than the table
                return {}
        return {sha: (evolver, why) for sha, evolver, why in rows}

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

    def usage_rows(self, pane: str | None = None) -> list[UsageRow]:
        """Every usage row (of one pane, or all), in the order they were spent."""
        sql = (
            "SELECT pane, ts, model, request_id, input, output, cache_write_5m, cache_write_1h, cache_read, usd,"
            " source FROM usage"
        )
        args: tuple = ()
        if pane is not None:
            sql += " WHERE pane = ?"
            args = (pane,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY ts, id", args).fetchall()
        return [UsageRow(*r) for r in rows]

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

    def reruns(self, pane: str | None = None) -> list[Rerun]:
        sql = "SELECT pane, commit_sha, ts, seed, metric, log_path FROM reruns"
        args: tuple = ()
        if pane is not None:
            sql += " WHERE pane = ?"
            args = (pane,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [Rerun(*r) for r in rows]

    def latest_samples(self) -> dict[str, Sample]:
        """Each slot's last telemetry row."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.ts, s.slot, s.pane, s.busy, s.util, s.mem_used_mb, s.temp_c FROM samples s"
                " JOIN (SELECT slot, MAX(ts) AS ts FROM samples GROUP BY slot) m ON s.slot = m.slot AND s.ts = m.ts"
            ).fetchall()
        return {r[1]: Sample(*r) for r in rows}
