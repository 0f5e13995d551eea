"""The workspace `setup` command: once per machine before its first experiment, again only
when the protected files (or the command) change, and a failed one stops the panes with one
line instead of a crash row per experiment. Real orchestra, real git, real subprocesses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import write_config
from engine_helpers import run_orchestra

from conductor.core.events import PaneDone, PaneState
from conductor.core.ledger import Ledger


def setup_command(counter: Path, exit_code: int = 0) -> str:
    """Appends one line to `counter` (outside the tree) and prints where it ran."""
    script = counter.with_suffix(".py")
    script.write_text(
        "import os, sys\n"
        f"open({str(counter)!r}, 'a').write(os.getcwd() + '\\n')\n"
        "print('prepared', os.path.exists('prepare.py'))\n"
        "sys.exit(int(sys.argv[1]))\n"
    )
    return f"{sys.executable} {script} {exit_code}"


def config(tmp_path: Path, ws: Path, command: str, panes: int = 2) -> Path:
    return write_config(tmp_path, ws, panes=panes, extra=f"setup = {json.dumps(command)}\n")


def test_setup_runs_once_per_machine_in_its_own_checkout_and_again_when_protected_files_change(tmp_path, fastws):
    counter = tmp_path / "setups"
    cfg = config(tmp_path, fastws, setup_command(counter))
    run_orchestra(cfg, max_experiments=2)
    ran = counter.read_text().splitlines()
    assert len(ran) == 1, ran  # two panes, four runs: one setup
    assert "/.conductor/setup/" in ran[0] and "/worktrees/" not in ran[0]
    logs = list((tmp_path / ".conductor" / "setup").glob("*.log"))
    assert [p.read_text().strip() for p in logs] == ["prepared True"]
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    assert {r.status for r in ledger.experiments()} <= {"keep", "discard"}
    ledger.close()

    run_orchestra(cfg, max_experiments=3)  # a restart: the marker says this machine is set up
    assert len(counter.read_text().splitlines()) == 1

    other = config(tmp_path, fastws, setup_command(counter) + " # v2", panes=2)
    run_orchestra(other, max_experiments=4)  # a new setup key: it runs again, once
    assert len(counter.read_text().splitlines()) == 2


def test_a_failed_setup_stops_the_panes_with_one_line_and_no_crash_rows(tmp_path, fastws):
    counter = tmp_path / "setups"
    cfg = config(tmp_path, fastws, setup_command(counter, exit_code=3))
    _, events = run_orchestra(cfg, max_experiments=3)
    assert len(counter.read_text().splitlines()) == 1  # tried once, not once per experiment
    errors = [e for e in events if isinstance(e, PaneState) and e.state == "error"]
    assert len(errors) == 2
    for e in errors:
        assert "setup failed on this machine" in e.detail and "exited 3" in e.detail and "prepared True" in e.detail
        assert "\n" not in e.detail
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    assert ledger.experiments() == []
    ledger.close()
    assert not [e for e in events if isinstance(e, PaneDone) and "crash" in e.reason]


def test_two_setups_of_one_key_at_once_each_get_the_checkout(tmp_path):
    """Two Ray nodes on one machine share its /tmp: neither unpack may break the other's."""
    import io
    import tarfile
    from concurrent.futures import ThreadPoolExecutor

    from conductor.core.node_setup import run_setup_in

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(200):
            data = f"file {i}\n".encode()
            info = tarfile.TarInfo(f"d{i % 10}/f{i}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    command = f"{sys.executable} -c \"import pathlib; print(len(list(pathlib.Path('.').rglob('*.txt'))))\""
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run_setup_in(tmp_path / "key", buf.getvalue(), command, {}, 30), range(4)))
    assert [(r.exit_code, r.output.strip()) for r in results] == [(0, "200")] * 4
    assert [p.name for p in (tmp_path / "key").iterdir()] == ["tree"]
