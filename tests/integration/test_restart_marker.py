"""A restart marks the replayed activity once: a second restart with nothing in between adds
no second marker under the first."""

from __future__ import annotations

from conftest import write_config
from engine_helpers import run_orchestra

from conductor.core.orchestra import RESTARTED


def test_restarting_twice_with_nothing_between_shows_one_marker(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws)
    run_orchestra(cfg, max_experiments=2)
    _, second = run_orchestra(cfg, max_experiments=2)  # done at once: nothing new happens
    assert [e.replayed for e in second if e.type == "agent_activity" and e.text == RESTARTED] == [False]
    _, third = run_orchestra(cfg, max_experiments=2)
    assert [e.replayed for e in third if e.type == "agent_activity" and e.text == RESTARTED] == [True]
