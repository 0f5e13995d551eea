"""A hostile agent's ways around the worktree check: a hardlink to a file outside, and a
symlink swapped in between the check and the write (or read)."""

from __future__ import annotations

import os
import threading

import pytest

from conductor.agents.tools import Refused, WorktreeFiles

OUTSIDE = "do not touch\n"


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "wt"
    (root / "models" / "deep").mkdir(parents=True)
    (root / "models" / "mlp.py").write_text("WIDTH = 64\n")
    (root / "models" / "deep" / "x.py").write_text("X = 1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("mlp.py", "x.py", "hard.py"):
        (outside / name).write_text(OUTSIDE)
    return WorktreeFiles(root, editable=("models/*.py",), protected=())


def outside_files(tree: WorktreeFiles) -> dict[str, str]:
    folder = tree.root.parent / "outside"
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def test_a_hardlink_to_a_file_outside_is_never_written_through(tree):
    hard = tree.root / "models" / "hard.py"
    os.link(tree.root.parent / "outside" / "hard.py", hard)
    assert tree.write_file("models/hard.py", "A = 1\n").text.startswith("wrote models/hard.py")
    assert hard.read_text() == "A = 1\n" and hard.stat().st_nlink == 1  # a new file of its own
    os.link(tree.root.parent / "outside" / "mlp.py", tree.root / "models" / "hard2.py")
    tree.edit_file("models/hard2.py", "do not", "may")
    assert (tree.root / "models" / "hard2.py").read_text() == "may touch\n"
    assert set(outside_files(tree).values()) == {OUTSIDE}


def test_a_written_file_keeps_its_mode(tree):
    target = tree.root / "models" / "mlp.py"
    target.chmod(0o755)
    tree.write_file("models/mlp.py", "W = 1\n")
    assert target.stat().st_mode & 0o777 == 0o755
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_symlinks_swapped_in_a_loop_never_lead_a_write_or_read_out(tree):
    """One thread swaps a file and a folder of the worktree for symlinks to the outside and
    back, as fast as it can; the tools write (and read) 2,000 times meanwhile."""
    root, outside = tree.root, tree.root.parent / "outside"
    stop = threading.Event()

    def attack() -> None:
        while not stop.is_set():
            for real, link_to in (
                (root / "models" / "mlp.py", outside / "mlp.py"),
                (root / "models" / "deep", outside),
            ):
                try:
                    swap_once(real, link_to)
                except OSError:
                    pass  # the tool's rename won a race: the next round goes on

    def swap_once(real, link_to) -> None:
        spare, tmp_link = real.with_name(real.name + ".real"), real.with_name(real.name + ".lnk")
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(link_to, tmp_link)
        os.rename(real, spare)
        os.rename(tmp_link, real)
        os.unlink(real)
        os.rename(spare, real)

    attacker = threading.Thread(target=attack, daemon=True)
    attacker.start()
    outcomes = {"ok": 0, "refused": 0}
    leaked = []
    try:
        for i in range(2000):
            rel = ("models/mlp.py", "models/deep/x.py")[i % 2]
            try:
                tree.write_file(rel, f"N = {i}\n")
                text = tree.read_file(rel).text
                if OUTSIDE in text:
                    leaked.append(rel)
                outcomes["ok"] += 1
            except (Refused, OSError):
                outcomes["refused"] += 1
    finally:
        stop.set()
        attacker.join(5)
    assert set(outside_files(tree).values()) == {OUTSIDE}
    assert leaked == []
    assert outcomes["ok"] > 0  # the tools still work between swaps
