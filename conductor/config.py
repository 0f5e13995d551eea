"""conductor.toml -> frozen dataclasses.

One schema for every key (DESIGN.md's "Contracts"). A workspace folder may carry a
`workspace.toml` with defaults for its own keys (run, metric, goal, ...) and the knobs the
offline proposer may set; conductor.toml overrides them. Every error names the file and
line, and an unknown key gets a suggestion when it is close to a known one.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conductor.errors import ConductorError
from conductor.tomlpos import TomlPositions

AGENT_KINDS = ("anthropic", "claude-code", "codex", "command", "optuna")
EXTERNAL_KINDS = ("claude-code", "codex", "command")  # agent CLIs that run as subprocesses
EXPERIMENT_MODES = ("managed", "observed")  # who runs an external agent's experiments
DEFAULT_MODEL = "claude-sonnet-4-5"
PANE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


@dataclass(frozen=True)
class AgentConfig:
    kind: str = "auto"  # resolved to anthropic (key set) or optuna (no key) at load
    model: str = DEFAULT_MODEL
    command: str = ""
    args: tuple[str, ...] = ()
    max_usd: float | None = None
    max_tokens: int | None = None
    context_limit: int = 120_000


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_write: float
    cache_read: float


@dataclass(frozen=True)
class Knob:
    name: str
    type: str  # "float" | "int"
    low: float
    high: float
    log: bool = False
    file: str = ""  # which editable file holds the constant; default: the first editable


@dataclass(frozen=True)
class WorkspaceConfig:
    name: str
    path: Path
    run: str
    metric: str
    program: str = "program.md"
    goal: str = "min"
    editable: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()
    time_budget_s: float = 300.0
    timeout_s: float = 600.0
    panes: int = 1
    agent: AgentConfig = field(default_factory=AgentConfig)
    min_delta: float = 0.0
    copy: tuple[str, ...] = ()
    noise_runs: int = 0
    verify: int = 0
    max_experiments: int | None = None
    max_hours: float | None = None
    target: float | None = None
    plateau: int | None = None
    noise_k: float = 2.0
    crash_limit: int = 3
    sanity_gain: float | None = None
    plausible: tuple[float, float] | None = None
    knobs: tuple[Knob, ...] = ()
    experiments: str = "managed"  # managed: `conductor exp`; observed: the agent logs results.tsv itself


@dataclass(frozen=True)
class PaneSpec:
    name: str
    workspace: WorkspaceConfig
    agent: AgentConfig


@dataclass(frozen=True)
class Config:
    source: Path
    runs_dir: Path
    slots: Any = "auto"  # "auto" | int | list of GPU indices / UUIDs
    cpu_slots: int = 1
    max_usd: float | None = None
    max_tokens: int | None = None
    agent: AgentConfig = field(default_factory=AgentConfig)
    prices: dict[str, Price] = field(default_factory=dict)
    workspaces: tuple[WorkspaceConfig, ...] = ()

    @property
    def panes(self) -> tuple[PaneSpec, ...]:
        out = []
        for ws in self.workspaces:
            for i in range(ws.panes):
                name = ws.name if ws.panes == 1 else f"{ws.name}-{i + 1}"
                out.append(PaneSpec(name=name, workspace=ws, agent=ws.agent))
        return tuple(out)

    def price(self, model: str) -> Price | None:
        return self.prices.get(model)


# ---------------------------------------------------------------- schema

_NUM = (int, float)
_STR_LIST = "list[str]"
_SCHEMA_CONDUCTOR = {
    "runs_dir": str,
    "slots": "slots",
    "cpu_slots": "posint",
    "max_usd": "posnum",  # the whole orchestra's spend; every pane pauses when it is reached
    "max_tokens": "posint",
}
_SCHEMA_AGENT = {
    "kind": "kind",
    "model": str,
    "command": str,
    "args": _STR_LIST,
    "max_usd": "posnum",
    "max_tokens": "posint",
    "context_limit": "posint",
}
_SCHEMA_PRICE = {"input": "nonneg", "output": "nonneg", "cache_write": "nonneg", "cache_read": "nonneg"}
_SCHEMA_WORKSPACE = {
    "name": "name",
    "path": str,
    "program": str,
    "run": str,
    "metric": str,
    "goal": "goal",
    "editable": _STR_LIST,
    "protected": _STR_LIST,
    "time_budget_s": "posnum",
    "timeout_s": "posnum",
    "panes": "posint",
    "agent": "agent",
    "min_delta": "nonneg",
    "copy": _STR_LIST,
    "noise_runs": "nonnegint",
    "verify": "nonnegint",
    "max_experiments": "posint",
    "max_hours": "posnum",
    "target": _NUM,
    "plateau": "posint",
    "noise_k": "nonneg",
    "crash_limit": "posint",
    "sanity_gain": "posnum",
    "plausible": "range",
    "experiments": "experiments",
}
# workspace.toml may set the workspace's own keys and declare knobs.
_SCHEMA_WORKSPACE_FILE = {k: v for k, v in _SCHEMA_WORKSPACE.items() if k not in ("name", "path", "panes", "agent")}
_SCHEMA_WORKSPACE_FILE["knob"] = "knobs"
_SCHEMA_KNOB = {"name": str, "type": "knobtype", "low": _NUM, "high": _NUM, "log": bool, "file": str}
_TOP = {"conductor": "table", "agent": "table", "prices": "table", "workspace": "workspaces"}


class _Reader:
    """Validates one parsed TOML document and raises errors that point at its lines."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.pos = TomlPositions(text)

    def fail(self, where: tuple, message: str) -> None:
        raise ConductorError(message, self.path, self.pos.line(where))

    def check_keys(self, table: dict, schema: dict, where: tuple, what: str) -> None:
        for key in table:
            if key not in schema:
                close = difflib.get_close_matches(key, list(schema), n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.fail(where + (key,), f"unknown key '{key}' in {what}{hint}")

    def value(self, table: dict, key: str, kind: Any, where: tuple) -> Any:
        v = table[key]
        at = where + (key,)
        name = ".".join(str(p) for p in at if not isinstance(p, int))

        def bad(expected: str) -> None:
            self.fail(at, f"'{name}' must be {expected}, got {_show(v)}")

        if kind is str:
            if not isinstance(v, str):
                bad("a string")
        elif kind is bool:
            if not isinstance(v, bool):
                bad("true or false")
        elif kind == _NUM:
            if isinstance(v, bool) or not isinstance(v, _NUM):
                bad("a number")
            v = float(v)
        elif kind in ("posint", "nonnegint"):
            if isinstance(v, bool) or not isinstance(v, int):
                bad("an integer")
            if v < (1 if kind == "posint" else 0):
                bad("at least 1" if kind == "posint" else "0 or more")
        elif kind in ("posnum", "nonneg"):
            if isinstance(v, bool) or not isinstance(v, _NUM):
                bad("a number")
            if v < 0 or (kind == "posnum" and v == 0):
                bad("a positive number" if kind == "posnum" else "0 or more")
            v = float(v)
        elif kind == _STR_LIST:
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                bad("a list of strings")
            v = tuple(v)
        elif kind == "goal":
            if v not in ("min", "max"):
                bad('"min" or "max"')
        elif kind == "knobtype":
            if v not in ("float", "int"):
                bad('"float" or "int"')
        elif kind == "kind":
            if v not in AGENT_KINDS + ("auto",):
                close = difflib.get_close_matches(str(v), AGENT_KINDS, n=1, cutoff=0.5)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                bad(" | ".join(AGENT_KINDS) + hint)
        elif kind == "experiments":
            if v not in EXPERIMENT_MODES:
                bad(" or ".join(f'"{m}"' for m in EXPERIMENT_MODES))
        elif kind == "range":
            ok = (
                isinstance(v, list)
                and len(v) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            )
            if not ok or v[0] >= v[1]:
                bad("[low, high] with low < high")
            v = (float(v[0]), float(v[1]))
        elif kind == "name":
            if not isinstance(v, str) or not PANE_NAME.match(v):
                bad("a short name of letters, digits, '-', '_' or '.'")
        elif kind == "slots":
            ok = (v == "auto") or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
            ok = ok or (isinstance(v, list) and v and all(isinstance(x, (int, str)) for x in v))
            if not ok:
                bad('"auto", a count, or a list of GPU indices or UUIDs')
        return v

    def agent(self, table: Any, where: tuple, base: AgentConfig) -> AgentConfig:
        if not isinstance(table, dict):
            self.fail(where, f"'{where[-1]}' must be a table, got {_show(table)}")
        self.check_keys(table, _SCHEMA_AGENT, where, "[agent]")
        values = {k: self.value(table, k, _SCHEMA_AGENT[k], where) for k in table}
        return replace(base, **values)

    def knobs(self, items: Any, where: tuple) -> tuple[Knob, ...]:
        if not isinstance(items, list):
            self.fail(where, "'knob' must be an array of tables ([[knob]])")
        out = []
        for i, item in enumerate(items):
            at = where + (i,)
            if not isinstance(item, dict):
                self.fail(at, "each [[knob]] must be a table")
            self.check_keys(item, _SCHEMA_KNOB, at, "[[knob]]")
            for req in ("name", "type", "low", "high"):
                if req not in item:
                    self.fail(at, f"[[knob]] is missing '{req}'")
            vals = {k: self.value(item, k, _SCHEMA_KNOB[k], at) for k in item}
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


def read_workspace_file(folder: Path) -> tuple[dict, tuple[Knob, ...]]:
    """Defaults and knobs from `<folder>/workspace.toml`, if the folder has one."""
    path = folder / "workspace.toml"
    if not path.is_file():
        return {}, ()
    text = path.read_text(encoding="utf-8")
    data = _parse(path, text)
    reader = _Reader(path, text)
    reader.check_keys(data, _SCHEMA_WORKSPACE_FILE, (), "workspace.toml")
    knobs = reader.knobs(data["knob"], ("knob",)) if "knob" in data else ()
    values = {k: reader.value(data, k, _SCHEMA_WORKSPACE_FILE[k], ()) for k in data if k != "knob"}
    return values, knobs


def bundled_workspaces_dir() -> Path:
    """`workspaces/` from a checkout or editable install, else the copy inside the wheel."""
    pkg = Path(__file__).resolve().parent
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
    r.check_keys(data, _TOP, (), "conductor.toml")

    section = data.get("conductor", {})
    if not isinstance(section, dict):
        r.fail(("conductor",), "[conductor] must be a table")
    r.check_keys(section, _SCHEMA_CONDUCTOR, ("conductor",), "[conductor]")
    cvals = {k: r.value(section, k, _SCHEMA_CONDUCTOR[k], ("conductor",)) for k in section}

    agent = r.agent(data.get("agent", {}), ("agent",), AgentConfig())

    prices: dict[str, Price] = {}
    ptable = data.get("prices", {})
    if not isinstance(ptable, dict):
        r.fail(("prices",), '[prices] must be a table of [prices."MODEL"] tables')
    for model, entry in ptable.items():
        at = ("prices", model)
        if not isinstance(entry, dict):
            r.fail(at, f'[prices."{model}"] must be a table with input, output, cache_write, cache_read')
        r.check_keys(entry, _SCHEMA_PRICE, at, f'[prices."{model}"]')
        vals = {k: r.value(entry, k, _SCHEMA_PRICE[k], at) for k in entry}
        if "input" not in vals or "output" not in vals:
            r.fail(at, f'[prices."{model}"] needs at least input and output')
        vals.setdefault("cache_write", vals["input"] * 1.25)
        vals.setdefault("cache_read", vals["input"] * 0.1)
        prices[model] = Price(**vals)

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

    runs_dir = _resolve_path(cvals.get("runs_dir", ".conductor"), base_dir)
    return Config(
        source=path,
        runs_dir=runs_dir,
        slots=cvals.get("slots", "auto"),
        cpu_slots=cvals.get("cpu_slots", 1),
        max_usd=cvals.get("max_usd"),
        max_tokens=cvals.get("max_tokens"),
        agent=_resolve_kind(agent),
        prices=prices,
        workspaces=tuple(workspaces),
    )


def _resolve_kind(agent: AgentConfig) -> AgentConfig:
    return agent if agent.kind != "auto" else replace(agent, kind=default_agent_kind())


def _workspace(r: _Reader, ws: Any, where: tuple, base_dir: Path, agent: AgentConfig) -> WorkspaceConfig:
    if not isinstance(ws, dict):
        r.fail(where, "[[workspace]] must be a table")
    r.check_keys(ws, _SCHEMA_WORKSPACE, where, "[[workspace]]")
    if "path" not in ws:
        r.fail(where, "[[workspace]] is missing 'path' (the workspace's git repo or folder)")
    vals = {k: r.value(ws, k, _SCHEMA_WORKSPACE[k], where) for k in ws if k != "agent"}
    folder = _resolve_path(vals["path"], base_dir)
    if not folder.exists():
        r.fail(where + ("path",), f"workspace path does not exist: {folder}")
    if not folder.is_dir():
        r.fail(where + ("path",), f"workspace path is not a folder or git repo: {folder}")
    defaults, knobs = read_workspace_file(folder)
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
    if merged.get("timeout_s", 600.0) < merged.get("time_budget_s", 300.0):
        r.fail(where + ("timeout_s",), "'timeout_s' must not be shorter than 'time_budget_s'")
    default_file = merged["editable"][0]
    merged["knobs"] = tuple(k if k.file else replace(k, file=default_file) for k in knobs)
    return WorkspaceConfig(**merged)


# ---------------------------------------------------------------- writing


def config_to_dict(cfg: Config) -> dict:
    """The resolved config in conductor.toml's own schema, for the run dir (tomli-w)."""

    def agent_dict(a: AgentConfig) -> dict:
        d = {"kind": a.kind, "model": a.model, "command": a.command, "args": list(a.args)}
        d["context_limit"] = a.context_limit
        if a.max_usd is not None:
            d["max_usd"] = a.max_usd
        if a.max_tokens is not None:
            d["max_tokens"] = a.max_tokens
        return d

    out: dict = {
        "conductor": {
            "runs_dir": str(cfg.runs_dir),
            "slots": cfg.slots,
            "cpu_slots": cfg.cpu_slots,
            **({"max_usd": cfg.max_usd} if cfg.max_usd is not None else {}),
            **({"max_tokens": cfg.max_tokens} if cfg.max_tokens is not None else {}),
        },
        "agent": agent_dict(cfg.agent),
        "prices": {m: vars(p).copy() for m, p in cfg.prices.items()},
        "workspace": [],
    }
    for ws in cfg.workspaces:
        d = {
            "name": ws.name,
            "path": str(ws.path),
            "program": ws.program,
            "run": ws.run,
            "metric": ws.metric,
            "goal": ws.goal,
            "editable": list(ws.editable),
            "protected": list(ws.protected),
            "time_budget_s": ws.time_budget_s,
            "timeout_s": ws.timeout_s,
            "panes": ws.panes,
            "agent": agent_dict(ws.agent),
            "min_delta": ws.min_delta,
            "copy": list(ws.copy),
            "noise_runs": ws.noise_runs,
            "verify": ws.verify,
            "noise_k": ws.noise_k,
            "crash_limit": ws.crash_limit,
        }
        if ws.experiments != "managed":
            d["experiments"] = ws.experiments
        if ws.plausible is not None:
            d["plausible"] = list(ws.plausible)
        for key in ("max_experiments", "max_hours", "target", "plateau", "sanity_gain"):
            if getattr(ws, key) is not None:
                d[key] = getattr(ws, key)
        out["workspace"].append(d)
    return out


def write_resolved(cfg: Config, dest: Path) -> None:
    import tomli_w

    text = "# The resolved config of this run; `conductor run` on this run dir resumes with it.\n"
    text += tomli_w.dumps(config_to_dict(cfg))
    tmp = dest.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)
