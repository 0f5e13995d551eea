"""The text every agent reads besides its program: results so far, the researcher's messages,
and, for an external CLI, how experiments run under conductor.

The results table and the researcher's tag are the same for every agent, so that a model
reads the same shapes whichever loop it runs in.
"""

from __future__ import annotations

from collections.abc import Sequence

from conductor.core.agent import PaneSession
from conductor.core.outcome import NOTE_PREFIX
from conductor.core.record import ExperimentRecord, Status

RESEARCHER_TAG = "[message from the researcher]"
PROGRAM_HEADING = "# Your research program (program.md)\n\n"


def labelled(message: str) -> str:
    """An inbox message as the agent reads it: conductor's own notes start with its prefix,
    everything else came from the researcher."""
    return message if message.startswith(NOTE_PREFIX) else f"{RESEARCHER_TAG}\n{message}"


def program_section(session: PaneSession) -> str:
    return PROGRAM_HEADING + (session.program_text().strip() or "(empty)")


def results_table(rows: Sequence[ExperimentRecord], metric: str, recent: int) -> str:
    """A compact table of every kept experiment and the `recent` latest others."""
    keep_seqs = {r.seq for r in rows if r.status == Status.KEEP}
    latest = {r.seq for r in rows[-recent:]}
    shown = [r for r in rows if r.seq in keep_seqs or r.seq in latest]
    lines = [f"seq | status | {metric} | description"]
    for r in shown:
        value = f"{r.metric:.6f}" if r.metric is not None else "-"
        status = "baseline" if r.is_baseline else r.status
        lines.append(f"{r.seq} | {status} | {value} | {' '.join(r.description.split())[:100]}")
    omitted = len(rows) - len(shown)
    if omitted:
        lines.append(f"({omitted} older discarded or crashed experiments not shown)")
    return "\n".join(lines)


BOARD_CHARS = 3000  # the board's share of a prompt
BOARD_LINE_CHARS = 180
BOARD_RECENT = 15


def board_section(session: PaneSession, budget: int = BOARD_CHARS) -> str:
    """The workspace board beside the pane's own table: each pane's best, the ideas in flight
    in other panes, and the latest entries of every pane, marked by pane, newest kept first
    when the budget runs out. Empty while no other pane has tried anything."""
    view = session.board()
    metric = session.workspace.metric
    others = [e for e in view.recent if e.pane != session.name]
    claims = [c for c in view.claims if c.pane != session.name]
    if not others and not claims:
        return ""

    def cut(line: str) -> str:
        return line if len(line) <= BOARD_LINE_CHARS else line[: BOARD_LINE_CHARS - 3] + "..."

    def value(x: float | None, signed: bool = False) -> str:
        return "-" if x is None else f"{x:+.6f}" if signed else f"{x:.6f}"

    head = [
        f"Workspace board: what every pane on {session.workspace.name} tried (you are {session.name}). "
        "Build on the others' wins; an exact repeat of a tried change is not run.",
        "Best by pane:",
    ]
    head += [cut(f"  {e.pane}: {value(e.metric)} (#{e.seq}) {' '.join(e.description.split())}") for e in view.bests]
    if view.migrated:
        head.append(f"Moved onto a sibling's best: {', '.join(view.migrated)}")
    if claims:
        head.append("Running now in other panes:")
        head += [cut(f"  {c.pane}: {' '.join(c.description.split())}") for c in claims]
    head.append(f"Latest entries (pane #seq | status | {metric} | delta | description | change):")
    used = sum(len(line) + 1 for line in head)
    shown: list[str] = []
    for e in reversed(view.recent[-BOARD_RECENT:]):
        status = "baseline" if e.is_baseline else e.status
        line = cut(
            f"  {e.pane} #{e.seq} | {status} | {value(e.metric)} | {value(e.delta, True)} | "
            f"{' '.join(e.description.split())} | {e.change or '-'}"
        )
        if used + len(line) + 1 > budget:
            break
        shown.append(line)
        used += len(line) + 1
    return "\n".join(head + list(reversed(shown)))[:budget]


# ---------------------------------------------------------------- external CLI agents

CLI_RESULTS_SHOWN = 30


def cli_results(session: PaneSession) -> str:
    """The results so far for an external agent's prompt; empty before the first experiment."""
    rows = session.history()
    if not rows:
        return ""
    best = session.best
    tail = f"\nBest so far: {best:.6f}" if best is not None else ""
    own = "Results so far:\n" + results_table(rows, session.workspace.metric, CLI_RESULTS_SHOWN) + tail
    return "\n\n".join(part for part in (own, board_section(session)) if part)


def keep_going(managed: bool) -> str:
    how = 'run it with `conductor exp -m "..."`' if managed else "run and log it as program.md says"
    return (
        f"{NOTE_PREFIX}Keep going: pick your next idea and {how}. This loop never stops on its own; "
        "do not ask whether to continue."
    )


def cli_preface(session: PaneSession, managed: bool) -> str:
    """How experiments run here: through `conductor exp` (managed), or as program.md says
    with conductor watching results.tsv (observed)."""
    ws = session.workspace
    better = "lower" if ws.goal == "min" else "higher"
    branch = session.branch or "this pane's branch"
    lines = [
        "# How experiments run here (conductor)",
        f"You work in {session.worktree_path}, on the git branch `{branch}`, one of several research loops "
        "conductor runs at once.",
        f"Editable: {', '.join(ws.editable)}. Protected (must stay byte-identical): "
        f"{', '.join(ws.protected) or 'none'}. The metric is `{ws.metric}` from the run's `---` summary "
        f"block; {better} is better.",
    ]
    if managed:
        wait_s = int(ws.timeout_s + 120)
        lines += [
            "Run every experiment through conductor: make one change, then, in the worktree, run",
            '    conductor exp -m "<what you tried, in a few words>"',
            f"It commits your change, waits for a free slot, runs `{ws.run}` under a {ws.time_budget_s:g} s "
            f"budget, reads {ws.metric}, keeps the commit if it beats the best and otherwise reverts the "
            "worktree, then prints the outcome (metric, change against the best, decision, log tail on a crash).",
            f"It can take several minutes: give your shell tool a timeout of at least {wait_s} s "
            f"({wait_s * 1000} ms), and do not edit files while it runs.",
            "Do not run the training command yourself, do not commit, reset or switch branches, and do not edit "
            "results.tsv: conductor records everything.",
        ]
        if not any(r.is_baseline for r in session.history()):
            lines.append("Your first experiment is the unmodified code: `conductor exp -m baseline`.")
    else:
        lines += [
            "In this loop you run experiments yourself (the rules above that leave git and results.tsv to "
            "conductor do not apply here).",
            "Run experiments exactly as program.md says: commit, run, log one row per experiment to "
            "results.tsv, then keep or reset. conductor watches results.tsv and the branch and records every "
            "row you log, with the status you give it.",
            f"Your branch `{branch}` is already created and checked out: skip program.md's steps that create "
            "a branch, and stay on this one. A change to a protected file gets the experiment recorded as "
            "rejected.",
        ]
    lines.append(
        "Never stop to ask whether to continue. The researcher watches every loop and may message you; "
        f"their messages start with {RESEARCHER_TAG} and take priority."
    )
    return "\n".join(lines)


def cli_opening(session: PaneSession, managed: bool) -> str:
    """The first prompt of a new session: agents.md, program.md, the preface, results so far."""
    parts = [session.agents_text().strip(), program_section(session), cli_preface(session, managed)]
    parts.append(cli_results(session))
    return "\n\n".join(p for p in parts if p)


def cli_continue(session: PaneSession, managed: bool, why: str) -> str:
    """The prompt of a resumed session: why it was restarted, results so far, keep going."""
    parts = [f"{NOTE_PREFIX}{why}", cli_results(session), keep_going(managed)]
    return "\n\n".join(p for p in parts if p)
