"""Every key of the dashboard and zoom, and each command's way to the engine (Pilot, fake engine)."""

from __future__ import annotations

import dataclasses
import stat
import sys

import pytest
from conftest import make_app, repo_script, settle, zoom_loaded
from fakes import NOW, FakeEngine, scripted_run
from textual.widgets import DataTable, Input, Log, Static, TabbedContent

from conductor.core.commands import Pause, ReloadProgram, Resume, Say, Stop
from conductor.core.events import AgentActivity, ExperimentFinished, PaneState
from conductor.ui import keys
from conductor.ui.screens.confirm import ConfirmScreen
from conductor.ui.screens.dashboard import DashboardScreen
from conductor.ui.screens.help import HelpScreen
from conductor.ui.screens.message import MessageScreen
from conductor.ui.screens.zoom import ZoomScreen
from conductor.ui.widgets.top_bar import TopBar

SIZE = (160, 48)
pytestmark = pytest.mark.timeout(60)


def card_text(app, name: str) -> str:
    card = app.dashboard.cards[name]
    parts = [str(card.border_title)] + [str(s.render()) for s in card.query(Static)]
    return "\n".join(parts)


async def test_digit_keys_focus_panes():
    app, _ = make_app(10)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        assert app.model.selected == "tinygpt-1"
        await pilot.press("3")
        assert app.model.selected == "tinygpt-3"
        assert app.dashboard.cards["tinygpt-3"].has_class("-selected")
        assert not app.dashboard.cards["tinygpt-1"].has_class("-selected")
        await pilot.press("0")
        assert app.model.selected == "tinygpt-10"
        assert "▶" in card_text(app, "tinygpt-10")


async def test_clicking_a_card_selects_its_pane():
    app, _ = make_app(4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click("#pane-2")
        assert app.model.selected == "tinygpt-3"
        await pilot.press("enter")
        assert isinstance(app.screen, ZoomScreen) and app.screen.pane == "tinygpt-3"


async def test_digit_for_a_missing_pane_changes_nothing():
    app, _ = make_app(4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "9")
        assert app.model.selected == "tinygpt-2"


async def test_enter_zooms_into_the_focused_pane_and_escape_returns():
    app, engine = make_app(4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "enter")
        await zoom_loaded(pilot)
        assert isinstance(app.screen, ZoomScreen)
        assert app.screen.pane == "tinygpt-2"
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(engine.ledger.experiments("tinygpt-2"))
        activity = app.screen.query_one("#zoom-activity", Log)
        assert any("Next I will try" in line for line in activity.lines)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_zoom_row_shows_the_commit_diff_and_log_tail(tmp_path, experiment_repo):
    repo, commits = experiment_repo
    app, _ = make_app(4, script=repo_script(tmp_path, repo, commits))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await zoom_loaded(pilot)
        zoom = app.screen
        table = zoom.query_one(DataTable)
        assert table.cursor_row == table.row_count - 1  # the newest experiment is selected
        table.move_cursor(row=3)  # seq 4: DEPTH 2->3 (a keep: reachable on the branch)
        await zoom_loaded(pilot)
        diff = str(zoom.query_one("#diff-text", Static).render())
        assert f"commit {commits[3]}" in diff
        assert "-WIDTH = 128" in diff and "+WIDTH = 96" in diff
        await pilot.press("o")
        assert zoom.query_one(TabbedContent).active == "log"
        log = str(zoom.query_one("#log-text", Static).render())
        assert "step 10/10" in log and "step 1/10" not in log  # the \r progress line collapsed
        assert "val_bpb: 2.9600" in log
        await pilot.press("r")
        assert zoom.query_one(TabbedContent).active == "program"
        assert "Lower val_bpb within the time budget." in str(zoom.query_one("#program-text", Static).render())
        await pilot.press("d")
        assert zoom.query_one(TabbedContent).active == "diff"


async def test_zoom_explains_rows_without_a_diff(tmp_path, experiment_repo):
    repo, commits = experiment_repo
    app, _ = make_app(4, script=repo_script(tmp_path, repo, commits))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await zoom_loaded(pilot)
        zoom = app.screen
        table = zoom.query_one(DataTable)
        table.move_cursor(row=0)
        await pilot.pause()
        await zoom_loaded(pilot)
        assert "baseline" in str(zoom.query_one("#diff-text", Static).render())
        table.move_cursor(row=5)  # seq 6 of pane 1 is rejected in the script
        await pilot.pause()
        await zoom_loaded(pilot)
        text = str(zoom.query_one("#diff-text", Static).render())
        assert "rejected" in text and "nothing was committed" in text


async def test_zoom_follows_new_experiments():
    app, engine = make_app(4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await zoom_loaded(pilot)
        table = app.screen.query_one(DataTable)
        before = table.row_count
        engine.emit(
            ExperimentFinished(
                pane="tinygpt-1",
                seq=99,
                commit="a" * 40,
                status="keep",
                metric_name="val_bpb",
                metric=2.5,
                best=2.5,
                baseline=3.2,
                delta=-0.6,
                description="late idea",
                reason="",
                duration_s=20.0,
                ts=NOW,
            )
        )
        await settle(pilot)
        await zoom_loaded(pilot)
        assert table.row_count == before + 1


async def test_m_sends_a_message_to_the_focused_pane():
    app, engine = make_app(4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2", "m")
        assert isinstance(app.screen, MessageScreen)
        assert app.screen.query_one(Input).has_focus
        await pilot.press(*"try rmsnorm", "enter")
        assert engine.commands == [Say(pane="tinygpt-2", text="try rmsnorm")]
        await settle(pilot)
        log = app.dashboard.cards["tinygpt-2"].query_one(Log)
        assert log.lines[-1] == "✉ try rmsnorm"


async def test_m_on_an_optuna_pane_says_its_agent_cannot_read_it_and_e_says_what_it_reads(tmp_path, fake_editor):
    program = tmp_path / "program.md"
    program.write_text("# program\n")
    app, engine = make_app(4, script={"program": str(program)})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3", "m")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen) and engine.commands == []
        said = [n.message for n in app._notifications]
        assert said == ["tinygpt-3's optuna agent cannot read messages: it searches the workspace's knobs only"]
        await pilot.press("e")  # the optuna agent follows program.md's search section: the editor opens
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any("follows only program.md's ```toml conductor-search``` section" in m for m in said), said
        assert said[-1] == "tinygpt-3: program.md saved; its search applies from the next trial"
        assert "Also: try weight tying." in program.read_text()
        assert engine.commands == [ReloadProgram(pane="tinygpt-3")]


async def test_m_then_escape_sends_nothing():
    app, engine = make_app(4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m", *"never mind", "escape")
        assert engine.commands == []
        assert isinstance(app.screen, DashboardScreen)


async def test_p_pauses_then_resumes_the_pane():
    app, engine = make_app(4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        assert engine.commands == [Pause(pane="tinygpt-1")]
        await settle(pilot)
        assert "pausing" in card_text(app, "tinygpt-1")  # running: it finishes first
        await pilot.press("p")
        assert engine.commands[-1] == Resume(pane="tinygpt-1")
        await pilot.press("4", "p")  # tinygpt-4 is paused already: p resumes it
        assert engine.commands[-1] == Resume(pane="tinygpt-4")


@pytest.fixture
def fake_editor(tmp_path, monkeypatch):
    script = tmp_path / "editor.py"
    script.write_text("import sys\nwith open(sys.argv[1], 'a') as f:\n    f.write('\\nAlso: try weight tying.\\n')\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.delenv("VISUAL", raising=False)


async def test_e_edits_the_program_and_asks_for_a_reload(tmp_path, fake_editor):
    program = tmp_path / "programs" / "tinygpt-1.md"
    program.parent.mkdir()
    program.write_text("# program\nLower val_bpb.\n")
    app, engine = make_app(4, script={"program": str(program)})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert "Also: try weight tying." in program.read_text()
        assert engine.commands == [ReloadProgram(pane="tinygpt-1")]


async def test_e_with_no_change_sends_no_reload(tmp_path, monkeypatch):
    program = tmp_path / "program.md"
    program.write_text("# program\n")
    monkeypatch.setenv("EDITOR", "true")
    app, engine = make_app(4, script={"program": str(program)})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert engine.commands == []


async def test_n_jumps_to_panes_that_need_attention():
    app, engine = make_app(10)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert app.model.selected == "tinygpt-5"  # failed
        await pilot.press("n")
        assert app.model.selected == "tinygpt-6"  # waiting on a rate limit
        engine.emit(
            ExperimentFinished(
                pane="tinygpt-3",
                seq=50,
                commit="b" * 40,
                status="keep",
                metric_name="val_bpb",
                metric=2.0,
                best=2.0,
                baseline=3.1,
                delta=-1.1,
                description="big win",
                reason="",
                duration_s=20.0,
                ts=NOW,
            )
        )
        await settle(pilot)
        assert "new best" in card_text(app, "tinygpt-3")
        await pilot.press("n")
        assert app.model.selected == "tinygpt-3"  # a new best not yet seen
        await settle(pilot)
        assert "new best" not in card_text(app, "tinygpt-3")  # now seen
        await pilot.press("n")
        assert app.model.selected == "tinygpt-5"  # wraps around


async def test_n_in_zoom_moves_the_zoom_to_the_next_pane_that_needs_attention():
    app, _ = make_app(10)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await zoom_loaded(pilot)
        await pilot.press("n")
        await zoom_loaded(pilot)
        assert isinstance(app.screen, ZoomScreen) and app.screen.pane == "tinygpt-5"
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)  # one zoom deep, not two
        assert app.model.selected == "tinygpt-5"


async def test_n_with_nothing_to_see_stays():
    app, _ = make_app(2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert app.model.selected == "tinygpt-1"


async def test_t_cycles_the_conductor_themes():
    app, _ = make_app(1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        seen = [app.theme]
        for _ in range(3):
            await pilot.press("t")
            seen.append(app.theme)
        assert seen == ["conductor-dark", "conductor-contrast", "conductor-light", "conductor-dark"]
        await pilot.press("t")
        assert [n.message for n in app._notifications][-1] == "theme: conductor-contrast"  # named
    again, _ = make_app(1)
    async with again.run_test(size=SIZE) as pilot:  # and kept for the next TUI
        await settle(pilot)
        assert again.theme == "conductor-contrast"


async def test_question_mark_shows_every_key():
    app, _ = make_app(1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text", Static).render())
        for spec in keys.KEYS:
            assert spec.label in text and spec.help in text
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_q_asks_first_while_loops_run_and_no_keeps_them_running():
    app, engine = make_app(2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert isinstance(app.screen, DashboardScreen)
        assert engine.stop_calls == []
        assert app.is_running


async def test_q_then_yes_stops_the_orchestra_and_waits_for_it():
    app, engine = make_app(2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q", "y")
        await pilot.pause()
    assert engine.stop_calls == [None]
    assert app.engine_done.is_set()
    assert app.model.finished_reason == "stopped"
    assert app.return_code == 0


async def test_q_after_the_run_finished_quits_at_once():
    engine = FakeEngine(scripted_run(2), finish=True)
    app, _ = make_app(engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.model.finished_reason == "all panes done"
        await pilot.press("q")
        await pilot.pause()
    assert engine.stop_calls == []
    assert app.return_code == 0


async def test_ctrl_q_also_asks():
    app, _ = make_app(2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)


async def test_a_failing_engine_leaves_the_ui_up_and_quits_with_1():
    class Broken(FakeEngine):
        async def run(self):
            self.emit(scripted_run(1)[0])
            raise RuntimeError("ledger disk full")

    app, _ = make_app(engine=Broken())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.engine_error, RuntimeError)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 1


async def test_palette_offers_every_action_and_every_pane():
    app, _ = make_app(4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        for spec in keys.KEYS:
            if spec.palette and spec.scope in ("app", "dashboard"):
                assert any(title.startswith(spec.title.capitalize()) for title in commands), spec.title
        commands["Zoom tinygpt-3"].callback()
        await pilot.pause()
        assert isinstance(app.screen, ZoomScreen) and app.screen.pane == "tinygpt-3"
        zoom_titles = {c.title for c in app.get_system_commands(app.screen)}
        assert any(t.startswith("Back") for t in zoom_titles)


async def test_palette_runs_an_app_action(tmp_path):
    app, engine = make_app(2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pause = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Pause"))
        await pause.callback()
        assert engine.commands == [Pause(pane="tinygpt-1")]


async def test_events_wait_for_the_timer_and_arrive_in_one_batch():
    app, engine = make_app(2, refresh_hz=0.01)  # the timer never fires during this test
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        log = app.dashboard.cards["tinygpt-2"].query_one(Log)
        before = log.line_count
        for i in range(500):
            engine.emit(AgentActivity(pane="tinygpt-2", kind="text", text=f"thought {i}", ts=NOW))
        await pilot.pause()
        assert log.line_count == before  # the subscriber only buffered
        app.tick()
        await pilot.pause()
        assert log.lines[-1] == "· thought 499"
        assert log.line_count <= 200


async def test_state_changes_show_at_once_and_activity_tails_at_the_slow_rate():
    app, engine = make_app(2, refresh_hz=0.01)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        card = app.dashboard.cards["tinygpt-2"]
        before = card.query_one(Log).line_count
        engine.emit(AgentActivity(pane="tinygpt-2", kind="text", text="later", ts=NOW))
        engine.emit(PaneState(pane="tinygpt-2", state="judging", since=NOW, ts=NOW))
        app.bridge.drain()
        app.draw(NOW, slow=False)
        await pilot.pause()
        assert str(card.query_one("#summary", Static).render()).startswith("judging")
        assert card.query_one(Log).line_count == before
        app.draw(NOW, slow=True)
        await pilot.pause()
        assert card.query_one(Log).lines[-1] == "· later"


async def test_hidden_panes_keep_their_buffer_until_shown():
    app, engine = make_app(2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        card_log = app.dashboard.cards["tinygpt-2"].query_one(Log)
        await pilot.press("enter")  # zoom into tinygpt-1: the dashboard is hidden
        await zoom_loaded(pilot)
        before = card_log.line_count
        engine.emit(AgentActivity(pane="tinygpt-2", kind="tool", text="while you were away", ts=NOW))
        await settle(pilot)
        assert card_log.line_count == before
        await pilot.press("escape")
        await settle(pilot)
        assert card_log.lines[-1] == "▸ while you were away"


async def test_resize_relayouts_the_grid_and_compacts_cards():
    app, _ = make_app(10)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        grid = app.dashboard.query_one("#grid")
        assert (grid.styles.grid_size_columns, grid.styles.grid_size_rows) == (12, 3)
        card = app.dashboard.cards["tinygpt-1"]
        assert card.query_one(Log).display
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert (grid.styles.grid_size_columns, grid.styles.grid_size_rows) == (6, 4)
        assert not card.query_one(Log).display  # activity is the first thing a short card drops
        assert "best" in card_text(app, "tinygpt-1")  # state and best stay


async def test_unmeasured_values_show_a_dash_never_a_number():
    app, _ = make_app(4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        optuna = str(app.dashboard.cards["tinygpt-3"].query_one("#summary", Static).render()).splitlines()
        assert optuna[3] == "- · tok/s in - out -"  # optuna: no token stream
        assert "[$muted]-" in app.dashboard.cards["tinygpt-3"]._shown["summary"].splitlines()[3]  # a dim dash
        top = str(app.dashboard.query_one(TopBar).render())
        assert "host cpu - mem -" in top
        llm = str(app.dashboard.cards["tinygpt-1"].query_one("#summary", Static).render()).splitlines()
        assert llm[3] == "$0.08 · tok/s in 0.0 out 0.0"  # anthropic panes report real usage


async def test_resumed_run_shows_its_ledger_history():
    events = scripted_run(2)
    run_started = dataclasses.replace(events[0], ts=NOW, resumed=True)  # this session starts now
    engine = FakeEngine([run_started], preloaded=events)
    app, _ = make_app(engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        p = app.model.panes["tinygpt-1"]
        assert p.experiments == 6 and p.counts["keep"] == 1
        assert p.usd_total == pytest.approx(0.042)
        assert "K1" in card_text(app, "tinygpt-1")
        assert app.model.experiments_per_hour(NOW) < 100  # counted over the run, not this session


async def test_q_on_an_attached_run_asks_detach_or_stop():
    """`conductor attach`: the engine is a RemoteOrchestra; q asks, d detaches, the loops go on;
    escape answers neither."""
    engine = FakeEngine(scripted_run(2))
    engine.remote = True
    app, _ = make_app(engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen) and app.is_running
        await pilot.press("q", "d")
        await pilot.pause()
    assert engine.stop_calls == [None]  # RemoteOrchestra.stop() detaches
    assert not any(isinstance(c, Stop) for c in engine.commands)
    assert app.return_code == 0


async def test_d_detaches_an_attached_tui_and_is_a_hint_otherwise():
    engine = FakeEngine(scripted_run(2))
    app, _ = make_app(engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert app.is_running and engine.stop_calls == []
        assert any("q stops it" in n.message for n in app._notifications)
    engine = FakeEngine(scripted_run(2))
    engine.remote = True
    app, _ = make_app(engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
    assert engine.stop_calls == [None]
