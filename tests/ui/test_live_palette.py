"""The palette's live changes: pause and resume all, a pane added, a limit raised, a pane removed."""

from __future__ import annotations

from conftest import make_app, settle

from conductor.core.commands import AddPane, PauseAll, RemovePane, ResumeAll, SetLimit

SIZE = (120, 40)


async def test_the_palette_sends_live_changes():
    app, engine = make_app(2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        ws = app.model.ordered[0].workspace
        for title in ("Pause all panes", "Resume all panes", f"Add a pane to {ws}", "Remove tinygpt-2"):
            commands[title].callback()
        raise_limit = next(t for t in commands if t.startswith(f"Allow {ws} 10 more"))
        commands[raise_limit].callback()
        await pilot.pause()
    assert engine.commands[:4] == [PauseAll(), ResumeAll(), AddPane(workspace=ws), RemovePane(pane="tinygpt-2")]
    limit = engine.commands[4]
    assert isinstance(limit, SetLimit) and limit.key == "max_experiments" and limit.workspace == ws
    assert limit.value == max(p.tally.experiments for p in app.model.ordered) + 10
