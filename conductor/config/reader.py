"""conductor.toml (and a workspace's workspace.toml) -> Config, or one error at a line.

Each table is checked against the keys `schema` declares for it; every error names the
file and line, and an unknown key gets a suggestion when it is close to a known one. A
workspace folder's `workspace.toml` gives defaults for its own keys and the knobs the
offline proposer may set; conductor.toml overrides them.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import tomllib
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from conductor.config.checks import EXTERNAL_KINDS, MAX_PANES, PANE_NAME, Check, Invalid
from conductor.config.files import WorkspaceFiles, editable_problem, escapes, is_pattern, protected_problem
from conductor.config.schema import (
    SECTIONS,
    AgentConfig,
    Config,
    Key,
    Knob,
    NotifyConfig,
    Price,
    WorkspaceConfig,
    keys,
)
from conductor.errors import ConductorError
from conductor.tomlpos import TomlPositions

_CONDUCTOR_KEYS = keys(Config)
_AGENT_KEYS = keys(AgentConfig)
_PRICE_KEYS = keys(Price)
_KNOB_KEYS = keys(Knob)
_NOTIFY_KEYS = keys(NotifyConfig)
_WORKSPACE_KEYS = keys(WorkspaceConfig)
_WORKSPACE_FILE_KEYS = [name for name, k in _WORKSPACE_KEYS.items() if k.in_workspace_toml] + ["knob"]


class _Reader:
    """Validates one parsed TOML document and raises errors that point at its lines."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.pos = TomlPositions(text)

    def fail(self, where: tuple, message: str) -> NoReturn:
        raise ConductorError(message, self.path, self.pos.line(where))

    def check_keys(self, table: dict, known: Collection[str], where: tuple, what: str) -> None:
        for name in table:
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.fail(where + (name,), f"unknown key '{name}' in {what}{hint}")

    def value(self, name: str, v: Any, check: Check, where: tuple) -> Any:
        at = where + (name,)
        try:
            return check(v)
        except Invalid as exc:
            dotted = ".".join(str(p) for p in at if not isinstance(p, int))
            self.fail(at, f"'{dotted}' must be {exc.expected}, got {_show(v)}")

    def values(self, table: dict, known: dict[str, Key], where: tuple) -> dict[str, Any]:
        """The checked values of a table's plain keys; a sub-table (no check) is read on its own."""
        out = {}
        for name, v in table.items():
            check = known[name].check
            if check is not None:
                out[name] = self.value(name, v, check, where)
        return out

    def agent(self, table: Any, where: tuple, base: AgentConfig) -> AgentConfig:
        if not isinstance(table, dict):
            self.fail(where, f"'{where[-1]}' must be a table, got {_show(table)}")
        self.check_keys(table, _AGENT_KEYS, where, "[agent]")
        return replace(base, **self.values(table, _AGENT_KEYS, where))

    def price(self, model: str, entry: Any) -> Price:
        at = ("prices", model)
        if not isinstance(entry, dict):
            self.fail(at, f'[prices."{model}"] must be a table with input, output, cache_write, cache_read')
        self.check_keys(entry, _PRICE_KEYS, at, f'[prices."{model}"]')
        vals = self.values(entry, _PRICE_KEYS, at)
        if "input" not in vals or "output" not in vals:
            self.fail(at, f'[prices."{model}"] needs at least input and output')
        vals.setdefault("cache_write", vals["input"] * 1.25)
        vals.setdefault("cache_read", vals["input"] * 0.1)
        return Price(**vals)

    def knobs(self, items: Any, where: tuple) -> tuple[Knob, ...]:
        if not isinstance(items, list):
            self.fail(where, "'knob' must be an array of tables ([[knob]])")
        out = []
        for i, item in enumerate(items):
            at = where + (i,)
            if not isinstance(item, dict):
                self.fail(at, "each [[knob]] must be a table")
            self.check_keys(item, _KNOB_KEYS, at, "[[knob]]")
            for req in ("name", "type", "low", "high"):
                if req not in item:
                    self.fail(at, f"[[knob]] is missing '{req}'")
            vals = self.values(item, _KNOB_KEYS, at)
            if vals["low"] >= vals["high"]:
                self.fail(at + ("low",), f"knob '{vals['name']}': low must be below high")
            if vals.get("log") and vals["low"] <= 0:
                self.fail(at + ("low",), f"knob '{vals['name']}': a log knob needs low > 0")
            out.append(Knob(**vals))
        return tuple(out)


def _show(v: Any) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "a list"
    return str(v)


def _parse(path: Path, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m.group(1)) if m else getattr(exc, "lineno", None)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        msg = re.sub(r"\s*\(at end of document\)", "", msg)
        raise ConductorError(f"invalid TOML: {msg}", path, line) from None


def read_workspace_file(folder: Path) -> tuple[dict, tuple[Knob, ...], _Reader | None]:
    """Defaults and knobs from `<folder>/workspace.toml`, if the folder has one, and its reader."""
    path = folder / "workspace.toml"
    if not path.is_file():
        return {}, (), None
    text = path.read_text(encoding="utf-8")
    data = _parse(path, text)
    reader = _Reader(path, text)
    reader.check_keys(data, _WORKSPACE_FILE_KEYS, (), "workspace.toml")
    knobs = reader.knobs(data["knob"], ("knob",)) if "knob" in data else ()
    plain = {k: v for k, v in data.items() if k != "knob"}
    return reader.values(plain, _WORKSPACE_KEYS, ()), knobs, reader


def bundled_workspaces_dir() -> Path:
    """`workspaces/` from a checkout or editable install, else the copy inside the wheel."""
    pkg = Path(__file__).resolve().parents[1]  # the conductor package
    for candidate in (pkg / "_data" / "workspaces", pkg.parent / "workspaces"):
        if candidate.is_dir():
            return candidate
    raise ConductorError("the bundled workspaces are missing from this installation")


def _resolve_path(raw: str, base: Path) -> Path:
    p = Path(os.path.expanduser(raw))
    if not p.is_absolute():
        p = base / p
    if not p.exists():
        # `workspaces/tinygpt` also names the bundled workspace from anywhere.
        parts = Path(raw).parts
        if len(parts) == 2 and parts[0] == "workspaces":
            bundled = bundled_workspaces_dir() / parts[1]
            if bundled.is_dir():
                return bundled
    return p.resolve()


def default_agent_kind() -> str:
    return "anthropic" if os.environ.get("ANTHROPIC_API_KEY") else "optuna"


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConductorError(f"config file not found: {path} (create one with `conductor init`)") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConductorError(f"cannot read config: {exc.__class__.__name__}", path) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    data = _parse(path, text)
    r = _Reader(path, text)
    base_dir = path.resolve().parent
    r.check_keys(data, SECTIONS, (), "conductor.toml")

    section = data.get("conductor", {})
    if not isinstance(section, dict):
        r.fail(("conductor",), "[conductor] must be a table")
    r.check_keys(section, _CONDUCTOR_KEYS, ("conductor",), "[conductor]")
    own = r.values(section, _CONDUCTOR_KEYS, ("conductor",))
    own["runs_dir"] = _resolve_path(own.get("runs_dir", str(Config.runs_dir)), base_dir)

    agent = r.agent(data.get("agent", {}), ("agent",), AgentConfig())

    ptable = data.get("prices", {})
    if not isinstance(ptable, dict):
        r.fail(("prices",), '[prices] must be a table of [prices."MODEL"] tables')
    prices = {model: r.price(model, entry) for model, entry in ptable.items()}

    raw_ws = data.get("workspace", [])
    if isinstance(raw_ws, dict) or not isinstance(raw_ws, list):
        r.fail(("workspace",), "workspaces are declared as [[workspace]] (an array of tables)")
    if not raw_ws:
        raise ConductorError("no [[workspace]] declared: nothing to run", path, None)

    workspaces = []
    seen_panes: dict[str, int] = {}
    for i, ws in enumerate(raw_ws):
        where = ("workspace", i)
        workspaces.append(_workspace(r, ws, where, base_dir, agent))
        for pane in Config(source=path, runs_dir=base_dir, workspaces=(workspaces[-1],)).panes:
            if pane.name in seen_panes:
                r.fail(where + ("name",), f"duplicate pane name '{pane.name}' (rename one workspace)")
            seen_panes[pane.name] = i
        if len(seen_panes) > MAX_PANES:
            r.fail(where + ("panes",), f"{len(seen_panes)} panes in all: at most {MAX_PANES}")

    notify = data.get("notify", {})
    if not isinstance(notify, dict):
        r.fail(("notify",), "[notify] must be a table")
    r.check_keys(notify, _NOTIFY_KEYS, ("notify",), "[notify]")
    own["notify"] = NotifyConfig(**r.values(notify, _NOTIFY_KEYS, ("notify",)))
    return Config(source=path, agent=_resolve_kind(agent), prices=prices, workspaces=tuple(workspaces), **own)


def _resolve_kind(agent: AgentConfig) -> AgentConfig:
    return agent if agent.kind != "auto" else replace(agent, kind=default_agent_kind())


def _workspace(r: _Reader, ws: Any, where: tuple, base_dir: Path, agent: AgentConfig) -> WorkspaceConfig:
    if not isinstance(ws, dict):
        r.fail(where, "[[workspace]] must be a table")
    r.check_keys(ws, _WORKSPACE_KEYS, where, "[[workspace]]")
    if "path" not in ws:
        r.fail(where, "[[workspace]] is missing 'path' (the workspace's git repo or folder)")
    vals = r.values(ws, _WORKSPACE_KEYS, where)
    folder = _resolve_path(vals["path"], base_dir)
    if not folder.exists():
        r.fail(where + ("path",), f"workspace path does not exist: {folder}")
    if not folder.is_dir():
        r.fail(where + ("path",), f"workspace path is not a folder or git repo: {folder}")
    defaults, knobs, ws_file = read_workspace_file(folder)

    def fail_at(name: str, message: str) -> NoReturn:
        """Fail at the key where it was set: here, else in workspace.toml, else at [[workspace]]."""
        if name in ws or ws_file is None or name not in defaults:
            r.fail(where + (name,), message)
        ws_file.fail((name,), message)

    merged = {**defaults, **vals}
    merged["path"] = folder
    merged.setdefault("name", folder.name if PANE_NAME.match(folder.name) else "workspace")
    for req in ("run", "metric"):
        if req not in merged:
            r.fail(where, f"workspace '{merged['name']}' has no '{req}' (set it here or in its workspace.toml)")
    ws_agent = r.agent(ws["agent"], where + ("agent",), agent) if "agent" in ws else agent
    merged["agent"] = _resolve_kind(ws_agent)
    if merged.get("experiments") == "observed" and merged["agent"].kind not in EXTERNAL_KINDS:
        at = where + ("experiments",) if "experiments" in ws else where
        r.fail(
            at,
            f'experiments = "observed" needs an external agent ({" | ".join(EXTERNAL_KINDS)}), '
            f"not '{merged['agent'].kind}'",
        )
    overlap = set(merged.get("editable", ())) & set(merged.get("protected", ()))
    if overlap:
        r.fail(where + ("protected",), f"'{sorted(overlap)[0]}' is both editable and protected")
    if not merged.get("editable"):
        r.fail(where, f"workspace '{merged['name']}' lists no 'editable' files: the agent could change nothing")
    if "time_budget_s" in merged and "timeout_s" not in merged:
        merged["timeout_s"] = max(2 * merged["time_budget_s"], merged["time_budget_s"] + 60)
    if merged.get("timeout_s", WorkspaceConfig.timeout_s) < merged.get("time_budget_s", WorkspaceConfig.time_budget_s):
        r.fail(where + ("timeout_s",), "'timeout_s' must not be shorter than 'time_budget_s'")
    if merged["agent"].kind == "command" and not merged["agent"].command.strip():
        r.fail(
            where + ("agent",) if "agent" in ws else ("agent",),
            'agent kind "command" needs a command: set agent = { command = "..." }',
        )
    files = WorkspaceFiles(folder)
    _check_files(merged, files, fail_at)
    merged["knobs"] = _knobs_with_files(knobs, merged["editable"], files, ws_file) if ws_file else ()
    return WorkspaceConfig(**merged)


def _check_files(merged: dict, files: WorkspaceFiles, fail_at: Callable[[str, str], NoReturn]) -> None:
    """Every file key names files of the workspace, before any pane is set up."""
    protected = merged.get("protected", ())
    for rel in merged["editable"]:
        problem = editable_problem(rel, protected, files)
        if problem:
            fail_at("editable", problem)
    for rel in protected:
        problem = protected_problem(rel, files)
        if problem:
            fail_at("protected", problem)
    for pattern in merged.get("copy", ()):
        if escapes(pattern):
            fail_at("copy", f"copy '{pattern}' is outside the workspace")
    program = merged.get("program", WorkspaceConfig.program)
    if escapes(program):
        fail_at("program", f"program '{program}' is outside the workspace")
    # optuna ignores the program and a command agent may do without one (core/loop.py)
    if merged["agent"].kind not in ("optuna", "command") and not files.has_file(program):
        fail_at("program", f"program file '{program}' not found in {files.folder}")


def _knobs_with_files(
    knobs: tuple[Knob, ...], editable: tuple[str, ...], files: WorkspaceFiles, ws_file: _Reader
) -> tuple[Knob, ...]:
    """Each knob with the editable file that holds it (left out: the first editable entry that is no pattern)."""
    default_file = next((rel for rel in editable if not is_pattern(rel)), "")
    out = []
    for i, k in enumerate(knobs):
        at = ("knob", i, "file")
        if not k.file and not default_file:
            ws_file.fail(at, f"knob '{k.name}' needs 'file': every editable entry is a pattern")
        k = k if k.file else replace(k, file=default_file)
        if escapes(k.file) or not any(fnmatch.fnmatch(k.file, pat) for pat in editable):
            ws_file.fail(at, f"knob '{k.name}': its file '{k.file}' is not editable")
        if not files.has_file(k.file):
            ws_file.fail(at, f"knob '{k.name}': its file '{k.file}' does not exist in the workspace {files.folder}")
        out.append(k)
    return tuple(out)
