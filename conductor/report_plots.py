"""The report's figures (matplotlib, imported only inside the drawing functions: Agg canvas,
no pyplot). Per pane, a progress plot in the style of upstream autoresearch's chart
(discarded runs as faint dots, kept runs labelled with their description, the running best
as a step line; past MAX_LABELS keeps only the biggest steps and the last keep are labelled,
so a week-long run draws as fast as an hour's and stays readable); crashes and rejected edits have no metric, so they sit on a strip at the
bottom of the axes, never at 0. One comparison figure per run: each pane's best metric
against experiment number, wall time and dollars, one row per workspace, coloured by program
variant (the panes of one variant in shades of its colour), each line labelled at its end
with its pane's name so that two dozen panes read without a legend to decode.
"""

from __future__ import annotations

from conductor.core.ledger import PaneRecord
from conductor.core.record import Status
from conductor.report_data import (
    ProgressSeries,
    RunData,
    best_curve,
    program_label,
    progress_series,
    short,
    time_unit,
    y_window,
)

DPI = 100
WIDTH_IN = 16.0
PROGRESS_HEIGHT_IN = 6.0
COMPARE_ROW_HEIGHT_IN = 4.5
STRIP = 0.035  # axes-fraction height of the crash/rejected strip centre

KEEP_COLOR = "#2ecc71"
BEST_COLOR = "#27ae60"
LABEL_COLOR = "#1a7a3a"
MAX_LABELS = 15  # more overlap on a 1,600-pixel axis and cost most of the drawing time
DISCARD_COLOR = "#bbbbbb"
CRASH_COLOR = "#d62728"
REJECT_COLOR = "#ff7f0e"
PROGRAM_COLOR = "#7f7f7f"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def draw_progress(container, run: RunData, pane: PaneRecord) -> None:
    """One pane's progress plot on a Figure or SubFigure."""
    from matplotlib.ticker import MaxNLocator

    rows = run.rows.get(pane.name, [])
    s = progress_series(rows, pane)
    ax = container.subplots()
    container.subplots_adjust(left=0.06, right=0.98, top=0.86, bottom=0.11)
    keeps = sum(1 for r in rows if r.status == Status.KEEP and not r.is_baseline)
    ax.set_title(
        f"{pane.name}: {_plural(len(rows), 'experiment')}, {_plural(keeps, 'kept improvement')}\n"
        f"{pane.workspace} · {program_label(run, pane)} · {pane.agent}",
        fontsize=11,
    )
    ax.set_xlabel("Experiment #")
    ax.set_ylabel(f"{pane.metric} ({'lower' if pane.goal == 'min' else 'higher'} is better)")
    ax.grid(True, alpha=0.2)
    ax.set_xlim(0.3, max(s.last_seq, 1) + 0.7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    window = y_window(s, pane.goal)
    if window is None:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no metric yet", transform=ax.transAxes, ha="center", va="center", color="#777777")
    else:
        ax.set_ylim(*window)
        _draw_points(ax, s, window, pane.goal)
    strip = ax.get_xaxis_transform()  # x in data, y in axes fractions: nothing on it is a metric value
    for seqs, marker, size, color, what, gid in (
        (s.crashed, "x", 40, CRASH_COLOR, "crash, no metric", "crash-strip"),
        (s.rejected, "|", 80, REJECT_COLOR, "rejected edit", "rejected-strip"),
    ):
        if seqs:
            ax.scatter(
                seqs,
                [STRIP] * len(seqs),
                transform=strip,
                marker=marker,
                s=size,
                c=color,
                linewidths=1.5,
                zorder=5,
                label=f"{what} ({len(seqs)})",
                gid=gid,
                clip_on=False,
            )
    for seq, sha in s.program_changes:  # where the researcher's edit of program.md took effect
        ax.vlines(seq - 0.5, 0, 1, transform=strip, colors=PROGRAM_COLOR, linestyles=":", zorder=1, gid="program")
        ax.text(seq - 0.5, 0.98, f" program {sha[:7]}", transform=strip, fontsize=8, color=PROGRAM_COLOR, va="top")
    if s.crashed or s.rejected:
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((0, 0), 1, 2 * STRIP, transform=ax.transAxes, color="#f8e4e4", zorder=0, lw=0))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=9, framealpha=0.9)


def _draw_points(ax, s: ProgressSeries, window: tuple[float, float], goal: str) -> None:
    lo, hi = window
    inside = [(q, m) for q, m in s.discarded if lo <= m <= hi]
    above = [q for q, m in s.discarded if m > hi]
    below = [q for q, m in s.discarded if m < lo]
    if inside:
        ax.scatter(
            *zip(*inside, strict=True), c=DISCARD_COLOR, s=14, alpha=0.6, zorder=2, label="discarded", gid="discarded"
        )
    clip = ax.get_xaxis_transform()
    if above:
        ax.scatter(
            above,
            [0.985] * len(above),
            transform=clip,
            marker="^",
            c=DISCARD_COLOR,
            s=18,
            zorder=2,
            label=f"discarded, off the chart ({len(above) + len(below)})",
            gid="discarded-above",
            clip_on=False,
        )
    if below:
        ax.scatter(
            below,
            [2.5 * STRIP] * len(below),
            transform=clip,
            marker="v",
            c=DISCARD_COLOR,
            s=18,
            zorder=2,
            label=None if above else f"discarded, off the chart ({len(below)})",
            gid="discarded-below",
        )
    if s.best_steps:
        xs, ys = changes(*zip(*s.best_steps, strict=True))
        ax.step(
            xs, ys, where="post", color=BEST_COLOR, linewidth=2, alpha=0.7, zorder=3, label="running best", gid="best"
        )
    if s.kept:
        xs, ys, labels = zip(*s.kept, strict=True)
        ax.scatter(xs, ys, c=KEEP_COLOR, s=50, zorder=4, edgecolors="black", linewidths=0.5, label="kept", gid="kept")
        for x, y, label in labelled(s.kept, goal):
            ax.annotate(
                short(label),
                (x, y),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
                color=LABEL_COLOR,
                alpha=0.9,
                rotation=30,
                ha="left",
                va="bottom",
                annotation_clip=True,
            )


def changes(xs, ys) -> tuple[list, list]:
    """A running best's points where it changes, and its last: the same step line ("post"),
    a few hundred points where a week's history has thousands."""
    keep = [i for i in range(len(ys)) if i == 0 or i == len(ys) - 1 or ys[i] != ys[i - 1]]
    return [xs[i] for i in keep], [ys[i] for i in keep]


def labelled(kept: list[tuple[int, float, str]], goal: str) -> list[tuple[int, float, str]]:
    """The keeps that get a label: all of them up to MAX_LABELS, else the biggest steps over the
    keep before them, the first (the baseline) and the last."""
    if len(kept) <= MAX_LABELS:
        return kept
    sign = -1.0 if goal == "min" else 1.0
    steps = sorted(range(1, len(kept) - 1), key=lambda i: sign * (kept[i - 1][1] - kept[i][1]))
    chosen = {0, len(kept) - 1, *steps[: MAX_LABELS - 2]}
    return [k for i, k in enumerate(kept) if i in chosen]


def draw_compare(container, run: RunData) -> None:
    """Best metric against experiments, time and dollars: one row per workspace."""
    from matplotlib.ticker import MaxNLocator

    workspaces = run.workspaces()
    axes = container.subplots(len(workspaces), 3, squeeze=False)
    container.subplots_adjust(
        left=0.06,
        right=0.98,
        top=1 - 0.5 / (COMPARE_ROW_HEIGHT_IN * len(workspaces)),
        bottom=0.7 / (COMPARE_ROW_HEIGHT_IN * len(workspaces)),
        wspace=0.18,
        hspace=0.45,
    )
    curves = {p.name: best_curve(run.rows.get(p.name, []), run.usage.get(p.name, [])) for p in run.panes}
    longest = max((c.seconds[-1] for c in curves.values() if c.seconds), default=0.0)
    unit, per = time_unit(longest)
    from matplotlib.lines import Line2D

    for row, (workspace, panes) in zip(axes, workspaces, strict=True):
        programs = list(dict.fromkeys(p.program_sha for p in panes))
        any_cost = any(curves[p.name].usd and curves[p.name].usd[-1] > 0 for p in panes)
        siblings = {sha: [p.name for p in panes if p.program_sha == sha] for sha in programs}
        ends: list[list[tuple[float, float, str, tuple]]] = [[], [], []]
        for pane in panes:
            c = curves[pane.name]
            if not c.best:
                continue
            base = PALETTE[programs.index(pane.program_sha) % len(PALETTE)]
            mine = siblings[pane.program_sha]
            color = shade(base, mine.index(pane.name), len(mine))
            kw = {"where": "post", "color": color, "linewidth": 1.8, "gid": f"pane:{pane.name}"}
            xs = (c.seq, [t / per for t in c.seconds], c.usd if any_cost else None)
            for i, x in enumerate(xs):
                if x:
                    row[i].step(*changes(x, c.best), **kw)
                    ends[i].append((x[-1], c.best[-1], pane.name, color))
        for ax, points in zip(row, ends, strict=True):
            label_ends(ax, points)
        handles = [
            Line2D([], [], color=PALETTE[i % len(PALETTE)], linewidth=3, label=program_legend(run, sha, siblings[sha]))
            for i, sha in enumerate(programs)
        ]
        arrow = "lower" if panes[0].goal == "min" else "higher"
        row[0].set_ylabel(f"best {panes[0].metric} ({arrow} is better)")
        row[0].set_title(f"{workspace}: best against experiments", fontsize=10)
        row[1].set_title(f"{workspace}: best against wall time", fontsize=10)
        row[2].set_title(f"{workspace}: best against token cost", fontsize=10)
        row[0].set_xlabel("Experiment #")
        row[0].xaxis.set_major_locator(MaxNLocator(integer=True))
        row[1].set_xlabel(f"{unit} since the pane's first experiment")
        row[2].set_xlabel("USD spent on tokens")
        if not any_cost:
            row[2].text(
                0.5,
                0.5,
                "no token cost recorded\n(offline agents)",
                transform=row[2].transAxes,
                ha="center",
                va="center",
                color="#777777",
            )
            row[2].set_xticks([])
            row[2].set_yticks([])
        for ax in row:
            ax.grid(True, alpha=0.2)
        if any(ends[0]):
            row[0].legend(handles=handles, fontsize=8, loc="best", framealpha=0.9, title="program variant")


PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def shade(color: str, i: int, n: int) -> tuple[float, float, float]:
    """The i-th of n shades of a variant's colour: from darker to lighter, all of its hue."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    t = 0.0 if n <= 1 else i / (n - 1)  # 0 = darkest, 1 = lightest
    mix = -0.45 + 0.9 * t  # < 0 towards black, > 0 towards white
    target = 1.0 if mix > 0 else 0.0
    return tuple(round(v + (target - v) * abs(mix), 4) for v in (r, g, b))


def program_legend(run: RunData, sha: str, panes: list[str]) -> str:
    title = next((p["program_title"] for p in run.status["leaderboard"]["panes"] if p["program_sha"] == sha), "")
    return f"{sha[:7] or '?'} {short(title, 36)} ({_plural(len(panes), 'pane')})".replace("  ", " ")


def label_ends(ax, points: list[tuple[float, float, str, tuple]]) -> None:
    """Each line's pane name just right of its last point, spread apart vertically (inside the
    axes) so that the names of lines ending close together do not overlap."""
    from matplotlib.transforms import ScaledTranslation

    if not points:
        return
    ax.margins(x=0.12)
    lo, hi = sorted(ax.get_ylim())
    gap = (hi - lo) * min(0.045, 0.95 / len(points))
    ordered = sorted(points, key=lambda p: p[1])
    ys: list[float] = []
    for _, y, _, _ in ordered:
        ys.append(max(y, ys[-1] + gap) if ys else max(y, lo))
    overflow = ys[-1] - hi
    if overflow > 0:  # the stack ran past the top: slide it down, keeping the gaps
        ys = [max(lo + k * gap, y - overflow) for k, y in enumerate(ys)]
    if ax.yaxis_inverted():
        ys = [lo + hi - y for y in ys]
    right = ax.transData + ScaledTranslation(4 / 72, 0, ax.figure.dpi_scale_trans)
    for (x, _, name, color), y_text in zip(ordered, ys, strict=True):
        ax.text(x, y_text, name, transform=right, va="center", fontsize=7, color=color, clip_on=False, gid="label")


def _new_figure(height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def progress_png(run: RunData, pane: PaneRecord) -> bytes:
    fig = _new_figure(PROGRESS_HEIGHT_IN)
    draw_progress(fig, run, pane)
    return _png(fig)


def compare_png(run: RunData) -> bytes:
    fig = _new_figure(COMPARE_ROW_HEIGHT_IN * len(run.workspaces()))
    draw_compare(fig, run)
    return _png(fig)


def sheet_png(run: RunData) -> bytes:
    """Everything on one tall sheet: the comparison rows, then one progress plot per pane."""
    compare_h = COMPARE_ROW_HEIGHT_IN * len(run.workspaces())
    fig = _new_figure(compare_h + PROGRESS_HEIGHT_IN * len(run.panes))
    parts = fig.subfigures(1 + len(run.panes), 1, height_ratios=[compare_h] + [PROGRESS_HEIGHT_IN] * len(run.panes))
    parts = list(parts) if len(run.panes) else [parts]
    draw_compare(parts[0], run)
    for sub, pane in zip(parts[1:], run.panes, strict=True):
        draw_progress(sub, run, pane)
    return _png(fig)


def expected_size(kind: str, run: RunData) -> tuple[int, int]:
    """(width, height) in pixels of a figure of this kind: 'progress', 'compare' or 'sheet'."""
    rows = len(run.workspaces())
    height = {
        "progress": PROGRESS_HEIGHT_IN,
        "compare": COMPARE_ROW_HEIGHT_IN * rows,
        "sheet": COMPARE_ROW_HEIGHT_IN * rows + PROGRESS_HEIGHT_IN * len(run.panes),
    }[kind]
    return round(WIDTH_IN * DPI), round(height * DPI)
