"""A recorded run, written through the real Ledger API, with numbers simple enough to check by hand.

Two workspaces. `tiny` (val_bpb, min) has three GPU panes: tiny-1 and tiny-2 run program A,
tiny-3 runs program B. `fast` (score, max) has one CPU pane running program C with the offline
agent (no token cost). Every experiment that runs lasts exactly 360 s (0.1 slot-hours) and
they start 600 s apart; rejected edits never run (no slot, zero duration). Crashes carry no
metric; metrics all lie far from 0 so a crash drawn at 0 would stand out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from conductor.core.ledger import Ledger, PaneRecord, UsageRow
from conductor.core.record import ExperimentRecord

T0 = 1_700_000_000.0
RUN_S = 360.0
STEP_S = 600.0
RUN_NAME = "20231114-recorded"

PROGRAMS = {
    "A": "# Program A: tune the optimiser\nChange learning rates and schedules only.\n",
    "B": "# Program B: change the architecture\nTry deeper or wider models.\n",
    "C": "# Program C: search the knobs\n",
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Pane:
    name: str
    workspace: str
    program: str
    metric: str
    goal: str
    agent: str
    slot: str
    # (status, metric, description), the first is the baseline
    rows: tuple[tuple[str, float | None, str], ...]
    # (offset_s, input, output, cache_write_5m, cache_read, usd)
    usage: tuple[tuple[float, int, int, int, int, float], ...] = ()


PANES = (
    Pane(
        "tiny-1",
        "tiny",
        "A",
        "val_bpb",
        "min",
        "anthropic",
        "gpu0",
        (
            ("keep", 1.000, "baseline"),
            ("keep", 0.990, "raise lr to 0.04"),
            ("discard", 1.010, "swap GELU for ReLU"),
            ("crash", None, "double the depth (OOM)"),
            ("rejected", None, "edit prepare.py"),
            ("keep", 0.975, "warmup 5% of steps"),
            ("discard", 0.980, "cosine schedule"),
            ("crash", None, "batch size 4x (timeout)"),
        ),
        ((500, 2000, 500, 1000, 3000, 0.20), (2500, 1000, 500, 0, 6000, 0.30)),
    ),
    Pane(
        "tiny-2",
        "tiny",
        "A",
        "val_bpb",
        "min",
        "anthropic",
        "gpu1",
        (
            ("keep", 1.002, "baseline"),
            ("discard", 1.004, "lower beta2 to 0.95"),
            ("keep", 0.982, "weight decay 0.1 on embeddings"),
            ("discard", 0.990, "longer warmdown"),
            ("keep", 0.980, "lr 0.03"),
        ),
        ((700, 3000, 1000, 0, 2000, 0.15), (2000, 1000, 1000, 0, 0, 0.25)),
    ),
    Pane(
        "tiny-3",
        "tiny",
        "B",
        "val_bpb",
        "min",
        "anthropic",
        "gpu0",
        (
            ("keep", 1.000, "baseline"),
            ("crash", None, "mixture of experts"),
            ("crash", None, "16 layers"),
            ("discard", 1.001, "wider MLP"),
            ("keep", 0.995, "rotary embeddings"),
            ("discard", 1.200, "no layer norm"),
        ),
        ((900, 2000, 1000, 0, 2000, 0.25),),
    ),
    Pane(
        "fast-1",
        "fast",
        "C",
        "score",
        "max",
        "optuna",
        "cpu0",
        (
            ("keep", 10.0, "baseline"),
            ("keep", 12.0, "X 0.5->2.0"),
            ("crash", None, "X 2.0->9.0"),
            ("discard", 11.0, "Y 2.0->1.0"),
        ),
    ),
)


def experiment_rows(pane: Pane) -> list[ExperimentRecord]:
    out = []
    for seq, (status, metric, description) in enumerate(pane.rows, 1):
        start = T0 + (seq - 1) * STEP_S
        ran = status != "rejected"
        out.append(
            ExperimentRecord(
                pane=pane.name,
                seq=seq,
                commit=hashlib.sha1(f"{pane.name}{seq}".encode()).hexdigest(),
                status=status,
                metric=metric,
                description=description,
                reason="",
                started_at=start,
                finished_at=start + RUN_S if ran else start,
                slot=pane.slot if ran else "",
                exit_code=(1 if status == "crash" else 0) if ran else None,
                is_baseline=seq == 1,
                program_sha=sha(PROGRAMS[pane.program]),
            )
        )
    return out


def usage_rows(pane: Pane) -> list[UsageRow]:
    return [
        UsageRow(
            pane.name, T0 + offset, "claude-sonnet-4-5", f"req_{pane.name}_{offset:g}", inp, out, cw, 0, cr, usd, "api"
        )
        for offset, inp, out, cw, cr, usd in pane.usage
    ]


def pane_record(pane: Pane, position: int) -> PaneRecord:
    return PaneRecord(
        name=pane.name,
        workspace=pane.workspace,
        agent=pane.agent,
        model="claude-sonnet-4-5" if pane.agent == "anthropic" else "",
        branch=f"conductor/{RUN_NAME}/{pane.name}",
        worktree=f"/nonexistent/{pane.name}",
        metric=pane.metric,
        goal=pane.goal,
        base_commit="0" * 40,
        program_sha=sha(PROGRAMS[pane.program]),
        created_at=T0,
        position=position,
    )


def write_recorded_run(run_dir: Path) -> Path:
    """The recorded run as a run dir (ledger.db + programs/); returns the run dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "programs").mkdir(exist_ok=True)
    ledger = Ledger(run_dir / "ledger.db")
    try:
        ledger.set_meta("run", RUN_NAME)
        for position, pane in enumerate(PANES):
            (run_dir / "programs" / f"{pane.name}.md").write_text(PROGRAMS[pane.program], encoding="utf-8")
            ledger.upsert_pane(pane_record(pane, position))
            ledger.record_program(PROGRAMS[pane.program])
            for row in experiment_rows(pane):
                ledger.record_experiment(row)
            for offset, inp, out, cw, cr, usd in pane.usage:
                ledger.record_usage(
                    pane.name,
                    "claude-sonnet-4-5",
                    input=inp,
                    output=out,
                    cache_write_5m=cw,
                    cache_read=cr,
                    usd=usd,
                    request_id=f"req_{pane.name}_{offset:g}",
                    source="api",
                    ts=T0 + offset,
                )
    finally:
        ledger.close()
    return run_dir
