"""Keep, discard or crash: the one place that decides what an experiment's result means.

A missing metric is never 0: no metric, a non-zero exit, NaN or a timeout is a crash.
A keep must beat the best by more than `min_delta` in the goal's direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from conductor.core.record import Status, improvement


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str


def judge(
    *,
    goal: str,
    best: float | None,
    metric: float | None,
    exit_code: int | None,
    timed_out: bool,
    min_delta: float = 0.0,
    metric_name: str = "metric",
) -> Verdict:
    if timed_out:
        return Verdict(Status.CRASH, "timeout")
    if exit_code not in (0, None):
        return Verdict(Status.CRASH, f"exit code {exit_code}")
    if metric is None:
        return Verdict(Status.CRASH, f"no {metric_name} in the summary block")
    if math.isnan(metric) or math.isinf(metric):
        return Verdict(Status.CRASH, f"{metric_name} is {metric}")
    if best is None:
        return Verdict(Status.KEEP, "first result")
    gain = improvement(goal, best, metric)
    if gain > min_delta:
        return Verdict(Status.KEEP, f"better by {gain:.6g}")
    if gain > 0:
        return Verdict(Status.DISCARD, f"better by {gain:.6g}, within the keep threshold {min_delta:.6g}")
    return Verdict(Status.DISCARD, "not better" if gain < 0 else "equal")
