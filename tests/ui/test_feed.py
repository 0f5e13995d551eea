"""One stream of every pane's news (`f`), and the "while you were away" summary an attached
TUI opens with: since the last look, per pane, new bests, crashes, alerts and pauses."""

from __future__ import annotations

import asyncio

import pytest
from conftest import make_app, settle
from fakes import NOW, T0, FakeEngine, scripted_run
from textual.content import Content
from textual.widgets import Static

from conductor.core.events import Alert, ExperimentFinished, PaneState, RunStarted
from conductor.core.record import ExperimentRecord
from conductor.core.rundir import RunDir
from conductor.ui.feed import away_summary
from conductor.ui.model import RunModel
from conductor.ui.screens.feed import AwayScreen, FeedScreen

pytestmark = pytest.mark.timeout(60)


def plain(markup: str) -> str:
    return Content.from_markup(markup).plain


def finished(pane: str, seq: int, status: str, metric, ts: float, base: bool = False) -> ExperimentFinished:
    return ExperimentFinished(
        pane=pane,
        seq=seq,
        commit=f"{seq:040d}",
        status=status,
        metric_name="loss",
        metric=metric,
        best=None,
        baseline=None,
        delta=None if metric is None or base else -0.1,
        description=f"idea {seq}",
        reason="exit code 1" if status == "crash" else "",
        duration_s=1.0,
        is_baseline=base,
        ts=ts,
    )


def test_the_feed_holds_news_only_and_the_summary_counts_what_came_after_the_last_look():
    m = RunModel(lambda: NOW)
    panes = tuple({"name": n, "metric": "loss", "goal": "min"} for n in ("a", "b"))
    m.apply(RunStarted(run="r", run_dir="/x", panes=panes, slots=("cpu0",), ts=T0))
    m.load_history([ExperimentRecord(pane="a", seq=1, commit="c1", status="keep", metric=2.0, is_baseline=True)])
    events = [
        finished("a", 1, "keep", 2.0, T0 + 1, base=True),  # a baseline is no new best
        finished("a", 2, "keep", 1.9, T0 + 10),
        finished("b", 1, "keep", 3.0, T0 + 11, base=True),
        finished("b", 2, "discard", 3.1, T0 + 12),  # nor a discard
        finished("a", 3, "crash", None, T0 + 100),
        finished("a", 4, "keep", 1.8, T0 + 110),
        Alert(pane="b", level="warning", message="experiment rejected: touched prepare.py", ts=T0 + 120),
        PaneState(pane="b", state="paused", detail="3 crashes in a row", since=T0 + 130, ts=T0 + 130),
        PaneState(pane="b", state="paused", detail="3 crashes in a row", since=T0 + 130, ts=T0 + 131),  # no change
        Alert(pane=None, level="info", message="no GPU", ts=T0 + 140),  # info is no news
    ]
    m.apply_all(events)
    assert [(line.pane, line.kind) for line in m.feed] == [
        ("a", "best"),
        ("a", "crash"),
        ("a", "best"),
        ("b", "alert"),
        ("b", "pause"),
    ]
    summary = [plain(line) for line in away_summary(list(m.feed), T0 + 50, ["a", "b"])]
    assert summary == [
        "a: 1 new best, 1 crash  last: new best 1.8000 -0.1000 idea 4",
        "b: 1 alert, 1 pause",
    ]
    assert away_summary(list(m.feed), T0 + 200, ["a", "b"]) == []


async def test_f_shows_every_panes_news_in_one_stream():
    app, _ = make_app(4)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, FeedScreen)
        text = plain(str(app.screen.query_one("#feed-text", Static).render()))
        assert {"tinygpt-1", "tinygpt-2", "tinygpt-3", "tinygpt-4"} <= set(text.split())
        assert "new best" in text and "crash" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, FeedScreen)


class Attached(FakeEngine):
    """The fake engine as an attached TUI sees an orchestra: remote, its replay all in."""

    remote = True
    caught_up = False

    def __init__(self, run_dir, events):
        super().__init__(events)
        self.run_dir = run_dir

    async def run(self) -> None:
        self._stopped = asyncio.Event()
        for e in self.events:
            self.emit(e)
        self.caught_up = True
        await self._stopped.wait()


async def test_attaching_opens_with_what_happened_since_the_last_look(tmp_path):
    seen = RunDir(tmp_path).seen
    seen.write_text(f"{T0 + 100:.3f}\n")
    app, _ = make_app(4, engine=Attached(tmp_path, scripted_run(4)))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, AwayScreen)
        text = plain(str(app.screen.query_one("#away", Static).render()))
        expected = away_summary(list(app.model.feed), T0 + 100, [p.name for p in app.model.ordered])
        assert text == plain("\n".join(expected)) and text.startswith("tinygpt-1: ")
        assert float(seen.read_text()) == NOW  # this look is the next one's "since"
        await pilot.press("escape")
        assert not isinstance(app.screen, AwayScreen)
