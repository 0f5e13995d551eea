"""Which changes to conductor.toml a resumed run accepts: additive ones, by key.

A run dir keeps the config it was started with, as changed while it ran (core/live.py). On
a restart the user's file may add panes and workspaces, change limits and budgets, prices
and [notify]; any other change would make the ledger's history mean something else
(another metric, other editable files, another agent), so it is refused with one line
naming the first key that differs. Panes and workspaces are never taken away by a restart:
those the file lacks (added live, or left out) are kept as saved; a pane is removed with
`conductor live remove-pane`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from conductor.config.dump import config_to_dict
from conductor.config.schema import Config
from conductor.errors import ConductorError

ADDITIVE_RUN_KEYS = frozenset({"max_usd", "max_tokens"})
ADDITIVE_WORKSPACE_KEYS = frozenset({"max_experiments", "max_hours", "target", "plateau", "crash_limit", "panes"})
ADDITIVE_AGENT_KEYS = frozenset({"max_usd", "max_tokens"})


def config_for_resume(saved: Config, given: Config) -> Config:
    """`given` with whatever of `saved` it lacks, when it differs only additively; else a
    ConductorError naming the key."""
    given = _with_saved_panes(saved, given)
    key = incompatible_key(saved, given)
    if key is not None:
        where, old, new = key
        raise ConductorError(
            f"resuming {saved.runs_dir}: '{where}' changed ({_show(old)} -> {_show(new)}), which the run's history "
            "cannot follow; put it back or use a new runs_dir",
            given.source,
        )
    return given


def incompatible_key(saved: Config, given: Config) -> tuple[str, Any, Any] | None:
    """The first key whose change a resumed run cannot take: (dotted name, saved value, new value)."""
    old, new = config_to_dict(saved), config_to_dict(given)
    for name in sorted(set(old["conductor"]) | set(new["conductor"])):
        if name not in ADDITIVE_RUN_KEYS and old["conductor"].get(name) != new["conductor"].get(name):
            return f"conductor.{name}", old["conductor"].get(name), new["conductor"].get(name)
    new_ws = {ws["name"]: ws for ws in new["workspace"]}
    for ws in old["workspace"]:
        name = ws["name"]
        found = _workspace_change(name, ws, new_ws[name])
        if found is not None:
            return found
    return None


def _workspace_change(name: str, old: dict, new: dict) -> tuple[str, Any, Any] | None:
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if key == "agent":
            for akey in sorted(set(a or {}) | set(b or {})):
                if akey not in ADDITIVE_AGENT_KEYS and (a or {}).get(akey) != (b or {}).get(akey):
                    return f"workspace.{name}.agent.{akey}", (a or {}).get(akey), (b or {}).get(akey)
        elif key == "panes" and a == 1 and b != a:
            return f"workspace.{name}.panes", a, f"{b} (its one pane is named after it: add a [[workspace]])"
        elif key not in ADDITIVE_WORKSPACE_KEYS and a != b:
            return f"workspace.{name}.{key}", a, b
    return None


def _with_saved_panes(saved: Config, given: Config) -> Config:
    """`given`, with every saved workspace it lacks and no fewer panes than saved on the others."""
    ours = {ws.name: ws for ws in given.workspaces}
    kept = []
    for ws in given.workspaces:
        old = next((w for w in saved.workspaces if w.name == ws.name), None)
        kept.append(replace(ws, panes=old.panes) if old is not None and old.panes > ws.panes else ws)
    kept += [ws for ws in saved.workspaces if ws.name not in ours]
    return replace(given, workspaces=tuple(kept))


def _show(v: Any) -> str:
    return "unset" if v is None else repr(v) if isinstance(v, str) else str(v)
