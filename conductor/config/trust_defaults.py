"""Trust that is cheap enough to be on from the start: the noise floor and the verification
of candidate keeps, sized to an experiment's time budget. The demo and the config
`conductor init` writes use it; a config that names neither key keeps the schema's
defaults (off), so an existing run does not change under its owner.

Sizing: the noise floor costs its extra baseline runs once per pane; verification costs
its re-runs per candidate keep only (a minority of experiments). At a minute or less both
are seconds to minutes, so three baseline runs and two re-runs; up to ten minutes, one
re-run; beyond, two baseline runs and one re-run.
"""

from __future__ import annotations


def trust_for(budget_s: float) -> dict[str, int]:
    """`noise_runs` and `verify` for an experiment of this budget."""
    if budget_s <= 60:
        return {"noise_runs": 3, "verify": 2}
    if budget_s <= 600:
        return {"noise_runs": 3, "verify": 1}
    return {"noise_runs": 2, "verify": 1}
