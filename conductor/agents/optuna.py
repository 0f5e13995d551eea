"""The offline proposer: a multivariate TPE search over the knobs a workspace declares.

Knobs are module-level constants in an editable file (`LEARNING_RATE = 1e-3`). Each trial
rewrites only their values, keeping the rest of each line (spacing, comments), and runs it
as an experiment; the outcome is told to the study (a crash is a failed trial). The study
lives in the pane's agent dir as an Optuna journal, so a resumed run continues it.
Before each trial it reads the pane's program.md: its search section (agents/search_space.py)
says which knobs to tune over which ranges, so a new program variant changes the search.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import re
from pathlib import Path

from conductor.agents.search_space import DEFAULT_STARTUP_TRIALS, Search, search_from
from conductor.config import AgentConfig, Knob
from conductor.core.agent import PaneSession
from conductor.core.outcome import PaneFinished
from conductor.errors import AgentFatal


def _line_pattern(name: str) -> re.Pattern:
    return re.compile(rf"^({re.escape(name)}\s*(?::[^=]*)?=\s*)([^#\n]*?)(\s*(?:#.*)?)$", re.MULTILINE)


def read_knob(text: str, name: str) -> object | None:
    m = _line_pattern(name).search(text)
    if not m:
        return None
    try:
        return ast.literal_eval(m.group(2).strip())
    except (ValueError, SyntaxError):
        return None


def format_value(knob: Knob, value: float) -> str:
    if knob.type == "int":
        return str(int(round(value)))
    return format(float(value), ".4g") if abs(value) >= 1e-4 else format(float(value), ".3e")


def write_knobs(text: str, values: dict[str, str]) -> str:
    """Replace the value of each `NAME = value` line; everything else stays byte-identical."""
    for name, literal in values.items():
        pattern = _line_pattern(name)
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
                if search is None or current.n_startup_trials != search.n_startup_trials:
                    study.sampler = _sampler(optuna, session, current.n_startup_trials, len(study.trials))
                search = current
            trial = await asyncio.to_thread(study.ask)
            params = {}
            for k in search.knobs:
                if k.type == "int":
                    params[k.name] = trial.suggest_int(k.name, int(k.low), int(k.high), log=k.log)
                else:
                    params[k.name] = trial.suggest_float(k.name, k.low, k.high, log=k.log)
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
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(session.agent_dir) / "optuna.journal"
        storage = JournalStorage(JournalFileBackend(str(path)))
        direction = "minimize" if session.workspace.goal == "min" else "maximize"
        return optuna.create_study(
            study_name=session.name,
            storage=storage,
            sampler=_sampler(optuna, session, DEFAULT_STARTUP_TRIALS, 0),
            direction=direction,
            load_if_exists=True,
        )

    def _reconcile(self, optuna, study, session: PaneSession) -> None:
        """Trials left open by a stop get the result the ledger recorded, or fail."""
        rows = {r.agent_ref: r for r in session.history() if r.agent_ref.startswith("trial:")}
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            row = rows.get(f"trial:{t.number}")
            _tell_quietly(study, t.number, row.metric if row else None, optuna)
        if not study.trials:
            self._seed_with_baseline(optuna, study, session)

    def _seed_with_baseline(self, optuna, study, session: PaneSession) -> None:
        baseline = next((r for r in session.history() if r.is_baseline and r.metric is not None), None)
        if baseline is None:
            return
        params, dists = {}, {}
        for k in knobs_for(session.workspace.knobs, session.slot_kind()):
            text = (Path(session.worktree_path) / k.file).read_text(encoding="utf-8")
            value = read_knob(text, k.name)
            if not isinstance(value, (int, float)) or not (k.low <= value <= k.high):
                return
            params[k.name] = int(value) if k.type == "int" else float(value)
            dists[k.name] = (
                optuna.distributions.IntDistribution(int(k.low), int(k.high), log=k.log)
                if k.type == "int"
                else optuna.distributions.FloatDistribution(k.low, k.high, log=k.log)
            )
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=baseline.metric))

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


def _sampler(optuna, session: PaneSession, n_startup_trials: int, trials_so_far: int):
    """Multivariate TPE seeded by the pane's name, and by how far its study got: a resumed
    study must not propose the trials of its first start again."""
    seed = int(hashlib.sha256(session.name.encode()).hexdigest()[:8], 16) + trials_so_far
    return optuna.samplers.TPESampler(multivariate=True, seed=seed, n_startup_trials=n_startup_trials)


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
