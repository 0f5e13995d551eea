"""`[conductor] max_usd`: the orchestra's total spend pauses every pane with one alert."""

from __future__ import annotations

import asyncio

from conftest import write_config

from conductor.config import load_config
from conductor.core.events import Alert
from conductor.core.orchestra import Orchestra


class Spender:
    kind = "spender"

    async def run(self, session):
        session.record_usage("m", input=1000, output=10_000)  # 0.003 + 0.15 = $0.153
        while True:
            await session.checkpoint()  # blocks once the pane is paused
            await asyncio.sleep(0.05)


def test_orchestra_budget_pauses_every_pane(tmp_path, fastws):
    cfg_path = write_config(tmp_path, fastws, panes=2, head='[prices."m"]\ninput = 3.0\noutput = 15.0\n\n')
    cfg_path.write_text(cfg_path.read_text().replace("[conductor]\n", "[conductor]\nmax_usd = 0.2\n"))
    cfg = load_config(cfg_path)
    assert cfg.max_usd == 0.2
    orch = Orchestra(cfg, agent_factory=lambda _c: Spender(), telemetry=False)
    alerts = []

    def on_event(e):
        if isinstance(e, Alert) and "orchestra budget" in e.message:
            alerts.append(e)
            asyncio.get_running_loop().call_later(0.2, orch.stop)

    orch.bus.subscribe(on_event)
    orch.open()

    async def main():
        try:
            await asyncio.wait_for(orch.run(), 20)
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(main())
    finally:
        orch.close()
    assert len(alerts) == 1
    assert alerts[0].message.startswith("orchestra budget reached ($0.31")
    assert all(p.paused for p in orch.panes.values())
