"""What the screen knows: engine events folded into plain per-pane and orchestra state.

No widgets here. The bridge feeds events in on its timer; widgets read these objects and
compare `version` numbers to learn whether anything changed. Anything the engine has not
reported stays None, and the screen shows a dim "-" for it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from conductor.core.events import (
    AgentActivity,
    Alert,
    Event,
    ExperimentFinished,
    ExperimentStarted,
    HostSample,
    PaneDone,
    PaneState,
    QuotaSample,
    RunFinished,
    RunStarted,
    SlotSample,
    TokenRates,
    TokenUsage,
)
from conductor.core.record import ExperimentRecord, Standing, Status
from conductor.core.standings import Tally
from conductor.ui.feed import FEED_LINES, FeedLine, feed_line
from conductor.ui.history_seed import HistorySeed
from conductor.ui.rates import RollingRate

PANE_KEYS = (*"1234567890", *"ABCDEFGHIJKLMN")  # panes 1-10, then 11-24 (shift+letter)
FINISHED_STATES = frozenset({"done", "error", "stopped"})
ACTIVITY_HISTORY = 2000
RECENT_EXPERIMENTS = 12
BEST_SERIES = 240
DEFAULT_STUCK_AFTER = 10
ALERT_SHOW_S = 600.0


@dataclass(frozen=True)
class ActivityLine:
    seq: int
    ts: float
    kind: str
    text: str


@dataclass
class PaneModel:
    name: str
    index: int
    workspace: str = ""
    agent: str = ""
    model: str = ""
    metric: str = ""
    goal: str = "min"
    budget_s: float | None = None
    stuck_after: int | None = None  # the workspace's `plateau`; the app's default when unset
    program: str = ""
    worktree: str = ""
    branch: str = ""
    log_dir: str = ""
    follows_researcher: bool = True  # reads messages (m) and program.md edits (e)
    state: str = "setup"
    detail: str = ""
    since: float = 0.0
    deadline: float | None = None
    best: float | None = None
    baseline: float | None = None
    tally: Tally = field(default_factory=Tally)  # counts as everywhere else (core/standings.py)
    best_series: list[float] = field(default_factory=list)
    recent: deque[ExperimentFinished] = field(default_factory=lambda: deque(maxlen=RECENT_EXPERIMENTS))
    running: ExperimentStarted | None = None
    activity: deque[ActivityLine] = field(default_factory=lambda: deque(maxlen=ACTIVITY_HISTORY))
    activity_seq: int = 0
    usd_total: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    token_rates: TokenRates | None = None
    usage_rate: RollingRate = field(default_factory=RollingRate)
    slot_sample: SlotSample | None = None
    pause_requested: bool = False
    done_reason: str = ""
    unseen_best: bool = False
    unseen_crash: bool = False
    unseen_rejected: bool = False
    max_seq_loaded: int = 0
    version: int = 0
    experiments_version: int = 0
    series_version: int = 0

    @property
    def key(self) -> str:
        return PANE_KEYS[self.index] if self.index < len(PANE_KEYS) else ""

    @property
    def active(self) -> bool:
        return self.state not in FINISHED_STATES

    @property
    def paused_or_pausing(self) -> bool:
        return self.pause_requested or self.state == "paused"

    @property
    def counts(self) -> dict[str, int]:
        """Tries by status; the baseline is none of them."""
        return {str(k): v for k, v in self.tally.counts.items()}

    @property
    def experiments(self) -> int:
        return self.tally.experiments

    @property
    def last_keep_ts(self) -> float | None:
        return self.tally.last_keep_at

    @property
    def since_keep(self) -> int:
        return self.tally.since_keep

    @property
    def decided(self) -> int:
        return self.tally.tried

    @property
    def keep_rate(self) -> float | None:
        rate = self.tally.keep_rate
        return None if rate is None else 100.0 * rate

    @property
    def agent_label(self) -> str:
        llm = self.agent in ("anthropic", "claude-code", "codex") and self.model
        return f"{self.agent} {self.model}" if llm else self.agent

    def rates(self, now: float) -> tuple[float, float, float] | None:
        if self.token_rates is not None:
            r = self.token_rates
            return r.in_per_s, r.out_per_s, r.usd_per_h
        return self.usage_rate.rates(now)

    def new_activity(self, after_seq: int) -> list[ActivityLine]:
        """Lines newer than `after_seq` still held (older ones fell off the bounded buffer)."""
        if self.activity_seq <= after_seq:
            return []
        n = min(self.activity_seq - after_seq, len(self.activity))
        return list(self.activity)[-n:] if n else []

    def attention(self, stuck_after: int) -> str | None:
        """Why the researcher should look at this pane now, or None."""
        if self.state == "error":
            return "failed"
        if self.unseen_crash:
            return "crash"
        if self.unseen_rejected:
            return "rejected"
        if self.state == "waiting":
            return "rate limit"
        if self.active and self.since_keep >= (self.stuck_after or stuck_after):
            return f"stuck: {self.since_keep} without keep"
        if self.unseen_best:
            return "new best"
        return None

    def mark_seen(self) -> None:
        if self.unseen_best or self.unseen_crash or self.unseen_rejected:
            self.unseen_best = self.unseen_crash = self.unseen_rejected = False
            self.version += 1


@dataclass
class AlertLine:
    ts: float
    level: str
    pane: str | None
    message: str


class RunModel:
    """The whole orchestra as the UI sees it. `apply` folds one event; it never touches widgets."""

    def __init__(self, clock: Callable[[], float], stuck_after: int = DEFAULT_STUCK_AFTER):
        self.clock = clock
        self.stuck_after = stuck_after
        self.run = ""
        self.run_dir = ""
        self.slots: tuple[str, ...] = ()
        self.panes: dict[str, PaneModel] = {}
        self.started_at: float | None = None
        self.finished_reason = ""
        self.finished_at: list[float] = []
        self.token_rates: TokenRates | None = None
        self.quota: dict[tuple[str, str], QuotaSample] = {}  # per account and limit window
        self.usage_rate = RollingRate()
        self.slot_samples: dict[str, SlotSample] = {}
        self.host: HostSample | None = None
        self.alerts: deque[AlertLine] = deque(maxlen=50)
        self.sandbox_note = ""  # set when experiments are not sandboxed
        self.selected: str | None = None
        self.feed: deque[FeedLine] = deque(maxlen=FEED_LINES)  # every pane's news, oldest first
        self.feed_version = 0
        self.version = 0
        self.layout_version = 0

    # ------------------------------------------------------------ folding

    def pane(self, name: str) -> PaneModel:
        p = self.panes.get(name)
        if p is None:
            p = self.panes[name] = PaneModel(name=name, index=len(self.panes), since=self.clock())
            self.layout_version += 1
        return p

    def apply(self, e: Event) -> None:
        news = feed_line(self, e)  # before folding: what the model knew already is no news
        handler = _HANDLERS.get(type(e))
        if handler is not None:
            handler(self, e)
        if news is not None:
            self.feed.append(news)
            self.feed_version += 1

    def apply_all(self, events: Iterable[Event]) -> None:
        for e in events:
            self.apply(e)

    def _run_started(self, e: RunStarted) -> None:
        self.run, self.run_dir, self.slots = e.run, e.run_dir, tuple(e.slots)
        self.sandbox_note = e.sandbox
        self.started_at = self.started_at or e.ts
        self.finished_reason = ""
        for info in e.panes:
            p = self.pane(info["name"])
            p.workspace = info.get("workspace", "")
            p.agent = info.get("agent", "")
            p.model = info.get("model", "")
            p.metric = info.get("metric", "")
            p.goal = info.get("goal", "min")
            p.tally.goal = p.goal
            p.budget_s = info.get("budget_s")
            p.stuck_after = info.get("plateau")
            p.program = info.get("program", "")
            p.worktree = info.get("worktree", "")
            p.branch = info.get("branch", "")
            p.log_dir = info.get("log_dir", "")
            p.follows_researcher = info.get("follows_researcher", True)
            p.version += 1
        if self.selected is None and self.panes:
            self.selected = next(iter(self.panes))
        self.layout_version += 1
        self.version += 1

    def _pane_state(self, e: PaneState) -> None:
        p = self.pane(e.pane)
        p.state, p.detail, p.since, p.deadline = e.state, e.detail, e.since, e.deadline
        if e.state == "paused":
            p.pause_requested = False
        if e.state not in ("running", "judging"):
            p.running = None
        p.version += 1
        self.version += 1

    def _experiment_started(self, e: ExperimentStarted) -> None:
        p = self.pane(e.pane)
        p.running = e
        p.version += 1

    def _experiment_finished(self, e: ExperimentFinished) -> None:
        p = self.pane(e.pane)
        if e.seq <= p.max_seq_loaded:
            return  # already read from the ledger when the run (re)started
        self._count(p, e)
        if e.status == Status.KEEP and not e.is_baseline and p.name != self.selected:
            p.unseen_best = True
        elif e.status == Status.CRASH and p.name != self.selected:
            p.unseen_crash = True
        elif e.status == Status.REJECTED and p.name != self.selected:
            p.unseen_rejected = True
        self.version += 1

    def _count(self, p: PaneModel, e: ExperimentFinished) -> None:
        """Fold one recorded experiment into a pane's standings (events and ledger rows alike)."""
        p.tally.add(_as_row(e))
        self.finished_at.append(e.ts)
        self._show(p, e)

    def _show(self, p: PaneModel, e: ExperimentFinished) -> None:
        """What a pane's card shows of one more experiment, its counts aside."""
        p.recent.append(e)
        if p.running is not None and p.running.seq == e.seq:
            p.running = None
        if e.is_baseline and e.metric is not None:
            p.baseline = e.metric
        if e.best is not None:
            p.best = e.best
        elif e.status == Status.KEEP and e.metric is not None:
            p.best = e.metric
        if e.baseline is not None:
            p.baseline = e.baseline
        if p.best is not None:
            p.best_series.append(p.best)
            del p.best_series[:-BEST_SERIES]
            p.series_version += 1
        p.experiments_version += 1
        p.version += 1

    def _activity(self, e: AgentActivity) -> None:
        p = self.pane(e.pane)
        p.activity_seq += 1
        p.activity.append(ActivityLine(p.activity_seq, e.ts, e.kind, e.text))
        p.version += 1

    def _token_usage(self, e: TokenUsage) -> None:
        p = self.pane(e.pane)
        p.usd_total = (p.usd_total or 0.0) + e.usd
        p.tokens_in += e.input + e.cache_read + e.cache_write
        p.tokens_out += e.output
        tin = e.input + e.cache_read + e.cache_write
        p.usage_rate.add(e.ts, tin, e.output, e.usd)
        self.usage_rate.add(e.ts, tin, e.output, e.usd)
        p.version += 1
        self.version += 1

    def _quota(self, e: QuotaSample) -> None:
        self.quota[(e.account, e.window)] = e
        self.version += 1

    def _token_rates(self, e: TokenRates) -> None:
        if e.pane:
            p = self.pane(e.pane)
            p.token_rates = e
            p.usd_total = e.usd_total
            p.version += 1
        else:
            self.token_rates = e
        self.version += 1

    def _slot_sample(self, e: SlotSample) -> None:
        self.slot_samples[e.slot] = e
        for p in self.panes.values():
            if p.slot_sample is not None and p.slot_sample.slot == e.slot and p.name != e.pane:
                p.slot_sample = None
                p.version += 1
        if e.pane and e.pane in self.panes:
            p = self.panes[e.pane]
            p.slot_sample = e
            p.version += 1
        self.version += 1

    def _host_sample(self, e: HostSample) -> None:
        self.host = e
        if e.slots:  # the pool now: slots of nodes that joined or left a cluster
            self.slots = tuple(e.slots)
        self.version += 1

    def _alert(self, e: Alert) -> None:
        self.alerts.append(AlertLine(e.ts, e.level, e.pane, e.message))
        self.version += 1

    def _pane_done(self, e: PaneDone) -> None:
        p = self.pane(e.pane)
        p.done_reason = e.reason
        p.version += 1
        self.version += 1

    def _run_finished(self, e: RunFinished) -> None:
        self.finished_reason = e.reason
        self.version += 1

    # ------------------------------------------------------------ history from the ledger

    def load_history(self, rows: Iterable, usage: dict[str, float] | None = None) -> None:
        """Standings of a resumed run from its ledger rows (conductor.core.ledger.ExperimentRecord)."""
        for row in rows:
            p = self.panes.get(row.pane)
            if p is None or row.seq <= p.max_seq_loaded:
                continue
            self._count(p, _history_event(p, row))
            p.max_seq_loaded = row.seq
            first = row.started_at or row.finished_at
            if first and (self.started_at is None or first < self.started_at):
                self.started_at = first  # a resumed run's rate counts from its first experiment
        for name, total in (usage or {}).items():
            if name in self.panes and total:
                self.panes[name].usd_total = total
        self.version += 1

    def load_seed(self, seed: HistorySeed) -> None:
        """A resumed run's standings as ui/history_seed.py read them: each pane's counts from
        every row, its card from its last rows, the run's rate from the last hour."""
        for _ in self.seed_pieces(seed):
            pass

    def seed_pieces(self, seed: HistorySeed) -> Iterator[None]:
        """`load_seed` a pane at a time: it yields after each, so the loop that applies it can
        let the engine and the screen run between panes."""
        for name, s in seed.panes.items():
            p = self.panes.get(name)
            if p is None:
                continue
            p.tally = s.total
            p.best, p.baseline = s.best_before, s.baseline_before
            for row in s.tail:
                if row.seq <= p.max_seq_loaded:
                    continue
                self._show(p, _history_event(p, row))
                p.max_seq_loaded = row.seq
            if s.usd:
                p.usd_total = s.usd
            first = s.total.first_start
            if first and (self.started_at is None or first < self.started_at):
                self.started_at = first  # a resumed run's rate counts from its first experiment
            self.version += 1
            yield
        self.finished_at.extend(seed.finished_last_hour)
        self.version += 1

    # ------------------------------------------------------------ questions the screen asks

    @property
    def ordered(self) -> list[PaneModel]:
        return sorted(self.panes.values(), key=lambda p: p.index)

    def by_key(self, key: str) -> PaneModel | None:
        return next((p for p in self.panes.values() if p.key == key), None)

    @property
    def running(self) -> bool:
        """Whether any loop is still going (quitting would stop it)."""
        return not self.finished_reason and any(p.active for p in self.panes.values())

    def select(self, name: str) -> None:
        if name in self.panes and self.selected != name:
            old = self.panes.get(self.selected) if self.selected else None
            if old is not None:
                old.version += 1
            self.selected = name
            self.panes[name].version += 1
        if name in self.panes:
            self.panes[name].mark_seen()

    def next_attention(self) -> PaneModel | None:
        """The next pane after the selected one (in key order) that needs the researcher."""
        order = self.ordered
        if not order:
            return None
        start = next((i for i, p in enumerate(order) if p.name == self.selected), -1)
        for step in range(1, len(order) + 1):
            p = order[(start + step) % len(order)]
            if p.attention(self.stuck_after):
                return p
        return None

    def experiments_per_hour(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        recent = [t for t in self.finished_at if t >= now - 3600]
        self.finished_at = recent
        span = max(60.0, min(3600.0, now - self.started_at))
        return len(recent) * 3600.0 / span

    def total_keeps(self) -> int:
        return sum(p.tally.keeps for p in self.panes.values())

    def rates(self, now: float) -> tuple[float, float, float] | None:
        if self.token_rates is not None:
            r = self.token_rates
            return r.in_per_s, r.out_per_s, r.usd_per_h
        return self.usage_rate.rates(now)

    def usd_total(self) -> float | None:
        if self.token_rates is not None:
            return self.token_rates.usd_total
        totals = [p.usd_total for p in self.panes.values() if p.usd_total is not None]
        return sum(totals) if totals else None

    def slot_user(self, slot: str) -> str | None:
        """The pane running an experiment on this slot, from the panes' own reports."""
        sample = self.slot_samples.get(slot)
        if sample is not None:
            return sample.pane if sample.busy else None
        for p in self.panes.values():
            if p.running is not None and p.running.slot == slot and p.state in ("running", "judging"):
                return p.name
        return None

    def derived_alerts(self, now: float) -> list[tuple[str, str]]:
        """(level, message) for what needs the researcher: failed and stuck panes, limits reached,
        and the engine's recent warnings (an idle slot while experiments wait, a rejected edit...)."""
        out: list[tuple[str, str]] = []
        for p in self.ordered:
            if p.state == "error":
                out.append(("error", f"{p.name} failed: {p.done_reason or p.detail}"))
        for p in self.ordered:
            if p.active and p.since_keep >= (p.stuck_after or self.stuck_after):
                out.append(("warning", f"{p.name} stuck: {p.since_keep} without keep"))
        limited = [p.name for p in self.ordered if p.state == "done" and "reached" in p.done_reason]
        if limited:
            out.append(("info", f"budget reached: {', '.join(limited)}"))
        recent = [a for a in self.alerts if a.level in ("warning", "error") and now - a.ts < ALERT_SHOW_S]
        for a in recent[-3:]:
            if a.message != self.sandbox_note:
                where = f"{a.pane}: " if a.pane else ""
                out.append((a.level, f"{where}{a.message}"))
        if self.sandbox_note:  # for as long as the run lasts, not only while the alert is recent
            out.append(("warning", self.sandbox_note))
        return out


def _history_event(p: PaneModel, row: ExperimentRecord) -> ExperimentFinished:
    """A ledger row of a resumed run as the event it was, standing on the pane's best so far."""
    best = row.metric if row.status == Status.KEEP and row.metric is not None else p.best
    baseline = row.metric if row.is_baseline else p.baseline
    standing = Standing(p.metric, p.goal, best, p.best, baseline)
    return ExperimentFinished.of(row, standing, ts=row.finished_at or row.started_at)


def _as_row(e: ExperimentFinished) -> ExperimentRecord:
    """An event as the standings read an experiment."""
    return ExperimentRecord(
        pane=e.pane,
        seq=e.seq,
        commit=e.commit,
        status=e.status,
        metric=e.metric,
        started_at=e.ts - e.duration_s,
        finished_at=e.ts,
        slot=e.slot,
        is_baseline=e.is_baseline,
        program_sha=e.program_sha,
    )


_HANDLERS: dict[type, Callable[[RunModel, Event], None]] = {
    RunStarted: RunModel._run_started,
    PaneState: RunModel._pane_state,
    ExperimentStarted: RunModel._experiment_started,
    ExperimentFinished: RunModel._experiment_finished,
    AgentActivity: RunModel._activity,
    TokenUsage: RunModel._token_usage,
    TokenRates: RunModel._token_rates,
    QuotaSample: RunModel._quota,
    SlotSample: RunModel._slot_sample,
    HostSample: RunModel._host_sample,
    Alert: RunModel._alert,
    PaneDone: RunModel._pane_done,
    RunFinished: RunModel._run_finished,
}
