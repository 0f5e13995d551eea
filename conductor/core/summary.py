"""Parse the `---` summary block that an autoresearch-style run prints at its end.

The block is `---` on its own line followed by `name: value` lines. Only the last block
counts; `\\r` progress lines, ANSI colour and garbage around it are tolerated. Values that
are not numbers stay strings; "nan" stays NaN (the judge calls that a crash).
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*)\s*:\s*(\S.*?)\s*$")


def _value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def parse_summary(output: str) -> dict[str, float | str]:
    """The last summary block of `output` as a dict; empty when there is none."""
    lines = []
    for raw in output.splitlines():
        # a progress bar rewrites its line with \r: what is left after the last \r is shown
        line = _ANSI.sub("", raw.rsplit("\r", 1)[-1]).strip()
        lines.append(line)
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


def metric_from(summary: dict[str, float | str], name: str) -> float | None:
    v = summary.get(name)
    return v if isinstance(v, float) else None


def memory_gb(summary: dict[str, float | str]) -> float:
    v = summary.get("peak_vram_mb")
    return round(v / 1024, 1) if isinstance(v, float) and v == v else 0.0
