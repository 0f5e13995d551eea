"""Starved runs: an experiment whose run got far less CPU per second than its pane's baseline
did (a loaded machine, a noisy neighbour) measured less training, not a worse or better idea.
Such a run is marked `starved` on its row, and a candidate keep from it is re-run before it
is believed (core/loop.py asks `TrustPolicy.verify_keep` for at least one more run).
"""

from __future__ import annotations

STARVED_FRACTION = 0.5  # starved below this fraction of the baseline's CPU share
MIN_MEASURED_S = 2.0  # a shorter run is over before its samples (core/cpu_meter.py) can say much


def cpu_share(cpu_s: float | None, wall_s: float) -> float | None:
    """CPU seconds per wall second of a run; None where not measured (or too short to tell)."""
    if cpu_s is None or wall_s < MIN_MEASURED_S:
        return None
    return cpu_s / wall_s


def is_starved(share: float | None, baseline: float | None) -> bool:
    return share is not None and baseline is not None and baseline > 0 and share < STARVED_FRACTION * baseline


def starved_reason(share: float, baseline: float) -> str:
    return f"starved: its run got {share:.2f} CPU-s/s, {share / baseline:.0%} of the baseline's {baseline:.2f}"
