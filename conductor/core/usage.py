"""What tokens cost: the configured price table applied to one usage report, exactly."""

from __future__ import annotations

from conductor.config import Price


def usage_cost(price: Price | None, input: int, output: int, cw5m: int, cw1h: int, cache_read: int) -> float:
    """USD for one response; 1-hour cache writes cost twice the input price (Anthropic's rule)."""
    if price is None:
        return 0.0
    return (
        input * price.input
        + output * price.output
        + cw5m * price.cache_write
        + cw1h * price.input * 2.0
        + cache_read * price.cache_read
    ) / 1e6
