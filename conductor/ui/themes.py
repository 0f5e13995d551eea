"""Palettes from `themes/*.toml`, validated and turned into Textual themes.

A palette names Textual's base colours plus the semantic variables the app's CSS and markup
use (`$keep`, `$crash`, `$hot`, ...), so a theme can never leave one undefined. The files
ship inside the wheel as conductor/_data/themes and sit at <repo>/themes in a checkout.
The theme last chosen with `t` is kept in `$XDG_CONFIG_HOME/conductor/theme` (~/.config).
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

from conductor.errors import ConductorError
from conductor.tomlpos import TomlPositions

DEFAULT_THEME = "conductor-dark"
SEMANTIC_VARIABLES = ("keep", "discard", "crash", "rejected", "hot", "warm", "cool", "muted", "selected")
_BASE_COLOURS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
)
_KEYS = {"name", "dark", "variables", *_BASE_COLOURS}
# Fallbacks for the semantic variables, used only before a conductor theme is applied.
VARIABLE_DEFAULTS = {
    "keep": "#5fd787",
    "discard": "#8a8f98",
    "crash": "#ff5f5f",
    "rejected": "#d787ff",
    "hot": "#ff875f",
    "warm": "#ffd75f",
    "cool": "#5fafff",
    "muted": "#6c717a",
    "selected": "#ffaf5f",
}


def themes_dir() -> Path:
    """`themes/` from a checkout or editable install, else the copy inside the wheel."""
    pkg = Path(__file__).resolve().parent.parent
    for candidate in (pkg / "_data" / "themes", pkg.parent / "themes"):
        if candidate.is_dir():
            return candidate
    raise ConductorError("the bundled themes are missing from this installation")


def _colour(path: Path, pos: TomlPositions, where: tuple, value: object) -> str:
    if not isinstance(value, str):
        raise ConductorError(f"'{'.'.join(where)}' must be a colour string", path, pos.line(where))
    try:
        Color.parse(value)
    except ColorParseError:
        raise ConductorError(f"'{'.'.join(where)}' is not a colour: {value!r}", path, pos.line(where)) from None
    return value


def load_theme(path: Path) -> Theme:
    text = path.read_text(encoding="utf-8")
    pos = TomlPositions(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConductorError(f"not valid TOML: {exc}", path) from None
    for key in data:
        if key not in _KEYS:
            raise ConductorError(f"unknown key '{key}' in a theme", path, pos.line((key,)))
    for key in ("name", "primary"):
        if key not in data:
            raise ConductorError(f"a theme needs '{key}'", path)
    if not isinstance(data["name"], str) or not data["name"]:
        raise ConductorError("'name' must be a non-empty string", path, pos.line(("name",)))
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ConductorError("'dark' must be true or false", path, pos.line(("dark",)))
    colours = {k: _colour(path, pos, (k,), data[k]) for k in _BASE_COLOURS if k in data}
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ConductorError("'variables' must be a table", path, pos.line(("variables",)))
    missing = [v for v in SEMANTIC_VARIABLES if v not in variables]
    if missing:
        raise ConductorError(f"[variables] lacks {', '.join(missing)}", path, pos.line(("variables",)))
    resolved = {k: _colour(path, pos, ("variables", k), v) for k, v in variables.items()}
    return Theme(name=data["name"], dark=dark, variables=resolved, **colours)


def load_themes(folder: Path | None = None) -> list[Theme]:
    """Every palette in the folder, the default first, then by file name."""
    folder = folder or themes_dir()
    themes = [load_theme(p) for p in sorted(folder.glob("*.toml"))]
    names = [t.name for t in themes]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConductorError(f"two theme files use the name {sorted(duplicates)[0]!r}", folder)
    themes.sort(key=lambda t: t.name != DEFAULT_THEME)
    return themes


def _saved_path() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "conductor" / "theme"


def saved_theme() -> str | None:
    """The theme the researcher chose last, if any."""
    try:
        return _saved_path().read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def save_theme(name: str) -> None:
    """Keep the choice for the next TUI; a read-only home only loses the choice."""
    path = _saved_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name + "\n", encoding="utf-8")
