"""`conductor evolve`: the next program.md variant, written from the ledger's own data.

With ANTHROPIC_API_KEY set the model writes it (conductor/evolve_llm.py: the variants'
history with their fitness, and what the best and worst variants' experiments tried). The
offline evolver (no API key needed) rewrites a program's search section
(agents/search_space.py), which the Optuna agent follows: from every experiment the
workspace's panes ran with a metric, it reads the knob values of each tried commit, keeps
the best quarter, and narrows each knob's range around where those lie (widened by a
quarter of their spread on each side, in log space for a log knob, inside the declared
range); knobs whose importance is nil by Optuna's PED-ANOVA evaluator (no scikit-learn needed) are dropped, so the search
spends its trials where the metric moves. One change a generation: a TPE program whose
workspace has not tried a Gaussian process yet (few knobs, torch and scipy installed) is
first moved to one (`sampler = "gp"`, the same ranges), since a GP models a few continuous
knobs from a few dozen trials far better than TPE's kernels; the tournament measures whether
it pays, and it is tried once a lineage. The parent is the variant with the best result;
the child records its parent, its generation and the reasoning (in the ledger, beside the
text), and `--apply PANE` hands it to panes (their agent reads it before its next trial).
The protected files, the metric and the editable set are not a program's to change: they
live in conductor.toml and workspace.toml, and the evolver only writes program.md.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from conductor.agents.optuna import read_knob
from conductor.agents.search_space import Search, render, search_from, with_section
from conductor.config import Knob, WorkspaceConfig, load_config
from conductor.core.gitsafe import GitError, run_git
from conductor.core.ledger import Ledger, ProgramVersion
from conductor.core.ledger_schema import program_sha
from conductor.core.record import ExperimentRecord, improvement
from conductor.core.rundir import RunDir
from conductor.errors import ConductorError
from conductor.leaderboard import CHAMPION_META

MIN_OBSERVATIONS = 8
TOP_FRACTION = 0.25
WIDEN = 0.25  # the narrowed range reaches this much of the best ones' spread past them, each side
MIN_IMPORTANCE = 0.02
GP_MAX_KNOBS = 12  # past this a GP's fit costs more than it models


@dataclass(frozen=True)
class Observation:
    params: dict[str, float]
    metric: float
    program_sha: str


@dataclass(frozen=True)
class Variant:
    sha: str
    text: str
    parent: str
    generation: int
    reasoning: str


def observations(ledger: Ledger, ws: WorkspaceConfig) -> list[Observation]:
    """Each experiment of the workspace with a metric, with the knob values of its commit."""
    out = []
    for pane in (p for p in ledger.panes() if p.workspace == ws.name):
        for row in ledger.experiments(pane.name):
            params = _knob_values(Path(pane.worktree), row, ws.knobs) if row.metric is not None else None
            if params is not None and row.metric is not None and math.isfinite(row.metric):
                out.append(Observation(params, row.metric, row.program_sha))
    return out


def _knob_values(worktree: Path, row: ExperimentRecord, knobs: tuple[Knob, ...]) -> dict[str, float] | None:
    texts: dict[str, str] = {}
    params = {}
    for k in knobs:
        try:
            texts.setdefault(k.file, run_git(worktree, "show", f"{row.commit}:{k.file}"))
        except GitError:
            return None
        value = read_knob(texts[k.file], k.name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        params[k.name] = float(value)
    return params


def next_search(obs: list[Observation], current: Search, declared: tuple[Knob, ...], goal: str) -> tuple[Search, str]:
    """The narrowed search and why, from the best quarter of the observations."""
    ranked = sorted(obs, key=lambda o: o.metric, reverse=goal == "max")
    top = ranked[: max(3, math.ceil(len(ranked) * TOP_FRACTION))]
    importance = _importances(obs, declared, goal)
    reasons = [f"from {len(obs)} experiments with a metric; the best {len(top)} reach {top[0].metric:.6g}"]
    nil = {k.name for k in current.knobs if importance.get(k.name, 1.0) < MIN_IMPORTANCE}
    if len(nil) == len(current.knobs):  # keep the knob that matters most
        nil.discard(max(current.knobs, key=lambda k: importance.get(k.name, 0.0)).name)
    knobs = []
    by_name = {k.name: k for k in declared}
    for k in current.knobs:
        weight = importance.get(k.name)
        if k.name in nil:
            reasons.append(f"dropped {k.name} (PED-ANOVA importance {weight:.3f})")
            continue
        knobs.append(_narrowed(by_name[k.name], [o.params[k.name] for o in top]))
        now = knobs[-1]
        if (k.low, k.high) != (now.low, now.high):
            reasons.append(
                f"{k.name} [{k.low:g}, {k.high:g}] -> [{now.low:g}, {now.high:g}]"
                + (f" (importance {weight:.2f})" if weight is not None else "")
            )
    return Search(tuple(knobs), current.n_startup_trials, True), "; ".join(reasons)


def child_search(
    obs: list[Observation], current: Search, declared: tuple[Knob, ...], goal: str, programs: dict[str, str]
) -> tuple[Search, str]:
    """The parent's search with one change, and why: the move to a Gaussian process when this
    workspace's programs (`programs`: sha -> text, those its panes ran and those evolved for
    it) never made it, else `next_search`'s narrowing under the parent's sampler."""
    from conductor.agents.optuna_sampler import gp_missing

    tried = any(search_from(text, declared).sampler == "gp" for text in programs.values())
    if current.sampler == "tpe" and not tried and len(current.knobs) <= GP_MAX_KNOBS and not gp_missing():
        why = (
            f"from {len(obs)} experiments with a metric over {len(current.knobs)} knobs: a Gaussian process"
            " (Optuna's GPSampler) models the trials in place of TPE, over the same ranges;"
            " no program of this workspace has tried one"
        )
        return replace(current, sampler="gp", from_program=True, notes=()), why
    search, why = next_search(obs, current, declared, goal)
    return replace(search, sampler=current.sampler), why


def _narrowed(declared: Knob, values: list[float]) -> Knob:
    """The range around `values`, widened by WIDEN of their spread each side (a tenth of the
    declared width when they agree), in log space for a log knob, inside `declared`."""
    scale = (lambda v: math.log(v)) if declared.log else (lambda v: v)
    unscale = (lambda v: math.exp(v)) if declared.log else (lambda v: v)
    lo, hi = scale(min(values)), scale(max(values))
    width = hi - lo or (scale(declared.high) - scale(declared.low)) * 0.1
    low = max(declared.low, unscale(lo - width * WIDEN))
    high = min(declared.high, unscale(hi + width * WIDEN))
    if declared.type == "int":
        low, high = float(math.floor(low)), float(math.ceil(high))
    if high <= low:
        return declared
    return replace(declared, low=float(f"{low:.6g}"), high=float(f"{high:.6g}"))


def _importances(obs: list[Observation], declared: tuple[Knob, ...], goal: str) -> dict[str, float]:
    """PED-ANOVA importance of each knob over the observations (Optuna's own evaluator)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {
        k.name: optuna.distributions.IntDistribution(int(k.low), int(k.high), log=k.log)
        if k.type == "int"
        else optuna.distributions.FloatDistribution(k.low, k.high, log=k.log)
        for k in declared
    }
    study = optuna.create_study(direction="minimize" if goal == "min" else "maximize")
    by_name = {k.name: k for k in declared}
    for o in obs:
        if all(by_name[n].low <= v <= by_name[n].high for n, v in o.params.items()):
            params = {n: int(v) if by_name[n].type == "int" else v for n, v in o.params.items()}
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=o.metric))
    if len(study.trials) < MIN_OBSERVATIONS:
        return {}
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def evolve(run_dir: Path, workspace: str | None = None, *, llm: bool = False) -> Variant:
    """Write (and record) the next variant of `workspace`'s program from its best variant:
    by the model (`llm`, conductor/evolve_llm.py) or offline, by the search section."""
    layout = RunDir(run_dir)
    if not layout.has_ledger():
        raise ConductorError(f"no run in {run_dir}")
    cfg = load_config(layout.config)
    names = [w.name for w in cfg.workspaces]
    ws = next((w for w in cfg.workspaces if w.name == (workspace or names[0])), None)
    if ws is None:
        raise ConductorError(f"no workspace {workspace!r} in this run (it has {', '.join(names)})")
    ledger = Ledger(layout.ledger)
    try:
        if llm:
            return _by_the_model(ledger, ws, cfg.agent.model)
        if not ws.knobs:
            raise ConductorError(
                f"workspace {ws.name} declares no [[knob]]: the offline evolver has no search to rewrite"
                " (set ANTHROPIC_API_KEY for the model to write a variant)"
            )
        obs = observations(ledger, ws)
        if len(obs) < MIN_OBSERVATIONS:
            raise ConductorError(
                f"workspace {ws.name} has {len(obs)} experiments with a metric; evolve needs {MIN_OBSERVATIONS}"
            )
        return _offline_child(ledger, ws, _best_variant(ledger, obs, ws.goal), obs, "offline", "`conductor evolve`")
    finally:
        ledger.close()


def _by_the_model(
    ledger: Ledger, ws: WorkspaceConfig, model: str, parent_sha: str | None = None, evolver: str = "llm"
) -> Variant:
    from conductor.evolve_llm import prompt, write_variant

    text_in, parent_sha = prompt(ledger, ws.name, parent_sha)
    parent = ledger.program(parent_sha)
    if parent is None or not parent.text_known:
        raise ConductorError(f"the text of program version {parent_sha} is not in the ledger")
    why, text, usage = write_variant(text_in, model)
    why = f"{why} ({model}: {usage['input']} input, {usage['output']} output tokens)"
    return _record_child(ledger, ws, parent, text, f"{evolver}:{model}", why)


def _offline_child(
    ledger: Ledger,
    ws: WorkspaceConfig,
    parent: ProgramVersion,
    obs: list[Observation],
    evolver: str,
    author: str,
    note: str = "",
) -> Variant:
    """The parent with its search section changed from `obs` (`child_search`), recorded."""
    ours = {o.program_sha for o in obs} | ledger.variants_of(ws.name)
    programs = {p.sha: p.text for p in ledger.programs() if p.sha in ours and p.text_known}
    search, why = child_search(obs, search_from(parent.text, ws.knobs), ws.knobs, ws.goal, programs)
    block = render(search, header=f"written by {author} (generation {parent.generation + 1}): {why}")
    child = _record_child(
        ledger, ws, parent, with_section(parent.text, block), evolver, f"{note}; {why}" if note else why
    )
    return replace(child, reasoning=why)


def _record_child(
    ledger: Ledger, ws: WorkspaceConfig, parent: ProgramVersion, text: str, evolver: str, why: str
) -> Variant:
    """A new variant of `parent` in the ledger: its text, lineage and reasoning."""
    sha = ledger.record_program(text, parent=parent.sha, generation=parent.generation + 1)
    ledger.record_variant(sha, ws.name, evolver, why)
    return Variant(sha, text, parent.sha, parent.generation + 1, why)


def _best_variant(ledger: Ledger, obs: list[Observation], goal: str):
    """The program version whose experiments reached the best metric."""
    pick = min if goal == "min" else max
    best = pick(obs, key=lambda o: o.metric)
    version = ledger.program(best.program_sha)
    if version is None or not version.text_known:
        raise ConductorError(f"the text of program version {best.program_sha or '?'} is not in the ledger")
    return version


def cmd_evolve(run_dir: Path, workspace: str | None, apply_to: list[str], offline: bool = False) -> int:
    variant = evolve(run_dir, workspace, llm=not offline and bool(os.environ.get("ANTHROPIC_API_KEY")))
    layout = RunDir(run_dir)
    print(f"variant {variant.sha}: generation {variant.generation}, parent {variant.parent}")
    print(f"  {variant.reasoning}")
    for pane in apply_to:
        path = layout.program(pane)
        if not path.is_file():
            raise ConductorError(f"no pane {pane} in this run")
        path.write_text(variant.text, encoding="utf-8")
        print(f"  {pane} follows it from its next trial")
    if not apply_to:
        print("  apply it with: conductor evolve --apply PANE")
    return 0


# ---------------------------------------------------------------- the scheduled tournament


@dataclass(frozen=True)
class Standing:
    pane: str
    program_sha: str
    fitness: float  # the best's gain over the run of experiments under the pane's current program


def tournament(run_dir: Path, workspace: str, every: int) -> tuple[dict[str, str], str]:
    """Once every competing pane of `workspace` has run `every` experiments under its current
    program (equal budgets): the variant with the most mean gain wins, a child of it is
    written, and the panes of the variants that lost (the worse half, when all follow one) get
    the child. With three panes or more the last one is held out of the contest: it runs each
    winner in turn, and a winner that gains there too is confirmed as the champion.
    Returns (pane -> program text, one line), or ({}, "") when budgets are not equal yet."""
    layout = RunDir(run_dir)
    cfg = load_config(layout.config)
    ws = next(w for w in cfg.workspaces if w.name == workspace)
    ledger = Ledger(layout.ledger)
    try:
        panes = [p.name for p in ledger.panes() if p.workspace == ws.name]
        held_out = panes[-1] if len(panes) >= 3 else None
        handed = _handed(layout, panes)
        notes = _confirm(ledger, ws, held_out, every, handed) if held_out else []
        standings = _standings(ledger, ws, every, [p for p in panes if p != held_out], handed)
        if len(standings) < 2:
            return {}, "; ".join(notes)
        by_variant: dict[str, list[float]] = {}
        for s in standings:
            by_variant.setdefault(s.program_sha, []).append(s.fitness)
        means = {sha: sum(v) / len(v) for sha, v in by_variant.items()}
        winner = max(means, key=lambda sha: means[sha])
        if len(means) > 1:
            losers = [s.pane for s in standings if means[s.program_sha] < means[winner]]
        else:
            ranked = sorted(standings, key=lambda s: s.fitness)
            losers = [s.pane for s in ranked[: len(ranked) // 2]]
        parent = ledger.program(winner)
        if not losers or parent is None or not parent.text_known:
            return {}, "; ".join(notes)
        scores = ", ".join(f"{sha[:7]} {m:+.4g} (n={len(by_variant[sha])})" for sha, m in means.items())
        line = f"tournament after {every} experiments a pane: {scores}; winner {winner[:7]}"
        child = _tournament_child(ledger, ws, parent, cfg.agent.model, line, notes)
        if child is None:
            return {}, "; ".join(notes)
        handed = {pane: child.text for pane in losers}
        notes.insert(0, f"{line}; its child {child.sha[:7]} goes to {', '.join(losers)}")
        if (
            held_out
            and _following(ledger, held_out, handed) != winner
            and ledger.get_meta(CHAMPION_META + ws.name) != winner
        ):
            handed[held_out] = parent.text
            notes.append(f"held-out pane {held_out} now tests {winner[:7]}")
        return handed, "; ".join(notes)
    finally:
        ledger.close()


def _tournament_child(
    ledger: Ledger, ws: WorkspaceConfig, parent: ProgramVersion, model: str, line: str, notes: list[str]
) -> Variant | None:
    """The winner's child: written by the model when a key is set (any workspace, any agent),
    else by the offline evolver (a workspace with knobs and enough observations). A model
    that writes none leaves the offline child, with a note saying why."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        try:
            return _by_the_model(ledger, ws, model, parent.sha, evolver="llm-tournament")
        except ConductorError as exc:
            notes.append(f"the model wrote no child ({exc}): the offline evolver's instead")
    obs = observations(ledger, ws)
    if len(obs) < MIN_OBSERVATIONS or not ws.knobs:
        return None
    return _offline_child(ledger, ws, parent, obs, "offline-tournament", "the tournament", note=line)


def champion(ledger: Ledger, workspace: str) -> str:
    return ledger.get_meta(CHAMPION_META + workspace) or ""


def _following(ledger: Ledger, pane: str, handed: dict[str, str]) -> str:
    if pane in handed:
        return handed[pane]
    rows = ledger.experiments(pane)
    return rows[-1].program_sha if rows else ""


def _handed(layout: RunDir, panes: list[str]) -> dict[str, str]:
    """pane -> the version of program.md its file holds now (what its agent follows next)."""
    out = {}
    for pane in panes:
        try:
            out[pane] = program_sha(layout.program(pane).read_text(encoding="utf-8"))
        except OSError:
            continue
    return out


def _confirm(ledger: Ledger, ws: WorkspaceConfig, held_out: str, every: int, handed: dict[str, str]) -> list[str]:
    """The held-out pane's verdict on the variant it runs, once it has run it `every` times:
    a gain beyond `min_delta` makes that variant the champion."""
    standing = _standings(ledger, ws, every, [held_out], handed)
    if not standing or standing[0].program_sha == champion(ledger, ws.name):
        return []
    s = standing[0]
    if not any(v.sha == s.program_sha and v.parent for v in ledger.programs()):
        return []  # the original program is the reference, not a candidate
    if s.fitness > 0:
        ledger.set_meta(CHAMPION_META + ws.name, s.program_sha)
        return [f"{s.program_sha[:7]} confirmed on held-out pane {held_out} ({s.fitness:+.4g}): the champion"]
    return [f"{s.program_sha[:7]} not confirmed on held-out pane {held_out} (no gain in {every})"]


def _standings(
    ledger: Ledger, ws: WorkspaceConfig, every: int, panes: list[str], handed: dict[str, str] | None = None
) -> list[Standing]:
    """Each pane's gain over its last `every` experiments, all under its current program;
    none when some pane has not run that many under it yet. Gains within `min_delta` are 0.
    `handed` (pane -> the version its program file holds now) makes a pane that was handed a
    variant it has not run yet count as not ready, so a tournament that reads the ledger
    before the pane's new rows never judges that variant by its parent's rows."""
    out = []
    for name in panes:
        all_rows = ledger.experiments(name)
        rows = [r for r in all_rows if not r.is_baseline]
        if len(rows) < every:
            return []
        current = rows[-1].program_sha
        if handed and handed.get(name, current) != current:
            return []
        run = rows[-every:]
        if any(r.program_sha != current for r in run):
            return []
        before = [r.metric for r in all_rows[:-every] if r.status == "keep" and r.metric is not None]
        kept = [r.metric for r in run if r.status == "keep" and r.metric is not None]
        gain = 0.0
        if before and kept:
            pick = min if ws.goal == "min" else max
            gain = max(0.0, improvement(ws.goal, pick(before), pick(kept)))
        out.append(Standing(name, current, gain if gain > ws.min_delta else 0.0))
    return out
