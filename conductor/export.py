"""`conductor export`: a run's experiments and token usage as one flat table, for a notebook.

One record per experiment and one per usage row, told apart by the `record` column
("experiment" or "usage"), each carrying its pane's workspace, metric name and goal so a
notebook can group without joining. `program_sha` is the program.md version the row counts
for: an experiment's own (the one its agent followed when it proposed it), and for usage
the version it was spent on (core/standings.py). `gain` is what the standings credit an
experiment with (for a keep, how much better than the best before it; 0 for any other row;
empty before a baseline), so summing it per program gives the leaderboard's shares. The format follows the file name:
`.csv` (one header, the union of columns, empty cells where a column does not apply) or
`.jsonl`/`.ndjson` (one JSON object per line). A missing metric stays empty (CSV) or null
(JSON), never 0.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from conductor.core.ledger import Ledger
from conductor.core.record import Status
from conductor.core.standings import Tally, version_of
from conductor.core.standings_sql import SpentOn
from conductor.errors import ConductorError

PANE_COLUMNS = ("pane", "workspace", "program_sha", "metric_name", "goal", "agent", "model")
EXPERIMENT_COLUMNS = (
    "seq",
    "commit",
    "parent",
    "status",
    "metric",
    "is_baseline",
    "gain",
    "description",
    "reason",
    "started_at",
    "finished_at",
    "duration_s",
    "slot",
    "exit_code",
    "memory_gb",
    "agent_ref",
    "seed",
    "cpu_share",
    "starved",
    "summary",
)
USAGE_COLUMNS = (
    "ts",
    "usage_model",
    "request_id",
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "usd",
    "source",
)
COLUMNS = ("record", *PANE_COLUMNS, *EXPERIMENT_COLUMNS, *USAGE_COLUMNS)


def export_records(ledger: Ledger) -> Iterator[dict]:
    """Every experiment, then every usage row, each as a dict with the pane's context: streamed,
    a page of rows at a time, so memory stays flat however long the run."""
    panes = ledger.panes()
    contexts = {
        p.name: {
            "pane": p.name,
            "workspace": p.workspace,
            "metric_name": p.metric,
            "goal": p.goal,
            "agent": p.agent,
            "model": p.model,
        }
        for p in panes
    }

    def context(name: str) -> dict:
        return contexts.get(name, {"pane": name})

    for p in panes:
        tally = Tally(p.goal)  # the standings' fold, one row at a time: each row's gain
        for e in ledger.iter_experiments(p.name):
            gain = tally.add(e)
            yield {
                "record": "experiment",
                **context(p.name),
                "program_sha": version_of(p, e),
                "seq": e.seq,
                "commit": e.commit,
                "parent": e.parent,
                "status": e.status,
                "metric": e.metric if e.status in (Status.KEEP, Status.DISCARD) else None,
                "is_baseline": e.is_baseline,
                "gain": gain,
                "description": e.description,
                "reason": e.reason,
                "started_at": e.started_at,
                "finished_at": e.finished_at,
                "duration_s": e.duration_s,
                "slot": e.slot,
                "exit_code": e.exit_code,
                "memory_gb": e.memory_gb,
                "agent_ref": e.agent_ref,
                "seed": e.seed,
                "cpu_share": e.cpu_share,
                "starved": e.starved,
                "summary": e.summary,
            }
    spent_on = {p.name: SpentOn(ledger, p) for p in panes}
    for u in ledger.iter_usage():
        version = spent_on[u.pane](u.ts) if u.pane in spent_on else ""
        yield {
            "record": "usage",
            **context(u.pane),
            "program_sha": version,
            **{c: getattr(u, "model" if c == "usage_model" else c) for c in USAGE_COLUMNS},
        }


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    if isinstance(v, bool):
        return int(v)
    return v


def write_export(records: Iterable[dict], path: Path) -> tuple[int, int]:
    """Write the records; (experiments, usage rows) written."""
    counts = {"experiment": 0, "usage": 0}
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, restval="")
            writer.writeheader()
            for r in records:
                counts[r["record"]] += 1
                writer.writerow({k: _csv_value(v) for k, v in r.items()})
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, "w", encoding="utf-8") as fh:
            for r in records:
                counts[r["record"]] += 1
                fh.write(json.dumps(r, default=str) + "\n")
    else:
        raise ConductorError(f"cannot tell the format of {path}: name it .csv, .jsonl or .ndjson")
    return counts["experiment"], counts["usage"]


def cmd_export(run_dir: Path, output: str) -> int:
    path = Path(output)
    if path.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        raise ConductorError(f"cannot tell the format of {path}: name it .csv, .jsonl or .ndjson")
    ledger = Ledger.reader(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        experiments, usage = write_export(export_records(ledger), path)
    finally:
        ledger.close()
    print(f"wrote {experiments} experiments and {usage} usage rows to {path}")
    return 0
