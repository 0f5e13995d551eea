"""Every git command conductor runs, hardened against a repo an experiment has written to.

An experiment is arbitrary code. Unsandboxed it can write the repo's .git, and a setting
planted there makes git run a program: core.fsmonitor, a hook, a filter driver's
clean/smudge/process, an external diff or textconv, a pager, an editor, an ssh command.
conductor's own git processes would run it with conductor's environment (the API keys). So
every git process conductor starts goes through `run_git`:

- an environment of its own: no system config, no secrets, none of the GIT_* variables that
  redirect the repo or name programs, and GIT_CONFIG_COUNT overrides (they outrank the
  repo's config and anything it includes) for every single-valued key that names a program;
- per invocation, every filter and diff driver the repo's own config defines (whatever its
  name, include.path files included) is neutralized the same way, because a driver's name
  cannot be known in advance (the scan is cached until one of those files changes);
- `--no-ext-diff --no-textconv` wherever a diff is asked for (callers pass them).

The researcher's global config is theirs and stays in force (identity aside, conductor
commits as itself).

What this cannot close, with the sandbox off: an experiment running at the same moment (in
another pane of the same repo) that plants a driver under a new name between the scan and
the git process reading the config; git has no setting that disables every driver whatever
its name. The sandbox closes it (the repo's .git is read-only inside), and an unsandboxed
experiment is no boundary anyway (it runs as the researcher). Seen once in a loaded CI run.
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

from conductor.core.secrets import is_secret_name
from conductor.errors import ConductorError

IDENTITY = {
    "GIT_AUTHOR_NAME": "conductor",
    "GIT_AUTHOR_EMAIL": "conductor@localhost",
    "GIT_COMMITTER_NAME": "conductor",
    "GIT_COMMITTER_EMAIL": "conductor@localhost",
}
# Keys whose value is a program git may run (or that start a daemon), pinned to harmless values.
SAFE_SETTINGS = (
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("core.untrackedCache", "false"),
    ("core.pager", "cat"),
    ("core.editor", "true"),
    ("sequence.editor", "true"),
    ("core.sshCommand", "false"),
    ("core.askPass", "false"),
    ("credential.helper", ""),
    ("protocol.allow", "never"),
    ("submodule.recurse", "false"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("log.showSignature", "false"),
    ("gpg.program", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    # conductor's own git processes meet (packing refs off the loop while a pane moves its
    # branch): wait for the other's lock rather than fail after git's 0.1 s / 1 s defaults
    ("core.filesRefLockTimeout", "10000"),
    ("core.packedRefsTimeout", "10000"),
)
_FIXED_ENV = {
    **IDENTITY,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_ATTR_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "GIT_SSH_COMMAND": "false",
    "GIT_ASKPASS": "false",
    "SSH_ASKPASS": "false",
    "GIT_NO_REPLACE_OBJECTS": "1",
    "LC_ALL": "C",
}
# Inherited variables that would point git at another repo, index or program.
_DROPPED_PREFIXES = ("GIT_",)
_DRIVER_KEYS = {"filter": ("clean", "smudge", "process"), "diff": ("command", "textconv")}
_REPO_SCOPES = ("local", "worktree")


def base_env() -> dict[str, str]:
    """conductor's environment less secrets and GIT_* variables, plus the fixed hardening."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES) and not is_secret_name(k)}
    env.update(_FIXED_ENV)
    return env


def _with_settings(env: dict[str, str], settings: list[tuple[str, str]]) -> dict[str, str]:
    env = dict(env)
    env["GIT_CONFIG_COUNT"] = str(len(settings))
    for i, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _scan(cwd: Path) -> tuple[list[tuple[str, str]], list[Path]]:
    """(kind, name) of every filter or diff driver the repo's own config defines, and the
    files that config came from or includes (a missing include may appear later)."""
    env = _with_settings(base_env(), list(SAFE_SETTINGS))
    proc = subprocess.run(
        ["git", "config", "--list", "--show-scope", "--show-origin", "--includes", "-z"],
        cwd=cwd,
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    items = proc.stdout.decode("utf-8", "replace").split("\0")
    drivers: list[tuple[str, str]] = []
    files: list[Path] = []
    for scope, origin, entry in zip(items[0::3], items[1::3], items[2::3], strict=False):
        if scope not in _REPO_SCOPES or not origin.startswith("file:"):
            continue
        source = cwd / origin.removeprefix("file:")
        files.append(source)
        key, _, value = entry.partition("\n")
        key = key.lower()
        kind, _, rest = key.partition(".")
        if kind in _DRIVER_KEYS and "." in rest:
            name = rest.rpartition(".")[0]
            if (kind, name) not in drivers:
                drivers.append((kind, name))
        if kind in ("include", "includeif") and key.endswith(".path") and value:
            target = Path(value).expanduser()
            files.append(target if target.is_absolute() else source.parent / target)
    return drivers, sorted(set(files))


def _own_config_files(cwd: Path) -> list[Path] | None:
    """The files that decide which config git reads in `cwd`; None where git would look
    further up (not a repo or worktree root: never cached)."""
    dot_git = cwd / ".git"
    if dot_git.is_dir():
        return [dot_git, dot_git / "config", dot_git / "config.worktree"]
    try:
        admin = (cwd / dot_git.read_text(encoding="utf-8").strip().removeprefix("gitdir:").strip()).resolve()
        common = (admin / (admin / "commondir").read_text(encoding="utf-8").strip()).resolve()
    except (OSError, ValueError):
        return None
    return [dot_git, admin / "commondir", admin / "config.worktree", common / "config", common / "config.worktree"]


def _fingerprint(paths: list[Path]) -> tuple:
    marks: list[tuple] = []
    for p in paths:
        try:
            st = os.stat(p)
            if stat.S_ISDIR(st.st_mode):  # a .git folder: which one (its times move with every git command)
                marks.append((str(p), st.st_ino))
            else:
                marks.append((str(p), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        except OSError:
            marks.append((str(p), None))
    return tuple(marks)


# cwd -> (fingerprint, the files it covers, drivers): the scan runs again when any file changed
_scans: dict[str, tuple[tuple, list[Path], list[tuple[str, str]]]] = {}
_scans_guard = threading.Lock()


def repo_drivers(cwd: Path) -> list[tuple[str, str]]:
    """The repo's own filter and diff drivers, scanned again whenever its config files change
    (ctime and inode included, so a rewrite with a forged mtime is seen too)."""
    base = _own_config_files(cwd)
    if base is None:
        return _scan(cwd)[0]
    with _scans_guard:
        cached = _scans.get(str(cwd))
    known = cached[1] if cached else []
    before = _fingerprint(base + known)
    if cached and cached[0] == before:
        return cached[2]
    drivers, files = _scan(cwd)
    after = _fingerprint(base + files)
    stable = files == known and after == before  # nothing moved while git read it
    with _scans_guard:
        _scans[str(cwd)] = (after if stable else (), files, drivers)
    return drivers


def safe_env(cwd: Path) -> dict[str, str]:
    """The environment for one git command in `cwd`: hardened, the repo's drivers neutralized."""
    settings = list(SAFE_SETTINGS)
    for kind, name in repo_drivers(cwd):
        settings += [(f"{kind}.{name}.{field}", "") for field in _DRIVER_KEYS[kind]]
        if kind == "filter":
            settings.append((f"filter.{name}.required", "false"))
    return _with_settings(base_env(), settings)


def _run(cwd: Path, args: tuple[str, ...], check: bool) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        ["git", "--no-pager", *args],
        cwd=cwd,
        env=safe_env(cwd),
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise GitError(args, proc.returncode, proc.stderr.decode("utf-8", "replace").strip())
    return proc


def run_git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run `git args` in `cwd` the hardened way; its stdout less the last newline."""
    out = _run(cwd, args, check).stdout.decode("utf-8", "replace")
    return out[:-1] if out.endswith("\n") else out


def run_git_bytes(cwd: Path, *args: str) -> bytes:
    return _run(cwd, args, True).stdout


class GitError(ConductorError):
    def __init__(self, args: tuple[str, ...], code: int, stderr: str):
        super().__init__(f"git {' '.join(args[:3])} failed ({code}): {stderr.splitlines()[-1] if stderr else ''}")
        self.code = code
        self.stderr = stderr
