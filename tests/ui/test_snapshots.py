"""SVG snapshots of the TUI from a scripted run: 1, 4, 12 and 24 panes at 80x24, 120x40 and
200x50 (at 80x24 with 24 panes the table takes over from cards that cannot fit), the table
view sorted, the feed, zoom with a diff, help, three themes. `pytest tests/ui
--snapshot-update` accepts new ones."""

from __future__ import annotations

import pytest
from conftest import make_app, repo_script, settle, zoom_loaded

pytestmark = pytest.mark.timeout(120)

TINY = (80, 24)
SMALL = (120, 40)
LARGE = (200, 50)


def shoot(snap_compare, app, size, *keys: str, zoom_keys: tuple[str, ...] = ()) -> bool:
    async def run_before(pilot) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
        if zoom_keys:
            await pilot.press("enter")
            await zoom_loaded(pilot)
            await pilot.press(*zoom_keys)
            await zoom_loaded(pilot)
        await settle(pilot)

    return snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("panes", [1, 4, 12, 24])
@pytest.mark.parametrize("size", [TINY, SMALL, LARGE], ids=["80x24", "120x40", "200x50"])
def test_dashboard(snap_compare, size, panes):
    assert shoot(snap_compare, make_app(panes)[0], size)


def test_table_view_24_panes_120x40(snap_compare):
    assert shoot(snap_compare, make_app(24)[0], SMALL, "v", "s", "s", "s")


def test_feed_120x40(snap_compare):
    assert shoot(snap_compare, make_app(4)[0], SMALL, "f")


def test_zoom_with_a_diff_120x40(snap_compare, tmp_path, experiment_repo):
    repo, commits = experiment_repo
    app, _ = make_app(4, script=repo_script(tmp_path, repo, commits))
    assert shoot(snap_compare, app, SMALL, zoom_keys=("up", "up"))


def test_help_120x40(snap_compare):
    assert shoot(snap_compare, make_app(4)[0], SMALL, "question_mark")


def test_light_theme_twelve_panes_200x50(snap_compare):
    assert shoot(snap_compare, make_app(12, theme="conductor-light")[0], LARGE)


def test_contrast_theme_four_panes_120x40(snap_compare):
    assert shoot(snap_compare, make_app(4, theme="conductor-contrast")[0], SMALL)
