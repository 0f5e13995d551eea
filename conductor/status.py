"""Standings of a run, from its ledger alone: what `conductor status` prints, live or after.

The JSON shape is a contract: panes with their counts, baseline, best, tokens and cost, and
totals over all panes. The counts are the standings' (core/standings.py): `experiments`
counts every row, the baseline included; `keep`, `discard`, `crash` and `rejected` count the
rows after it, so the baseline is no keep; `interrupted` counts the runs a stop cut short
(not the idea's fault, so no crash). Token totals are sums of what the agents reported.
`migrated` counts a pane's moves onto a sibling's best (core/peers.py); `--board` adds each
workspace's board (`boards`).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from conductor.core import standings_checkpoint as checkpoint
from conductor.core.board import Board, migrations
from conductor.core.ledger import Ledger
from conductor.core.record import Status
from conductor.core.standings import PaneStandings
from conductor.core.standings_sql import slot_spans
from conductor.leaderboard import leaderboard_from_ledger, leaderboard_lines

STATUSES = tuple(str(s) for s in Status)


def pane_entry(s: PaneStandings) -> dict:
    p, t = s.pane, s.total
    return {
        "name": p.name,
        "workspace": p.workspace,
        "agent": p.agent,
        "model": p.model,
        "branch": p.branch,
        "worktree": p.worktree,
        "metric": p.metric,
        "goal": p.goal,
        "baseline": t.baseline,
        "best": t.best,
        "best_commit": t.best_commit,
        "improvement": t.improvement,
        "experiments": t.experiments,
        **{str(k): v for k, v in t.counts.items()},
        "last_keep_at": t.last_keep_at,
        "tokens": t.usage.as_dict(),
        "usd": round(t.usage.usd, 6),
    }


def pane_status(ledger: Ledger) -> dict:
    with ledger.snapshot():  # one set of rows for every number below
        fold, records, pending = checkpoint.current(ledger)
        standings = checkpoint.standings(fold, records, pending)
        spans = checkpoint.slot_spans(fold, ledger, time.time() - 3600)
        return _pane_status(ledger, standings, spans)


def _pane_status(ledger: Ledger, standings: list[PaneStandings], spans: list) -> dict:
    moves = Counter(m.pane for m in migrations(ledger))
    panes = [{**pane_entry(s), "migrated": moves.get(s.pane.name, 0)} for s in standings]
    totals: dict = {s: sum(p[s] for p in panes) for s in STATUSES}
    totals["experiments"] = sum(p["experiments"] for p in panes)
    totals["usd"] = round(sum(s.total.usage.usd for s in standings), 6)
    totals["tokens"] = {k: sum(p["tokens"][k] for p in panes) for k in ("input", "output", "cache_write", "cache_read")}
    return {
        "run": ledger.get_meta("run"),
        "sandbox": ledger.get_meta("sandbox") or "",  # "on", or the one line saying why not
        "panes": panes,
        "totals": totals,
        "leaderboard": leaderboard_from_ledger(ledger, standings).as_dict(),
        "slots": slot_status(ledger, spans),
        "notify": json.loads(ledger.get_meta("notify") or "{}"),  # URLs masked
        "quota": json.loads(ledger.get_meta("quota") or "[]"),  # per account and window (core/quota.py)
    }


def slot_status(ledger: Ledger, spans: list | None = None, now: float | None = None) -> list[dict]:
    """Per slot: experiments run, busy seconds, and duty (busy fraction) over the whole run and
    the last hour, from experiment spans (`spans`: core/standings_sql.slot_spans's rows for the
    last hour, read here when not given); plus the last telemetry sample written."""
    now = now or time.time()
    if spans is None:
        spans = slot_spans(ledger, now - 3600)
    created = float(ledger.get_meta("created_at") or now)
    out: dict[str, dict] = {}
    last_finish = None
    for slot, n, busy, busy_hour, finish in spans:
        out[slot] = {
            "slot": slot,
            "node": _node_of(slot),
            "experiments": n,
            "busy_s": busy,
            "busy_last_hour_s": busy_hour,
        }
        last_finish = finish if last_finish is None else max(last_finish, finish)
    samples = ledger.latest_samples()
    # the run's active span: to its last recorded activity, not to whenever status is asked
    last_ts = max((s.ts for s in samples.values()), default=0.0)
    end = min(now, max(last_ts, last_finish)) if last_finish is not None else now
    span = max(1e-9, end - created)
    for entry in out.values():
        entry["duty"] = round(min(1.0, entry["busy_s"] / span), 4)
        entry["duty_last_hour"] = round(min(1.0, entry["busy_last_hour_s"] / min(3600.0, span)), 4)
        entry["busy_s"] = round(entry["busy_s"], 1)
        entry["busy_last_hour_s"] = round(entry["busy_last_hour_s"], 1)
        last = samples.get(entry["slot"])
        entry["last_sample"] = (
            {"ts": last.ts, "util": last.util, "mem_used_mb": last.mem_used_mb, "temp_c": last.temp_c} if last else None
        )
    return sorted(out.values(), key=lambda e: e["slot"])


def _node_of(slot: str) -> str:
    """The cluster node a slot lives on (`NODE:gpuN`, core/cluster/), "" for this machine's."""
    return slot.rsplit(":", 1)[0] if ":" in slot else ""


def _fmt(v: float | None, width: int = 9) -> str:
    return f"{v:.6f}"[:width] if v is not None else "-"


def render_table(status: dict, run_dir: Path) -> str:
    lines = [f"run {status['run']}  ({run_dir})"]
    header = f"{'pane':<18} {'agent':<11} {'metric':<10} {'baseline':>9} {'best':>9} {'change':>8} {'exp':>4} {'keep':>4} {'disc':>4} {'crash':>5} {'rej':>4} {'tokens in/out':>15} {'usd':>8}"
    lines.append(header)
    for p in status["panes"]:
        arrow = "↓" if p["goal"] == "min" else "↑"
        change = "-"
        if p["baseline"] and p["improvement"] is not None:  # positive = better, as the leaderboard's
            change = f"{p['improvement'] / abs(p['baseline']) * 100:+.2f}%"
        tok = p["tokens"]
        tokens = (
            f"{tok['input'] + tok['cache_write'] + tok['cache_read']}/{tok['output']}" if any(tok.values()) else "-"
        )
        usd = f"${p['usd']:.2f}" if p["usd"] else "-"
        lines.append(
            f"{p['name']:<18} {p['agent']:<11} {p['metric'] + arrow:<10} {_fmt(p['baseline']):>9} {_fmt(p['best']):>9}"
            f" {change:>8} {p['experiments']:>4} {p['keep']:>4} {p['discard']:>4} {p['crash']:>5} {p['rejected']:>4}"
            f" {tokens:>15} {usd:>8}"
        )
    t = status["totals"]
    lines.append(
        f"total: {t['experiments']} experiments, {t['keep']} keep, {t['discard']} discard, {t['crash']} crash,"
        f" {t['rejected']} rejected"
        + (f", {t['interrupted']} interrupted" if t["interrupted"] else "")
        + (f", ${t['usd']:.2f}" if t["usd"] else "")
    )
    if status.get("sandbox") not in ("on", "", None):
        lines.append(status["sandbox"])
    if status.get("leaderboard", {}).get("programs"):
        lines += ["", *leaderboard_lines(status["leaderboard"])]
    return "\n".join(lines)


BOARD_SHOWN = 40


def board_status(ledger: Ledger, limit: int = BOARD_SHOWN) -> dict:
    """`status --json --board`: per workspace, each pane's best, the claims and the latest entries."""

    def entry(e) -> dict:
        return {**asdict(e), "status": str(e.status), "delta": e.delta}

    out = {}
    for ws in dict.fromkeys(p.workspace for p in ledger.panes()):
        goal = next(p.goal for p in ledger.panes() if p.workspace == ws)
        view = Board(ledger, ws).view(goal)
        out[ws] = {
            "bests": [entry(e) for e in view.bests],
            "claims": [asdict(c) for c in view.claims],
            "migrated": list(view.migrated),
            "recent": [entry(e) for e in view.recent[-limit:]],
        }
    return out


def render_board(ledger: Ledger, limit: int = BOARD_SHOWN, workspace: str | None = None) -> str:
    """`conductor status --board` (and zoom's board tab, for one `workspace`): each workspace's
    board, its panes' bests, claims and latest entries."""
    lines = []
    for ws in dict.fromkeys(p.workspace for p in ledger.panes() if workspace in (None, p.workspace)):
        goal = next(p.goal for p in ledger.panes() if p.workspace == ws)
        view = Board(ledger, ws).view(goal)
        lines.append(
            f"board of {ws}: best by pane" + (f" (moved: {', '.join(view.migrated)})" if view.migrated else "")
        )
        lines += [f"  {e.pane:<18} {_fmt(e.metric):>9}  #{e.seq} {e.description[:80]}" for e in view.bests]
        lines += [f"  in flight: {c.pane}: {c.description[:80]}" for c in view.claims]
        lines.append(f"  {'pane #seq':<24} {'status':<11} {'metric':>9} {'delta':>10}  description | change")
        for e in view.recent[-limit:]:
            delta = f"{e.delta:+.6f}" if e.delta is not None else "-"
            status = "baseline" if e.is_baseline else str(e.status)
            lines.append(
                f"  {e.pane + ' #' + str(e.seq):<24} {status:<11} {_fmt(e.metric):>9} {delta:>10}"
                f"  {e.description[:60]} | {e.change[:60] or '-'}"
            )
    return "\n".join(lines)
