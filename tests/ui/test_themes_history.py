"""Theme files and the history reader: the parts of the TUI that touch files and git."""

from __future__ import annotations

import pytest
from conftest import git

from conductor.core.history import commit_diff, log_tail
from conductor.errors import ConductorError
from conductor.ui.themes import DEFAULT_THEME, SEMANTIC_VARIABLES, load_theme, load_themes, themes_dir


def test_bundled_themes_load_with_every_semantic_variable():
    themes = load_themes()
    names = [t.name for t in themes]
    assert names[0] == DEFAULT_THEME
    assert {"conductor-dark", "conductor-light", "conductor-contrast"} <= set(names)
    assert any(not t.dark for t in themes)
    for t in themes:
        assert set(SEMANTIC_VARIABLES) <= set(t.variables)


def test_themes_dir_is_the_checkout_folder_or_the_wheel_copy():
    folder = themes_dir()
    assert (folder / "dark.toml").is_file()
    assert folder.name == "themes"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\nprimary = "#fff"\ncolour = "#000"\n', "3: unknown key 'colour'"),
        ('name = "x"\nprimary = "not a colour"\n', "2: 'primary' is not a colour"),
        ('name = "x"\nprimary = "#fff"\n[variables]\nkeep = "#0f0"\n', "3: [variables] lacks discard"),
        ('primary = "#fff"\n', "a theme needs 'name'"),
    ],
)
def test_a_broken_theme_file_names_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConductorError) as err:
        load_theme(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_commit_diff_shows_a_discarded_commit_against_its_parent(experiment_repo):
    repo, commits = experiment_repo
    git(repo, "reset", "-q", "--hard", commits[2])  # later commits now only reachable by refs/conductor/
    text = commit_diff(repo, commits[4])
    assert text.startswith(f"commit {commits[4]}\nparent {commits[3]}")
    assert "train.py | 2 +-" in text
    assert "-DEPTH = 2\n+DEPTH = 3" in text


def test_commit_diff_explains_failures_in_one_line(tmp_path, experiment_repo):
    repo, _ = experiment_repo
    assert "failed" in commit_diff(repo, "0" * 40)
    assert "is gone" in commit_diff(tmp_path / "nope", "abc1234")
    assert commit_diff(repo, "") == "no commit recorded for this experiment"


def test_log_tail_collapses_progress_lines_and_keeps_the_end(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "step 1\rstep 2\rstep 3\n\n")
    tail = log_tail(log, lines=3).splitlines()
    assert tail == ["line 98", "line 99", "step 3"]
    assert log_tail(tmp_path / "missing.log") == ""
    assert log_tail("") == ""
