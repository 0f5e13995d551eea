"""The offline proposer: a multivariate TPE search over the knobs a workspace declares
(or a Gaussian process, where a pane's program asks for one).

Knobs are module-level constants in an editable file (`LEARNING_RATE = 1e-3`). Each trial
rewrites only their values, keeping the rest of each line (spacing, comments), and runs it
as an experiment; the outcome is told to the study (a crash is a failed trial). The study
is kept in the pane's agent dir (agents/optuna_history.py: every trial logged, a bounded window
of them replayed), so a resumed run continues it at the same cost however long it ran. With
`share_study` (the default) the optuna panes of one workspace search one study in the run
dir's shared folder: TPE's constant liar counts every trial still running (in any pane) as a
bad result, so parallel proposals spread out instead of duplicating each other. Each pane
still applies its trials to its own branch, and keeps or reverts against its own best.
Before each trial it reads the pane's program.md: its search section (agents/search_space.py)
says which knobs to tune over which ranges, so a new program variant changes the search.
"""

from __future__ import annotations

import asyncio
import hashlib
import warnings
from pathlib import Path

from conductor.agents.optuna_history import JOURNAL_FILE, TRIALS_FILE, windowed_study
from conductor.agents.search_space import DEFAULT_STARTUP_TRIALS, Search, search_from
from conductor.config import AgentConfig, Knob
from conductor.core.agent import PaneSession
from conductor.core.knobs import line_pattern, read_knob
from conductor.core.outcome import PaneFinished
from conductor.errors import AgentFatal

RECONCILE_ROWS = 50  # a trial a stop left open is among the pane's last rows


def format_value(knob: Knob, value: float) -> str:
    if knob.type == "int":
        return str(int(round(value)))
    return format(float(value), ".4g") if abs(value) >= 1e-4 else format(float(value), ".3e")


def write_knobs(text: str, values: dict[str, str]) -> str:
    """Replace the value of each `NAME = value` line; everything else stays byte-identical."""
    for name, literal in values.items():
        pattern = line_pattern(name)
        if not pattern.search(text):
            raise AgentFatal(f"knob {name} not found as a `{name} = value` line")
        text = pattern.sub(lambda m, lit=literal: f"{m.group(1)}{lit}{m.group(3)}", text, count=1)
    return text


def knobs_for(knobs: tuple[Knob, ...], slot_kind: str) -> tuple[Knob, ...]:
    """The knobs that take effect on the run's slots: a GPU knob only on GPU slots, a CPU one only on CPU slots."""
    return tuple(k for k in knobs if k.slot == "any" or slot_kind in ("any", k.slot))


class OptunaAgent:
    kind = "optuna"

    def __init__(self, config: AgentConfig):
        self.config = config
        self.shared = False  # searching the workspace's one study (set when it is opened)
        self.seed = 0  # the sampler seed of this pane (set when its study is opened)

    async def run(self, session: PaneSession) -> None:
        knobs = knobs_for(session.workspace.knobs, session.slot_kind())
        if not knobs:
            raise AgentFatal(
                f"workspace '{session.workspace.name}' declares no [[knob]] in workspace.toml: "
                "the optuna agent has nothing to tune (use an LLM agent, or add knobs)"
            )
        optuna = await asyncio.to_thread(_import_optuna)
        study = await asyncio.to_thread(self._open_study, optuna, session)
        await asyncio.to_thread(self._reconcile, optuna, study, session)
        session.activity(
            "info", f"optuna TPE over {', '.join(k.name for k in knobs)} ({len(study.trials)} trials so far)"
        )
        search: Search | None = None
        while True:
            await session.checkpoint()
            current = search_from(session.program_text(), knobs)
            if current != search:  # the program changed: the researcher's `e`, or `conductor evolve`
                if search is not None or current.from_program:
                    session.activity("info", f"following {current.describe()}")
                for note in current.notes:
                    session.activity("info", note)
                if current.sampler == "gp" and (missing := await asyncio.to_thread(_gp_missing)):
                    session.activity("info", f"{missing}: TPE models this pane's trials")
                startup = search.n_startup_trials if search is not None else DEFAULT_STARTUP_TRIALS
                if current.n_startup_trials != startup:
                    seed = self.seed + len(study.trials)
                    study.sampler = _sampler(optuna, seed, current.n_startup_trials)
                search = current
            trial, params = await asyncio.to_thread(_propose, study, knobs, search, session)
            study.asked(trial)
            description = await asyncio.to_thread(self._apply, session, search.knobs, params)
            session.activity("tool", f"trial {trial.number}: {description}")
            try:
                outcome = await session.run_experiment(description, agent_ref=f"trial:{trial.number}")
            except BaseException as exc:
                recorded = exc.outcome if isinstance(exc, PaneFinished) else None
                value = recorded.metric if recorded is not None else None
                _tell_quietly(study, trial.number, value, optuna)
                raise
            await asyncio.to_thread(_tell_quietly, study, trial.number, outcome.metric, optuna)

    # ---------------------------------------------------------------- study

    def _open_study(self, optuna, session: PaneSession):
        own = Path(session.agent_dir)
        has_own = (own / TRIALS_FILE).exists() or (own / JOURNAL_FILE).exists()
        shared = self.shared = session.workspace.share_study and not has_own
        if session.workspace.share_study and not shared:
            session.activity("info", "this pane's own study continues (it was started before studies were shared)")
        where = Path(session.shared_dir if shared else session.agent_dir)
        name = session.workspace.name if shared else session.name
        direction = "minimize" if session.workspace.goal == "min" else "maximize"
        seed = self.seed = int(hashlib.sha256(session.name.encode()).hexdigest()[:8], 16)
        study = windowed_study(optuna, where, name, direction, _sampler(optuna, seed), _distributions(optuna, session))
        if study.trials:  # resumed: a sampler seeded as at the first start would propose the same trials again
            study.sampler = _sampler(optuna, seed + len(study.trials))
        return study

    def _reconcile(self, optuna, study, session: PaneSession) -> None:
        """This pane's trials left open by a stop get the result the ledger recorded, or fail."""
        rows = {r.agent_ref: r for r in session.recent_history(RECONCILE_ROWS) if r.agent_ref.startswith("trial:")}
        # a shared study's trial is this pane's only when tagged so: a sibling's trial is untagged for a moment
        untagged = "" if self.shared else session.name
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if t.user_attrs.get("pane", untagged) != session.name:
                continue  # a sibling's, running now or reconciled by that sibling
            row = rows.get(f"trial:{t.number}")
            _tell_quietly(study, t.number, row.metric if row else None, optuna)
        if not any(t.user_attrs.get("baseline") for t in study.get_trials(deepcopy=False)):
            self._seed_with_baseline(optuna, study, session)

    def _seed_with_baseline(self, optuna, study, session: PaneSession) -> None:
        """The baseline's result as a trial, at the settings in the pane's files: only at the
        pane's first start, while those are the baseline's. A resumed pane's branch has moved
        on (its files hold its best), and its study has the trial from then, if not in the
        window; reading the whole history to find the baseline cost every pane a decode of
        all its rows at each resume."""
        rows = session.recent_history(2)
        if not rows or any(not r.is_baseline for r in rows) or rows[-1].metric is None:
            return
        baseline = rows[-1]
        params, dists = {}, _distributions(optuna, session)
        for k in knobs_for(session.workspace.knobs, session.slot_kind()):
            text = (Path(session.worktree_path) / k.file).read_text(encoding="utf-8")
            value = read_knob(text, k.name)
            if not isinstance(value, (int, float)) or not (k.low <= value <= k.high):
                return
            params[k.name] = int(value) if k.type == "int" else float(value)
        dists = {name: dists[name] for name in params}
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=dists, value=baseline.metric, user_attrs={"baseline": session.name}
            )
        )

    # ---------------------------------------------------------------- editing

    def _apply(self, session: PaneSession, knobs: tuple[Knob, ...], params: dict[str, float]) -> str:
        changes = []
        by_file: dict[str, dict[str, str]] = {}
        for k in knobs:
            by_file.setdefault(k.file, {})[k.name] = format_value(k, params[k.name])
        for rel, values in by_file.items():
            path = Path(session.worktree_path) / rel
            text = path.read_text(encoding="utf-8")
            for name, literal in values.items():
                old = read_knob(text, name)
                if old is None or str(old) != literal:
                    changes.append(f"{name} {old}->{literal}")
            path.write_text(write_knobs(text, values), encoding="utf-8")
        return ", ".join(changes) if changes else "re-run of the best settings"


def _propose(study, declared: tuple[Knob, ...], search: Search, session: PaneSession):
    """Ask for a trial and suggest every knob in one thread. A study caches its trial list per
    thread and refreshes it in `ask`; the sampler reads that cache when a knob is suggested, so
    suggesting in another thread than the ask models a stale history (the list as it was at
    the first suggestion there): TPE then never learns from later trials. Every knob is
    suggested over its declared range, inside the program's box (agents/optuna_sampler.py);
    the ones the program tunes come back, to be written."""
    from conductor.agents.optuna_sampler import box_of, following

    tuned = {k.name for k in search.knobs}
    pinned = _file_values(session, [k for k in declared if k.name not in tuned])
    with following(box_of(search.knobs, declared), pinned, search.sampler):
        trial = study.ask()
        trial.set_user_attr("pane", session.name)
        params: dict[str, float] = {}
        for k in declared:
            if k.name not in tuned and k.name not in pinned:
                continue
            if k.type == "int":
                params[k.name] = trial.suggest_int(k.name, int(k.low), int(k.high), log=k.log)
            else:
                params[k.name] = trial.suggest_float(k.name, k.low, k.high, log=k.log)
    return trial, {name: value for name, value in params.items() if name in tuned}


def _file_values(session: PaneSession, knobs: list[Knob]) -> dict[str, float]:
    """The values the pane's files give the knobs its program leaves alone. A knob whose file
    gives no number, or one outside the declared range, is left out of the trial: the study
    records only what the experiment runs with."""
    texts: dict[str, str] = {}
    values: dict[str, float] = {}
    for k in knobs:
        try:
            text = texts.setdefault(k.file, (Path(session.worktree_path) / k.file).read_text(encoding="utf-8"))
        except OSError:
            continue
        value = read_knob(text, k.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and k.low <= value <= k.high:
            values[k.name] = int(value) if k.type == "int" else float(value)
    return values


def _sampler(optuna, seed: int, n_startup_trials: int = DEFAULT_STARTUP_TRIALS):
    """Multivariate TPE with the constant liar: running trials count as bad, so panes sharing
    the study do not propose what another pane is running. `seed`: the pane's, plus how far its
    study got (a resumed study must not propose the trials of its first start again)."""
    from conductor.agents.optuna_sampler import ProgramTPESampler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return ProgramTPESampler(multivariate=True, constant_liar=True, seed=seed, n_startup_trials=n_startup_trials)


def _distributions(optuna, session: PaneSession) -> dict:
    return {
        k.name: optuna.distributions.IntDistribution(int(k.low), int(k.high), log=k.log)
        if k.type == "int"
        else optuna.distributions.FloatDistribution(k.low, k.high, log=k.log)
        for k in session.workspace.knobs
    }


def _gp_missing() -> str:
    from conductor.agents.optuna_sampler import gp_missing

    return gp_missing()


def _import_optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _tell_quietly(study, number: int, value: float | None, optuna) -> None:
    try:
        if value is None:
            study.tell(number, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(number, value)
    except (ValueError, RuntimeError):
        pass  # already finished
