"""`conductor doctor`: what this machine offers a run, one line per check.

git, GPUs through NVML, the experiment sandbox (bubblewrap), the API key, agent CLIs on PATH, torch and its CUDA build. Nothing
here fails a run; it tells the researcher what to expect before a night of experiments.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess


def _line(ok: bool | None, what: str, detail: str) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "--  "}[ok]
    return f"{mark} {what:<14} {detail}"


def checks() -> list[str]:
    out = []
    git = shutil.which("git")
    if git:
        version = subprocess.run([git, "--version"], capture_output=True, text=True).stdout.strip()
        out.append(_line(True, "git", version))
    else:
        out.append(_line(False, "git", "not found on PATH: conductor needs git"))
    from conductor.telemetry.gpu import discover_gpus

    gpus, note = discover_gpus()
    if gpus:
        out.append(_line(True, "GPUs", "; ".join(f"#{i} {name} {uuid}" for i, uuid, name in gpus)))
    else:
        out.append(_line(None, "GPUs", f"no GPU ({note}): experiments use CPU slots"))
    from conductor.core.sandbox import availability

    usable, why = availability()
    out.append(_line(True if usable else None, "sandbox", why))
    key = os.environ.get("ANTHROPIC_API_KEY")
    out.append(
        _line(True, "API key", "ANTHROPIC_API_KEY is set")
        if key
        else _line(None, "API key", "ANTHROPIC_API_KEY not set: the default agent is the offline optuna proposer")
    )
    for name in ("claude", "codex"):
        path = shutil.which(name)
        out.append(_line(True if path else None, name, path or "not on PATH"))
    try:
        out.append(_line(True, "torch", importlib.metadata.version("torch")))
    except importlib.metadata.PackageNotFoundError:
        out.append(_line(None, "torch", "not installed (needed by the bundled tinygpt workspace)"))
    return out


def cmd_doctor() -> int:
    lines = checks()
    print("\n".join(lines))
    return 1 if any(ln.startswith("FAIL") for ln in lines) else 0
