"""`conductor live ...`: change a running orchestra over its control socket.

conductor live add-pane WORKSPACE
conductor live remove-pane PANE
conductor live set KEY VALUE [--workspace WS]   # VALUE "none" lifts the limit
conductor live pause-all | resume-all
"""

from __future__ import annotations

import json
from pathlib import Path

from conductor.core.control_client import request
from conductor.errors import ConductorError

ACTIONS = ("add-pane", "remove-pane", "set", "pause-all", "resume-all")


def cmd_live(run_dir: Path, action: str, args: list[str], workspace: str | None) -> int:
    print(request(run_dir, live_request(action, args, workspace)).get("text") or "done")
    return 0


def live_request(action: str, args: list[str], workspace: str | None) -> dict:
    want = {"add-pane": 1, "remove-pane": 1, "set": 2, "pause-all": 0, "resume-all": 0}
    if action not in want:
        raise ConductorError(f"unknown live change '{action}': one of {', '.join(ACTIONS)}")
    if len(args) != want[action]:
        raise ConductorError(f"`conductor live {action}` takes {want[action]} argument(s), got {len(args)}")
    if workspace is not None and action != "set":
        raise ConductorError("--workspace goes with `conductor live set`")
    if action == "add-pane":
        return {"type": "add_pane", "workspace": args[0]}
    if action == "remove-pane":
        return {"type": "remove_pane", "pane": args[0]}
    if action == "set":
        out = {"type": "set_limit", "key": args[0], "value": _value(args[1])}
        return out | ({"workspace": workspace} if workspace else {})
    return {"type": action.replace("-", "_")}


def _value(text: str) -> float | int | None:
    if text.lower() in ("none", "off", "unset"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConductorError(f"a limit is a number or none, got {text!r}")
    return value
