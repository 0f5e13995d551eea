"""`conductor report`: pictures of how each loop progressed, for the researcher in the morning.

Per pane, a progress plot in the style of upstream autoresearch's chart (discarded runs as
faint dots, kept runs labelled with their description, the running best as a step line);
crashes and rejected edits have no metric, so they sit on a strip at the bottom of the axes,
never at 0. One comparison figure per run: each pane's best metric against experiment
number, wall time and dollars, one row per workspace. Written as PNG files (or one sheet),
and with `--html` as one self-contained page with the figures and the leaderboard.
matplotlib is imported only inside the drawing functions (Agg canvas, no pyplot).
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from conductor.core.ledger import PaneRecord
from conductor.core.record import ExperimentRecord
from conductor.errors import ConductorError
from conductor.leaderboard import hours_unit

DPI = 100
WIDTH_IN = 16.0
PROGRESS_HEIGHT_IN = 6.0
COMPARE_ROW_HEIGHT_IN = 4.5
STRIP = 0.035  # axes-fraction height of the crash/rejected strip centre

KEEP_COLOR = "#2ecc71"
BEST_COLOR = "#27ae60"
LABEL_COLOR = "#1a7a3a"
DISCARD_COLOR = "#bbbbbb"
CRASH_COLOR = "#d62728"
REJECT_COLOR = "#ff7f0e"


# ================================================================ data (no matplotlib)


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


@dataclass(frozen=True)
class ProgressSeries:
    """What one pane's progress plot shows. Only keeps and discards carry a metric."""

    kept: list[tuple[int, float, str]] = field(default_factory=list)  # seq, metric, description
    discarded: list[tuple[int, float]] = field(default_factory=list)
    crashed: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    best_steps: list[tuple[int, float]] = field(default_factory=list)  # running best from the first keep on
    last_seq: int = 0


def progress_series(rows: list[ExperimentRecord]) -> ProgressSeries:
    s = ProgressSeries(last_seq=max((r.seq for r in rows), default=0))
    best: float | None = None
    for r in rows:
        if r.status == "keep" and _finite(r.metric):
            s.kept.append((r.seq, r.metric, r.description))
            best = r.metric
        elif r.status == "discard" and _finite(r.metric):
            s.discarded.append((r.seq, r.metric))
        elif r.status == "rejected":
            s.rejected.append(r.seq)
        elif r.status in ("crash", "keep", "discard"):
            s.crashed.append(r.seq)  # no usable metric: drawn on the strip, whatever a TSV would say
        if best is not None:
            s.best_steps.append((r.seq, best))
    return s


def y_window(s: ProgressSeries, goal: str) -> tuple[float, float] | None:
    """Y limits that keep the kept curve readable: near misses shown, wild discards clipped."""
    kept = [m for _, m, _ in s.kept]
    values = kept or [m for _, m in s.discarded]
    if not values:
        return None
    lo, hi = min(values), max(values)
    span = (hi - lo) or max(abs(hi) * 0.05, 1e-6)
    worse, better = span * 1.5, span * 0.3  # room for the labels above the best
    lo, hi = (lo - better, hi + worse) if goal == "min" else (lo - worse, hi + better)
    everything = values + [m for _, m in s.discarded]
    full_lo, full_hi = min(everything), max(everything)
    if full_hi - full_lo <= 4 * (hi - lo):
        lo, hi = min(lo, full_lo), max(hi, full_hi)
    pad = (hi - lo) * 0.05
    return lo - pad - (hi - lo) * 0.10, hi + pad  # extra room at the bottom for the strip


@dataclass(frozen=True)
class BestCurve:
    """One pane's best metric after each experiment, against experiments, seconds and dollars."""

    seq: list[int]
    seconds: list[float]
    usd: list[float]
    best: list[float]


def best_curve(rows: list[ExperimentRecord], usage: list[tuple[float, float]]) -> BestCurve:
    """`usage`: (timestamp, usd) rows of the pane; dollars are those spent by each experiment's end."""
    curve = BestCurve([], [], [], [])
    if not rows:
        return curve
    start = min(r.started_at for r in rows)
    spent = sorted(usage)
    best: float | None = None
    for r in rows:
        if r.status == "keep" and _finite(r.metric):
            best = r.metric
        if best is None:
            continue
        curve.seq.append(r.seq)
        curve.seconds.append(max(0.0, r.finished_at - start))
        curve.usd.append(sum(usd for ts, usd in spent if ts <= r.finished_at))
        curve.best.append(best)
    return curve


@dataclass
class RunData:
    run_dir: Path
    name: str
    panes: list[PaneRecord]
    rows: dict[str, list[ExperimentRecord]]
    usage: dict[str, list[tuple[float, float]]]
    status: dict  # pane_status(): panes, totals, leaderboard

    def workspaces(self) -> list[tuple[str, list[PaneRecord]]]:
        order: dict[str, list[PaneRecord]] = {}
        for p in self.panes:
            order.setdefault(p.workspace, []).append(p)
        return list(order.items())


def load_run(run_dir: Path) -> RunData:
    from conductor.status import open_ledger, pane_status

    ledger = open_ledger(run_dir)
    try:
        panes = ledger.panes()
        usage: dict[str, list[tuple[float, float]]] = {p.name: [] for p in panes}
        for pane, ts, usd in ledger.execute("SELECT pane, ts, usd FROM usage ORDER BY ts"):
            usage.setdefault(pane, []).append((ts, usd))
        return RunData(
            run_dir=run_dir,
            name=ledger.get_meta("run") or run_dir.name,
            panes=panes,
            rows={p.name: ledger.experiments(p.name) for p in panes},
            usage=usage,
            status=pane_status(ledger),
        )
    finally:
        ledger.close()


def _time_unit(seconds: float) -> tuple[str, float]:
    if seconds < 120:
        return "seconds", 1.0
    if seconds < 2 * 3600:
        return "minutes", 60.0
    return "hours", 3600.0


def _short(text: str, n: int = 44) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _program_label(run: RunData, pane: PaneRecord) -> str:
    score = next((p for p in run.status["leaderboard"]["panes"] if p["pane"] == pane.name), None)
    title = score["program_title"] if score else ""
    return f"program {pane.program_sha[:7] or '?'}" + (f" · {_short(title, 50)}" if title else "")


# ================================================================ drawing (matplotlib)


def draw_progress(container, run: RunData, pane: PaneRecord) -> None:
    """One pane's progress plot on a Figure or SubFigure."""
    from matplotlib.ticker import MaxNLocator

    rows = run.rows.get(pane.name, [])
    s = progress_series(rows)
    ax = container.subplots()
    container.subplots_adjust(left=0.06, right=0.98, top=0.86, bottom=0.11)
    keeps = sum(1 for r in rows if r.status == "keep" and not r.is_baseline)
    ax.set_title(
        f"{pane.name}: {_plural(len(rows), 'experiment')}, {_plural(keeps, 'kept improvement')}\n"
        f"{pane.workspace} · {_program_label(run, pane)} · {pane.agent}",
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
        _draw_points(ax, s, window)
    strip = ax.get_xaxis_transform()  # x in data, y in axes fractions: nothing on it is a metric value
    if s.crashed:
        ax.scatter(
            s.crashed,
            [STRIP] * len(s.crashed),
            transform=strip,
            marker="x",
            s=40,
            c=CRASH_COLOR,
            linewidths=1.5,
            zorder=5,
            label=f"crash, no metric ({len(s.crashed)})",
            gid="crash-strip",
            clip_on=False,
        )
    if s.rejected:
        ax.scatter(
            s.rejected,
            [STRIP] * len(s.rejected),
            transform=strip,
            marker="|",
            s=80,
            c=REJECT_COLOR,
            linewidths=1.5,
            zorder=5,
            label=f"rejected edit ({len(s.rejected)})",
            gid="rejected-strip",
            clip_on=False,
        )
    if s.crashed or s.rejected:
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((0, 0), 1, 2 * STRIP, transform=ax.transAxes, color="#f8e4e4", zorder=0, lw=0))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=9, framealpha=0.9)


def _draw_points(ax, s: ProgressSeries, window: tuple[float, float]) -> None:
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
        xs, ys = zip(*s.best_steps, strict=True)
        ax.step(
            xs, ys, where="post", color=BEST_COLOR, linewidth=2, alpha=0.7, zorder=3, label="running best", gid="best"
        )
    if s.kept:
        xs, ys, labels = zip(*s.kept, strict=True)
        ax.scatter(xs, ys, c=KEEP_COLOR, s=50, zorder=4, edgecolors="black", linewidths=0.5, label="kept", gid="kept")
        for x, y, label in s.kept:
            ax.annotate(
                _short(label),
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
    unit, per = _time_unit(longest)
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    styles = ["-", "--", ":", "-."]
    for row, (workspace, panes) in zip(axes, workspaces, strict=True):
        programs = list(dict.fromkeys(p.program_sha for p in panes))
        any_cost = any(curves[p.name].usd and curves[p.name].usd[-1] > 0 for p in panes)
        seen: dict[str, int] = {}
        for pane in panes:
            c = curves[pane.name]
            if not c.best:
                continue
            color = palette[programs.index(pane.program_sha) % len(palette)]
            style = styles[seen.get(pane.program_sha, 0) % len(styles)]
            seen[pane.program_sha] = seen.get(pane.program_sha, 0) + 1
            label = f"{pane.name} (program {pane.program_sha[:7] or '?'})"
            kw = {"where": "post", "color": color, "linestyle": style, "linewidth": 1.8, "label": label}
            row[0].step(c.seq, c.best, **kw)
            row[1].step([t / per for t in c.seconds], c.best, **kw)
            if any_cost:
                row[2].step(c.usd, c.best, **kw)
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
        if row[0].get_legend_handles_labels()[0]:
            row[0].legend(fontsize=8, loc="best", framealpha=0.9)


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


# ================================================================ html


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def html_page(run: RunData, compare: bytes, progress: dict[str, bytes]) -> str:
    board = run.status["leaderboard"]
    programs = _table(
        [
            "#",
            "workspace",
            "program",
            "panes",
            "improvement",
            "%",
            "keeps",
            "keep rate",
            "exp/h",
            "improvement per slot-h",
            "slot-h",
            "improvement per $",
            "usd",
            "tokens/exp",
        ],
        [
            [
                p["rank"],
                p["workspace"],
                f"{p['program_sha'][:7]} {p['program_title']}",
                ", ".join(p["panes"]),
                p["improvement"],
                p["improvement_pct"],
                p["keeps"],
                p["keep_rate"],
                p["experiments_per_hour"],
                p["improvement_per_slot_hour"],
                f"{p['slot_hours']:.3g} {hours_unit(p['slot_kind'])}",
                p["improvement_per_usd"],
                p["usd"],
                p["tokens_per_experiment"],
            ]
            for p in board["programs"]
        ],
    )
    panes = _table(
        [
            "pane",
            "workspace",
            "program",
            "agent",
            "baseline",
            "best",
            "improvement",
            "experiments",
            "keeps",
            "discards",
            "crashes",
            "rejected",
            "exp/h",
            "improvement per slot-h",
            "usd",
            "tokens/exp",
        ],
        [
            [
                p["pane"],
                p["workspace"],
                p["program_sha"][:7],
                p["agent"],
                p["baseline"],
                p["best"],
                p["improvement"],
                p["experiments"],
                p["keeps"],
                p["discards"],
                p["crashes"],
                p["rejected"],
                p["experiments_per_hour"],
                p["improvement_per_slot_hour"],
                p["usd"],
                p["tokens_per_experiment"],
            ]
            for p in board["panes"]
        ],
    )
    sections = []
    for pane in run.panes:
        kept = [[r.seq, r.metric, r.description] for r in run.rows.get(pane.name, []) if r.status == "keep"]
        sections.append(
            f"<h3>{html.escape(pane.name)}</h3>{_img(progress[pane.name], pane.name)}"
            f"<details><summary>kept experiments ({len(kept)})</summary>{_table(['#', pane.metric, 'description'], kept)}</details>"
        )
    cpu_note = ""
    if any(p["slot_kind"] in ("cpu", "mixed") for p in board["programs"]):
        cpu_note = "<p class=note>On CPU slots, per slot-hour figures are per CPU-slot-hour, not per GPU-hour.</p>"
    title = html.escape(f"conductor report: {run.name}")
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title><style>{_CSS}</style></head><body>"
        f"<h1>{title}</h1><p class=note>{html.escape(str(run.run_dir))}</p>"
        f"<h2>Leaderboard: program.md variants</h2>{programs}{cpu_note}"
        f"<h2>Panes</h2>{panes}<h2>Comparison</h2>{_img(compare, 'comparison')}"
        f"<h2>Progress per pane</h2>{''.join(sections)}</body></html>\n"
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}img{max-width:100%;border:1px solid #ddd}"
    "table{border-collapse:collapse;margin:0.5em 0 1em;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}td:nth-child(-n+3),th{text-align:left}th{background:#f3f3f3}.note{color:#666;font-size:0.9em}"
)


# ================================================================ the verb


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)


def write_report(run_dir: Path, output: str | None = None, html_path: str | None = None) -> list[Path]:
    """Write the report; returns the paths written. `output`: FILE.png for one sheet, else a folder
    for one PNG per figure (default <run_dir>/report). `html_path`: None for no page, "" for the
    default place next to the PNGs."""
    run = load_run(run_dir)
    if not run.panes:
        raise ConductorError(f"no panes recorded in {run_dir} yet: nothing to plot")
    sheet = output is not None and output.lower().endswith(".png")
    folder = Path(output).parent if sheet else Path(output) if output else run_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    compare = compare_png(run)
    progress = {p.name: progress_png(run, p) for p in run.panes}
    written: list[Path] = []
    if sheet:
        path = Path(output)
        path.write_bytes(sheet_png(run))
        written.append(path)
    else:
        (folder / "compare.png").write_bytes(compare)
        written.append(folder / "compare.png")
        for name, png in progress.items():
            path = folder / f"progress-{_safe(name)}.png"
            path.write_bytes(png)
            written.append(path)
    if html_path is not None:
        page = (
            Path(html_path) if html_path else (Path(output).with_suffix(".html") if sheet else folder / "report.html")
        )
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(html_page(run, compare, progress), encoding="utf-8")
        written.append(page)
    return written


def cmd_report(run_dir: Path, output: str | None, html_out: str | None = None) -> int:
    for path in write_report(run_dir, output, html_out):
        print(path)
    return 0
