"""The report's lineage figure: each program variant's fitness by its generation.

Drawn only for a run whose programs evolved (`conductor evolve`, `evolve_every`): one panel
per workspace, a point per variant at (generation, mean improvement over its panes'
baselines), a line from each child to its parent, the champion ringed. The numbers are the
leaderboard's, so the figure and `conductor status` agree.
"""

from __future__ import annotations

import io

from conductor.report_data import RunData

DPI = 100
WIDTH_IN = 16.0
ROW_HEIGHT_IN = 4.0


def lineage_png(run: RunData) -> bytes | None:
    programs = run.status.get("leaderboard", {}).get("programs", [])
    workspaces = sorted({p["workspace"] for p in programs if p.get("parent")})
    if not workspaces:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, ROW_HEIGHT_IN * len(workspaces)), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(workspaces), 1, squeeze=False)
    for ax, ws in zip((row[0] for row in axes), workspaces, strict=True):
        mine = {p["program_sha"]: p for p in programs if p["workspace"] == ws}
        for p in mine.values():
            parent = mine.get(p.get("parent", ""))
            y = p["improvement"]
            if parent is not None and y is not None and parent["improvement"] is not None:
                ax.plot([parent["generation"], p["generation"]], [parent["improvement"], y], color="#bbbbbb", lw=1)
        shown = [p for p in mine.values() if p["improvement"] is not None]
        ax.scatter([p["generation"] for p in shown], [p["improvement"] for p in shown], color="#1f77b4", zorder=3)
        for p in shown:
            ax.annotate(
                p["program_sha"][:7],
                (p["generation"], p["improvement"]),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
            if p.get("champion"):
                ax.scatter(
                    [p["generation"]],
                    [p["improvement"]],
                    s=220,
                    facecolors="none",
                    edgecolors="#d62728",
                    zorder=4,
                    label="champion (confirmed on a held-out pane)",
                )
        metric = next(iter(mine.values()))["metric"]
        ax.set_title(f"{ws}: program variants by generation")
        ax.set_xlabel("generation")
        ax.set_ylabel(f"mean improvement in {metric} (better >)")
        ax.grid(True, alpha=0.2)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()
