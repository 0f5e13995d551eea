"""Changes to a live run: panes added and removed, limits and budgets, pause and resume all.

Every change is also a change of the run's config, saved in the run dir at once, so a
restart resumes the run as it was changed (core/orchestra.py re-reads it). A pane added to
a workspace of several panes is the next `NAME-N`; one added to a workspace of one pane
(named after its workspace) comes as a new workspace `NAME-2` with the same settings, so no
pane is renamed. A removed pane stops (its experiment in flight is killed and recorded),
keeps its history and is listed in the ledger's meta `removed_panes`, so it stays removed
on a resume. A limit raised on a pane that has already stopped on it takes effect when the
run is resumed.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from conductor.config import write_resolved
from conductor.config.checks import MAX_PANES
from conductor.config.schema import Config, WorkspaceConfig
from conductor.core.commands import AddPane, Command, PauseAll, RemovePane, ResumeAll, SetLimit
from conductor.errors import ConductorError

if TYPE_CHECKING:
    from conductor.core.orchestra import Orchestra

WORKSPACE_LIMITS = ("max_experiments", "max_hours", "target", "plateau", "crash_limit")
RUN_BUDGETS = ("max_usd", "max_tokens")
REMOVED_META = "removed_panes"


def removed_panes(meta: str | None) -> set[str]:
    return set(json.loads(meta or "[]"))


def check_limit(key: str, value: Any) -> Any:
    """The value for `key`, checked as conductor.toml checks it (None lifts the limit)."""
    from conductor.config import checks

    if key not in WORKSPACE_LIMITS + RUN_BUDGETS:
        known = ", ".join(WORKSPACE_LIMITS + RUN_BUDGETS)
        raise ConductorError(f"'{key}' cannot be changed on a live run (these can: {known})")
    if value is None and key != "crash_limit":
        return None
    check = {
        "max_experiments": checks.positive_int,
        "max_hours": checks.positive_number,
        "target": checks.number,
        "plateau": checks.positive_int,
        "crash_limit": checks.positive_int,
        "max_usd": checks.positive_number,
        "max_tokens": checks.positive_int,
    }[key]
    try:
        return check(value)
    except checks.Invalid as exc:
        raise ConductorError(f"'{key}' must be {exc.expected}, got {value!r}") from None


class LiveChanges:
    def __init__(self, orchestra: Orchestra):
        self.orch = orchestra

    def handle(self, cmd: Command) -> str | None:
        """Carry out a live-change command and say what was done; None for a command that is not one."""
        if isinstance(cmd, PauseAll | ResumeAll):
            pausing = isinstance(cmd, PauseAll)
            changed = [p for p in self.orch.panes.values() if p.paused != pausing]
            for pane in changed:
                pane.pause() if pausing else pane.resume()
            return f"{'paused' if pausing else 'resumed'} {len(changed)} pane(s)"
        if isinstance(cmd, AddPane):
            return f"added pane {self.add_pane(cmd.workspace)}"
        if isinstance(cmd, RemovePane):
            self.remove_pane(cmd.pane)
            return f"removed pane {cmd.pane} (its history stays; it stays removed when the run resumes)"
        if isinstance(cmd, SetLimit):
            self.set_limit(cmd.key, cmd.value, cmd.workspace)
            where = f"workspace {cmd.workspace}" if cmd.workspace else "the run"
            return f"{cmd.key} of {where} is now {'unset' if cmd.value is None else cmd.value}"
        return None

    # ---------------------------------------------------------------- panes

    def add_pane(self, workspace: str) -> str:
        orch = self.orch
        ws = self._workspace(workspace)
        if len(orch.config.panes) >= MAX_PANES:
            raise ConductorError(f"the run has {len(orch.config.panes)} panes: at most {MAX_PANES}")
        if ws.panes >= 2:
            grown = replace(ws, panes=ws.panes + 1)
            config = self._with_workspace(ws.name, grown)
            name = f"{ws.name}-{grown.panes}"
        else:
            name = self._free_name(ws.name)
            added = replace(ws, name=name, panes=1)
            config = replace(orch.config, workspaces=(*orch.config.workspaces, added))
        spec = next(p for p in config.panes if p.name == name)
        self._save(config)
        orch.start_pane(spec)
        return name

    def remove_pane(self, pane: str) -> None:
        orch = self.orch
        if pane not in orch.panes:
            raise ConductorError(f"no pane named '{pane}'")
        gone = removed_panes(orch.ledger.get_meta(REMOVED_META)) | {pane}
        orch.ledger.set_meta(REMOVED_META, json.dumps(sorted(gone)))
        orch.stop(pane)

    # ---------------------------------------------------------------- limits and budgets

    def set_limit(self, key: str, value: Any, workspace: str | None = None) -> None:
        orch = self.orch
        value = check_limit(key, value)
        if key in RUN_BUDGETS and workspace is None:
            self._save(replace(orch.config, **{key: value}))
            orch.budget_changed()
            return
        if key in RUN_BUDGETS:
            raise ConductorError(f"'{key}' on a live run is the whole orchestra's: leave out the workspace")
        targets = [self._workspace(workspace)] if workspace else list(orch.config.workspaces)
        config = orch.config
        for ws in targets:
            config = replace(
                config,
                workspaces=tuple(replace(w, **{key: value}) if w.name == ws.name else w for w in config.workspaces),
            )
        self._save(config)
        for spec in config.panes:
            pane = orch.panes.get(spec.name)
            if pane is not None:
                pane.spec, pane.workspace = spec, spec.workspace

    # ---------------------------------------------------------------- helpers

    def _workspace(self, name: str) -> WorkspaceConfig:
        for ws in self.orch.config.workspaces:
            if ws.name == name:
                return ws
        known = ", ".join(ws.name for ws in self.orch.config.workspaces)
        raise ConductorError(f"no workspace named '{name}' (the run has {known})")

    def _with_workspace(self, name: str, new: WorkspaceConfig) -> Config:
        workspaces = tuple(new if ws.name == name else ws for ws in self.orch.config.workspaces)
        return replace(self.orch.config, workspaces=workspaces)

    def _free_name(self, base: str) -> str:
        taken = {p.name for p in self.orch.config.panes} | {ws.name for ws in self.orch.config.workspaces}
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    def _save(self, config: Config) -> None:
        write_resolved(config, self.orch.layout.config)
        self.orch.config = config
