"""Where panes go and which of their lines survive: pure arithmetic, no widgets.

The dashboard lays 1 to 12 panes out in rows that each fill the width (10 panes: 4, 3, 3),
choosing the row count whose cards come closest to a readable shape. A card that is short
drops its least important lines first: activity, then experiment rows, then the sparkline,
the meters and the counts; its state and best metric stay to the last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TARGET_ASPECT = 2.6  # card width / height in cells: wide enough for a description, tall enough for rows
MIN_CARD_WIDTH = 24
MAX_EXPERIMENT_ROWS = 6


def row_counts(n: int, width: int, height: int) -> list[int]:
    """Panes per row, top to bottom, fuller rows first."""
    if n <= 0:
        return []
    best: tuple[float, list[int]] | None = None
    for rows in range(1, n + 1):
        cols = math.ceil(n / rows)
        if rows > 1 and math.ceil(n / (rows - 1)) == cols:
            continue  # same columns with fewer rows: taller cards for free
        cell_w, cell_h = width / cols, max(1.0, height / rows)
        score = abs(math.log((cell_w / cell_h) / TARGET_ASPECT))
        if cell_w < MIN_CARD_WIDTH:
            score += 10 + (MIN_CARD_WIDTH - cell_w)
        if best is None or score < best[0]:
            best = (score, _spread(n, rows))
    return best[1] if best else [n]


def _spread(n: int, rows: int) -> list[int]:
    base, extra = divmod(n, rows)
    return [base + 1 if i < extra else base for i in range(rows)]


def grid_columns(counts: list[int]) -> int:
    """Columns of a grid in which every row's cards can span equal widths."""
    return math.lcm(*counts) if counts else 1


@dataclass(frozen=True)
class CardPlan:
    counts: bool
    meters: bool
    sparkline: bool
    rows: int
    activity: int


def card_plan(inner_height: int) -> CardPlan:
    """Which lines a pane card shows with this many rows inside its border.

    State and best metric always take the first two rows; then counts, the token/cost meters
    and the sparkline, one row each, as long as rows remain."""
    free = max(0, inner_height - 2)
    counts = free >= 1
    meters = free >= 2
    sparkline = free >= 3
    free -= counts + meters + sparkline
    if free <= 3:
        rows, activity = free, 0
    else:
        rows = min(MAX_EXPERIMENT_ROWS, max(3, free // 2))
        activity = free - rows
    return CardPlan(counts=counts, meters=meters, sparkline=sparkline, rows=rows, activity=activity)


def neighbour(counts: list[int], index: int, direction: str) -> int:
    """The card a direction key moves to from card `index` in rows of `counts` cards: left and
    right along the reading order (wrapping), up and down to the card of the next row whose
    centre lies nearest above or below this one's; the same card at an edge."""
    n = sum(counts)
    if n == 0:
        return index
    if direction in ("right", "next"):
        return (index + 1) % n
    if direction in ("left", "previous"):
        return (index - 1) % n
    starts = [sum(counts[:r]) for r in range(len(counts))]
    row = next(r for r in range(len(counts)) if index < starts[r] + counts[r])
    target = row + (1 if direction == "down" else -1)
    if direction not in ("up", "down") or not 0 <= target < len(counts):
        return index
    centre = (index - starts[row] + 0.5) / counts[row]  # 0..1 across the row
    return starts[target] + min(counts[target] - 1, int(centre * counts[target]))
