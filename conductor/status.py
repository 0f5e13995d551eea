"""Standings of a run, from its ledger alone: what `conductor status` prints, live or after.

The JSON shape is a contract (DESIGN.md): panes with their counts, baseline, best, tokens
and cost, and totals over all panes. Token totals are sums of what the agents reported.
"""

from __future__ import annotations

import time
from pathlib import Path

from conductor.core.ledger import Ledger
from conductor.core.record import improvement
from conductor.errors import ConductorError
from conductor.leaderboard import leaderboard_from_ledger, leaderboard_lines

STATUSES = ("keep", "discard", "crash", "rejected")


def open_ledger(run_dir: Path) -> Ledger:
    path = run_dir / "ledger.db"
    if not path.is_file():
        raise ConductorError(
            f"no run found in {run_dir} (no ledger.db); start one with `conductor run` or `conductor demo`"
        )
    return Ledger(path)


def pane_status(ledger: Ledger) -> dict:
    panes = []
    totals = {s: 0 for s in STATUSES}
    totals.update(
        {"experiments": 0, "usd": 0.0, "tokens": {"input": 0, "output": 0, "cache_write": 0, "cache_read": 0}}
    )
    for p in ledger.panes():
        rows = ledger.experiments(p.name)
        counts = {s: sum(1 for r in rows if r.status == s) for s in STATUSES}
        baseline = next((r.metric for r in rows if r.is_baseline and r.metric is not None), None)
        kept = [r for r in rows if r.status == "keep"]
        best = kept[-1].metric if kept else None
        usage = ledger.usage_totals(p.name)
        last_keep = kept[-1].finished_at if kept else None
        entry = {
            "name": p.name,
            "workspace": p.workspace,
            "agent": p.agent,
            "model": p.model,
            "branch": p.branch,
            "worktree": p.worktree,
            "metric": p.metric,
            "goal": p.goal,
            "baseline": baseline,
            "best": best,
            "best_commit": kept[-1].commit if kept else None,
            "improvement": improvement(p.goal, baseline, best) if baseline is not None and best is not None else None,
            "experiments": len(rows),
            **counts,
            "last_keep_at": last_keep,
            "tokens": usage.as_dict(),
            "usd": round(usage.usd, 6),
        }
        panes.append(entry)
        totals["experiments"] += len(rows)
        for s in STATUSES:
            totals[s] += counts[s]
        for k in totals["tokens"]:
            totals["tokens"][k] += entry["tokens"][k]
        totals["usd"] += usage.usd
    totals["usd"] = round(totals["usd"], 6)
    board = leaderboard_from_ledger(ledger).as_dict()
    return {
        "run": ledger.get_meta("run"),
        "panes": panes,
        "totals": totals,
        "leaderboard": board,
        "slots": slot_status(ledger),
    }


def slot_status(ledger: Ledger, now: float | None = None) -> list[dict]:
    """Per slot: experiments run, busy seconds, and duty (busy fraction) over the whole run and
    the last hour, from experiment spans; plus the last telemetry sample written."""
    now = now or time.time()
    created = float(ledger.get_meta("created_at") or now)
    rows = ledger.execute("SELECT slot, started_at, finished_at FROM experiments WHERE slot != '' ORDER BY started_at")
    out: dict[str, dict] = {}
    for slot, start, finish in rows:
        entry = out.setdefault(slot, {"slot": slot, "experiments": 0, "busy_s": 0.0, "busy_last_hour_s": 0.0})
        entry["experiments"] += 1
        entry["busy_s"] += max(0.0, finish - start)
        entry["busy_last_hour_s"] += max(0.0, finish - max(start, now - 3600))
    # the run's active span: to its last recorded activity, not to whenever status is asked
    last_ts = ledger.execute("SELECT MAX(ts) FROM samples")[0][0] or 0.0
    end = min(now, max([last_ts] + [r[2] for r in rows])) if rows else now
    span = max(1e-9, end - created)
    for entry in out.values():
        entry["duty"] = round(min(1.0, entry["busy_s"] / span), 4)
        entry["duty_last_hour"] = round(min(1.0, entry["busy_last_hour_s"] / min(3600.0, span)), 4)
        entry["busy_s"] = round(entry["busy_s"], 1)
        entry["busy_last_hour_s"] = round(entry["busy_last_hour_s"], 1)
        last = ledger.execute(
            "SELECT ts, util, mem_used_mb, temp_c FROM samples WHERE slot = ? ORDER BY ts DESC LIMIT 1",
            (entry["slot"],),
        )
        entry["last_sample"] = (
            {"ts": last[0][0], "util": last[0][1], "mem_used_mb": last[0][2], "temp_c": last[0][3]} if last else None
        )
    return sorted(out.values(), key=lambda e: e["slot"])


def _fmt(v: float | None, width: int = 9) -> str:
    return f"{v:.6f}"[:width] if v is not None else "-"


def render_table(status: dict, run_dir: Path) -> str:
    lines = [f"run {status['run']}  ({run_dir})"]
    header = f"{'pane':<18} {'agent':<11} {'metric':<10} {'baseline':>9} {'best':>9} {'change':>8} {'exp':>4} {'keep':>4} {'disc':>4} {'crash':>5} {'rej':>4} {'tokens in/out':>15} {'usd':>8}"
    lines.append(header)
    for p in status["panes"]:
        arrow = "↓" if p["goal"] == "min" else "↑"
        change = "-"
        if p["baseline"] and p["best"] is not None:
            change = f"{(p['best'] - p['baseline']) / abs(p['baseline']) * 100:+.2f}%"
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
        f" {t['rejected']} rejected" + (f", ${t['usd']:.2f}" if t["usd"] else "")
    )
    if status.get("leaderboard", {}).get("programs"):
        lines += ["", *leaderboard_lines(status["leaderboard"])]
    return "\n".join(lines)
