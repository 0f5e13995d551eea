"""The tool contract's file rules: confined to the worktree, editable files only, text only."""

from __future__ import annotations

import os
import subprocess

import pytest

from conductor.agents.tools import MAX_READ_BYTES, Refused, WorktreeFiles, describe_call


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "wt"
    (root / "models").mkdir(parents=True)
    (root / "train.py").write_text("X = 1\nY = 2\n")
    (root / "prepare.py").write_text("def evaluate():\n    return 1\n")
    (root / "models" / "mlp.py").write_text("WIDTH = 64\n")
    (root / "notes.md").write_text("notes\n")
    (tmp_path / "outside.py").write_text("secret\n")
    os.symlink(tmp_path / "outside.py", root / "models" / "link.py")  # editable by pattern, but leads out
    os.symlink(root / "prepare.py", root / "alias.py")  # inside, but a way around the protected rule
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    return WorktreeFiles(root, editable=("train.py", "models/*.py", "alias.py"), protected=("prepare.py",))


def snapshot(files: WorktreeFiles) -> dict:
    out = {}
    for p in sorted(files.root.parent.rglob("*")):
        if ".git" in p.parts or p.is_dir():
            continue
        out[str(p)] = os.readlink(p) if p.is_symlink() else p.read_bytes()
    return out


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda f: f.read_file("../outside.py"), "'..' is not allowed"),
        (lambda f: f.read_file("models/../../outside.py"), "'..' is not allowed"),
        (lambda f: f.read_file("/etc/passwd"), "absolute paths are not allowed"),
        (lambda f: f.read_file("~/x"), "absolute paths are not allowed"),
        (lambda f: f.read_file(""), "non-empty string"),
        (lambda f: f.read_file(None), "non-empty string"),
        (lambda f: f.read_file("models/link.py"), "symlink leads outside"),
        (lambda f: f.read_file("missing.py"), "no such file"),
        (lambda f: f.read_file("models"), "not a regular file"),
        (lambda f: f.write_file("models/link.py", "x"), "symlink leads outside"),
        (lambda f: f.write_file("alias.py", "x"), "goes through a symlink"),
        (lambda f: f.write_file("prepare.py", "x"), "prepare.py is protected"),
        (lambda f: f.edit_file("prepare.py", "1", "0"), "prepare.py is protected"),
        (lambda f: f.write_file("notes.md", "x"), "notes.md is not editable"),
        (lambda f: f.write_file("new.py", "x"), "new.py is not editable"),
        (lambda f: f.write_file(".git/config", "x"), "git's internals"),
        (lambda f: f.write_file("train.py", 42), "content must be a string"),
        (lambda f: f.write_file("train.py", "a\x00b"), "NUL bytes"),
        (lambda f: f.write_file("train.py", "\ud800"), "not valid UTF-8"),
        (lambda f: f.write_file("train.py", "x" * 300_000), "too large to write"),
        (lambda f: f.edit_file("train.py", "", "Z = 3\n"), "old_text is empty"),
        (lambda f: f.edit_file("train.py", "Z = 9", "Z = 3"), "was not found"),
        (lambda f: f.edit_file("train.py", " = ", " := "), "occurs 2 times"),
        (lambda f: f.edit_file("train.py", "X = 1", None), "must be strings"),
        (lambda f: f.edit_file("models/new.py", "a", "b"), "no such file"),
    ],
)
def test_refusals_leave_the_disk_alone(tree, call, reason):
    before = snapshot(tree)
    with pytest.raises(Refused) as err:
        call(tree)
    assert reason in str(err.value)
    assert snapshot(tree) == before


def test_binary_and_huge_files_are_not_read(tree):
    (tree.root / "data.bin").write_bytes(b"\x89PNG\x00\x01")
    (tree.root / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tree.root / "big.txt").write_text("x" * (MAX_READ_BYTES + 1))
    for rel, reason in (("data.bin", "binary"), ("latin1.txt", "binary"), ("big.txt", "too large to read")):
        with pytest.raises(Refused, match=reason):
            tree.read_file(rel)


def test_reads_writes_and_edits_inside_the_rules(tree):
    assert tree.read_file("./train.py").text == "X = 1\nY = 2\n"
    assert tree.read_file("prepare.py").text.startswith("def evaluate")  # protected files can be read
    assert tree.edit_file("train.py", "X = 1", "X = 3").text == "edited train.py: replaced 1 line(s)"
    assert (tree.root / "train.py").read_text() == "X = 3\nY = 2\n"
    result = tree.write_file("models/wide.py", "WIDTH = 128\n")  # a new file matching an editable pattern
    assert not result.is_error and (tree.root / "models" / "wide.py").read_text() == "WIDTH = 128\n"
    listing = tree.list_files().text.splitlines()
    assert "train.py (editable)" in listing and "prepare.py (protected, read-only)" in listing
    assert "notes.md" in listing and "models/mlp.py (editable)" in listing


def test_describe_call_is_one_short_line():
    assert describe_call("edit_file", {"path": "train.py", "old_text": "a", "new_text": "b"}) == "edit_file train.py"
    assert describe_call("write_file", {"path": "t.py", "content": "abc"}) == "write_file t.py (3 chars)"
    assert describe_call("run_experiment", {"description": "halve lr"}) == "run_experiment: halve lr"
    assert describe_call("list_files", {}) == "list_files"
