"""The checks a config value must pass, one small function per kind of value.

A check takes the value as `tomllib` parsed it and returns it in the form the dataclass
holds (a tuple for a list, a float for a number), or raises `Invalid` with what was
expected; the reader turns that into `'KEY' must be EXPECTED, got VALUE` at the key's line.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from typing import Any

AGENT_KINDS = ("anthropic", "claude-code", "codex", "command", "optuna")
EXTERNAL_KINDS = ("claude-code", "codex", "command")  # agent CLIs that run as subprocesses
# agents that read neither the researcher's messages nor program.md: they search the knobs only
DEAF_KINDS = ("optuna",)
EXPERIMENT_MODES = ("managed", "observed")  # who runs an external agent's experiments
PANE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
MAX_PANES = 256  # per workspace and in all: each pane is a worktree, an agent and a loop
MAX_SLOTS = 256  # more slots than panes never run anything
_INT64 = 2**63 - 1

Check = Callable[[Any], Any]


class Invalid(Exception):
    """A value that fails its check; `expected` says what it must be."""

    def __init__(self, expected: str):
        super().__init__(expected)
        self.expected = expected


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number(v: Any) -> float:
    """A number as a float; TOML's `nan` and `inf` are never a sensible setting."""
    if not _is_number(v):
        raise Invalid("a number")
    if isinstance(v, int) and abs(v) > _INT64:
        raise Invalid("a 64-bit number")
    if not math.isfinite(v):
        raise Invalid("a finite number")
    return float(v)


def _int(v: Any) -> int:
    """An integer TOML can hold: tomllib reads longer ones too, as Python ints."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise Invalid("an integer")
    if abs(v) > _INT64:
        raise Invalid("a 64-bit integer")
    return v


def string(v: Any) -> str:
    if not isinstance(v, str):
        raise Invalid("a string")
    return v


def text(v: Any) -> str:
    """A string with something in it: a command, a name or a path that may not be blank."""
    if not isinstance(v, str) or not v.strip():
        raise Invalid("a non-empty string")
    return v


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise Invalid("true or false")
    return v


def positive_int(v: Any) -> int:
    if _int(v) < 1:
        raise Invalid("at least 1")
    return v


def nonneg_int(v: Any) -> int:
    if _int(v) < 0:
        raise Invalid("0 or more")
    return v


def _at_most(top: int) -> Check:
    def check(v: Any) -> int:
        if isinstance(v, int) and not isinstance(v, bool) and v > top:
            raise Invalid(f"at most {top}")  # before the 64-bit check: the bound is the news
        return positive_int(v)

    return check


pane_count = _at_most(MAX_PANES)
slot_count = _at_most(MAX_SLOTS)


def positive_number(v: Any) -> float:
    if number(v) <= 0:
        raise Invalid("a positive number")
    return float(v)


def nonneg_number(v: Any) -> float:
    if number(v) < 0:
        raise Invalid("0 or more")
    return float(v)


def string_list(v: Any) -> tuple[str, ...]:
    """A list of strings; one string alone stands for a list of one."""
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise Invalid("a list of strings")
    return tuple(v)


def file_list(v: Any) -> tuple[str, ...]:
    """A list of paths or patterns in the workspace; a blank one names nothing."""
    out = string_list(v)
    if not all(x.strip() for x in out):
        raise Invalid("a list of file names, none empty")
    return out


def _one_of(*choices: str) -> Check:
    def check(v: Any) -> str:
        if v not in choices:
            raise Invalid(" or ".join(f'"{c}"' for c in choices))
        return v

    return check


goal = _one_of("min", "max")
knob_type = _one_of("float", "int")
knob_slot = _one_of("any", "cpu", "gpu")
experiments_mode = _one_of(*EXPERIMENT_MODES)


def agent_kind(v: Any) -> str:
    """One of AGENT_KINDS, or "auto" (resolved when the config is loaded)."""
    if v not in AGENT_KINDS + ("auto",):
        close = difflib.get_close_matches(str(v), AGENT_KINDS, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise Invalid(" | ".join(AGENT_KINDS) + hint)
    return v


def value_range(v: Any) -> tuple[float, float]:
    if not (isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v)) or v[0] >= v[1]:
        raise Invalid("[low, high] with low < high")
    try:
        return (number(v[0]), number(v[1]))
    except Invalid:
        raise Invalid("[low, high] of finite numbers") from None


def pane_name(v: Any) -> str:
    if not isinstance(v, str) or not PANE_NAME.match(v):
        raise Invalid("a short name of letters, digits, '-', '_' or '.'")
    return v


def slots(v: Any) -> Any:
    """ "auto", "ray" (a Ray cluster's nodes), a count of CPU slots, or a list of GPU indices / UUIDs."""
    ok = v in ("auto", "ray") or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SLOTS)
    ok = ok or (isinstance(v, list) and bool(v) and all(isinstance(x, (int, str)) for x in v))
    if not ok:
        raise Invalid(f'"auto", "ray", a count up to {MAX_SLOTS}, or a list of GPU indices or UUIDs')
    return v


NOTIFY_EVENTS = ("new_best", "paused", "stuck", "rate_limited", "quota", "finished")


def notify_urls(v: Any) -> tuple[str, ...]:
    out = string_list(v)
    if not all(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$", x) for x in out):
        raise Invalid("a list of apprise URLs (scheme://...)")
    return out


def notify_events(v: Any) -> tuple[str, ...]:
    out = string_list(v)
    if not all(x in NOTIFY_EVENTS for x in out):
        raise Invalid("a list of " + " | ".join(NOTIFY_EVENTS))
    return out


sandbox_mode = _one_of("auto", "on", "off")
ray_slot_kind = _one_of("auto", "gpu", "cpu")


def data_dirs(v: Any) -> tuple[tuple[str, bool], ...]:
    """Folders an experiment may use: "path" (read-only) or { path = "...", writable = true }."""
    if isinstance(v, (str, dict)):
        v = [v]
    if not isinstance(v, list):
        raise Invalid('a list of folders: "path" or { path = "...", writable = true }')
    out = []
    for item in v:
        if isinstance(item, str) and item:
            out.append((item, False))
        elif (
            isinstance(item, dict)
            and isinstance(item.get("path"), str)
            and item["path"]
            and isinstance(item.get("writable", False), bool)
            and set(item) <= {"path", "writable"}
        ):
            out.append((item["path"], bool(item.get("writable", False))))
        else:
            raise Invalid('a list of folders: "path" or { path = "...", writable = true }')
    return tuple(out)
