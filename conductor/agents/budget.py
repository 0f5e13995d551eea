"""An agent's spending: its max_usd / max_tokens budget, and the price-table key of a model.

A budget that is reached pauses the pane; resuming it allows as much again, so the limit
moves on from what was spent when it was reached. Every agent that spends tokens checks
the same way, the built-in one at each turn boundary, external CLIs at each usage report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conductor.core.agent import PaneSession

if TYPE_CHECKING:
    from conductor.core.ledger import UsageTotals


def tokens_of(spent: UsageTotals) -> int:
    return spent.input + spent.output + spent.cache_write + spent.cache_read


@dataclass(frozen=True)
class BudgetReached:
    message: str  # "budget reached: $0.31 spent, max_usd is $0.30"
    allowance: str  # what resuming allows: "another $0.30"

    @property
    def alert(self) -> str:
        return f"{self.message}. The pane is paused; resuming allows {self.allowance}."


class Budget:
    """max_usd and max_tokens of one agent (either may be None: no limit)."""

    def __init__(self, max_usd: float | None, max_tokens: int | None):
        self.max_usd = max_usd
        self.max_tokens = max_tokens
        self._usd_limit: float = math.inf if max_usd is None else max_usd
        self._token_limit: float = math.inf if max_tokens is None else max_tokens

    def reached(self, spent: UsageTotals) -> BudgetReached | None:
        """The limit `spent` reached, if any; that limit moves on by as much again."""
        if self.max_usd is not None and spent.usd >= self._usd_limit:
            message = f"budget reached: ${spent.usd:.2f} spent, max_usd is ${self._usd_limit:.2f}"
            self._usd_limit = spent.usd + self.max_usd
            return BudgetReached(message, f"another ${self.max_usd:.2f}")
        tokens = tokens_of(spent)
        if self.max_tokens is not None and tokens >= self._token_limit:
            message = f"budget reached: {tokens} tokens used, max_tokens is {self._token_limit}"
            self._token_limit = tokens + self.max_tokens
            return BudgetReached(message, f"another {self.max_tokens} tokens")
        return None

    def pause_if_reached(self, session: PaneSession) -> bool:
        """Alert and pause the pane (effective at its next checkpoint) when a limit is reached."""
        if self.max_usd is None and self.max_tokens is None:
            return False
        reached = self.reached(session.usage_totals())
        if reached is None:
            return False
        session.alert("warning", reached.alert)
        session.pause(reached.message)
        return True


# ---------------------------------------------------------------- prices

_SNAPSHOT = re.compile(r"(-\d{8}|\[[^\]]*\])$")


def price_key_candidates(model: str) -> list[str]:
    """`claude-sonnet-4-5-20250929` -> itself, then `claude-sonnet-4-5`: the price table's
    keys are model families, the CLI reports dated snapshots."""
    out = [model]
    stripped = model
    while _SNAPSHOT.search(stripped):
        stripped = _SNAPSHOT.sub("", stripped)
        out.append(stripped)
    return out


class PriceKeys:
    """The price-table key of each model an external CLI reports, looked up once; a model
    with no price gets one alert (its tokens are counted at $0)."""

    def __init__(self, session: PaneSession, default_model: str, label: str):
        self.session = session
        self.default_model = default_model
        self.label = label
        self._keys: dict[str, str] = {}

    def key(self, model: str) -> str:
        model = model or self.default_model
        if model in self._keys:
            return self._keys[model]
        for candidate in price_key_candidates(model):
            if self.session.price(candidate) is not None:
                self._keys[model] = candidate
                return candidate
        self._keys[model] = model
        self.session.alert(
            "warning", f'no [prices."{model}"] in the config: {self.label} tokens are counted, their cost shows $0'
        )
        return model
