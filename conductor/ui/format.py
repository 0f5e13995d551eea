"""Short, honest text for numbers on a crowded screen.

Every formatter takes None for "not measured" and returns `DASH`, a dim "-", never a made-up
zero. Output is Textual content markup: theme variables colour it (`$keep`, `$muted`, ...).
"""

from __future__ import annotations

import math

from rich.markup import escape

DASH = "[$muted]-[/]"

STATUS_STYLE = {
    "keep": ("keep", "$keep"),
    "discard": ("disc", "$discard"),
    "crash": ("crash", "$crash"),
    "rejected": ("rej", "$rejected"),
    "interrupted": ("intr", "$muted"),  # a stop cut it short: not the idea's fault, not a crash
}


def esc(text: str) -> str:
    """Plain text made safe for content markup (square brackets)."""
    return escape(text)


def is_number(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def clock(seconds: float) -> str:
    """0:07, 12:30, 1:02:03."""
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def age(seconds: float | None) -> str:
    """How long ago, in the fewest characters: 45s, 12m, 3h05m, 2d04h."""
    if seconds is None:
        return DASH
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def metric(value: float | None) -> str:
    if not is_number(value):
        return DASH
    a = abs(value)
    if 0 < a < 1e-3:
        return f"{value:.2e}"
    if a < 10:
        return f"{value:.4f}"
    if a < 1000:
        return f"{value:.2f}"
    return f"{value:.4g}"


def delta(value: float | None) -> str:
    if not is_number(value):
        return DASH
    a = abs(value)
    if 0 < a < 1e-3:
        return f"{value:+.1e}"
    if a < 10:
        return f"{value:+.4f}"
    if a < 1000:
        return f"{value:+.2f}"
    return f"{value:+.3g}"


def si(value: float | None, unit: str = "") -> str:
    """1.2k, 35, 0.4 — for rates."""
    if not is_number(value):
        return DASH
    a = abs(value)
    if a >= 1e6:
        return f"{value / 1e6:.1f}M{unit}"
    if a >= 1e3:
        return f"{value / 1e3:.1f}k{unit}"
    if a >= 10:
        return f"{value:.0f}{unit}"
    return f"{value:.1f}{unit}"


def usd(value: float | None) -> str:
    if not is_number(value):
        return DASH
    if value >= 1000:
        return f"${value / 1000:.1f}k"
    if value >= 100:
        return f"${value:.0f}"
    return f"${value:.2f}"


def percent(value: float | None) -> str:
    if not is_number(value):
        return DASH
    return meter(value, f"{value:.0f}%")


def meter(value: float, text: str) -> str:
    """Colour a 0-100 reading: cool with room, warm in use, hot near the limit."""
    style = "$hot" if value >= 90 else "$warm" if value >= 50 else "$cool"
    return f"[{style}]{text}[/]"


def gigabytes(used_mb: float | None, total_mb: float | None) -> str:
    if not is_number(used_mb):
        return DASH
    used = f"{used_mb / 1024:.1f}"
    if not is_number(total_mb) or not total_mb:
        return f"{used}G"
    return meter(100 * used_mb / total_mb, f"{used}/{total_mb / 1024:.0f}G")


def status_tag(status: str, is_baseline: bool = False) -> str:
    if is_baseline:
        return "[$cool]base [/]"
    word, style = STATUS_STYLE.get(status, (status[:5], "$muted"))
    return f"[{style}]{word:<5}[/]"


def better_arrow(goal: str) -> str:
    return "↓" if goal == "min" else "↑"
