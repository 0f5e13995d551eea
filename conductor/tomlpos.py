"""Line numbers for TOML keys.

`tomllib` returns plain dicts with no positions, but every config error must name its
line. This module scans the raw text once and answers "on which line is key K of table T?".
It understands `[a.b]`, `[[array]]` (indexed), quoted keys, and `key = {inline}` tables.
"""

from __future__ import annotations

import re

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _split_dotted(text: str) -> list[str]:
    """Split `a."b.c".d` into ["a", "b.c", "d"]."""
    parts: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t.":
            i += 1
            continue
        if ch in "\"'":
            end = text.find(ch, i + 1)
            if end < 0:
                end = n
            parts.append(text[i + 1 : end])
            i = end + 1
            continue
        m = _BARE.match(text, i)
        if not m:
            break
        parts.append(m.group(0))
        i = m.end()
    return parts


def _key_of_line(line: str) -> list[str] | None:
    stripped = line.strip()
    if not stripped or stripped.startswith(("#", "[")):
        return None
    eq = _find_unquoted(stripped, "=")
    if eq < 0:
        return None
    return _split_dotted(stripped[:eq])


def _find_unquoted(text: str, target: str) -> int:
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == target:
            return i
    return -1


class TomlPositions:
    """Index of table headers and keys in one TOML document, by line (1-based)."""

    def __init__(self, text: str):
        self.keys: dict[tuple, int] = {}
        self.tables: dict[tuple, int] = {}
        counters: dict[tuple, int] = {}
        current: tuple = ()
        for lineno, raw in enumerate(text.splitlines(), start=1):
            stripped = raw.strip()
            if stripped.startswith("[["):
                name = tuple(_split_dotted(stripped[2 : stripped.find("]]")]))
                prefix = self._resolve_prefix(name[:-1], counters)
                base = prefix + (name[-1],)
                idx = counters.get(base, -1) + 1
                counters[base] = idx
                current = base + (idx,)
                self.tables.setdefault(current, lineno)
                self.tables.setdefault(base, lineno)
                continue
            if stripped.startswith("["):
                name = tuple(_split_dotted(stripped[1 : stripped.find("]")]))
                current = self._resolve_prefix(name, counters)
                self.tables.setdefault(current, lineno)
                continue
            key = _key_of_line(raw)
            if key:
                for depth in range(1, len(key) + 1):
                    self.keys.setdefault(current + tuple(key[:depth]), lineno)

    @staticmethod
    def _resolve_prefix(name: tuple, counters: dict[tuple, int]) -> tuple:
        """`[workspace.agent]` after the 2nd `[[workspace]]` means ("workspace", 1, "agent")."""
        out: tuple = ()
        for part in name:
            out = out + (part,)
            if out in counters:
                out = out + (counters[out],)
        return out

    def line(self, path: tuple) -> int | None:
        """Line of the key or table at `path`, else of its nearest enclosing table."""
        while path:
            if path in self.keys:
                return self.keys[path]
            if path in self.tables:
                return self.tables[path]
            path = path[:-1]
        return None
