"""What each line of a pane card, the top bar and the zoom header says, as content markup.

Pure functions of the model and the current time, so the dashboard can compare strings and
touch a widget only when its text changed, and tests can read them without a screen.
"""

from __future__ import annotations

import time

from conductor.core.events import ExperimentFinished
from conductor.core.quota import NEARLY_SPENT, headline, short_name
from conductor.core.record import Status
from conductor.ui import format as f
from conductor.ui.model import ActivityLine, PaneModel, RunModel

ACTIVITY_CUT = 300  # a card's activity line: the first line of the text, cut here (with an ellipsis)
ACTIVITY_GLYPHS = {"text": "·", "tool": "▸", "result": "◂", "info": "i", "researcher": "✉", "error": "✗"}
STATE_STYLE = {
    "setup": "$muted",
    "baseline": "$cool",
    "thinking": "$primary",
    "queued": "$warm",
    "running": "$cool",
    "judging": "$cool",
    "paused": "$warm",
    "waiting": "$warm",
    "error": "$crash",
    "done": "$muted",
    "stopped": "$muted",
}
STATE_WORDS = {
    "setup": "setting up",
    "waiting": "waiting for rate limit",
    "error": "crashed",
    "queued": "queued for a slot",
}
ATTENTION_STYLE = {"failed": "$crash", "crash": "$crash", "rejected": "$rejected", "new best": "$keep"}


def title(p: PaneModel, selected: bool, attention: str | None) -> str:
    mark = "[$selected]▶[/]" if selected else " "
    key = f"[b]{p.key}[/]" if p.key else "·"
    agent = f" [$muted]· {f.esc(p.agent_label)}[/]" if p.agent_label else ""
    flag = ""
    if attention:
        style = ATTENTION_STYLE.get(attention, "$warm")
        flag = f" [{style}]● {f.esc(attention)}[/]"
    return f"{mark}{key} [b]{f.esc(p.name)}[/]{agent}{flag}"


def slot_text(p: PaneModel, run: RunModel) -> str:
    slot = p.running.slot if p.running is not None else ""
    if not slot:
        return ""
    sample = p.slot_sample or run.slot_samples.get(slot)
    if sample is None or sample.util is None:
        return f"on {f.esc(slot)}"
    return f"on {f.esc(slot)} {f.percent(sample.util)}"


def state_line(p: PaneModel, run: RunModel, now: float) -> str:
    style = STATE_STYLE.get(p.state, "$foreground")
    word = STATE_WORDS.get(p.state, p.state)
    elapsed = now - p.since
    if p.state == "running" and p.deadline is not None:
        budget = p.deadline - p.since  # the training budget; start-up and evaluation come on top
        over = "spent, evaluating" if elapsed > budget else "budget"
        text = f"[{style}]running[/] {f.clock(elapsed)} [$muted]of[/] {f.clock(round(budget))} [$muted]{over}[/]"
        extra = slot_text(p, run)
        if extra:
            text += f" {extra}"
    elif p.state in ("error", "done"):
        reason = p.done_reason or p.detail
        text = f"[{style}]{word}[/]" + (f": {f.esc(reason)}" if reason else "")
    elif p.state == "stopped":
        text = f"[{style}]stopped[/]"
    else:
        text = f"[{style}]{word}[/] {f.clock(elapsed)}"
        detail = p.detail
        if p.state == "queued" and "ahead" in detail:
            detail = detail[detail.find("(") :] if "(" in detail else detail
            text += f" [$muted]{f.esc(detail)}[/]"
        elif p.state == "waiting" and detail:
            text += f" [$muted]{f.esc(detail)}[/]"
    if p.pause_requested and p.state != "paused" and p.active:
        text += " [$warm]· pausing[/]"
    return text


def best_line(p: PaneModel) -> str:
    arrow = f.better_arrow(p.goal)
    name = f.esc(p.metric) if p.metric else "metric"
    if p.best is None:
        return f"best {f.DASH} {arrow} [$muted]{name}[/]"
    text = f"best [b]{f.metric(p.best)}[/]"
    if p.baseline is not None:
        change = p.best - p.baseline
        improved = (change < 0) if p.goal == "min" else (change > 0)
        style = "$keep" if improved else "$muted"
        text += f" [{style}]{f.delta(change)}[/] {arrow} [$muted]vs base · {name}[/]"
    else:
        text += f" {arrow} [$muted]{name}[/]"
    return text


def counts_line(p: PaneModel, now: float) -> str:
    c = p.counts
    rate = f"{p.keep_rate:.0f}%" if p.keep_rate is not None else f.DASH
    last = (
        f" [$muted]· kept[/] {f.age(now - p.last_keep_ts)} [$muted]ago[/]"
        if p.last_keep_ts is not None
        else " [$muted]· no keep yet[/]"
    )
    return (
        f"[$keep]K{c['keep']}[/] [$discard]D{c['discard']}[/] [$crash]C{c['crash']}[/] "
        f"[$rejected]R{c['rejected']}[/]"
        + (f" [$muted]I{c['interrupted']}[/]" if c["interrupted"] else "")
        + f" {rate}{last}"
    )


def experiment_row(e: ExperimentFinished) -> str:
    delta = f.delta(e.delta) if e.delta is not None and not e.is_baseline else ""
    if e.delta is not None and not e.is_baseline:
        delta = f"[{'$keep' if e.status == Status.KEEP else '$muted'}]{delta}[/]"
    desc = (
        e.description
        if e.status not in (Status.CRASH, Status.INTERRUPTED) or not e.reason
        else f"{e.description} [{e.reason}]"
    )
    starved = " [$warm]starved[/]" if e.starved else ""
    return (
        f"{f.status_tag(e.status, e.is_baseline)}{starved} {f.metric(e.metric)} {delta} [$muted]{f.esc(desc)}[/]"
    ).replace("  ", " ")


def experiment_rows(p: PaneModel, n: int) -> str:
    if n <= 0:
        return ""
    recent = list(p.recent)[-n:]
    recent.reverse()
    lines = [experiment_row(e) for e in recent]
    if not lines:
        lines = ["[$muted]no experiments yet[/]"]
    return "\n".join(lines)


def activity_text(line: ActivityLine, full: bool = False, clock: bool = False) -> str:
    """Plain text (the Log widget takes no markup)."""
    glyph = ACTIVITY_GLYPHS.get(line.kind, "·")
    text = line.text
    if not full:
        first = text.split("\n", 1)[0]
        text = first[:ACTIVITY_CUT] + ("…" if len(first) > ACTIVITY_CUT or len(first) < len(text) else "")
    stamp = time.strftime("%H:%M:%S ", time.localtime(line.ts)) if clock else ""
    return f"{stamp}{glyph} {text}"


def meters_line(p: PaneModel, now: float) -> str:
    """Tokens per second in and out, and what the pane has cost so far."""
    rates = p.rates(now)
    tin, tout = (f.si(rates[0]), f.si(rates[1])) if rates else (f.DASH, f.DASH)
    return f"{f.usd(p.usd_total)} [$muted]· tok/s[/] in {tin} out {tout}"


# ---------------------------------------------------------------- the orchestra


def top_line(run: RunModel, now: float) -> str:
    rates = run.rates(now)
    tin, tout, per_h = (f.si(rates[0]), f.si(rates[1]), f.usd(rates[2])) if rates else (f.DASH, f.DASH, f.DASH)
    paused = sum(1 for p in run.panes.values() if p.state == "paused")
    active = sum(1 for p in run.panes.values() if p.active) - paused  # a paused pane is not active
    eph = run.experiments_per_hour(now)
    name = f.esc(run.run) if run.run else f.DASH
    state = f"{active}/{len(run.panes)} active" + (f", {paused} paused" if paused else "")
    if run.finished_reason:
        state = f"[$muted]run finished: {f.esc(run.finished_reason)}[/]"
    return (
        f"[b]conductor[/] {name} [$muted]·[/] {state} [$muted]·[/] "
        f"exp/h {f.si(eph) if eph is not None else f.DASH} [$muted]·[/] [$keep]keeps {run.total_keeps()}[/] "
        f"[$muted]·[/] tok/s in {tin} out {tout}{quota_text(run)} [$muted]·[/] {per_h}/h {f.usd(run.usd_total())} total"
    )


def quota_text(run: RunModel) -> str:
    """ " · quota 62% of 5h, resets 03:10": the most used limit window of the agents' accounts."""
    q = headline(list(run.quota.values()))
    if q is None or q.utilization is None:
        return ""
    resets = f", resets {time.strftime('%H:%M', time.localtime(q.resets_at))}" if q.resets_at else ""
    style = "$warm" if q.utilization >= NEARLY_SPENT else "$muted"
    return f" [$muted]·[/] [{style}]quota[/] {q.utilization:.0%} of {f.esc(short_name(q.window))}{resets}"


def slots_text(run: RunModel) -> str:
    """Every slot with its use and holder; slots of cluster nodes (`NODE:gpuN`) grouped by node."""
    groups: dict[str, list[str]] = {}
    for slot in run.slots:
        node, _, local = slot.rpartition(":")
        sample = run.slot_samples.get(slot)
        user = run.slot_user(slot)
        who = f.esc(user) if user else "[$muted]idle[/]"
        if sample is not None and sample.util is not None:
            mem = f" {f.gigabytes(sample.mem_used_mb, sample.mem_total_mb)}" if sample.mem_used_mb is not None else ""
            groups.setdefault(node, []).append(f"{f.esc(local)} {f.percent(sample.util)}{mem} {who}")
        else:
            groups.setdefault(node, []).append(f"{f.esc(local)} {who}")
    parts = [
        (f"[b]{f.esc(node)}[/]: " if node else "") + " [$muted]|[/] ".join(items) for node, items in groups.items()
    ]
    host = run.host
    if host is not None:
        hosttext = f"host cpu {f.percent(host.cpu_percent)} mem {f.gigabytes(host.mem_used_mb, host.mem_total_mb)}"
    else:
        hosttext = f"host cpu {f.DASH} mem {f.DASH}"
    return ("slots " + " [$muted]·[/] ".join(parts) if parts else f"slots {f.DASH}") + f" [$muted]·[/] {hosttext}"


ALERT_STYLE = {"error": "$crash", "warning": "$warm", "info": "$muted"}


def alerts_line(run: RunModel, now: float) -> str:
    alerts = run.derived_alerts(now)
    if not alerts:
        latest = run.alerts[-1] if run.alerts else None
        if latest is not None:
            return f"[$muted]{f.esc(latest.message)}[/]"
        return "[$muted]no alerts[/]"
    return " [$muted]|[/] ".join(f"[{ALERT_STYLE.get(level, '$warm')}]{f.esc(msg)}[/]" for level, msg in alerts)
