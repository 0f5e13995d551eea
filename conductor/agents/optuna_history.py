"""The Optuna agent's trials, kept whole on disk but replayed as a bounded window.

Optuna's JournalStorage replays a study's whole journal into memory when it opens it (about
8 KB and 0.1 ms a trial at six knobs), and TPE's ask weighs every trial it is given: at
5,000 trials a pane both make a resume take seconds and an ask grow with the history. Here
every trial is one line of `optuna-trials.jsonl` in the study's folder (asked, then
finished), appended and never rewritten; `optuna-best.json` holds the BEST best trials and
is rewritten only when one enters it. Opening reads the file's tail (the last RECENT
trials, by seeking back from its end) and the best file into an in-memory study: what a
start costs and what an ask sees stay the same however many trials came before.

Trial numbers are the log's own and go on across restarts (the ledger's `trial:N` names
them); the in-memory study numbers its window from 0, so `WindowedStudy` translates. A study
folder an older conductor left (`optuna.journal` only) is converted once, by one full replay.
"""

from __future__ import annotations

import heapq
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECENT = 150  # the latest trials TPE sees: where the search is now
BEST = 30  # plus the best ever: where it has been good
TRIALS_FILE = "optuna-trials.jsonl"
BEST_FILE = "optuna-best.json"
JOURNAL_FILE = "optuna.journal"  # what an older conductor kept
_CHUNK = 64 * 1024


@dataclass
class LoggedTrial:
    number: int
    params: dict[str, float]
    state: str  # running | complete | fail
    value: float | None = None
    attrs: dict[str, str] = field(default_factory=dict)  # its user attrs: which pane asked, a baseline's pane

    def line(self) -> str:
        d = {"n": self.number, "params": self.params, "state": self.state, "value": self.value}
        return json.dumps({**d, "attrs": self.attrs} if self.attrs else d)

    @classmethod
    def parse(cls, line: str) -> LoggedTrial | None:
        try:
            d = json.loads(line)
            value = d.get("value")
            state = str(d.get("state") or ("complete" if value is not None else "fail"))
            if state == "complete" and value is None:
                state = "fail"
            return cls(
                int(d["n"]), dict(d["params"]), state, value, {str(k): str(v) for k, v in d.get("attrs", {}).items()}
            )
        except (ValueError, KeyError, TypeError):
            return None  # a line cut by a crash mid-write


def tail_lines(path: Path, count: int) -> list[str]:
    """The last `count` complete lines of a file, read backwards from its end."""
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return []
    with fh:
        end = fh.seek(0, os.SEEK_END)
        data = b""
        pos = end
        while pos > 0 and data.count(b"\n") <= count:
            step = min(_CHUNK, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    if pos > 0:
        lines = lines[1:]  # the first is a piece of a longer line
    return lines[-count:]


def _better(direction: str):
    return (lambda a, b: a < b) if direction == "minimize" else (lambda a, b: a > b)


class TrialLog:
    """The append-only trial file and the best file of one study folder."""

    def __init__(self, folder: Path, direction: str):
        self.folder = Path(folder)
        self.path = self.folder / TRIALS_FILE
        self.best_path = self.folder / BEST_FILE
        self.direction = direction
        self._lock = threading.Lock()
        self.best: list[LoggedTrial] = []

    def append(self, trial: LoggedTrial) -> None:
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(trial.line() + "\n")
            if trial.state == "complete" and trial.value is not None and self._enters_best(trial):
                self.best = self._ranked([*self.best, trial])
                self._write_best()

    def _enters_best(self, trial: LoggedTrial) -> bool:
        if len(self.best) < BEST:
            return True
        return _better(self.direction)(trial.value, self.best[-1].value)

    def _ranked(self, trials: list[LoggedTrial]) -> list[LoggedTrial]:
        key = (lambda t: t.value) if self.direction == "minimize" else (lambda t: -t.value)
        return sorted(trials, key=key)[:BEST]

    def _write_best(self) -> None:
        tmp = self.best_path.with_name(f".{BEST_FILE}.tmp")
        tmp.write_text(json.dumps([json.loads(t.line()) for t in self.best]), encoding="utf-8")
        os.replace(tmp, self.best_path)

    def window(self) -> tuple[list[LoggedTrial], int]:
        """The trials to replay (best first, then the latest, each once, running ones last known
        state) and the next trial number."""
        self._end_cut_line()
        recent: dict[int, LoggedTrial] = {}
        for line in tail_lines(self.path, 2 * RECENT + 2):  # asked + finished lines of each
            t = LoggedTrial.parse(line)
            if t is not None:
                recent[t.number] = t
        latest = sorted(recent)[-RECENT:]
        next_number = latest[-1] + 1 if latest else 0
        self.best = self._read_best()
        chosen = {t.number: t for t in self.best}
        for n in latest:
            chosen[n] = recent[n]  # the latest state wins
        return sorted(chosen.values(), key=lambda t: t.number), next_number

    def _end_cut_line(self) -> None:
        """A line a crash cut short is ended, so the next trial starts a line of its own."""
        try:
            with open(self.path, "rb+") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        fh.write(b"\n")
        except FileNotFoundError:
            pass

    def _read_best(self) -> list[LoggedTrial]:
        try:
            rows = json.loads(self.best_path.read_text(encoding="utf-8"))
            return self._ranked([t for t in (LoggedTrial.parse(json.dumps(r)) for r in rows) if t is not None])
        except FileNotFoundError:
            return self._scan_best() if self.path.exists() else []
        except (ValueError, TypeError):
            return self._scan_best()

    def _scan_best(self) -> list[LoggedTrial]:
        """The best file lost (or never written): one pass over the trial file rebuilds it."""
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            done = (t for t in map(LoggedTrial.parse, fh) if t is not None and t.state == "complete")
            sign = 1.0 if self.direction == "minimize" else -1.0
            best = heapq.nsmallest(BEST, (t for t in done if t.value is not None), key=lambda t: sign * t.value)
        self.best = self._ranked(best)
        if self.best:
            self._write_best()
        return self.best


def convert_journal(optuna, folder: Path, study_name: str, log: TrialLog) -> None:
    """A study an older conductor kept in Optuna's journal: its trials into the trial log, once."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = folder / JOURNAL_FILE
    if log.path.exists() or not journal.exists():
        return
    storage = JournalStorage(JournalFileBackend(str(journal)))
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return
    states = optuna.trial.TrialState
    lines = []
    for t in study.get_trials(deepcopy=False):
        state = "complete" if t.state == states.COMPLETE else "running" if t.state == states.RUNNING else "fail"
        lines.append(LoggedTrial(t.number, dict(t.params), state, t.value if state == "complete" else None))
    tmp = log.path.with_name(f".{TRIALS_FILE}.tmp")
    tmp.write_text("".join(t.line() + "\n" for t in lines), encoding="utf-8")
    os.replace(tmp, log.path)
    log.best = log._ranked([t for t in lines if t.state == "complete" and t.value is not None])
    log._write_best()


class WindowedStudy:
    """The part of an Optuna study the agent uses, over an in-memory study of the window, with
    the log's trial numbers. Every ask and tell goes to the log as well."""

    def __init__(self, optuna, study, log: TrialLog, distributions: dict[str, Any], next_number: int):
        self._optuna = optuna
        self._study = study
        self._log = log
        self._dists = distributions
        self._to_local: dict[int, int] = {}
        self._to_global: dict[int, int] = {}
        self._next = next_number
        self._locals = 0  # the in-memory study numbers its trials 0, 1, ...
        self._lock = threading.Lock()

    @property
    def sampler(self):
        return self._study.sampler

    @sampler.setter
    def sampler(self, value) -> None:
        self._study.sampler = value

    @property
    def trials(self) -> range:
        """As many as the log has numbered (the window is a part of them)."""
        return range(self._next)

    def _map(self, number: int) -> None:
        local, self._locals = self._locals, self._locals + 1
        self._to_local[number] = local
        self._to_global[local] = number

    def replay(self, trials: list[LoggedTrial]) -> None:
        states = self._optuna.trial.TrialState
        for t in trials:
            if not t.params or any(k not in self._dists for k in t.params):
                continue  # a knob that is no longer declared: not comparable
            state = {"complete": states.COMPLETE, "running": states.RUNNING}.get(t.state, states.FAIL)
            try:  # a program's search section may tune some of the knobs: a trial has those it tuned
                frozen = self._optuna.trial.create_trial(
                    params=t.params,
                    distributions={k: self._dists[k] for k in t.params},
                    value=t.value if state == states.COMPLETE else None,
                    state=state,
                    user_attrs=t.attrs,
                )
            except ValueError:
                continue  # a value outside the range declared now
            self._study.add_trial(frozen)
            self._map(t.number)

    def ask(self):
        with self._lock:
            trial = self._study.ask()
            number = self._next
            self._next += 1
            self._map(number)
        return _NumberedTrial(trial, number)

    def asked(self, trial: _NumberedTrial) -> None:
        """The trial's parameters are chosen: logged, so a stop before its tell loses nothing."""
        self._log.append(LoggedTrial(trial.number, dict(trial.params), "running", attrs=_attrs(trial.user_attrs)))

    def tell(self, number: int, value: float | None = None, state=None) -> None:
        local = self._to_local.get(number)
        if local is None:
            raise ValueError(f"trial {number} is not in this study's window")
        self._study.tell(local, value, state=state)
        frozen = self._study.get_trials(deepcopy=False)[local]
        done = frozen.state == self._optuna.trial.TrialState.COMPLETE
        state = "complete" if done else "fail"
        self._log.append(LoggedTrial(number, dict(frozen.params), state, frozen.value, _attrs(frozen.user_attrs)))

    def get_trials(self, deepcopy: bool = False, states=None) -> list:
        return [
            _Renumbered(t, self._to_global[t.number]) for t in self._study.get_trials(deepcopy=False, states=states)
        ]

    def add_trial(self, frozen) -> None:
        """A trial from outside the search (the baseline's settings), logged as finished."""
        with self._lock:
            self._study.add_trial(frozen)
            number = self._next
            self._next += 1
            self._map(number)
        self._log.append(LoggedTrial(number, dict(frozen.params), "complete", frozen.value, _attrs(frozen.user_attrs)))


def _attrs(user_attrs: dict) -> dict[str, str]:
    return {str(k): str(v) for k, v in user_attrs.items()}


class _NumberedTrial:
    """An asked trial that answers to the log's number."""

    def __init__(self, trial, number: int):
        self._trial = trial
        self.number = number

    def __getattr__(self, name: str):
        return getattr(self._trial, name)


class _Renumbered:
    def __init__(self, frozen, number: int):
        self._frozen = frozen
        self.number = number

    def __getattr__(self, name: str):
        return getattr(self._frozen, name)


_OPEN: dict[Path, WindowedStudy] = {}
_OPEN_LOCK = threading.Lock()


def windowed_study(optuna, folder: Path, study_name: str, direction: str, sampler, distributions: dict[str, Any]):
    """The study kept in `folder`, opened on its window; one object per folder in a process, so
    panes that share a study (one folder) share its window too."""
    folder = Path(folder).resolve()
    with _OPEN_LOCK:
        if folder in _OPEN:
            return _OPEN[folder]
        folder.mkdir(parents=True, exist_ok=True)
        log = TrialLog(folder, direction)
        convert_journal(optuna, folder, study_name, log)
        trials, next_number = log.window()
        study = optuna.create_study(study_name=study_name, sampler=sampler, direction=direction)
        windowed = WindowedStudy(optuna, study, log, distributions, next_number)
        windowed.replay(trials)
        _OPEN[folder] = windowed
        return windowed
