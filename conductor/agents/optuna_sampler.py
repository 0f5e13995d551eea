"""A TPE sampler that follows each pane's program inside the one study the panes share.

The optuna panes of a workspace search one study, but each follows its own program.md, whose
search section may narrow a knob's range or leave a knob out. Suggested over those narrower
ranges, the study would hold one parameter under several distributions, and Optuna's
multivariate TPE drops every such parameter from its joint model (IntersectionSearchSpace):
one evolved variant would quietly turn every pane's search univariate, the fixed panes'
too, and a variant that flips a knob's log scale would make the study refuse the suggestion.
So every trial is suggested over the declared ranges and the study's space stays one; this
sampler draws inside the asking pane's box, and a knob the program leaves out is pinned to
its value in the pane's file (what the experiment runs with). A pane's ask and its
suggestions run in one thread (`_propose`), so the box is the thread's.

A program may also ask for another model of the same trials: `sampler = "gp"` has Optuna's
GPSampler (a Gaussian process; it needs torch and scipy) draw that pane's trials, over the
same shared study, while the other panes go on with TPE. Its startup draws, and any knob it
does not model, come from the TPE side.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import GPSampler, TPESampler

from conductor.config import Knob

_FOLLOWING = threading.local()


@contextmanager
def following(box: dict[str, BaseDistribution], pinned: dict[str, float], model: str = "tpe") -> Iterator[None]:
    """Within this block, this thread's asks draw inside `box`, take `pinned` as they are, and
    are modelled by `model` ("tpe" or "gp")."""
    _FOLLOWING.box, _FOLLOWING.pinned, _FOLLOWING.model = box, pinned, model
    try:
        yield
    finally:
        _FOLLOWING.box = _FOLLOWING.pinned = _FOLLOWING.model = None


def _current() -> tuple[dict[str, BaseDistribution], dict[str, float], str]:
    """This thread's (box, pinned, model); outside `following`, the declared space and TPE."""
    box, pinned, model = (getattr(_FOLLOWING, k, None) for k in ("box", "pinned", "model"))
    return box or {}, pinned or {}, model or "tpe"


@functools.cache
def gp_missing() -> str:
    """Why GPSampler cannot run here ("" when it can): it needs torch and scipy."""
    missing = []
    for module in ("torch", "scipy"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    return f"the gp sampler needs {' and '.join(missing)}, not installed" if missing else ""


def box_of(tuned: tuple[Knob, ...], declared: tuple[Knob, ...]) -> dict[str, BaseDistribution]:
    """The distributions the program asks for. A log scale only where the declared range is
    positive: TPE takes the log of every trial it models, and old trials span that range."""
    positive = {k.name for k in declared if k.low > 0}
    return {
        k.name: IntDistribution(int(k.low), int(k.high), log=k.log and k.name in positive)
        if k.type == "int"
        else FloatDistribution(k.low, k.high, log=k.log and k.name in positive)
        for k in tuned
    }


class ProgramTPESampler(TPESampler):
    """Multivariate TPE over the study's declared space, drawing inside the current box (or a
    Gaussian process, where the asking pane's program says so)."""

    def __init__(self, *, seed: int | None = None, n_startup_trials: int = 10, **kwargs: Any):
        super().__init__(seed=seed, n_startup_trials=n_startup_trials, **kwargs)
        self._gp_args = {"seed": seed, "n_startup_trials": n_startup_trials}
        self._gp: GPSampler | None = None
        self._gp_lock = threading.Lock()  # one GP fit at a time: the sampler keeps its kernel cache

    def _sample_gp(self, study: Any, trial: Any, space: dict[str, BaseDistribution]) -> dict[str, Any]:
        with self._gp_lock:
            if self._gp is None:
                self._gp = GPSampler(warn_independent_sampling=False, **self._gp_args)
            return self._gp.sample_relative(study, trial, space)

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        box, pinned, model = _current()
        inside = {name: box.get(name, dist) for name, dist in search_space.items() if name not in pinned}
        if model == "gp" and inside and not gp_missing():
            params = self._sample_gp(study, trial, inside)
        else:
            params = super().sample_relative(study, trial, inside)
        if params:
            params.update({name: value for name, value in pinned.items() if name in search_space})
        return params

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: BaseDistribution) -> Any:
        box, pinned, _ = _current()
        if param_name in pinned:
            return pinned[param_name]
        return super().sample_independent(study, trial, param_name, box.get(param_name, param_distribution))
