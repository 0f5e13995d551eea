"""`conductor report`: pictures of how each loop progressed, for the researcher in the morning.

The figures (report_plots.py, drawn from report_data.py) are written as PNG files (or one
sheet), and with `--html` as one self-contained page with the figures and the leaderboard.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from conductor.core.record import Status
from conductor.core.standings import version_of
from conductor.errors import ConductorError
from conductor.leaderboard import hours_unit
from conductor.report_data import RunData, load_run
from conductor.report_lineage import lineage_png
from conductor.report_plots import sheet_png
from conductor.report_render import draw_figures


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
                " → ".join(sha[:7] for sha in p["programs"]) or p["program_sha"][:7],
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
        rows = [r for r in run.rows.get(pane.name, []) if r.status == Status.KEEP]
        kept = [[r.seq, r.metric, version_of(pane, r)[:7], "(baseline) " * r.is_baseline + r.description] for r in rows]
        keeps = next((s["keeps"] for s in board["panes"] if s["pane"] == pane.name), 0)
        sections.append(
            f"<h3>{html.escape(pane.name)}</h3>{_img(progress[pane.name], pane.name)}"
            f"<details><summary>baseline and kept experiments ({keeps} kept)</summary>"
            f"{_table(['#', pane.metric, 'program', 'description'], kept)}</details>"
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
    compare, progress = draw_figures(run) if html_path is not None or not sheet else (b"", {})
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
        generations = lineage_png(run)
        if generations is not None:
            (folder / "generations.png").write_bytes(generations)
            written.append(folder / "generations.png")
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
