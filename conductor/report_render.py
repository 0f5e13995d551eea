"""The report's figures drawn side by side, one process a core.

Drawing is most of a report's time (about 0.3 s of CPU a figure, the labels' text most of
it) and each figure is independent of the others, so with more than one core the figures
are drawn in forked workers that inherit the run's data and matplotlib already imported:
nothing is pickled but a figure's name on the way in and its PNG bytes on the way out.
Where fork is not offered (macOS, Windows) or one core is all there is, they are drawn in
turn.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from conductor.report_data import RunData
from conductor.report_plots import compare_png, progress_png

COMPARE = ""  # the job name of the comparison figure; any other is a pane's progress figure
_RUN: RunData | None = None  # the run a forked worker draws from


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _draw(job: str) -> bytes:
    run = _RUN
    assert run is not None
    if job == COMPARE:
        return compare_png(run)
    return progress_png(run, next(p for p in run.panes if p.name == job))


def draw_figures(run: RunData, workers: int | None = None) -> tuple[bytes, dict[str, bytes]]:
    """(the comparison PNG, each pane's progress PNG by name)."""
    global _RUN
    jobs = [COMPARE, *(p.name for p in run.panes)]
    workers = min(len(jobs), workers or _cores())
    _RUN = run
    try:
        if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            pngs = [_draw(job) for job in jobs]
        else:
            import matplotlib.backends.backend_agg  # noqa: F401  (once, before the fork: the workers inherit it)
            import matplotlib.figure  # noqa: F401

            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                pngs = list(pool.map(_draw, jobs))
    finally:
        _RUN = None
    return pngs[0], dict(zip(jobs[1:], pngs[1:], strict=True))
