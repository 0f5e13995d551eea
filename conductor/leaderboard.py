"""Which program.md made the most progress for the compute and money it got.

The second-order question of autoresearch: several panes run the same workspace on the same
hardware with different `program.md` files; this module scores each pane and each program
version (grouped by workspace and program.md content hash) from the standings
(core/standings.py, which defines experiments, tried, keeps, improvement and how a pane
whose program was edited mid-run shares its experiments between versions). Pure data:
`conductor status`, `conductor report` and the TUI's leaderboard screen all call
`leaderboard_from_ledger` (or `build_leaderboard` on standings they already hold).

Ratios (every one is None when its denominator is zero or unknown):
- improvement_pct: improvement relative to |the pane's baseline|.
- slot-hours: on GPU slots they are GPU-hours; on CPU slots CPU-slot-hours (`slot_kind`
  says which). Improvement per slot-hour is the "per GPU-hour" figure on GPU slots.
- experiments per hour: experiments over the wall span (first start to last finish).
- improvement per dollar: None without recorded cost.
- tokens: input + output + cache writes + cache reads; tokens per experiment is per tried,
  None when no tokens were recorded at all (an agent without a token stream).
A program's improvement is the mean over the panes that ran it of each pane's share (each
pane is an independent attempt); its per-hour and per-dollar figures are summed share over
summed cost.

Migration (`migrate_after`): a pane that moved onto a sibling's best is marked (`migrated`,
the number of moves; a program's `migrated` names its panes that moved). Its best and
improvement stay what its own keeps found, so program variants stay comparable: the jump of
a move is the sibling's work, not the program's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace

from conductor.core.board import migrations
from conductor.core.ledger import Ledger, PaneRecord, ProgramVersion
from conductor.core.ledger_schema import program_sha
from conductor.core.standings import PaneStandings, Tally
from conductor.core.standings_sql import standings_from_ledger

UNKNOWN_TEXT = "(program text not recorded)"
CHAMPION_META = "champion:"  # + workspace: the variant confirmed on a held-out pane


@dataclass(frozen=True)
class PaneScore:
    pane: str
    workspace: str
    program_sha: str  # the pane's current program
    program_title: str
    programs: tuple[str, ...]  # every version the pane ran, in the order first run
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
    migrated: int = 0  # moves onto a sibling's best


@dataclass(frozen=True)
class ProgramScore:
    """One program.md version on one workspace: the panes' experiments under it, pooled."""

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
    improvement: float | None  # mean over panes with a share that has a baseline
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
    parent: str = ""  # lineage: the version it evolved from (conductor evolve), and how many steps
    generation: int = 0
    champion: bool = False  # confirmed on a held-out pane (conductor/evolve.py)
    migrated: tuple[str, ...] = ()  # its panes that moved onto a sibling's best


@dataclass(frozen=True)
class Leaderboard:
    programs: tuple[ProgramScore, ...]  # grouped by workspace, best first within each
    panes: tuple[PaneScore, ...]

    def as_dict(self) -> dict:
        return {
            "programs": [{**asdict(p), "panes": list(p.panes), "migrated": list(p.migrated)} for p in self.programs],
            "panes": [{**asdict(p), "programs": list(p.programs)} for p in self.panes],
            "notes": {
                "slot_hours": "GPU-hours on GPU slots; on CPU slots they are CPU-slot-hours (see slot_kind)",
                "improvement": "best minus baseline, positive = better, in the metric's units; a program's"
                " share of a pane is the sum of its keeps' gains over the best before each",
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


def _pct(gain: float | None, baseline: float | None) -> float | None:
    return _ratio(None if gain is None else gain * 100, abs(baseline) if baseline else None)


def score_pane(s: PaneStandings, title: str = "") -> PaneScore:
    t, pane = s.total, s.pane
    return PaneScore(
        pane=pane.name,
        workspace=pane.workspace,
        program_sha=pane.program_sha,
        program_title=title,
        programs=tuple(sha for sha, share in s.versions.items() if share.experiments),
        agent=pane.agent,
        metric=pane.metric,
        goal=pane.goal,
        experiments=t.experiments,
        tried=t.tried,
        keeps=t.keeps,
        discards=t.discards,
        crashes=t.crashes,
        rejected=t.rejected,
        baseline=t.baseline,
        best=t.best,
        improvement=t.improvement,
        improvement_pct=_pct(t.improvement, t.baseline),
        keep_rate=t.keep_rate,
        wall_hours=t.wall_hours,
        slot_hours=t.slot_hours,
        slot_kind=t.slot_kind,
        experiments_per_hour=_ratio(t.experiments, t.wall_hours),
        improvement_per_slot_hour=_ratio(t.improvement, t.slot_hours),
        usd=t.usage.usd,
        improvement_per_usd=_ratio(t.improvement, t.usage.usd),
        tokens=t.tokens,
        tokens_per_experiment=_ratio(t.tokens or None, t.tried),  # no token stream: not measured
    )


def _pool(workspace: str, sha: str, title: str, members: list[tuple[PaneStandings, Tally]]) -> ProgramScore:
    scored = [(s, share) for s, share in members if share.improvement is not None]
    gains = [share.improvement for _, share in scored]
    pcts = [p for p in (_pct(share.improvement, s.total.baseline) for s, share in scored) if p is not None]
    shares = [share for _, share in members]
    tried = sum(m.tried for m in shares)
    kinds = {m.slot_kind for m in shares if m.slot_kind}
    tokens = sum(m.tokens for m in shares)
    first = members[0][0].pane
    return ProgramScore(
        rank=0,
        workspace=workspace,
        program_sha=sha,
        program_title=title,
        metric=first.metric,
        goal=first.goal,
        panes=tuple(s.name for s, _ in members),
        experiments=sum(m.experiments for m in shares),
        tried=tried,
        keeps=sum(m.keeps for m in shares),
        crashes=sum(m.crashes for m in shares),
        keep_rate=_ratio(sum(m.keeps for m in shares), tried),
        improvement=sum(gains) / len(gains) if gains else None,
        best_improvement=max(gains) if gains else None,
        improvement_pct=sum(pcts) / len(pcts) if pcts else None,
        slot_hours=sum(m.slot_hours for m in shares),
        slot_kind=kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else ""),
        experiments_per_hour=_ratio(sum(m.experiments for m in shares), sum(m.wall_hours for m in shares)),
        improvement_per_slot_hour=_ratio(sum(gains) if gains else None, sum(m.slot_hours for _, m in scored)),
        usd=sum(m.usage.usd for m in shares),
        improvement_per_usd=_ratio(sum(gains) if gains else None, sum(m.usage.usd for _, m in scored)),
        tokens=tokens,
        tokens_per_experiment=_ratio(tokens or None, tried),
    )


def build_leaderboard(
    standings: list[PaneStandings],
    titles: Mapping[str, str] | None = None,
    lineage: Mapping[str, tuple[str, int]] | None = None,
    moves: Mapping[str, int] | None = None,
) -> Leaderboard:
    """`titles`: program sha -> title; a version without one shows its sha alone. `lineage`:
    sha -> (parent sha, generation) of evolved versions. `moves`: pane -> how many times it
    moved onto a sibling's best."""
    titles, lineage, moves = titles or {}, lineage or {}, moves or {}
    scores = [
        replace(score_pane(s, titles.get(s.pane.program_sha, "")), migrated=moves.get(s.pane.name, 0))
        for s in standings
    ]
    groups: dict[tuple[str, str], list[tuple[PaneStandings, Tally]]] = {}
    for s in standings:
        for sha, share in s.versions.items():
            if share.experiments or sha == s.pane.program_sha:
                groups.setdefault((s.pane.workspace, sha), []).append((s, share))
    pooled = [
        replace(_pool(ws, sha, titles.get(sha, ""), members), **_lineage_of(lineage, sha))
        for (ws, sha), members in groups.items()
    ]
    workspace_order = list(dict.fromkeys(s.pane.workspace for s in standings))
    ranked: list[ProgramScore] = []
    for ws in workspace_order:
        mine = [p for p in pooled if p.workspace == ws]
        mine.sort(key=lambda p: (p.improvement is None, -(p.improvement or 0.0)))
        ranked += [
            replace(p, rank=i, migrated=tuple(name for name in p.panes if moves.get(name)))
            for i, p in enumerate(mine, 1)
        ]
    return Leaderboard(programs=tuple(ranked), panes=tuple(scores))


def _lineage_of(lineage: Mapping[str, tuple[str, int]], sha: str) -> dict:
    parent, generation = lineage.get(sha, ("", 0))
    return {"parent": parent, "generation": generation}


def program_titles(ledger: Ledger, panes: Iterable[PaneRecord]) -> dict[str, str]:
    """Each program version's title, from the text the ledger stored; a pane's current program
    not stored (yet) is read from the pane's program file when that still hashes to it."""
    titles = {v.sha: _title(v) for v in ledger.programs()}
    for p in panes:
        if p.program_sha and p.program_sha not in titles:
            try:
                text = ledger.run_dir.program(p.name).read_text(encoding="utf-8")
            except OSError:
                text = None
            titles[p.program_sha] = (
                program_title(text) if text is not None and program_sha(text) == p.program_sha else UNKNOWN_TEXT
            )
    return titles


def _title(v: ProgramVersion) -> str:
    return program_title(v.text) if v.text_known else UNKNOWN_TEXT


def leaderboard_from_ledger(ledger: Ledger, standings: list[PaneStandings] | None = None) -> Leaderboard:
    """The leaderboard of a run; the TUI's leaderboard screen calls this (cheap: a few queries)."""
    standings = standings_from_ledger(ledger) if standings is None else standings
    lineage = {v.sha: (v.parent, v.generation) for v in ledger.programs() if v.parent}
    moves = Counter(m.pane for m in migrations(ledger))
    board = build_leaderboard(standings, program_titles(ledger, [s.pane for s in standings]), lineage, moves)
    champions = {(ws, ledger.get_meta(CHAMPION_META + ws)) for ws in {p.workspace for p in board.programs}}
    return replace(
        board, programs=tuple(replace(p, champion=(p.workspace, p.program_sha) in champions) for p in board.programs)
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
        f"{'#':>2} {'workspace':<12} {'program':<30} {'panes':>5} {'moved':>5} {'improve':>9} {'%':>7} {'keeps':>5} {'rate':>5}"
        f" {'exp/h':>7} {'/slot-h':>9} {'slot-h':>9} {'kind':>4} {'/usd':>9} {'usd':>7} {'tok/exp':>8}"
    )
    lines.append(header)
    for p in board["programs"]:
        evolved = ("* " if p.get("champion") else "") + (
            f"g{p['generation']}<{p['parent'][:5]} " if p.get("parent") else ""
        )
        label = f"{p['program_sha'][:7]} {evolved}{p['program_title']}"[:30]
        usd = f"${p['usd']:.2f}" if p["usd"] else "-"
        lines.append(
            f"{p['rank']:>2} {p['workspace'][:12]:<12} {label:<30} {len(p['panes']):>5} {len(p['migrated']):>5}"
            f" {fmt_num(p['improvement']):>9} {fmt_num(p['improvement_pct'], '+.2f'):>7} {p['keeps']:>5}"
            f" {fmt_num(p['keep_rate'], '.0%'):>5} {fmt_num(p['experiments_per_hour']):>7}"
            f" {fmt_num(p['improvement_per_slot_hour']):>9} {fmt_num(p['slot_hours']):>9} {p['slot_kind'] or '-':>4}"
            f" {fmt_num(p['improvement_per_usd']):>9} {usd:>7} {fmt_num(p['tokens_per_experiment'], '.0f'):>8}"
        )
    moved = sorted({name for p in board["programs"] for name in p["migrated"]})
    if moved:
        lines.append(
            f"  moved onto a sibling's best: {', '.join(moved)} (their improvement counts their own keeps only)"
        )
    if any(p.get("parent") for p in board["programs"]):
        lines.append(
            "  gN<PARENT: a variant `conductor evolve` wrote, N generations from the original, from PARENT;"
            " *: the champion, confirmed on a held-out pane"
        )
    lines.append(
        "  slot-h: summed experiment time on slots; GPU-hours where kind is gpu, CPU-slot-hours where it is cpu"
    )
    return lines
