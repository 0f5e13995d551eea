"""The ledger's tables and how a file written by an older conductor is brought up to date.

`meta.schema_version` says which layout a file has. A writable Ledger runs the missing
migrations, in order, in one transaction each, when it opens an older file; a read-only one
never writes and reads an older layout as it is (see `Ledger`).

Version 2 records the program per experiment: a `programs` table holds every program.md
version by content hash with its text, and `experiments.program_sha` names the version the
agent was following when it proposed the experiment. A version-1 file kept only the pane's
current program (`panes.program_sha`); migrating gives each old row that program, and keeps
its text only when the pane's program file still hashes to it (else `text_known` = 0).

Version 3 adds the workspace board (core/board.py): each experiment's `change` (the knob
values, or a diff summary), its `change_key` (the hash of the editable files it ran, for
exact repeats) and `previous_best` (the pane's best when it was judged, for the delta); the
`board` view puts every pane's experiments beside their workspace; `claims` holds the ideas
in flight, `migrations` the moves of a pane onto a sibling's best. Migrating leaves change and
change_key empty for old rows (their trees are not re-read) and replays each pane's keeps
for previous_best.
Version 4 (the step `_to_v4_starved`) records how much CPU each experiment's run got:
`experiments.cpu_share` (CPU seconds per wall second, NULL where not measured) and
`experiments.starved` (1 when that share fell far below the baseline's). Older rows get
NULL and 0.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from conductor.core.rundir import RunDir
from conductor.errors import ConductorError

SCHEMA_VERSION = 4

SCHEMA = """
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
    program_sha TEXT NOT NULL DEFAULT '',
    change TEXT NOT NULL DEFAULT '',
    change_key TEXT NOT NULL DEFAULT '',
    previous_best REAL,
    cpu_share REAL,
    starved INTEGER NOT NULL DEFAULT 0,
    UNIQUE (pane, seq)
);
CREATE INDEX IF NOT EXISTS experiments_pane ON experiments (pane, seq);
CREATE TABLE IF NOT EXISTS programs (
    sha TEXT PRIMARY KEY,
    text TEXT NOT NULL DEFAULT '',
    text_known INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    generation INTEGER NOT NULL DEFAULT 0
);
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
CREATE TABLE IF NOT EXISTS variants (
    sha TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    evolver TEXT NOT NULL,
    reasoning TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    pane TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    change_key TEXT NOT NULL,
    description TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pane TEXT NOT NULL,
    ts REAL NOT NULL,
    after_seq INTEGER NOT NULL,
    from_commit TEXT NOT NULL,
    to_commit TEXT NOT NULL,
    source_pane TEXT NOT NULL,
    source_seq INTEGER NOT NULL,
    best_before REAL,
    best_after REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS experiments_change ON experiments (change_key);
-- What the standings read (core/standings_sql.py) without touching the rows: the baseline
-- and keep rows in order, every row's tally columns, and each pane's usage by time.
CREATE INDEX IF NOT EXISTS experiments_landmarks ON experiments (pane, seq) WHERE is_baseline = 1 OR status = 'keep';
CREATE INDEX IF NOT EXISTS experiments_tally
    ON experiments (pane, program_sha, status, is_baseline, seq, slot, started_at, finished_at);
CREATE INDEX IF NOT EXISTS usage_pane_ts
    ON usage (pane, ts, input, output, cache_write_5m, cache_write_1h, cache_read, usd);
-- The last hour's slot time (status), without reading every row (core/standings_checkpoint.py).
CREATE INDEX IF NOT EXISTS experiments_finished ON experiments (finished_at, slot, started_at);
CREATE VIEW IF NOT EXISTS board AS
    SELECT e.id, p.workspace, e.pane, e.seq, e.commit_sha, e.description, e.change, e.change_key,
           e.status, e.reason, e.metric, e.previous_best, e.is_baseline, e.finished_at
    FROM experiments e JOIN panes p ON p.name = e.pane;
CREATE TABLE IF NOT EXISTS samples (
    ts REAL NOT NULL,
    slot TEXT NOT NULL,
    pane TEXT,
    busy REAL NOT NULL,
    util REAL,
    mem_used_mb REAL,
    temp_c REAL
);
-- Each slot's last sample (status, the top bar) without reading a week of them.
CREATE INDEX IF NOT EXISTS samples_slot_ts ON samples (slot, ts);
"""


def program_sha(text: str) -> str:
    """A program.md version's name: the first 12 hex digits of the sha256 of its text."""
    import hashlib  # here: loading OpenSSL is 6 ms of `conductor status`, which hashes nothing

    return hashlib.sha256(text.encode()).hexdigest()[:12]


def schema_version(db: sqlite3.Connection) -> int:
    """The file's layout version; 0 for a file no conductor has written yet."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:  # no meta table: an empty file
        return 0
    return int(row[0]) if row else 0


def pane_programs(db: sqlite3.Connection, run_dir: RunDir) -> list[tuple[str, str, bool]]:
    """(sha, text, text known) of each pane's program in a version-1 file: the text is the pane's
    program file when that still hashes to the recorded sha, else unknown."""
    out: dict[str, tuple[str, str, bool]] = {}
    for name, sha in db.execute("SELECT name, program_sha FROM panes WHERE program_sha != ''"):
        try:
            text = run_dir.program(name).read_text(encoding="utf-8")
        except OSError:
            text = None
        if text is not None and program_sha(text) == sha:
            out[sha] = (sha, text, True)
        else:
            out.setdefault(sha, (sha, "", False))
    return list(out.values())


def _to_v2(db: sqlite3.Connection, run_dir: RunDir) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS programs (sha TEXT PRIMARY KEY, text TEXT NOT NULL DEFAULT '',"
        " text_known INTEGER NOT NULL DEFAULT 1, created_at REAL NOT NULL, parent TEXT NOT NULL DEFAULT '',"
        " generation INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute("ALTER TABLE experiments ADD COLUMN program_sha TEXT NOT NULL DEFAULT ''")
    db.execute(
        "UPDATE experiments SET program_sha ="
        " COALESCE((SELECT program_sha FROM panes WHERE panes.name = experiments.pane), '')"
    )
    now = time.time()
    db.executemany(
        "INSERT OR IGNORE INTO programs (sha, text, text_known, created_at) VALUES (?,?,?,?)",
        [(sha, text, int(known), now) for sha, text, known in pane_programs(db, run_dir)],
    )


def previous_bests(rows: list[tuple[int, str, str, float | None]]) -> list[tuple[float | None, int]]:
    """(previous best, id) of each (id, pane, status, metric) row given in (pane, seq) order: the
    metric of the pane's last keep before it, as the loop judged it."""
    out: list[tuple[float | None, int]] = []
    best: dict[str, float | None] = {}
    for row_id, pane, status, metric in rows:
        out.append((best.get(pane), row_id))
        if status == "keep":
            best[pane] = metric
    return out


def _to_v3(db: sqlite3.Connection, run_dir: RunDir) -> None:
    for column in ("change TEXT NOT NULL DEFAULT ''", "change_key TEXT NOT NULL DEFAULT ''", "previous_best REAL"):
        db.execute(f"ALTER TABLE experiments ADD COLUMN {column}")
    rows = db.execute("SELECT id, pane, status, metric FROM experiments ORDER BY pane, seq").fetchall()
    db.executemany("UPDATE experiments SET previous_best = ? WHERE id = ?", previous_bests(rows))


def _to_v4_starved(db: sqlite3.Connection, run_dir: RunDir) -> None:
    db.execute("ALTER TABLE experiments ADD COLUMN cpu_share REAL")
    db.execute("ALTER TABLE experiments ADD COLUMN starved INTEGER NOT NULL DEFAULT 0")


# MIGRATIONS[v] brings a version-v file to version v + 1
MIGRATIONS: dict[int, Callable[[sqlite3.Connection, RunDir], None]] = {1: _to_v2, 2: _to_v3, 3: _to_v4_starved}


def open_schema(db: sqlite3.Connection, run_dir: RunDir) -> None:
    """Create a new file's tables, or migrate an older file; idempotent, safe against a second
    writer opening the same file at once (the version is re-read inside the transaction)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(db)
        if version > SCHEMA_VERSION:
            raise ConductorError(
                f"{run_dir.ledger} was written by a newer conductor (schema version {version};"
                f" this one knows up to {SCHEMA_VERSION})"
            )
        first = version or SCHEMA_VERSION  # a new file is created at the current version
        for v in range(first, SCHEMA_VERSION):
            MIGRATIONS[v](db, run_dir)
        if first < SCHEMA_VERSION:  # the rows a saved standings fold covered were rewritten
            db.execute("DELETE FROM meta WHERE key = 'standings_fold'")
        for statement in SCHEMA.split(";"):  # every table, IF NOT EXISTS; executescript would commit
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
