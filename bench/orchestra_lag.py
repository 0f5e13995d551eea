"""The orchestra's own event loop at resume, without the TUI: the worst lag from its start to
two seconds after the first new experiment (bench/scale_tui.py measures the loop the TUI and
the orchestra share). Run it on a run dir bench/scale.py built; it resumes it, so restore the
pristine copy before each run:

    rm -rf /tmp/scale5/50000 && cp -a /tmp/scale5/50000.pristine /tmp/scale5/50000
    python bench/orchestra_lag.py /tmp/scale5/50000/conductor.toml
    SCALE_TUI_STACKS=1 SCALE_TUI_STALL_S=0.08 python bench/orchestra_lag.py ...  # what held it
    python bench/orchestra_lag.py CONFIG --attached  # with a TUI attached from another process
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

from scale_tui import lag_monitor, print_stalls

ATTACHED_TUI = """
import asyncio, sys
from conductor.core.remote import RemoteOrchestra
from conductor.ui.app import ConductorApp

async def main():
    remote = RemoteOrchestra(sys.argv[1])
    remote.open()
    async with ConductorApp(engine=remote).run_test(size=(200, 50)):
        await asyncio.sleep(600)

asyncio.run(main())
"""


async def attach_a_tui(orch) -> asyncio.subprocess.Process:
    """The app attached from a process of its own, as `conductor up` runs it."""
    from conductor.core.control_client import socket_path

    while not socket_path(orch.run_dir).exists():
        await asyncio.sleep(0.01)
    return await asyncio.create_subprocess_exec(sys.executable, "-c", ATTACHED_TUI, str(orch.run_dir))


async def main(cfg_path: Path, attached: bool) -> dict:
    from conductor.agents.base import create_agent
    from conductor.config import load_config
    from conductor.core.events import ExperimentFinished
    from conductor.core.orchestra import Orchestra

    worst, beat, first = [0.0], [0.0], []
    orch = Orchestra(load_config(cfg_path), agent_factory=create_agent)
    orch.open()
    orch.bus.subscribe(lambda e: first.append(time.time()) if isinstance(e, ExperimentFinished) and not first else None)
    t0 = time.time()
    monitor = asyncio.create_task(lag_monitor(worst, beat))
    if os.environ.get("SCALE_TUI_STACKS"):
        threading.Thread(target=print_stalls, args=(beat, threading.get_ident()), daemon=True).start()
    run = asyncio.create_task(orch.run())
    client = await attach_a_tui(orch) if attached else None
    try:
        while not first or time.time() < first[0] + 2:
            await asyncio.sleep(0.05)
    finally:
        monitor.cancel()  # the window ends here: what a stop does is not the steady state
        if client is not None:
            client.kill()
            await client.wait()
        orch.stop()
        await run
        orch.close()
    return {"first_experiment_s": first[0] - t0, "worst_lag_ms": worst[0] * 1000}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1]), "--attached" in sys.argv[2:]))))
