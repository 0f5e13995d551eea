"""Parse the `---` summary block that an autoresearch-style run prints at its end.

The block is `---` on its own line followed by `name: value` lines. Only the last block
counts; `\\r` progress lines, ANSI colour and garbage around it are tolerated. Values that
are not numbers stay strings; "nan" stays NaN (the judge calls that a crash).

`SummaryTracker` finds the last block while the output streams past, so the block counts
whatever follows it (megabytes of teardown chatter) or whatever of the log was cut.
"""

from __future__ import annotations

import math
import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*)\s*:\s*(\S.*?)\s*$")
RULE = b"---"
# How much output after the last `---` line is kept for the parse: a block is a few dozen lines.
BLOCK_BYTES = 256 * 1024
# A partial line longer than this cannot be a `---` line worth finding.
MAX_LINE = 64 * 1024


def _value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def parse_summary(output: str) -> dict[str, float | str]:
    """The last summary block of `output` as a dict; empty when there is none."""
    lines = _lines(output)
    start = None
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] == "---":
            start = i
            break
    if start is None:
        return {}
    out: dict[str, float | str] = {}
    for line in lines[start + 1 :]:
        m = _LINE.match(line)
        if m:
            out[m.group(1)] = _value(m.group(2))
    return out


def _lines(output: str) -> list[str]:
    # a progress bar rewrites its line with \r: splitlines splits there too, so each state
    # of the bar is a line of its own
    return [_ANSI.sub("", raw.rsplit("\r", 1)[-1]).strip() for raw in output.splitlines()]


def _is_rule(line: bytes) -> bool:
    """Does this line of output hold a `---` line, as `parse_summary` splits lines?"""
    return "---" in _lines(line.decode("utf-8", errors="replace"))


class SummaryTracker:
    """Fed the output as it streams, keeps the last `---` line and what follows it (up to
    BLOCK_BYTES): `summary()` is then what `parse_summary` would find in the whole output."""

    def __init__(self) -> None:
        self._partial = b""  # the line still being written
        self._block: bytearray | None = None  # from the last `---` line on

    def feed(self, data: bytes) -> None:
        first_end = data.find(b"\n") + 1
        if not first_end:  # the same line goes on
            self._partial = (self._partial + data[-MAX_LINE:])[-MAX_LINE:]
            self._extend(data)
            return
        end = data.rfind(b"\n") + 1  # complete lines end here
        start = self._last_rule(data, first_end, end)
        if start is not None:
            self._block = bytearray(data[start : start + BLOCK_BYTES])
        else:
            # the line the previous piece left unfinished, completed by this one
            line = self._partial + data[:first_end]
            if RULE in line and _is_rule(line):
                self._block = bytearray(line + data[first_end : first_end + BLOCK_BYTES])
            else:
                self._extend(data)
        self._partial = data[end:][-MAX_LINE:]

    def _extend(self, data: bytes) -> None:
        if self._block is not None and len(self._block) < BLOCK_BYTES:
            self._block += data[: BLOCK_BYTES - len(self._block)]

    @staticmethod
    def _last_rule(data: bytes, lo: int, hi: int) -> int | None:
        """Where the last `---` line of the complete lines in data[lo:hi] starts, if any."""
        # the usual case: no `---` at all; a lone `-` is found by memchr, many times faster
        dash = data.find(b"-", lo, hi)
        if dash == -1 or data.find(RULE, dash, hi) == -1:
            return None
        pos = data.rfind(RULE, lo, hi)
        while pos != -1:
            start = data.rfind(b"\n", lo, pos) + 1 or lo
            if _is_rule(data[start : data.find(b"\n", pos)]):
                return start
            pos = data.rfind(RULE, lo, start)
        return None

    def summary(self) -> dict[str, float | str]:
        if self._block is None:
            return {}
        return parse_summary(bytes(self._block).decode("utf-8", errors="replace"))


def metric_from(summary: dict[str, float | str], name: str) -> float | None:
    v = summary.get(name)
    return v if isinstance(v, float) else None


def memory_gb(summary: dict[str, float | str]) -> float:
    v = summary.get("peak_vram_mb")
    return round(v / 1024, 1) if isinstance(v, float) and v == v else 0.0


def missing_metric(metric: str, summary: dict[str, float | str], log_path: str) -> str:
    """Why a run that exited cleanly gave no usable `metric`, in one line naming what it
    printed; "" when the metric is there and a number."""
    value = summary.get(metric)
    if isinstance(value, float):
        return "" if math.isfinite(value) else f"the baseline's {metric} is {value}"
    if isinstance(value, str):
        return f"the baseline's {metric} is {value[:40]!r}, not a number"
    if summary:
        keys = ", ".join(sorted(summary)[:8])
        return f"the baseline's summary block has no '{metric}' (it has: {keys}); check the workspace's metric"
    printed = _metric_line(metric, log_path)
    if printed:
        return (
            f"the baseline printed '{printed}' but no `---` line before it: the summary block is `---` "
            "on its own line, then `name: value` lines"
        )
    return f"the baseline printed no `---` summary block, so no {metric}: the run must end with `---`, then `{metric}: value`"


def _metric_line(metric: str, log_path: str) -> str:
    """The last line of the log that looks like `metric: value`, for the error."""
    if not log_path:
        return ""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - BLOCK_BYTES))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    for line in reversed(_lines(text)):
        m = _LINE.match(line)
        if m and m.group(1) == metric:
            return line[:80]
    return ""
