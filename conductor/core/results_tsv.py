"""The autoresearch `results.tsv`: untracked, tab-separated, one row per experiment.

Columns `commit <metric> memory_gb status description`; an interrupted run is written as a
crash, the status upstream tools know; crashes (and rejected edits, which
never ran) write 0.000000 and 0.0 as upstream does. The ledger is the source of truth: on
start the file is brought level with it (`sync`: left alone or appended to when it agrees so
far, else rebuilt), so the two always agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from conductor.core.record import ExperimentRecord, Status

FILENAME = "results.tsv"
MEASURED = (Status.KEEP, Status.DISCARD)  # rows whose metric and memory are written


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def header(metric: str) -> str:
    return f"commit\t{metric}\tmemory_gb\tstatus\tdescription\n"


def row(e: ExperimentRecord) -> str:
    value = e.metric if e.metric is not None and e.status in MEASURED else 0.0
    memory = e.memory_gb if e.status in MEASURED else 0.0
    status = Status.CRASH if e.status == Status.INTERRUPTED else e.status  # upstream knows keep/discard/crash
    return f"{e.commit[:7]}\t{value:.6f}\t{memory:.1f}\t{status}\t{_clean(e.description)}\n"


def append(path: Path, metric: str, e: ExperimentRecord) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", encoding="utf-8") as fh:
        if new:
            fh.write(header(metric))
        fh.write(row(e))


def rewrite(path: Path, metric: str, rows: list[ExperimentRecord]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(header(metric))
        for e in rows:
            fh.write(row(e))
    os.replace(tmp, path)


def sync(path: Path, metric: str, count: int, tail: Callable[[int], list[ExperimentRecord]]) -> str:
    """Bring the file level with a ledger that has `count` rows of the pane (`tail(n)`: its last n,
    oldest first). A file that agrees with it (its header, and its last row is the ledger's row
    at that position) is left as it is or has the missing rows appended; anything else is
    rewritten. Returns what was done: "agrees", "appended" or "rewritten"."""
    try:
        lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    rows = [ln for ln in lines[1:] if ln.strip()]
    if lines and lines[0] + "\n" == header(metric) and len(rows) <= count:
        missing = count - len(rows)
        recent = tail(missing + 1) if rows else tail(missing)
        at = recent[0] if rows else None
        if at is None or row(at) == rows[-1] + "\n":
            new = recent[1:] if rows else recent
            if new:
                with open(path, "a", encoding="utf-8") as fh:
                    fh.writelines(row(e) for e in new)
                return "appended"
            return "agrees"
    rewrite(path, metric, tail(count))
    return "rewritten"


def read(path: Path) -> list[list[str]]:
    """Rows (without the header) as lists of columns; a missing file is empty."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    return [ln.split("\t") for ln in lines[1:] if ln.strip()]
