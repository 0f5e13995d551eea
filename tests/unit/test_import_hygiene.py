"""The engine imports no UI, no torch and no agent SDK; `conductor --help` neither."""

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import conductor.core

HEAVY = ("textual", "torch", "anthropic", "optuna", "matplotlib", "rich", "ray")
REPO = Path(__file__).resolve().parents[2]


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _heavy(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in HEAVY)


def test_every_core_module_imports_light():
    names = [f"conductor.core.{m.name}" for m in pkgutil.iter_modules(conductor.core.__path__)]
    assert "conductor.core.loop" in names and "conductor.core.orchestra" in names
    mods = _modules_after("\n".join(f"import {n}" for n in names))
    assert _heavy(mods) == []


def test_help_imports_nothing_heavy():
    mods = _modules_after(
        "import sys\nfrom conductor.cli import main\nsys.argv=['conductor','--help']\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert "conductor.cli" in mods
    assert _heavy(mods) == []


def test_help_runs_as_a_command():
    out = subprocess.run([sys.executable, "-m", "conductor", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for verb in ("demo", "up", "run", "status", "report", "init", "exp", "doctor"):
        assert verb in out.stdout
