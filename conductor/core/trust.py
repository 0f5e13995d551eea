"""When a keep can be believed: the noise floor, the sanity gates and verification re-runs.

A pane asks three questions of this module and nothing else: how much better than the
best must a result be (`keep_threshold`: max(min_delta, noise_k x the baseline's spread));
what does the baseline really measure (`noise_floor`: `noise_runs` runs with other seeds);
and does a candidate keep hold up (`verify_keep`: `verify` more runs, or two when a gate
trips: a gain above `sanity_gain` in one step, or a metric outside `plausible`). Re-runs go
through the pane's `repeat`, so they queue for slots like any experiment.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from typing import Any

from conductor.config import WorkspaceConfig
from conductor.core.judge import Verdict
from conductor.core.ledger import Ledger
from conductor.core.record import Status, improvement

# Run `commit` n more times (seeds 1..n) in the given pane state; a crashed run gives None.
Repeat = Callable[[str, int, int, str], Awaitable[list[float | None]]]


class TrustPolicy:
    def __init__(self, pane: str, workspace: WorkspaceConfig, ledger: Ledger, say: Callable[[str], None]):
        self.pane = pane
        self.workspace = workspace
        self.ledger = ledger
        self.say = say  # an info line in the pane's activity
        self._spread_key = f"noise_spread:{pane}"

    def keep_threshold(self) -> float:
        spread = self.ledger.get_meta(self._spread_key)
        noise = self.workspace.noise_k * float(spread) if spread else 0.0
        return max(self.workspace.min_delta, noise)

    async def noise_floor(self, repeat: Repeat, commit: str, seq: int, first: float) -> tuple[float, dict[str, Any]]:
        """The baseline's mean over `noise_runs` seeds; its spread sets the keep threshold."""
        ws = self.workspace
        self.say(f"measuring the noise floor: {ws.noise_runs} baseline runs with different seeds")
        values = [first, *await repeat(commit, seq, ws.noise_runs - 1, "baseline")]
        ok = [v for v in values if v is not None]
        spread = statistics.stdev(ok) if len(ok) > 1 else 0.0
        self.ledger.set_meta(self._spread_key, repr(spread))
        mean = statistics.fmean(ok)
        self.say(
            f"noise floor: {ws.metric} mean {mean:.6f}, sd {spread:.6f} over {len(ok)} runs; "
            f"a keep must now beat the best by more than {self.keep_threshold():.6f}"
        )
        return mean, {"noise_runs": values, "noise_sd": spread}

    def gates(self, metric: float, previous_best: float) -> list[str]:
        ws = self.workspace
        reasons = []
        gain = improvement(ws.goal, previous_best, metric)
        if ws.sanity_gain is not None and previous_best != 0 and gain / abs(previous_best) > ws.sanity_gain:
            reasons.append(
                f"a {gain / abs(previous_best):.0%} gain in one step is above sanity_gain {ws.sanity_gain:g}"
            )
        if ws.plausible is not None and not (ws.plausible[0] <= metric <= ws.plausible[1]):
            reasons.append(f"{metric:.6g} is outside the plausible range {list(ws.plausible)}")
        return reasons

    async def verify_keep(
        self, repeat: Repeat, commit: str, seq: int, metric: float, previous_best: float, at_least: int = 0
    ) -> tuple[Verdict, float, dict[str, Any]]:
        """A candidate keep is re-run `verify` times (or twice when a gate trips, or `at_least`
        times: a starved run is not believed alone) and kept only if the mean of all runs
        still wins."""
        ws = self.workspace
        gates = self.gates(metric, previous_best)
        runs = max(ws.verify, 2 if gates else 0, at_least)
        reasons = gates + (["its run was starved of CPU"] if at_least else [])
        if not runs:
            return Verdict(Status.KEEP, f"better by {improvement(ws.goal, previous_best, metric):.6g}"), metric, {}
        why = "; ".join(reasons) or f"verify = {ws.verify}"
        self.say(f"verifying a candidate keep ({why}): {runs} more run(s)")
        values = [metric, *await repeat(commit, seq, runs, "verifying")]
        extra: dict[str, Any] = {"verify_runs": values}
        if any(v is None for v in values):
            return Verdict(Status.DISCARD, f"a verification run crashed ({why})"), metric, extra
        ok = [v for v in values if v is not None]
        mean = statistics.fmean(ok)
        gain = improvement(ws.goal, previous_best, mean)
        if gain <= self.keep_threshold():
            return Verdict(Status.DISCARD, f"did not hold up: mean {mean:.6g} over {len(ok)} runs"), metric, extra
        if ws.plausible is not None and not (ws.plausible[0] <= mean <= ws.plausible[1]):
            return Verdict(Status.DISCARD, f"implausible: mean {mean:.6g} outside {list(ws.plausible)}"), metric, extra
        return (
            Verdict(Status.KEEP, f"verified: mean {mean:.6g} over {len(ok)} runs, better by {gain:.6g}"),
            mean,
            extra,
        )
