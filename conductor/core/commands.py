"""UI/CLI -> engine: the commands a researcher can give a running orchestra.

Like events, commands are frozen dataclasses with a JSON wire form, so the TUI, the CLI
and a socket client all speak the same vocabulary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Command:
    type: ClassVar[str] = "command"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["type"] = self.type
        return d


@dataclass(frozen=True)
class Pause(Command):
    type: ClassVar[str] = "pause"
    pane: str


@dataclass(frozen=True)
class Resume(Command):
    type: ClassVar[str] = "resume"
    pane: str


@dataclass(frozen=True)
class Say(Command):
    """A researcher's message for the pane's agent, delivered at the next turn boundary."""

    type: ClassVar[str] = "say"
    pane: str
    text: str


@dataclass(frozen=True)
class ReloadProgram(Command):
    type: ClassVar[str] = "reload_program"
    pane: str


@dataclass(frozen=True)
class Stop(Command):
    """Stop one pane, or the whole orchestra when pane is None."""

    type: ClassVar[str] = "stop"
    pane: str | None = None


@dataclass(frozen=True)
class Verify(Command):
    type: ClassVar[str] = "verify"
    pane: str
    commit: str
    runs: int = 3


@dataclass(frozen=True)
class PauseAll(Command):
    type: ClassVar[str] = "pause_all"


@dataclass(frozen=True)
class ResumeAll(Command):
    type: ClassVar[str] = "resume_all"


@dataclass(frozen=True)
class AddPane(Command):
    """One more pane on a workspace of the live run (core/live.py)."""

    type: ClassVar[str] = "add_pane"
    workspace: str


@dataclass(frozen=True)
class RemovePane(Command):
    """Stop a pane for good: it stays removed when the run is resumed."""

    type: ClassVar[str] = "remove_pane"
    pane: str


@dataclass(frozen=True)
class SetLimit(Command):
    """A limit of one workspace (every one when None), or the orchestra's budget; None lifts it."""

    type: ClassVar[str] = "set_limit"
    key: str
    value: float | int | None
    workspace: str | None = None


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.type: cls
    for cls in (Pause, Resume, Say, ReloadProgram, Stop, Verify, PauseAll, ResumeAll, AddPane, RemovePane, SetLimit)
}


def command_from_dict(data: dict[str, Any]) -> Command:
    data = dict(data)
    cls = COMMAND_TYPES[data.pop("type")]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
