"""A workspace's knobs as they stand in its files: `NAME = value` lines, read without running them.

The optuna agent writes knob values through the same pattern (agents/optuna.py); the board
reads them back to show an experiment's change as its knob set.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conductor.config import Knob


def line_pattern(name: str) -> re.Pattern:
    """A `NAME = value  # comment` line: groups are the head, the value and the tail."""
    return re.compile(rf"^({re.escape(name)}\s*(?::[^=]*)?=\s*)([^#\n]*?)(\s*(?:#.*)?)$", re.MULTILINE)


def read_knob(text: str, name: str) -> object | None:
    m = line_pattern(name).search(text)
    if not m:
        return None
    try:
        return ast.literal_eval(m.group(2).strip())
    except (ValueError, SyntaxError):
        return None


def knob_set(root: Path, knobs: tuple[Knob, ...]) -> str:
    """`NAME=value ...` for every knob, as the files under `root` hold them ("?" if unreadable)."""
    texts: dict[str, str] = {}
    parts = []
    for k in knobs:
        if k.file not in texts:
            try:
                texts[k.file] = (root / k.file).read_text(encoding="utf-8")
            except OSError:
                texts[k.file] = ""
        value = read_knob(texts[k.file], k.name)
        parts.append(f"{k.name}={value if value is not None else '?'}")
    return " ".join(parts)
