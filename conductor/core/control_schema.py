"""What a control-socket request may be: a declared schema per request type, checked on the
raw line before any handler or engine command sees it.

Anything on the machine running as the researcher's user can write to the socket, an
experiment or an agent included, so a request is untrusted input: a field of the wrong type
must get an error reply, never reach a pane (a number for `say`'s text used to kill it).
`parse_request` bounds the line's nesting depth before `json.loads` recurses into it,
rejects NaN and Infinity, unknown fields and unknown panes, strings that cannot be stored
(NUL, lone surrogates), and out-of-range counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

PROTOCOL_VERSION = 1
MAX_DEPTH = 8  # requests are flat objects; 8 leaves room, 200,000 never reaches the parser
MAX_VERIFY_RUNS = 100
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included
_INNERMOST = re.compile(rb"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")  # a bracket pair with none inside
_BRACKETS = re.compile(rb"[\[\]{}]")


class BadRequest(Exception):
    """The reason a request is refused, as the client reads it."""


@dataclass(frozen=True)
class Text:
    """A string of at most `max_len` characters that can be stored and logged."""

    max_len: int
    blank: bool = True  # "" and whitespace allowed
    pattern: str = ""  # a full match required, when set

    def check(self, name: str, value: Any, panes: Collection[str]) -> str:
        if not isinstance(value, str):
            raise BadRequest(f'"{name}" must be a string, not {_kind(value)}')
        if len(value) > self.max_len:
            raise BadRequest(f'"{name}" is {len(value)} characters long (at most {self.max_len})')
        if not self.blank and not value.strip():
            raise BadRequest(f'"{name}" must not be empty')
        if "\x00" in value:
            raise BadRequest(f'"{name}" contains a NUL character')
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f'"{name}" is not valid Unicode text (a lone surrogate)') from None
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise BadRequest(f'"{name}" must match {self.pattern}')
        return value


@dataclass(frozen=True)
class Count:
    """An int in [low, high]; a bool or a float (1e999 included) is not one."""

    low: int
    high: int

    def check(self, name: str, value: Any, panes: Collection[str]) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f'"{name}" must be an integer, not {_kind(value)}')
        if not self.low <= value <= self.high:
            raise BadRequest(f'"{name}" must be between {self.low} and {self.high}')
        return value


@dataclass(frozen=True)
class PaneName:
    """The name of one of this run's panes (None too, when `optional`: the whole run)."""

    optional: bool = False

    def check(self, name: str, value: Any, panes: Collection[str]) -> str | None:
        if value is None and self.optional:
            return None
        if not isinstance(value, str):
            raise BadRequest(f'"{name}" must be a pane name, not {_kind(value)}')
        if value not in panes:
            shown = value if len(value) <= 64 else value[:64] + "..."
            raise BadRequest(f"no pane named '{shown}' in this run")
        return value


@dataclass(frozen=True)
class RequestId:
    """The client's own tag, echoed in the response: a short string or an int."""

    def check(self, name: str, value: Any, panes: Collection[str]) -> str | int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1 << 63:
            return value
        return Text(256).check(name, value, panes)


@dataclass(frozen=True)
class Limit:
    """A finite number, or null (the limit lifted); the engine checks it as the config does."""

    def check(self, name: str, value: Any, panes: Collection[str]) -> float | int | None:
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            return value
        raise BadRequest(f'"{name}" must be a number or null, not {_kind(value)}')


Spec = Text | Count | PaneName | RequestId | Limit
PANE = PaneName()
ENVELOPE: dict[str, Spec] = {"id": RequestId()}  # optional on every request; "v" and "type" are checked first

# request type -> {field: spec}; a field is required unless it is listed in OPTIONAL
SCHEMAS: dict[str, dict[str, Spec]] = {
    "hello": {},
    "subscribe": {},
    "takeover": {"pane": PANE},
    "exp": {"pane": PANE, "message": Text(20_000, blank=False)},
    "pause": {"pane": PANE},
    "resume": {"pane": PANE},
    "say": {"pane": PANE, "text": Text(100_000, blank=False)},
    "reload_program": {"pane": PANE},
    "stop": {"pane": PaneName(optional=True)},
    "pause_all": {},
    "resume_all": {},
    "add_pane": {"workspace": Text(40, blank=False)},
    "remove_pane": {"pane": PANE},
    "set_limit": {"key": Text(40, blank=False), "value": Limit(), "workspace": Text(40, blank=False)},
    "verify": {
        "pane": PANE,
        "commit": Text(64, pattern="[0-9a-f]{4,64}"),
        "runs": Count(1, MAX_VERIFY_RUNS),
        "worktree": Text(4096, blank=False),
    },
}
OPTIONAL: dict[str, frozenset[str]] = {
    "stop": frozenset({"pane"}),
    "verify": frozenset({"runs"}),
    "set_limit": frozenset({"workspace"}),
}


def too_deep(line: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than `limit`, found without
    recursion: strings blanked, then innermost bracket pairs removed `limit` times. What
    stays is a pair nested deeper, or brackets never closed (deep ones count as deep)."""
    rest = _STRING.sub(b'""', line)
    for _ in range(limit):
        if not _BRACKETS.search(rest):
            return False
        rest = _INNERMOST.sub(b"", rest)
    return _INNERMOST.search(rest) is not None or rest.count(b"[") + rest.count(b"{") > limit


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_request(line: bytes, panes: Collection[str]) -> dict[str, Any]:
    """The request on `line`, every field checked against its type's schema; BadRequest else."""
    if too_deep(line):
        raise BadRequest(f"a request nests at most {MAX_DEPTH} levels deep")
    try:
        request = json.loads(line, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise BadRequest("not a JSON line") from None
    if not isinstance(request, dict) or not isinstance(request.get("type"), str):
        raise BadRequest('a request is a JSON object with a "type"')
    version = request.get("v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        shown = version if isinstance(version, int | float | str) else _kind(version)
        raise BadRequest(f"protocol version {shown!r} is not supported (this conductor speaks {PROTOCOL_VERSION})")
    kind = request["type"]
    schema = SCHEMAS.get(kind)
    if schema is None:
        shown = kind if len(kind) <= 64 else kind[:64] + "..."
        raise BadRequest(f"unknown request type '{shown}'")
    try:
        return _checked(kind, request, schema, panes)
    except BadRequest as exc:
        raise BadRequest(f"bad '{kind}' request: {exc}") from None


def _checked(kind: str, request: dict[str, Any], schema: dict[str, Spec], panes: Collection[str]) -> dict[str, Any]:
    unknown = sorted(set(request) - set(schema) - set(ENVELOPE) - {"v", "type"})
    if unknown:
        shown = ", ".join(repr(name[:64]) for name in unknown[:5])
        raise BadRequest(f"unknown field(s) {shown}")
    checked: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": kind}
    for name, spec in (*schema.items(), *ENVELOPE.items()):
        if name not in request:
            if name in schema and name not in OPTIONAL.get(kind, ()):
                raise BadRequest(f'"{name}" is missing')
            continue
        checked[name] = spec.check(name, request[name], panes)
    return checked


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", float: "a number"}.get(
        type(value), "null" if value is None else "a number" if isinstance(value, int) else type(value).__name__
    )
