"""The Messages API's `anthropic-ratelimit-*` headers as quota windows.

Every response carries, for requests, tokens, input tokens and output tokens, the limit,
what remains and when it is full again (RFC 3339). The SDK does not parse them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

KINDS = ("tokens", "input-tokens", "output-tokens", "requests")


def quota_from_headers(headers: Mapping[str, str]) -> list[tuple[str, float, float | None]]:
    """(window, utilization 0..1, resets_at) for each kind the headers give."""
    out = []
    for kind in KINDS:
        limit = _int(headers.get(f"anthropic-ratelimit-{kind}-limit"))
        remaining = _int(headers.get(f"anthropic-ratelimit-{kind}-remaining"))
        if not limit or remaining is None:
            continue
        used = min(1.0, max(0.0, 1.0 - remaining / limit))
        out.append((kind, used, _time(headers.get(f"anthropic-ratelimit-{kind}-reset"))))
    return out


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def _time(v: str | None) -> float | None:
    if not v:
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
