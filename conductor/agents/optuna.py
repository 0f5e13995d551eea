"""The offline proposer: a multivariate TPE search over the knobs a workspace declares.

Knobs are module-level constants in an editable file (`LEARNING_RATE = 1e-3`). Each trial
rewrites only their values, keeping the rest of each line (spacing, comments), and runs it
as an experiment; the outcome is told to the study (a crash is a failed trial). The study
lives in the pane's agent dir (agents/optuna_history.py: every trial logged, a bounded window
of them replayed), so a resumed run continues it at the same cost however long it ran.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import re
from pathlib import Path

from conductor.agents.optuna_history import windowed_study
from conductor.config import AgentConfig, Knob
from conductor.core.agent import PaneSession
from conductor.core.outcome import PaneFinished
from conductor.errors import AgentFatal

N_STARTUP_TRIALS = 5
RECONCILE_ROWS = 50  # a trial a stop left open is among the pane's last rows


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


class OptunaAgent:
    kind = "optuna"

    def __init__(self, config: AgentConfig):
        self.config = config

    async def run(self, session: PaneSession) -> None:
        knobs = session.workspace.knobs
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
        while True:
            await session.checkpoint()
            trial = await asyncio.to_thread(study.ask)
            params = {}
            for k in knobs:
                if k.type == "int":
                    params[k.name] = trial.suggest_int(k.name, int(k.low), int(k.high), log=k.log)
                else:
                    params[k.name] = trial.suggest_float(k.name, k.low, k.high, log=k.log)
            study.asked(trial)
            description = await asyncio.to_thread(self._apply, session, knobs, params)
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
        seed = int(hashlib.sha256(session.name.encode()).hexdigest()[:8], 16)
        sampler = optuna.samplers.TPESampler(multivariate=True, seed=seed, n_startup_trials=N_STARTUP_TRIALS)
        direction = "minimize" if session.workspace.goal == "min" else "maximize"
        study = windowed_study(
            optuna, Path(session.agent_dir), session.name, direction, sampler, _distributions(optuna, session)
        )
        if study.trials:  # resumed: a sampler seeded as at the first start would propose the same trials again
            study.sampler = optuna.samplers.TPESampler(
                multivariate=True, seed=seed + len(study.trials), n_startup_trials=N_STARTUP_TRIALS
            )
        return study

    def _reconcile(self, optuna, study, session: PaneSession) -> None:
        """Trials left open by a stop get the result the ledger recorded, or fail."""
        rows = {r.agent_ref: r for r in session.recent_history(RECONCILE_ROWS) if r.agent_ref.startswith("trial:")}
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            row = rows.get(f"trial:{t.number}")
            _tell_quietly(study, t.number, row.metric if row else None, optuna)
        if not study.trials:
            self._seed_with_baseline(optuna, study, session)

    def _seed_with_baseline(self, optuna, study, session: PaneSession) -> None:
        baseline = next((r for r in session.history() if r.is_baseline and r.metric is not None), None)
        if baseline is None:
            return
        params, dists = {}, _distributions(optuna, session)
        for k in session.workspace.knobs:
            text = (Path(session.worktree_path) / k.file).read_text(encoding="utf-8")
            value = read_knob(text, k.name)
            if not isinstance(value, (int, float)) or not (k.low <= value <= k.high):
                return
            params[k.name] = int(value) if k.type == "int" else float(value)
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


def _distributions(optuna, session: PaneSession) -> dict:
    return {
        k.name: optuna.distributions.IntDistribution(int(k.low), int(k.high), log=k.log)
        if k.type == "int"
        else optuna.distributions.FloatDistribution(k.low, k.high, log=k.log)
        for k in session.workspace.knobs
    }


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
