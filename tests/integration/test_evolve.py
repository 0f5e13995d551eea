"""program.md as the Optuna agent's search, and `conductor evolve` writing the next one from
the ledger: real orchestra, real git, real Optuna, the real CLI verb."""

from __future__ import annotations

from pathlib import Path

from conftest import write_config
from engine_helpers import run_orchestra

from conductor.agents.optuna import read_knob
from conductor.cli import main
from conductor.core.events import AgentActivity
from conductor.core.gitsafe import run_git
from conductor.core.ledger import Ledger

SECTION = """
```toml conductor-search
n_startup_trials = 2
[knobs.X]
low = 1.0
high = 2.0
```
"""


def knob_values(worktree: Path, commit: str) -> tuple[float, float]:
    text = run_git(worktree, "show", f"{commit}:train.py")
    return read_knob(text, "X"), read_knob(text, "Y")


def test_the_optuna_agent_tunes_what_program_md_says(tmp_path, fastws):
    (fastws / "program.md").write_text((fastws / "program.md").read_text() + SECTION)
    cfg = write_config(tmp_path, fastws)
    _, events = run_orchestra(cfg, max_experiments=6)
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        pane = ledger.panes()[0]
        rows = [r for r in ledger.experiments() if not r.is_baseline]
    finally:
        ledger.close()
    assert len(rows) == 5
    for r in rows:
        x, y = knob_values(Path(pane.worktree), r.commit)
        assert 1.0 <= x <= 2.0 and y == 2.0, (r.description, x, y)  # Y is not in the search: untouched
    texts = [e.text for e in events if isinstance(e, AgentActivity)]
    assert any("following program.md's search section: X [1, 2]; 2 startup trials" in t for t in texts), texts


def test_evolve_writes_a_variant_with_its_lineage_the_pane_follows_it_then_a_narrower_one(
    tmp_path, fastws, capsys, monkeypatch
):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # the offline evolver
    cfg = write_config(tmp_path, fastws, panes=2)
    run_orchestra(cfg, max_experiments=8)
    assert main(["evolve", "-c", str(cfg), "--apply", "fast-1"]) == 0
    out = capsys.readouterr().out
    assert "generation 1" in out and "fast-1 follows it" in out
    run_dir = tmp_path / ".conductor"
    ledger = Ledger(run_dir / "ledger.db")
    try:
        programs = {p.sha: p for p in ledger.programs()}
        child = next(p for p in programs.values() if p.generation == 1)
        assert child.parent in programs and programs[child.parent].generation == 0
        evolver, why = ledger.variant_reasons()[child.sha]
        assert evolver == "offline" and "from 16 experiments with a metric" in why
        assert "Gaussian process" in why  # the first change: the model, tried once a lineage
    finally:
        ledger.close()
    assert (run_dir / "programs" / "fast-1.md").read_text() == child.text
    assert "```toml conductor-search" in child.text and child.text.startswith("# fast test workspace")
    before = {r.commit for r in Ledger(run_dir / "ledger.db").experiments("fast-1")}

    run_orchestra(cfg, max_experiments=12)  # resumed: fast-1 now follows the variant
    ledger = Ledger(run_dir / "ledger.db")
    try:
        pane = next(p for p in ledger.panes() if p.name == "fast-1")
        after = [r for r in ledger.experiments("fast-1") if r.commit not in before]
    finally:
        ledger.close()
    assert len(after) == 4 and all(r.program_sha == child.sha for r in after), [r.program_sha for r in after]
    from conductor.agents.search_space import search_from
    from conductor.config import load_config

    search = search_from(child.text, load_config(cfg).workspaces[0].knobs)
    assert search.sampler == "gp"
    for r in after:
        values = dict(zip(("X", "Y"), knob_values(Path(pane.worktree), r.commit), strict=True))
        for k in search.knobs:
            assert k.low <= values[k.name] <= k.high, (k, values)
    capsys.readouterr()
    assert main(["status", "-c", str(cfg)]) == 0
    board = capsys.readouterr().out
    assert f"{child.sha[:7]} g1<{child.parent[:5]}" in board and "generations from the original" in board
    assert main(["report", "-c", str(cfg)]) == 0
    generations = run_dir / "report" / "generations.png"
    assert generations.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(generations) in capsys.readouterr().out

    assert main(["evolve", "-c", str(cfg)]) == 0  # a GP child has run: the next change narrows
    ledger = Ledger(run_dir / "ledger.db")
    try:
        newest = ledger.programs()[-1]
        evolver, why = ledger.variant_reasons()[newest.sha]
    finally:
        ledger.close()
    assert newest.sha != child.sha and "Gaussian process" not in why and "->" in why, why


def test_a_scheduled_tournament_hands_the_losing_pane_a_child_of_the_winner(tmp_path, fastws):
    import asyncio

    from conductor.agents.base import create_agent
    from conductor.config import load_config
    from conductor.core.events import Alert
    from conductor.core.orchestra import Orchestra
    from conductor.evolve import tournament

    cfg = load_config(write_config(tmp_path, fastws, panes=2, extra="evolve_every = 4\n"))
    orch = Orchestra(cfg, agent_factory=create_agent, max_experiments=12, evolver=tournament)
    events: list = []
    orch.bus.subscribe(events.append)
    orch.open()
    try:
        asyncio.run(orch.run())
    finally:
        orch.close()
    lines = [e.message for e in events if isinstance(e, Alert) and "tournament" in e.message]
    assert lines and "tournament after 4 experiments a pane" in lines[0], lines
    ledger = Ledger(orch.layout.ledger)
    try:
        children = [p for p in ledger.programs() if p.generation == 1]
        reasons = ledger.variant_reasons()
        rows = ledger.experiments()
    finally:
        ledger.close()
    assert children and reasons[children[0].sha][0] == "offline-tournament"
    handed = [r for r in rows if r.program_sha == children[0].sha]
    assert handed and len({r.pane for r in handed}) == 1  # the loser follows the child; the winner keeps its own


def test_with_a_key_the_model_writes_the_variant_from_the_variants_history(tmp_path, fastws, capsys, monkeypatch):
    from fixtures.messages_server import MessagesServer, reply, text

    cfg = write_config(tmp_path, fastws, panes=1)
    run_orchestra(cfg, max_experiments=5)
    new_program = "# fast test workspace, v2\nMove X towards 3 in steps of 0.5; leave Y alone.\n"
    answer = f"<reasoning>X moved the score most; Y barely.</reasoning>\n<program>\n{new_program}</program>"
    with MessagesServer([reply(text(answer))]) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        assert main(["evolve", "-c", str(cfg)]) == 0
    asked = server.requests[0].body["messages"][0]["content"]
    assert "### variant" in asked and "fitness: improvement" in asked and "what its experiments tried" in asked
    assert "# fast test workspace" in asked  # the parent's text, for the model to rewrite
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        child = next(p for p in ledger.programs() if p.generation == 1)
        evolver, why = ledger.variant_reasons()[child.sha]
    finally:
        ledger.close()
    assert child.text == new_program and evolver.startswith("llm:")
    assert why.startswith("X moved the score most") and "output tokens" in why
    assert "generation 1" in capsys.readouterr().out


def test_with_a_key_the_tournament_has_the_model_write_the_winners_child(tmp_path, fastws, monkeypatch):
    """The tournament itself, on a finished run (the schedule that calls it is tested above)."""
    from fixtures.messages_server import MessagesServer, reply, text

    from conductor.evolve import tournament

    cfg = write_config(tmp_path, fastws, panes=2)
    orch, _ = run_orchestra(cfg, max_experiments=6)  # 5 experiments a pane under the original program
    new_program = "# fast test workspace, by the model\nMove X towards 3; leave Y alone.\n"
    answer = f"<reasoning>the winner moved X first.</reasoning>\n<program>\n{new_program}</program>"
    with MessagesServer([reply(text(answer))]) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        handed, line = tournament(orch.layout.root, "fast", 4)
    asked = server.requests[0].body["messages"][0]["content"]
    ledger = Ledger(orch.layout.ledger)
    try:
        child = next(p for p in ledger.programs() if p.generation == 1)
        evolver, why = ledger.variant_reasons()[child.sha]
    finally:
        ledger.close()
    assert "tournament after 4 experiments a pane" in line and child.sha[:7] in line, line
    assert child.text == new_program and evolver.startswith("llm-tournament:") and why.startswith("the winner")
    assert asked.split("### variant ")[1].startswith(child.parent)  # the winner is the parent, shown first
    assert list(handed.values()) == [new_program]  # one pane of two lost (the worse half) and gets it
