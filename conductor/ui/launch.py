"""The CLI's ways into the TUI: over an orchestra in this process, or attached to one in another.

Both open the engine, run the app over it with a psutil host probe and its signal handling
(SIGTERM stops, SIGHUP records and leaves), and close the engine however the app ended.
"""

from __future__ import annotations

from pathlib import Path

from conductor.core.events import HostSample
from conductor.ui.app import ConductorApp


class PsutilHostProbe:
    """Host CPU and memory for the top bar when the engine sends no HostSample."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        psutil.cpu_percent(None)

    def __call__(self) -> HostSample:
        vm = self._psutil.virtual_memory()
        return HostSample(
            cpu_percent=self._psutil.cpu_percent(None),
            mem_used_mb=(vm.total - vm.available) / 2**20,
            mem_total_mb=vm.total / 2**20,
        )


def run_app(cfg, max_experiments: int | None, agent_factory, evolver=None) -> int:
    """`conductor up` / `conductor demo`: the TUI over an orchestra in this process."""
    from conductor.core.orchestra import Orchestra

    orch = Orchestra(cfg, agent_factory=agent_factory, max_experiments=max_experiments, evolver=evolver)
    return _run_over(orch)


def attach_app(run_dir: Path, read_only: bool = False) -> int:
    """`conductor attach`: the same app over an orchestra running in another process; quitting
    detaches and leaves it running. `read_only`: a view that sends no command (`conductor serve`)."""
    from conductor.core.remote import RemoteOrchestra

    return _run_over(RemoteOrchestra(Path(run_dir), read_only=read_only))


def _run_over(engine) -> int:
    """Open the engine, run the app over it, close the engine; the app's exit status."""
    from conductor.core.orchestra import Orchestra
    from conductor.notify import attach

    engine.open()
    notifier = attach(engine) if isinstance(engine, Orchestra) else None  # attached: the orchestra notifies
    try:
        app = ConductorApp(engine=engine, host_probe=PsutilHostProbe(), handle_signals=True)
        result = app.run()
    finally:
        if notifier is not None:
            notifier.close()
        engine.close()
    if app.return_code not in (None, 0):
        return app.return_code
    return result or 0
