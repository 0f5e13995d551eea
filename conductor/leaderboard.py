"""Which program.md made the most progress for the compute and money it got.

The second-order question of autoresearch: several panes run the same workspace on the same
hardware with different `program.md` files; this module scores each pane and each program
variant (panes grouped by workspace and program.md content hash) from ledger rows alone.
Pure data: `conductor status`, `conductor report` and the TUI's leaderboard screen all call
`leaderboard_from_ledger` (or `build_leaderboard` on rows they already hold) and render it.

Definitions (every ratio is None when its denominator is zero or unknown):
- experiments: every recorded row, the baseline included (as in `conductor status`);
  tried: the rows after the baseline; keeps: kept improvements, the baseline not counted;
  keep rate = keeps / tried.
- improvement: how much better the best is than the baseline, positive = better whatever
  the goal, in the metric's units; improvement_pct relative to |baseline|.
- slot-hours: summed durations of the experiments that ran on a slot (a GPU for GPU slots;
  on CPU slots they are CPU-slot-hours, and `slot_kind` says so). Improvement per
  slot-hour is the "per GPU-hour" figure on GPU slots.
- experiments per hour: experiments over the pane's wall span (first start to last finish).
- usd: the token cost the ledger recorded; improvement per dollar is None without cost.
- tokens: input + output + cache writes + cache reads; tokens per experiment is per tried,
  None when no tokens were recorded at all (an agent without a token stream).
A program group's improvement is the mean over its panes (each pane is an independent
attempt); its per-hour and per-dollar figures are summed improvement over summed cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from conductor.core.ledger import Ledger, PaneRecord, UsageTotals
from conductor.core.record import ExperimentRecord
from conductor.core.record import improvement as improvement_of


@dataclass(frozen=True)
class PaneScore:
    pane: str
    workspace: str
    program_sha: str
    program_title: str
    agent: str
    metric: str
    goal: str
    experiments: int
    tried: int
    keeps: int
    discards: int
    crashes: int
    rejected: int
    baseline: float | None
    best: float | None
    improvement: float | None
    improvement_pct: float | None
    keep_rate: float | None
    wall_hours: float
    slot_hours: float
    slot_kind: str  # gpu | cpu | mixed | "" (nothing ran on a slot)
    experiments_per_hour: float | None
    improvement_per_slot_hour: float | None
    usd: float
    improvement_per_usd: float | None
    tokens: int
    tokens_per_experiment: float | None


@dataclass(frozen=True)
class ProgramScore:
    """One program.md variant on one workspace: the panes that ran it, pooled."""

    rank: int  # 1 = most mean improvement within its workspace
    workspace: str
    program_sha: str
    program_title: str
    metric: str
    goal: str
    panes: tuple[str, ...]
    experiments: int
    tried: int
    keeps: int
    crashes: int
    keep_rate: float | None
    improvement: float | None  # mean over panes with a baseline and a best
    best_improvement: float | None
    improvement_pct: float | None
    slot_hours: float
    slot_kind: str
    experiments_per_hour: float | None  # per pane
    improvement_per_slot_hour: float | None
    usd: float
    improvement_per_usd: float | None
    tokens: int
    tokens_per_experiment: float | None


@dataclass(frozen=True)
class Leaderboard:
    programs: tuple[ProgramScore, ...]  # grouped by workspace, best first within each
    panes: tuple[PaneScore, ...]

    def as_dict(self) -> dict:
        return {
            "programs": [{**asdict(p), "panes": list(p.panes)} for p in self.programs],
            "panes": [asdict(p) for p in self.panes],
            "notes": {
                "slot_hours": "GPU-hours on GPU slots; on CPU slots they are CPU-slot-hours (see slot_kind)",
                "improvement": "best minus baseline, positive = better, in the metric's units",
            },
        }


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or not den:
        return None
    return num / den


def program_title(text: str) -> str:
    """The first non-empty line of a program.md, without its heading marks."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:80]
    return "(empty program)"


def _slot_kind(rows: Iterable[ExperimentRecord]) -> str:
    kinds = {"gpu" if r.slot.startswith("gpu") else "cpu" for r in rows if r.slot}
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "")


def _tokens(usage: UsageTotals) -> int:
    return usage.input + usage.output + usage.cache_write + usage.cache_read


def score_pane(pane: PaneRecord, rows: list[ExperimentRecord], usage: UsageTotals, title: str = "") -> PaneScore:
    baseline = next((r.metric for r in rows if r.is_baseline and r.metric is not None), None)
    kept = [r for r in rows if r.status == "keep"]
    best = kept[-1].metric if kept else None
    gain = improvement_of(pane.goal, baseline, best) if baseline is not None and best is not None else None
    tried = sum(1 for r in rows if not r.is_baseline)
    keeps = sum(1 for r in kept if not r.is_baseline)
    on_slot = [r for r in rows if r.slot]
    slot_hours = sum(r.duration_s for r in on_slot) / 3600
    wall_hours = (max(r.finished_at for r in rows) - min(r.started_at for r in rows)) / 3600 if rows else 0.0
    tokens = _tokens(usage)
    return PaneScore(
        pane=pane.name,
        workspace=pane.workspace,
        program_sha=pane.program_sha,
        program_title=title,
        agent=pane.agent,
        metric=pane.metric,
        goal=pane.goal,
        experiments=len(rows),
        tried=tried,
        keeps=keeps,
        discards=sum(1 for r in rows if r.status == "discard"),
        crashes=sum(1 for r in rows if r.status == "crash"),
        rejected=sum(1 for r in rows if r.status == "rejected"),
        baseline=baseline,
        best=best,
        improvement=gain,
        improvement_pct=_ratio(None if gain is None else gain * 100, abs(baseline) if baseline else None),
        keep_rate=_ratio(keeps, tried),
        wall_hours=wall_hours,
        slot_hours=slot_hours,
        slot_kind=_slot_kind(on_slot),
        experiments_per_hour=_ratio(len(rows), wall_hours),
        improvement_per_slot_hour=_ratio(gain, slot_hours),
        usd=usage.usd,
        improvement_per_usd=_ratio(gain, usage.usd),
        tokens=tokens,
        tokens_per_experiment=_ratio(tokens or None, tried),  # no token stream: not measured
    )


def _pool(workspace: str, sha: str, members: list[PaneScore]) -> ProgramScore:
    gains = [m.improvement for m in members if m.improvement is not None]
    pcts = [m.improvement_pct for m in members if m.improvement_pct is not None]
    scored = [m for m in members if m.improvement is not None]
    tried = sum(m.tried for m in members)
    kinds = {m.slot_kind for m in members if m.slot_kind}
    wall = sum(m.wall_hours for m in members)
    first = members[0]
    return ProgramScore(
        rank=0,
        workspace=workspace,
        program_sha=sha,
        program_title=first.program_title,
        metric=first.metric,
        goal=first.goal,
        panes=tuple(m.pane for m in members),
        experiments=sum(m.experiments for m in members),
        tried=tried,
        keeps=sum(m.keeps for m in members),
        crashes=sum(m.crashes for m in members),
        keep_rate=_ratio(sum(m.keeps for m in members), tried),
        improvement=sum(gains) / len(gains) if gains else None,
        best_improvement=max(gains) if gains else None,
        improvement_pct=sum(pcts) / len(pcts) if pcts else None,
        slot_hours=sum(m.slot_hours for m in members),
        slot_kind=kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else ""),
        experiments_per_hour=_ratio(sum(m.experiments for m in members), wall),
        improvement_per_slot_hour=_ratio(sum(gains) if gains else None, sum(m.slot_hours for m in scored)),
        usd=sum(m.usd for m in members),
        improvement_per_usd=_ratio(sum(gains) if gains else None, sum(m.usd for m in scored)),
        tokens=sum(m.tokens for m in members),
        tokens_per_experiment=_ratio(sum(m.tokens for m in members) or None, tried),
    )


def build_leaderboard(
    panes: list[PaneRecord],
    rows_by_pane: Mapping[str, list[ExperimentRecord]],
    usage_by_pane: Mapping[str, UsageTotals],
    titles: Mapping[str, str] | None = None,
) -> Leaderboard:
    titles = titles or {}
    scores = [
        score_pane(p, rows_by_pane.get(p.name, []), usage_by_pane.get(p.name, UsageTotals()), titles.get(p.name, ""))
        for p in panes
    ]
    groups: dict[tuple[str, str], list[PaneScore]] = {}
    for s in scores:
        groups.setdefault((s.workspace, s.program_sha), []).append(s)
    pooled = [_pool(ws, sha, members) for (ws, sha), members in groups.items()]
    workspace_order = list(dict.fromkeys(s.workspace for s in scores))
    ranked: list[ProgramScore] = []
    for ws in workspace_order:
        mine = [p for p in pooled if p.workspace == ws]
        mine.sort(key=lambda p: (p.improvement is None, -(p.improvement or 0.0)))
        ranked += [replace(p, rank=i) for i, p in enumerate(mine, 1)]
    return Leaderboard(programs=tuple(ranked), panes=tuple(scores))


def program_titles(run_dir: Path, panes: Iterable[PaneRecord]) -> dict[str, str]:
    """Each pane's program title, from its copy of program.md in the run dir."""
    titles = {}
    for p in panes:
        path = run_dir / "programs" / f"{p.name}.md"
        try:
            titles[p.name] = program_title(path.read_text(encoding="utf-8"))
        except OSError:
            titles[p.name] = "(program file missing)"
    return titles


def leaderboard_from_ledger(ledger: Ledger, run_dir: Path | None = None) -> Leaderboard:
    """The leaderboard of a run; the TUI's leaderboard screen calls this (cheap: a few queries)."""
    run_dir = run_dir or ledger.path.parent
    panes = ledger.panes()
    return build_leaderboard(
        panes,
        {p.name: ledger.experiments(p.name) for p in panes},
        {p.name: ledger.usage_totals(p.name) for p in panes},
        program_titles(run_dir, panes),
    )


# ---------------------------------------------------------------- text


def fmt_num(v: float | None, fmt: str = "") -> str:
    """Readable in a narrow column: no exponent for large values, 4 significant digits otherwise."""
    if v is None:
        return "-"
    if fmt:
        return format(v, fmt)
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def hours_unit(slot_kind: str) -> str:
    return {"gpu": "GPU-h", "cpu": "CPU-slot-h", "mixed": "slot-h"}.get(slot_kind, "slot-h")


def leaderboard_lines(board: dict) -> list[str]:
    """The leaderboard section of `conductor status` (and the report), from `as_dict()`."""
    lines = ["leaderboard: program.md variants by workspace (improvement = better than baseline, metric units)"]
    header = (
        f"{'#':>2} {'workspace':<12} {'program':<30} {'panes':>5} {'improve':>9} {'%':>7} {'keeps':>5} {'rate':>5}"
        f" {'exp/h':>7} {'/slot-h':>9} {'slot-h':>9} {'kind':>4} {'/usd':>9} {'usd':>7} {'tok/exp':>8}"
    )
    lines.append(header)
    for p in board["programs"]:
        label = f"{p['program_sha'][:7]} {p['program_title']}"[:30]
        usd = f"${p['usd']:.2f}" if p["usd"] else "-"
        lines.append(
            f"{p['rank']:>2} {p['workspace'][:12]:<12} {label:<30} {len(p['panes']):>5}"
            f" {fmt_num(p['improvement']):>9} {fmt_num(p['improvement_pct'], '+.2f'):>7} {p['keeps']:>5}"
            f" {fmt_num(p['keep_rate'], '.0%'):>5} {fmt_num(p['experiments_per_hour']):>7}"
            f" {fmt_num(p['improvement_per_slot_hour']):>9} {fmt_num(p['slot_hours']):>9} {p['slot_kind'] or '-':>4}"
            f" {fmt_num(p['improvement_per_usd']):>9} {usd:>7} {fmt_num(p['tokens_per_experiment'], '.0f'):>8}"
        )
    lines.append(
        "  slot-h: summed experiment time on slots; GPU-hours where kind is gpu, CPU-slot-hours where it is cpu"
    )
    return lines
