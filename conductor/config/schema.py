"""Every conductor.toml key, declared once: a dataclass field with a `Key` in its metadata.

The field gives the key's name, type and default; its `Key` says how a value is checked and
documents the key in one line. The reader, the dump of the resolved config and the example
that `conductor init` writes all walk these fields, so a key declared here is read,
validated, saved and documented with no other change.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from conductor.config import checks
from conductor.config.checks import Check
from conductor.config.trust_defaults import trust_for

DEFAULT_MODEL = "claude-sonnet-4-5"
# The top-level tables of conductor.toml: [conductor] holds Config's own keys.
SECTIONS = ("conductor", "agent", "prices", "workspace", "notify")
_KEY = "conductor.key"
_DEFAULT = object()


EXAMPLE_BUDGET_S = 20
EXAMPLE_TRUST = trust_for(EXAMPLE_BUDGET_S)  # `conductor init` turns the cheap trust on, sized to its budget


@dataclass(frozen=True)
class Key:
    """How a key is checked and documented.

    The example config writes the key as a setting when `active`, else as a comment; with
    the value `example`, or the key's default when no example is given."""

    check: Check | None  # None: a table with a reader of its own (a workspace's `agent`)
    doc: str
    example: Any = _DEFAULT
    active: bool = False
    in_workspace_toml: bool = True  # a workspace's folder may set it in its workspace.toml


def key(
    check: Check | None, doc: str, *, example: Any = _DEFAULT, active: bool = False, in_workspace_toml: bool = True
) -> dict[str, Key]:
    """The metadata of a field that is a config key."""
    return {_KEY: Key(check, doc, example, active, in_workspace_toml)}


def key_fields(cls: type) -> list[tuple[Field, Key]]:
    """The fields of one table that are keys, with their keys, in the order declared."""
    return [(f, f.metadata[_KEY]) for f in fields(cls) if _KEY in f.metadata]


def keys(cls: type) -> dict[str, Key]:
    return {f.name: k for f, k in key_fields(cls)}


def example_value(f: Field, k: Key) -> Any:
    """What the example config shows for the key: its example, else its default."""
    if k.example is not _DEFAULT:
        return k.example
    if f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


@dataclass(frozen=True)
class AgentConfig:
    """[agent]: the defaults for every workspace; a workspace's `agent = {...}` overrides them."""

    kind: str = field(
        default="auto",  # resolved to anthropic (key set) or optuna (no key) at load
        metadata=key(
            checks.agent_kind,
            "anthropic | claude-code | codex | command | optuna; left out: anthropic with ANTHROPIC_API_KEY, else optuna",
            example="optuna",
            active=True,
        ),
    )
    model: str = field(default=DEFAULT_MODEL, metadata=key(checks.text, "the model the agent asks for", active=True))
    command: str = field(
        default="", metadata=key(checks.string, "executable for claude-code / codex / command", active=True)
    )
    args: tuple[str, ...] = field(
        default=(), metadata=key(checks.string_list, "extra CLI flags for claude-code / codex")
    )
    max_usd: float | None = field(
        default=None, metadata=key(checks.positive_number, "pause a pane when its cost reaches this", example=20.0)
    )
    max_tokens: int | None = field(
        default=None, metadata=key(checks.positive_int, "pause a pane when its tokens reach this", example=5_000_000)
    )
    context_limit: int = field(
        default=120_000,
        metadata=key(checks.positive_int, "restart the conversation when one request reads more input than this"),
    )


@dataclass(frozen=True)
class Price:
    """[prices."MODEL"]: USD per million tokens of one model."""

    input: float = field(metadata=key(checks.nonneg_number, "input tokens", example=3.0, active=True))
    output: float = field(metadata=key(checks.nonneg_number, "output tokens", example=15.0, active=True))
    cache_write: float = field(
        metadata=key(checks.nonneg_number, "cache writes (left out: 1.25 x input)", example=3.75, active=True)
    )
    cache_read: float = field(
        metadata=key(checks.nonneg_number, "cache reads (left out: 0.1 x input)", example=0.30, active=True)
    )


@dataclass(frozen=True)
class NotifyConfig:
    """[notify]: what reaches the researcher outside the TUI (apprise URLs, the bell, a shell hook)."""

    urls: tuple[str, ...] = field(
        default=(),
        metadata=key(
            checks.notify_urls,
            "apprise URLs (ntfy://, slack://, tgram://, discord://, mailto://, json://...); secrets masked when shown",
            example=["ntfys://ntfy.sh/my-topic"],
        ),
    )
    events: tuple[str, ...] = field(
        default=checks.NOTIFY_EVENTS,
        metadata=key(checks.notify_events, "which events notify: " + " | ".join(checks.NOTIFY_EVENTS)),
    )
    bell: bool = field(default=False, metadata=key(checks.boolean, "ring the terminal bell on each notification"))
    command: str = field(
        default="",
        metadata=key(
            checks.string,
            "a shell hook run per notification: CONDUCTOR_NOTIFY_TITLE, _BODY and _EVENTS in its environment",
            example='notify-send "$CONDUCTOR_NOTIFY_TITLE" "$CONDUCTOR_NOTIFY_BODY"',
        ),
    )
    batch_s: float = field(
        default=30.0, metadata=key(checks.nonneg_number, "events within this many seconds go out as one message")
    )
    max_per_hour: int = field(
        default=12, metadata=key(checks.positive_int, "at most this many messages an hour; more are batched")
    )
    rate_limited_after_s: float = field(
        default=900.0,
        metadata=key(checks.positive_number, "notify rate_limited when a pane has waited on a usage limit this long"),
    )


@dataclass(frozen=True)
class Knob:
    """[[knob]] in a workspace.toml: a constant the offline optuna agent may set."""

    name: str = field(metadata=key(checks.text, "the constant, a `NAME = value` line in the file"))
    type: str = field(metadata=key(checks.knob_type, '"float" or "int"'))
    low: float = field(metadata=key(checks.number, "the lowest value tried"))
    high: float = field(metadata=key(checks.number, "the highest value tried"))
    log: bool = field(default=False, metadata=key(checks.boolean, "sample on a log scale (needs low > 0)"))
    file: str = field(
        default="",
        metadata=key(
            checks.string, "the editable file that holds the constant (left out: the first one that is not a pattern)"
        ),
    )
    slot: str = field(
        default="any",
        metadata=key(
            checks.knob_slot,
            '"gpu" or "cpu": the constant takes effect only on that kind of slot (the optuna agent tunes it there)',
        ),
    )


@dataclass(frozen=True, kw_only=True)
class WorkspaceConfig:
    """[[workspace]]: one research problem; its folder's workspace.toml may set defaults."""

    name: str = field(
        metadata=key(
            checks.pane_name,
            "the panes' name (left out: the folder's name)",
            example="tinygpt",
            active=True,
            in_workspace_toml=False,
        )
    )
    path: Path = field(
        metadata=key(
            checks.text,
            "(required) a git repo (panes branch from its HEAD) or a template folder",
            example="workspaces/tinygpt",
            active=True,
            in_workspace_toml=False,
        )
    )
    program: str = field(
        default="program.md", metadata=key(checks.text, "the agent's instructions, in the workspace", active=True)
    )
    run: str = field(
        metadata=key(
            checks.text, "the experiment command, run in the pane's worktree", example="python train.py", active=True
        )
    )
    setup: str = field(
        default="",
        metadata=key(
            checks.string,
            "run once on each machine before its first experiment (again when the protected files change)",
            example="python prepare.py",
        ),
    )
    setup_timeout_s: float = field(
        default=1800.0, metadata=key(checks.positive_number, "a setup running longer than this fails")
    )
    metric: str = field(
        metadata=key(
            checks.text, "read from the `---` summary block as `val_bpb: 1.234`", example="val_bpb", active=True
        )
    )
    goal: str = field(
        default="min", metadata=key(checks.goal, '"min" or "max": which way the metric improves', active=True)
    )
    editable: tuple[str, ...] = field(
        default=(),
        metadata=key(
            checks.file_list,
            "the only files an experiment may change (fnmatch patterns allowed)",
            example=["train.py"],
            active=True,
        ),
    )
    protected: tuple[str, ...] = field(
        default=(),
        metadata=key(
            checks.file_list, "must stay byte-identical (the fixed harness)", example=["prepare.py"], active=True
        ),
    )
    time_budget_s: float = field(
        default=300.0,
        metadata=key(checks.positive_number, "passed to the run as TIME_BUDGET", example=EXAMPLE_BUDGET_S, active=True),
    )
    timeout_s: float = field(
        default=600.0,
        metadata=key(checks.positive_number, "the whole process group is killed after this", example=90, active=True),
    )
    panes: int = field(
        default=1,
        metadata=key(
            checks.pane_count,
            "loops on this workspace, each on its own worktree and branch",
            example=2,
            active=True,
            in_workspace_toml=False,
        ),
    )
    agent: AgentConfig = field(
        default_factory=AgentConfig,
        metadata=key(
            None, "per-workspace override of [agent]", example={"kind": "optuna"}, active=True, in_workspace_toml=False
        ),
    )
    experiments: str = field(
        default="managed",
        metadata=key(
            checks.experiments_mode,
            '"managed": ideas run through `conductor exp`; "observed": the agent logs results.tsv',
        ),
    )
    min_delta: float = field(
        default=0.0, metadata=key(checks.nonneg_number, "a keep must beat the best by more than this")
    )
    copy: tuple[str, ...] = field(
        default=(),
        metadata=key(checks.file_list, "gitignored files to copy into each worktree", example=["data/*.bin"]),
    )
    noise_runs: int = field(
        default=0,
        metadata=key(
            checks.nonneg_int,
            "run the baseline N times (seeds 0..N-1); their spread is the noise floor",
            example=EXAMPLE_TRUST["noise_runs"],
            active=True,
        ),
    )
    noise_k: float = field(
        default=2.0,
        metadata=key(checks.nonneg_number, "a keep must beat the best by more than max(min_delta, noise_k x noise sd)"),
    )
    verify: int = field(
        default=0,
        metadata=key(
            checks.nonneg_int,
            "re-run a candidate keep N more times; kept only if the mean still wins",
            example=EXAMPLE_TRUST["verify"],
            active=True,
        ),
    )
    sanity_gain: float | None = field(
        default=None,
        metadata=key(
            checks.positive_number, "a gain above this fraction of the best in one step is verified first", example=0.3
        ),
    )
    plausible: tuple[float, float] | None = field(
        default=None,
        metadata=key(
            checks.value_range,
            "a metric outside [low, high] is verified, and discarded if it stays out",
            example=[0.5, 8.0],
        ),
    )
    crash_limit: int = field(
        default=3, metadata=key(checks.positive_int, "pause the pane after this many crashes in a row")
    )
    max_experiments: int | None = field(
        default=None,
        metadata=key(checks.positive_int, "stop this workspace's panes after this many experiments", example=100),
    )
    max_hours: float | None = field(
        default=None,
        metadata=key(checks.positive_number, "stop this workspace's panes after this many hours", example=8.0),
    )
    target: float | None = field(
        default=None, metadata=key(checks.number, "stop a pane once its best reaches this", example=1.0)
    )
    plateau: int | None = field(
        default=None,
        metadata=key(
            checks.positive_int, "alert (and nudge LLM agents) after this many experiments without a keep", example=10
        ),
    )
    evolve_every: int | None = field(
        default=None,
        metadata=key(
            checks.positive_int,
            "every N experiments a pane, the losing panes' programs are replaced by a new variant (conductor evolve)",
            example=10,
        ),
    )
    share_study: bool = field(
        default=True,
        metadata=key(checks.boolean, "the optuna panes of this workspace search one shared study (constant-liar TPE)"),
    )
    no_repeats: bool = field(
        default=True,
        metadata=key(
            checks.boolean,
            "an exact repeat of a change the workspace tried (or runs now) is not run; a near repeat is flagged",
        ),
    )
    migrate_after: int | None = field(
        default=None,
        metadata=key(
            checks.positive_int,
            "a pane with this many experiments without a keep moves onto a sibling's better best (by > noise floor)",
            example=8,
        ),
    )
    data: tuple[tuple[str, bool], ...] = field(
        default=(),
        metadata=key(
            checks.data_dirs,
            "folders the sandboxed experiment may read (relative to the workspace), writable = true for a cache",
            example=[{"path": "data"}, {"path": "~/.cache/tinygpt", "writable": True}],
        ),
    )
    network: bool = field(
        default=True, metadata=key(checks.boolean, "false: the sandboxed experiment has no network", example=True)
    )
    max_log_mb: float = field(
        default=64.0,
        metadata=key(
            checks.positive_number, "an experiment's log keeps its head and tail past this many MiB", example=64
        ),
    )
    knobs: tuple[Knob, ...] = ()  # the [[knob]]s of the folder's workspace.toml


@dataclass(frozen=True)
class PaneSpec:
    name: str
    workspace: WorkspaceConfig
    agent: AgentConfig


@dataclass(frozen=True)
class Config:
    """A whole conductor.toml: [conductor]'s keys are its own fields."""

    source: Path
    runs_dir: Path = field(
        default=Path(".conductor"),
        metadata=key(
            checks.text,
            "worktrees, ledger, logs and the control socket of this run",
            example=".conductor",
            active=True,
        ),
    )
    slots: Any = field(
        default="auto",
        metadata=key(
            checks.slots,
            '"auto" (one per GPU, else cpu_slots), "ray" (every GPU of a Ray cluster\'s nodes), a count of '
            "CPU slots, or GPU indices / UUIDs: [0, 2]",
            active=True,
        ),
    )
    cpu_slots: int = field(default=1, metadata=key(checks.slot_count, "CPU slots when no GPU is found", active=True))
    sandbox: str = field(
        default="auto",
        metadata=key(
            checks.sandbox_mode,
            '"auto": experiments run in a bubblewrap sandbox where the machine has one; "on": refuse to start '
            'without it; "off": never',
            active=True,
        ),
    )
    max_usd: float | None = field(
        default=None,
        metadata=key(
            checks.positive_number, "the whole orchestra's spend: every pane pauses when it is reached", example=100.0
        ),
    )
    max_tokens: int | None = field(
        default=None,
        metadata=key(
            checks.positive_int,
            "the whole orchestra's tokens: every pane pauses when they are reached",
            example=50_000_000,
        ),
    )
    secret_names: tuple[str, ...] = field(
        default=(),
        metadata=key(
            checks.string_list,
            "more environment variables (names or patterns) kept from experiments and masked in logs",
            example=["MY_SERVICE_*", "DB_URL"],
        ),
    )
    ray_address: str = field(
        default="",
        metadata=key(
            checks.string,
            'with slots = "ray": the cluster to join (host:port); empty: RAY_ADDRESS, else the local `ray start` one',
            example="127.0.0.1:6379",
        ),
    )
    ray_slot_kind: str = field(
        default="auto",
        metadata=key(
            checks.ray_slot_kind,
            'with slots = "ray": "auto" (every GPU, else cpu_slots CPU slots per node), "gpu", or "cpu" (cpu_slots '
            "per node even where there are GPUs)",
        ),
    )
    ray_max_tree_mb: float = field(
        default=100.0,
        metadata=key(
            checks.positive_number, 'with slots = "ray": the largest commit tree shipped to a node, in MiB', example=100
        ),
    )
    agent: AgentConfig = field(default_factory=AgentConfig)
    prices: dict[str, Price] = field(default_factory=dict)
    workspaces: tuple[WorkspaceConfig, ...] = ()
    notify: NotifyConfig = field(default_factory=NotifyConfig)

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
