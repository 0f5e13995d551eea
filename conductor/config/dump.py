"""The resolved Config back in conductor.toml's own keys, saved in the run dir.

A resumed run loads this file instead of the user's, so `parse_config` of the dump must
give the same Config, but for [notify]'s URLs: their secrets are masked here, and a resumed
run takes [notify] from the user's file. Keys whose value is unset (None) are left out, as
TOML has no null.
"""

from __future__ import annotations

import os
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

from conductor.config.masking import mask_url
from conductor.config.schema import Config, keys


def config_to_dict(cfg: Config) -> dict:
    """The resolved config in conductor.toml's own schema, for the run dir (tomli-w)."""
    return {
        "conductor": _table(cfg),
        "agent": _table(cfg.agent),
        "prices": {model: _table(price) for model, price in cfg.prices.items()},
        "workspace": [_table(ws) for ws in cfg.workspaces],
        "notify": {**_table(cfg.notify), "urls": [mask_url(u) for u in cfg.notify.urls]},
    }


def _table(obj: Any) -> dict:
    out = {}
    for name in keys(type(obj)):
        value = getattr(obj, name)
        if value is not None:
            out[name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return _table(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple) and value and all(_is_data_dir(v) for v in value):
        return [{"path": p, "writable": w} for p, w in value]
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def write_resolved(cfg: Config, dest: Path) -> None:
    import tomli_w

    text = "# The resolved config of this run; `conductor run` on this run dir resumes with it.\n"
    text += tomli_w.dumps(config_to_dict(cfg))
    tmp = dest.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)


def _is_data_dir(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], bool)
