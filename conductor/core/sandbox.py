"""Experiments as untrusted code: a bubblewrap sandbox around each trial's process.

An agent writes the code an experiment runs, with nobody watching, so the process gets a
world of its own (bubblewrap, the mechanism Claude Code's sandbox and Flatpak use on Linux;
docs/ARCHITECTURE.md says why not Landlock):

- files: the system and the Python environment read-only; the trial's checkout writable,
  except its `.git` and the protected files; a private /tmp and an empty private HOME; the
  workspace's declared `data` folders (read-only unless marked writable; one under the real
  HOME appears at the same place under the private one); nothing of the
  run dir (no ledger, no socket, no other pane) and nothing else of the researcher's home;
- processes: a PID namespace of its own, so everything it starts dies with it (whatever it
  does to its environment, process group or session) and nothing inside sees conductor's
  processes; bubblewrap itself starts with the experiment's scrubbed environment, since it
  is what /proc/1/environ shows inside;
- GPUs: a GPU slot's /dev/nvidia* devices are passed in (CUDA_VISIBLE_DEVICES still picks
  the slot's GPU); its processes stay descendants of the launcher, so NVML attribution to
  the pane works as without the sandbox;
- network: on unless the workspace sets `network = false`.

`SandboxRunner` wraps another runner (the local one): only the command changes.
"""

from __future__ import annotations

import functools
import glob
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from conductor.core.node_setup import SetupRequest, SetupResult
from conductor.core.runner import Runner, SetsUpMachines, Trial, TrialResult
from conductor.core.slots import Slot

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/sys")
HOME_INSIDE = "/tmp/home"
NOT_SANDBOXED = "experiments are not sandboxed"


@functools.lru_cache(maxsize=1)
def availability() -> tuple[bool, str]:
    """(usable, one line why not): bubblewrap present and able to make namespaces here."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False, f"{NOT_SANDBOXED}: bubblewrap is not installed (apt-get install bubblewrap)"
    probe = [exe, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-pid", "--", "true"]
    try:
        out = subprocess.run(probe, capture_output=True, text=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{NOT_SANDBOXED}: bubblewrap cannot run here ({exc})"
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or ["no namespaces"])[-1]
        return False, f"{NOT_SANDBOXED}: bubblewrap cannot make namespaces here ({why})"
    return True, "experiments run in a bubblewrap sandbox"


def python_dirs() -> list[Path]:
    """What an experiment's Python needs to see: conductor's interpreter and environment."""
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    dirs.update(Path(p) for p in sys.path if p and Path(p).is_dir())
    return sorted(dirs)


def _under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def bwrap_argv(
    trial: Trial,
    slot: Slot,
    env: dict[str, str],
    *,
    hidden: Iterable[Path],
    extra_ro: Iterable[Path] = (),
    exe: str = "bwrap",
) -> list[str]:
    """The bubblewrap command line for one trial (the trial's own command goes after `--`)."""
    hidden = [Path(h).resolve() for h in hidden]
    cwd = Path(trial.cwd).resolve()
    argv = [exe, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try"]
    if not trial.network:
        argv += ["--unshare-net"]
    for system in SYSTEM_DIRS:
        if os.path.islink(system):
            argv += ["--symlink", os.readlink(system), system]
        elif os.path.isdir(system):
            argv += ["--ro-bind", system, system]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--dir", HOME_INSIDE]
    if slot.kind == "gpu":
        for dev in sorted(glob.glob("/dev/nvidia*")):
            argv += ["--dev-bind", dev, dev]
    readable = [*python_dirs(), *extra_ro, *_path_dirs(env)]
    for d in sorted({Path(p) for p in readable}):
        if d.is_dir() and not _under(d, SYSTEM_DIRS_PATHS) and not _under(d, hidden) and not _contains_cwd(d, cwd):
            argv += ["--ro-bind", str(d), str(d)]
    home = Path(env.get("HOME") or "/nonexistent").resolve()
    for path, writable in trial.data:
        p = Path(path)
        if writable:
            p.mkdir(parents=True, exist_ok=True)  # a cache the experiment fills
        if p.exists():
            argv += ["--bind" if writable else "--ro-bind", str(p), str(_inside(p, home))]
    argv += ["--bind", str(cwd), str(cwd)]
    dot_git = cwd / ".git"
    if dot_git.exists():
        argv += ["--ro-bind", str(dot_git), str(dot_git)]
    for rel in trial.protected:
        target = cwd / rel
        if target.exists():
            argv += ["--ro-bind", str(target), str(target)]
    argv += ["--setenv", "HOME", HOME_INSIDE, "--setenv", "TMPDIR", "/tmp", "--chdir", str(cwd)]
    return [*argv, "--", "/bin/sh", "-c", trial.command]


SYSTEM_DIRS_PATHS = tuple(Path(d) for d in SYSTEM_DIRS)


def _contains_cwd(d: Path, cwd: Path) -> bool:
    """A folder that holds the checkout (and so, in general, the run dir) is never bound whole."""
    return cwd.is_relative_to(d)


def _inside(path: Path, home: Path) -> Path:
    """Where a data folder appears inside: under the private HOME when it lives under the real
    one (so `~/.cache/x` is `~/.cache/x` on both sides), else at its own path."""
    if home != Path("/") and path.is_relative_to(home):
        return Path(HOME_INSIDE) / path.relative_to(home)
    return path


def _path_dirs(env: dict[str, str]) -> list[Path]:
    return [Path(p) for p in env.get("PATH", "").split(os.pathsep) if p and os.path.isabs(p)]


class SandboxRunner:
    """Runs each trial through `inner` inside bubblewrap; `hidden` are folders an experiment
    must never see even when a readable folder contains them (the run dir)."""

    def __init__(self, inner: Runner, hidden: Iterable[Path], exe: str | None = None):
        self.inner = inner
        self.hidden = [Path(h) for h in hidden]
        self.exe = exe or shutil.which("bwrap") or "bwrap"

    async def run_setup(self, request: SetupRequest, slot: Slot, env: dict[str, str], base: Path) -> SetupResult:
        """The researcher's own setup runs outside the sandbox (core/node_setup.py says why)."""
        if not isinstance(self.inner, SetsUpMachines):
            return SetupResult(None, False, "this runner cannot run a setup command")
        return await self.inner.run_setup(request, slot, env, base)

    async def run(
        self,
        trial: Trial,
        slot: Slot,
        env: dict[str, str],
        *,
        pidfile: Path,
        tag: str,
        on_start: Callable[[int | None], None] | None = None,
    ) -> TrialResult:
        argv = bwrap_argv(trial, slot, env, hidden=self.hidden, exe=self.exe)
        wrapped = replace(trial, command="exec " + shlex.join(argv))
        return await self.inner.run(wrapped, slot, env, pidfile=pidfile, tag=tag, on_start=on_start)
