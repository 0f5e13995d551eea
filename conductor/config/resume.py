"""Which changes to conductor.toml a resumed run accepts: additive ones, by key.

A run dir keeps the config it was started with. On a restart the user's file may add panes
and workspaces, change limits and budgets, prices and [notify]; any other change would make
the ledger's history mean something else (another metric, other editable files, another
agent), so it is refused with one line naming the first key that differs.
"""

from __future__ import annotations

from typing import Any

from conductor.config.dump import config_to_dict
from conductor.config.schema import Config
from conductor.errors import ConductorError

ADDITIVE_RUN_KEYS = frozenset({"max_usd", "max_tokens"})
ADDITIVE_WORKSPACE_KEYS = frozenset({"max_experiments", "max_hours", "target", "plateau", "crash_limit", "panes"})
ADDITIVE_AGENT_KEYS = frozenset({"max_usd", "max_tokens"})


def config_for_resume(saved: Config, given: Config) -> Config:
    """`given` when it differs from `saved` only additively, else a ConductorError naming the key."""
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
        if name not in new_ws:
            return f"workspace.{name}", "declared", "removed"
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
        elif key == "panes" and b != a and (b < a or a == 1):
            why = "panes can be added, not taken away" if b < a else "one pane is named after its workspace"
            return f"workspace.{name}.panes", a, f"{b} ({why}: add a [[workspace]] instead)"
        elif key not in ADDITIVE_WORKSPACE_KEYS and a != b:
            return f"workspace.{name}.{key}", a, b
    return None


def _show(v: Any) -> str:
    return "unset" if v is None else repr(v) if isinstance(v, str) else str(v)
