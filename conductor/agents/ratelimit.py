"""An external CLI's usage limit, as the CLI reports it (Claude) or as conductor infers it (Codex).

A rejected limit is not a failure: the pane shows "waiting" until the reset, the agent is
not restarted before it, and the turns and exits it causes do not count towards the
restart-storm guard.
"""

from __future__ import annotations

import time

from conductor.agents.streams import RateLimit
from conductor.core.agent import PaneSession

CODEX_BACKOFF_S = 60.0
CODEX_BACKOFF_MAX_S = 1800.0


def looks_rate_limited(text: str) -> bool:
    lowered = text.lower()
    return "usage limit" in lowered or "rate limit" in lowered or "429" in lowered


def codex_backoff_s(hits: int) -> float:
    """How long to wait after the `hits`-th limited Codex turn in a row (counting from 0)."""
    return min(CODEX_BACKOFF_MAX_S, CODEX_BACKOFF_S * 2**hits)


class UsageLimit:
    """The last limit state seen, and what the pane shows of it."""

    def __init__(self, session: PaneSession):
        self.session = session
        self.current: RateLimit | None = None
        self._shown: tuple | None = None

    def limited(self) -> bool:
        """A rejected limit that has not reset yet."""
        limit = self.current
        return limit is not None and not limit.allowed and (limit.resets_at or 0) > time.time()

    def seconds_left(self) -> float:
        return (self.current.resets_at or 0) - time.time() if self.limited() else 0.0

    def report(self, limit: RateLimit) -> None:
        """A limit event from the CLI: one activity line per visible change, and the pane's state."""
        s = self.session
        was_limited = self.current is not None and not self.current.allowed
        self.current = limit
        resets = time.strftime("%H:%M", time.localtime(limit.resets_at)) if limit.resets_at else "?"
        used = f"{limit.utilization:.0%} used, " if limit.utilization is not None else ""
        shown = (limit.status, limit.limit_type, round((limit.utilization or 0) * 20))
        if shown != self._shown:
            self._shown = shown
            s.activity("info", f"usage limit {limit.limit_type or '?'}: {used}resets at {resets} ({limit.status})")
        if not limit.allowed:
            s.set_state(
                "waiting", f"usage limit ({limit.limit_type or 'rate'}) until {resets}", deadline=limit.resets_at
            )
        elif was_limited:
            s.set_state("thinking", "usage limit cleared")

    def reject_for(self, seconds: float, limit_type: str) -> None:
        """A limit conductor inferred from a failed turn: wait `seconds` before the next start."""
        until = time.time() + seconds
        self.current = RateLimit("rejected", until, limit_type, None)
        self.session.set_state("waiting", f"{limit_type} usage limit: retry in {seconds:.0f} s", deadline=until)

    def forget_if_reset(self) -> None:
        """A rejected limit whose reset time has passed is over."""
        if self.current is not None and not self.current.allowed and not self.limited():
            self.current = None
            self.session.set_state("thinking", "usage limit reset")
