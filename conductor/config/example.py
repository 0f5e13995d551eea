"""The commented conductor.toml that `conductor init` writes, made from the key declarations.

Every key of [conductor], [agent], [prices."MODEL"] and [[workspace]] gets one line with its
doc: a setting where its declaration marks it active, else a comment to uncomment.
"""

from __future__ import annotations

import json
from typing import Any

from conductor.config.schema import (
    DEFAULT_MODEL,
    AgentConfig,
    Config,
    NotifyConfig,
    Price,
    WorkspaceConfig,
    example_value,
    key_fields,
)

_HEAD = (
    "# conductor.toml: research loops for `conductor up` (TUI) or `conductor run` (headless).\n"
    "# Every key is optional unless marked; paths are relative to this file.\n"
)
_SECTIONS: tuple[tuple[str, str, type], ...] = (
    ("[conductor]", "", Config),
    ("[agent]", "defaults for every workspace", AgentConfig),
    (f'[prices."{DEFAULT_MODEL}"]', "USD per million tokens", Price),
    ("[[workspace]]", "one per research problem; add more as you like", WorkspaceConfig),
    ("[notify]", "messages outside the TUI: new best, pauses, stuck, limits, run end", NotifyConfig),
)
_DOC_COLUMN = 28


def example_config() -> str:
    parts = [_HEAD]
    for header, doc, cls in _SECTIONS:
        lines = [_line(header, doc)]
        for f, k in key_fields(cls):
            setting = f"{f.name} = {_toml_value(example_value(f, k))}"
            lines.append(_line(setting if k.active else f"# {setting}", k.doc))
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _line(text: str, doc: str) -> str:
    return f"{text:<{_DOC_COLUMN}} # {doc}" if doc else text


def _toml_value(v: Any) -> str:
    """One value as TOML source: strings, numbers, booleans, lists and inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{name} = {_toml_value(x)}" for name, x in v.items()) + " }"
    raise TypeError(f"no TOML form for {v!r}")
