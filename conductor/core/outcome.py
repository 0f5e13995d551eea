"""What one experiment came to, as the loop hands it back to the agent that proposed it."""

from __future__ import annotations

from dataclasses import dataclass

from conductor.core.record import ExperimentRecord, Standing, Status, delta

# Inbox messages that come from conductor itself (not the researcher) start with this.
NOTE_PREFIX = "[conductor] "


class PaneFinished(BaseException):
    """Raised out of `run_experiment` when the pane has reached a stop condition.

    A BaseException so that an agent's broad `except Exception` cannot swallow it.
    """

    def __init__(self, reason: str, outcome: Outcome | None = None):
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome  # the experiment just recorded, when the stop follows one


@dataclass(frozen=True)
class Outcome:
    seq: int
    commit: str
    status: Status
    metric_name: str
    metric: float | None
    best: float | None  # best after this experiment
    previous_best: float | None
    baseline: float | None
    reason: str
    description: str
    log_tail: str = ""
    duration_s: float = 0.0
    goal: str = "min"
    note: str = ""  # what the board says of this change (a repeat), told to the agent first

    @classmethod
    def of(cls, record: ExperimentRecord, standing: Standing, log_tail: str = "") -> Outcome:
        return cls(
            seq=record.seq,
            commit=record.commit,
            status=record.status,
            metric_name=standing.metric_name,
            metric=record.metric,
            best=standing.best,
            previous_best=standing.previous_best,
            baseline=standing.baseline,
            reason=record.reason,
            description=record.description,
            log_tail=log_tail,
            duration_s=record.duration_s,
            goal=standing.goal,
        )

    @property
    def delta(self) -> float | None:
        return delta(self.metric, self.previous_best)

    def text(self) -> str:
        """The outcome as an agent reads it (tool result, `conductor exp` output)."""
        better = "lower" if self.goal == "min" else "higher"
        lines = [f"experiment #{self.seq} ({self.commit[:7]}): {self.status.upper()} - {self.reason}"]
        if self.note:
            lines.append(self.note)
        if self.metric is not None:
            line = f"{self.metric_name}: {self.metric:.6f}"
            if self.delta is not None:
                line += f" (delta {self.delta:+.6f} vs previous best {self.previous_best:.6f}; {better} is better)"
            lines.append(line)
        if self.best is not None:
            lines.append(
                f"best so far: {self.best:.6f}" + (f" (baseline {self.baseline:.6f})" if self.baseline else "")
            )
        if self.status == Status.KEEP:
            lines.append("The commit was kept; the branch now builds on it.")
        else:
            lines.append("The change was reverted; the worktree is back at the best commit.")
        if self.log_tail:
            lines.append("last lines of the log:\n" + self.log_tail)
        return "\n".join(lines)
