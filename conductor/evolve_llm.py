"""The model writes the next program.md: `conductor evolve` with an API key.

The prompt is OPRO's (every variant so far with its fitness, best first: the leaderboard's
numbers on the same workspace, with their cost in experiments, slot-hours and tokens) with
GEPA's reflection (for the best and the worst variants, what their experiments tried and
what each gave, so the model can say why one won). It answers with its reasoning and the
whole new program; the reasoning is stored with the variant. The model writes only
program.md: the protected files, the metric and the editable set stay in conductor.toml and
workspace.toml whatever it says, and agents.md's rules still come before every program.
"""

from __future__ import annotations

import os
import re

from conductor.core.ledger import Ledger
from conductor.core.record import ExperimentRecord
from conductor.errors import ConductorError
from conductor.leaderboard import leaderboard_from_ledger

MAX_TOKENS = 8000
EXPERIMENTS_SHOWN = 12  # per variant reflected on
PROGRAM_CHARS = 6000  # of each variant's text shown

INSTRUCTIONS = """You improve the instructions (program.md) that autonomous research agents follow.
Each variant below was followed by agents on the same workspace and slots; its fitness is the
improvement of the metric over the baseline it reached (higher is better), with its cost.
Study what the experiments of the best and the worst variants tried and what each gave; say
why the best one won. Then write a new variant that should reach more improvement per
experiment. You may change anything in the program's text. You cannot change which files are
protected or editable, nor the metric: those are fixed outside the program, and agents that
try are refused. Answer in exactly this form:
<reasoning>why the best variant won and what the new one changes</reasoning>
<program>the whole new program.md</program>"""


def prompt(ledger: Ledger, workspace: str, parent: str | None = None) -> tuple[str, str]:
    """(the prompt, the parent's sha): the parent is the best variant unless one is given
    (the tournament's winner); it is reflected on and its text shown first."""
    board = leaderboard_from_ledger(ledger)
    scores = [p for p in board.programs if p.workspace == workspace and p.experiments]
    if not scores:
        raise ConductorError(f"workspace {workspace} has no experiments yet: nothing to learn from")
    if parent is not None and any(p.program_sha == parent for p in scores):
        scores.sort(key=lambda p: p.program_sha != parent)  # stable: the rest stay best first
    texts = {v.sha: v.text for v in ledger.programs() if v.text_known}
    rows = [r for p in ledger.panes() if p.workspace == workspace for r in ledger.experiments(p.name)]
    parts = [
        INSTRUCTIONS,
        f"\n## Variants of {workspace}'s program, best first (metric {scores[0].metric}, goal {scores[0].goal})",
    ]
    for p in scores:
        parts.append(
            f"\n### variant {p.program_sha} (generation {p.generation})\n"
            f"fitness: improvement {_num(p.improvement)} (best pane {_num(p.best_improvement)}), {p.experiments} "
            f"experiments, {p.keeps} keeps, {_num(p.slot_hours)} slot-hours, {p.tokens} tokens, "
            f"improvement per slot-hour {_num(p.improvement_per_slot_hour)}"
        )
        if p is scores[0] or p is scores[-1]:
            mine = [r for r in rows if r.program_sha == p.program_sha and not r.is_baseline][-EXPERIMENTS_SHOWN:]
            parts.append("what its experiments tried:\n" + "\n".join(_row(r) for r in mine))
        text = texts.get(p.program_sha)
        if text is not None:
            parts.append(f"its text:\n<variant>\n{text[:PROGRAM_CHARS]}\n</variant>")
    return "\n".join(parts), scores[0].program_sha


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _row(r: ExperimentRecord) -> str:
    metric = "-" if r.metric is None else f"{r.metric:.6g}"
    return f"- {r.description[:160]!r}: {r.status} (metric {metric}; {r.reason[:80]})"


def write_variant(prompt_text: str, model: str) -> tuple[str, str, dict[str, int]]:
    """(reasoning, program text, usage) from the model; one request, the SDK's own retries."""
    import anthropic

    key = os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        raise ConductorError("ANTHROPIC_API_KEY is not set: the LLM evolver needs it (or use --offline)")
    client = anthropic.Anthropic(api_key=key, base_url=os.environ.get("ANTHROPIC_BASE_URL") or None)
    try:
        message = client.messages.create(
            model=model, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": prompt_text}]
        )
    except anthropic.APIError as exc:
        raise ConductorError(f"the model could not write a variant: {exc}") from None
    answer = "".join(block.text for block in message.content if block.type == "text")
    program = re.search(r"<program>\s*(.*?)\s*</program>", answer, re.S)
    reasoning = re.search(r"<reasoning>\s*(.*?)\s*</reasoning>", answer, re.S)
    if program is None or len(program.group(1).strip()) < 20:
        raise ConductorError("the model's answer holds no <program>...</program>: no variant written")
    usage = {"input": message.usage.input_tokens, "output": message.usage.output_tokens}
    return (reasoning.group(1).strip() if reasoning else ""), program.group(1).strip() + "\n", usage
