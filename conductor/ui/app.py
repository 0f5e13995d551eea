"""The conductor TUI: one screen for many research loops, over the engine in the same loop.

`ConductorApp(engine=...)` takes anything shaped like an Orchestra (`bus`, `run()`, `stop()`,
`command()`, optionally `ledger`), so `conductor up`/`demo` and the tests build it the same
way (the CLI's entries are in `launch.py`). The engine runs as a worker in the app's
asyncio loop and never learns the UI exists: events come in through the bridge, commands go
out through `engine.command(...)`. One timer (2-4 Hz) drains the bridge and redraws what
changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from conductor.core.agent import take_over, takeover_agent
from conductor.core.commands import Command, Pause, ReloadProgram, Resume, Say, Stop
from conductor.core.events import HostSample, RunStarted
from conductor.core.rundir import RunDir
from conductor.errors import ConductorError
from conductor.ui import keys, palette
from conductor.ui.bridge import Bridge
from conductor.ui.feed import away_summary
from conductor.ui.history_seed import read_seed
from conductor.ui.model import BEST_SERIES, DEFAULT_STUCK_AFTER, RECENT_EXPERIMENTS, PaneModel, RunModel
from conductor.ui.screens.confirm import ConfirmScreen
from conductor.ui.screens.dashboard import DashboardScreen
from conductor.ui.screens.feed import AwayScreen, FeedScreen
from conductor.ui.screens.help import HelpScreen
from conductor.ui.screens.leaderboard import LeaderboardScreen
from conductor.ui.screens.message import MessageScreen
from conductor.ui.screens.zoom import ZoomScreen
from conductor.ui.themes import DEFAULT_THEME, VARIABLE_DEFAULTS, load_themes, save_theme, saved_theme

REFRESH_HZ = 2.0
SLOW_HZ = 1.0  # ages, meters, activity tails and the top bar: a glance needs no more
HOST_PROBE_S = 1.0
HOST_SAMPLE_FRESH_S = 5.0
SEED_WAIT_S = 5.0  # the engine starts after the history is read, or after this long


class ConductorApp(App[int]):
    TITLE = "conductor"
    BINDINGS = [*keys.bindings("app"), Binding("ctrl+q", "quit", "quit", show=False, priority=True)]
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        engine: Any,
        *,
        clock: Callable[[], float] = time.time,
        host_probe: Callable[[], HostSample] | None = None,
        refresh_hz: float = REFRESH_HZ,
        stuck_after: int = DEFAULT_STUCK_AFTER,
        theme: str | None = None,
        handle_signals: bool = False,
    ):
        super().__init__()
        self.engine = engine
        self.clock = clock
        self.host_probe = host_probe
        self.refresh_hz = refresh_hz
        self.handle_signals = handle_signals
        self.model = RunModel(clock, stuck_after=stuck_after)
        self.bridge = Bridge(self.model, self._load_history)
        self._seed: asyncio.Future | None = None  # the resumed run's history being read (on mount)
        self._unsubscribe = engine.bus.subscribe(self.bridge)
        themes = load_themes()
        self.conductor_themes = [t.name for t in themes]
        for t in themes:
            self.register_theme(t)
        chosen = theme or saved_theme()
        self._initial_theme = chosen if chosen in self.conductor_themes else DEFAULT_THEME
        self.engine_error: BaseException | None = None
        self.engine_done = asyncio.Event()
        self._stopping = False
        self._last_probe = 0.0
        self._ticks = 0
        self._probed_host: HostSample | None = None
        self.dashboard = DashboardScreen(id="dashboard")
        self.away_since: float | None = None  # an attached TUI's last look at the run, until summarised

    # ------------------------------------------------------------ lifecycle

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    def get_default_screen(self) -> Screen:
        return self.dashboard

    def on_mount(self) -> None:
        if getattr(self.engine, "remote", False):
            self.away_since = self._last_seen()
            self._mark_seen()
        self.theme = self._initial_theme
        self.set_interval(1.0 / self.refresh_hz, self.tick, name="conductor-refresh")
        self._seed = self._read_seed_soon()  # before the engine starts: its panes' set-up would slow it
        self._seeding: asyncio.Task | None = None  # the seed being folded in, a pane at a time
        self.run_worker(self._run_engine(), name="engine", group="engine", exit_on_error=False)
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, lambda: self.call_later(self.shutdown))
            loop.add_signal_handler(signal.SIGHUP, lambda: self.run_worker(self._hang_up(), group="hangup"))
        self.call_after_refresh(self.tick)

    async def _run_engine(self) -> None:
        if self._seed is not None:  # a resumed run's history first: a fraction of a second
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._seed), SEED_WAIT_S)
        try:
            await self.engine.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the UI stays up to show what happened
            self.engine_error = exc
            self.notify(f"the engine stopped: {exc}", severity="error", timeout=30)
        finally:
            self.engine_done.set()

    def on_unmount(self) -> None:
        self._unsubscribe()

    def _read_seed_soon(self) -> asyncio.Future | None:
        """Start reading a resumed run's history (ui/history_seed.py: the counts and each pane's
        last rows, a few queries whatever its length) in a thread of its own."""
        ledger = getattr(self.engine, "ledger", None)
        path = getattr(ledger, "path", None)
        if path is None or not Path(path).is_file():
            return None
        pool = ThreadPoolExecutor(1, thread_name_prefix="conductor-history")
        window = max(BEST_SERIES, RECENT_EXPERIMENTS)
        future = asyncio.get_running_loop().run_in_executor(pool, read_seed, Path(path), None, window, self.clock())
        pool.shutdown(wait=False)
        return future

    def _load_history(self, event: RunStarted) -> None:
        """A (resumed) run's standings, so the screen starts where it left off. Read before the
        engine started, so every result it publishes comes after them; should the read still be
        going, new results wait until it is in."""
        future = self._seed if self._seed is not None else self._read_seed_soon()
        if future is None:
            return
        self.bridge.hold()  # until every pane's history is in
        if future.done():
            self._apply_seed(future)
        else:
            future.add_done_callback(self._apply_seed)

    def _apply_seed(self, future: asyncio.Future) -> None:
        self._seeding = asyncio.get_running_loop().create_task(self._seed_in_pieces(future))

    async def _seed_in_pieces(self, future: asyncio.Future) -> None:
        """The seed folded in a pane at a time, the loop free between panes (at 50,000 rows the
        whole of it held the loop for 150-200 ms)."""
        try:
            for _ in self.model.seed_pieces(future.result()):
                await asyncio.sleep(0)
        except Exception as exc:  # a missing history must not keep the dashboard from opening
            self.notify(f"could not read the ledger: {exc}", severity="warning")
        finally:
            self.bridge.release()
        self.call_later(self.tick)  # on screen now, not at the next refresh

    # ------------------------------------------------------------ refresh

    def tick(self) -> None:
        """Drain engine events and redraw what changed, in one batch. State changes and results
        show at every tick; slow content (ages, meters, activity tails, the top bar) at SLOW_HZ,
        all in the same tick: one full frame a second costs less than the same work spread out."""
        now = self.clock()
        slow = self._ticks % max(1, round(self.refresh_hz / SLOW_HZ)) == 0
        self._ticks += 1
        self.bridge.drain()
        self._probe_host(now)
        with self.batch_update():
            self.draw(now, slow=slow)
        if self.away_since is not None and getattr(self.engine, "caught_up", False) and not self.bridge.holding:
            self._show_away(now)  # once the replay and the ledger's history are both folded in

    # ------------------------------------------------------------ while you were away

    def _seen_path(self) -> Path | None:
        run_dir = getattr(self.engine, "run_dir", None)
        return RunDir(Path(run_dir)).seen if run_dir else None

    def _last_seen(self) -> float | None:
        path = self._seen_path()
        try:
            return float(path.read_text().strip()) if path is not None else None
        except (OSError, ValueError):
            return None  # never looked at: nothing to summarise

    def _mark_seen(self) -> None:
        path = self._seen_path()
        if path is not None:
            with contextlib.suppress(OSError):
                path.write_text(f"{self.clock():.3f}\n")

    def _show_away(self, now: float) -> None:
        """Once the orchestra's replay is in: per pane, what happened since the last look."""
        since, self.away_since = self.away_since, None
        lines = away_summary(list(self.model.feed), since, [p.name for p in self.model.ordered])
        self.push_screen(AwayScreen(since, now, lines))

    def draw(self, now: float | None = None, slow: bool = True) -> None:
        """Redraw the visible screens; `slow=False` leaves ages, meters and tails for later."""
        now = self.clock() if now is None else now
        for screen in self._visible_screens():
            refresh = getattr(screen, "refresh_view", None)
            if refresh is not None:
                refresh(now, slow=slow)

    def _visible_screens(self) -> Iterable[Screen]:
        """The top screen, and the screens under it while modal dialogs are on top."""
        for screen in reversed(self.screen_stack):
            yield screen
            if not screen.is_modal:
                break

    def _probe_host(self, now: float) -> None:
        if self.host_probe is None or now - self._last_probe < HOST_PROBE_S:
            return
        host = self.model.host
        if host is not None and host is not self._probed_host and time.time() - host.ts < HOST_SAMPLE_FRESH_S:
            return  # the engine reports the host itself
        self._last_probe = now
        with contextlib.suppress(Exception):
            self._probed_host = self.model.host = self.host_probe()
            self.model.version += 1

    # ------------------------------------------------------------ panes

    @property
    def selected(self) -> PaneModel | None:
        name = self.model.selected
        return self.model.panes.get(name) if name else None

    def select_pane(self, name: str) -> None:
        """Select a pane; only the two cards whose selection changed are redrawn now. Selection is
        the app's, not Textual focus: moving focus restyles whole subtrees, a key press must not."""
        if name not in self.model.panes:
            return
        previous = self.model.selected
        self.model.select(name)
        if self.screen is self.dashboard:
            now = self.clock()
            for pane in {previous, name} - {None}:
                self.dashboard.refresh_card(pane, now, slow=False)  # only the selection changed

    def select_pane_by_index(self, index: int) -> None:
        pane = next((p for p in self.model.panes.values() if p.index == index), None)
        if pane is not None:
            self.select_pane(pane.name)

    def zoom(self, name: str | None = None) -> None:
        pane = self.model.panes.get(name) if name else self.selected
        if pane is None:
            return
        self.model.select(pane.name)
        while isinstance(self.screen, ZoomScreen):
            self.pop_screen()
        self.push_screen(ZoomScreen(pane.name))

    def send(self, command: Command) -> bool:
        try:
            self.engine.command(command)
        except (ConductorError, OSError) as exc:  # an attached run answers over a socket
            self.notify(str(exc), severity="error")
            return False
        return True

    def _need_pane(self) -> PaneModel | None:
        pane = self.selected
        if pane is None:
            self.notify("no pane yet", severity="warning")
        return pane

    # ------------------------------------------------------------ actions (keys.py is the table)

    def _honoured(self, pane: PaneModel, what: str) -> bool:
        """Whether the pane's agent can follow the key's request; says so when it cannot."""
        if not pane.follows_researcher:
            self.notify(
                f"{pane.name}'s {pane.agent} agent cannot read {what}: it searches the workspace's knobs only",
                severity="warning",
            )
        return pane.follows_researcher

    def action_message(self) -> None:
        pane = self._need_pane()
        if pane is None or not self._honoured(pane, "messages"):
            return

        def deliver(text: str | None) -> None:
            if text:
                self.send(Say(pane=pane.name, text=text))

        self.push_screen(MessageScreen(pane.name, pane.agent_label), deliver)

    def action_pause_resume(self) -> None:
        pane = self._need_pane()
        if pane is None:
            return
        if not pane.active:
            self.notify(f"{pane.name} is {pane.state}", severity="warning")
            return
        if pane.paused_or_pausing:
            if self.send(Resume(pane=pane.name)):
                pane.pause_requested = False
        elif self.send(Pause(pane=pane.name)):
            pane.pause_requested = True
        pane.version += 1
        self.draw()

    async def action_edit_program(self) -> None:
        pane = self._need_pane()
        if pane is None:
            return
        if not pane.follows_researcher:  # the offline agent reads the search section only
            self.notify(
                f"{pane.name}'s {pane.agent} agent follows only program.md's ```toml conductor-search``` section",
                severity="information",
            )
        if not pane.program:
            self.notify(f"{pane.name} has no program file yet", severity="warning")
            return
        if getattr(self.engine, "read_only", False):
            self.notify("this view is read-only: program.md cannot be edited here", severity="warning")
            return
        path = Path(pane.program)
        before = path.read_bytes() if path.exists() else None
        error = await self.edit_file(path)
        if error:
            self.notify(error, severity="error")
            return
        after = path.read_bytes() if path.exists() else None
        if after == before:
            self.notify(f"{path.name}: unchanged")
            return
        if self.send(ReloadProgram(pane=pane.name)):
            when = (
                "the agent reads it at its next turn"
                if pane.follows_researcher
                else "its search applies from the next trial"
            )
            self.notify(f"{pane.name}: program.md saved; {when}")
        if isinstance(self.screen, ZoomScreen):
            self.screen.load_program()

    async def edit_file(self, path: Path) -> str | None:
        """Open `$VISUAL`/`$EDITOR` on the file with the app suspended; the engine keeps running."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        return await self.run_foreground([*shlex.split(editor), str(path)], what=f"editor {editor!r}")

    async def run_foreground(
        self, argv: list[str], *, what: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> str | None:
        """Run a program on the terminal with the app suspended (the engine keeps running in
        this loop); without a terminal to hand over (tests, no tty) it runs detached from one.
        Returns a one-line error, or None."""
        can_suspend = self._driver is not None and self._driver.can_suspend
        try:
            if can_suspend:
                with self.batch_update(), self.suspend():
                    proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env)
                    code = await proc.wait()
            else:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                code = await proc.wait()
        except OSError as exc:
            return f"cannot start {what}: {exc.strerror or exc}"
        self.refresh(layout=True)
        return f"{what} exited with status {code}" if code else None

    async def action_take_over(self) -> None:
        """Stop the pane's headless Claude Code / Codex, hand its session to the researcher on
        this terminal, and resume the headless loop on the same session when they leave."""
        pane = self._need_pane()
        if pane is None:
            return
        if getattr(self.engine, "remote", False):
            handing = self.engine.take_over(pane.name)  # the orchestra's process does the stop/resume
        else:
            target = getattr(self.engine, "panes", {}).get(pane.name)
            if target is None or takeover_agent(target) is None:
                self.notify(f"{pane.name} runs no Claude Code or Codex session to take over", severity="warning")
                return
            handing = take_over(target)
        try:
            async with handing as h:
                error = await self.run_foreground(h.argv, what=h.argv[0], cwd=h.cwd, env=h.env)
        except (ConductorError, OSError) as exc:
            self.notify(str(exc), severity="error")
            return
        if error:
            self.notify(error, severity="warning")
        self.notify(f"{pane.name}: handed back; the headless agent resumes the session")

    def action_leaderboard(self) -> None:
        if not isinstance(self.screen, LeaderboardScreen):
            self.push_screen(LeaderboardScreen())

    def action_feed(self) -> None:
        if not isinstance(self.screen, FeedScreen):
            self.push_screen(FeedScreen())

    def action_next_attention(self) -> None:
        pane = self.model.next_attention()
        if pane is None:
            self.notify("no pane needs attention")
            return
        if isinstance(self.screen, ZoomScreen):
            self.zoom(pane.name)
        else:
            self.select_pane(pane.name)

    def action_next_theme(self) -> None:
        names = self.conductor_themes
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        save_theme(self.theme)
        self.notify(f"theme: {self.theme}", timeout=2)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        if self._stopping:
            return
        if getattr(self.engine, "remote", False) and not self.engine_done.is_set():
            self.push_screen(
                ConfirmScreen(
                    "This TUI is attached to an orchestra running in the background.\n"
                    "[$muted]Detach leaves every loop running; `conductor attach` comes back.[/]",
                    yes="stop the orchestra (s)",
                    no="detach (d)",
                    yes_key="s",
                    no_key="d",
                ),
                self._answer_attached_quit,
            )
            return
        if self.engine_done.is_set() or not self.model.running:
            await self.shutdown()
            return
        n = sum(1 for p in self.model.panes.values() if p.active)

        async def answer(yes: bool | None) -> None:
            if yes:
                await self.shutdown()

        self.push_screen(
            ConfirmScreen(
                f"{n} loop(s) are running. Stop them and quit?\n"
                "[$muted]Experiments in flight are killed and recorded; `conductor up` resumes the run.[/]",
                yes="stop and quit (y)",
                no="keep running (n)",
            ),
            answer,
        )

    async def _answer_attached_quit(self, stop: bool | None) -> None:
        if stop is None:
            return
        if stop:
            if not self.send(Stop()):
                return
            self.notify("stopping the orchestra: experiments in flight are killed and recorded")
            with contextlib.suppress(asyncio.TimeoutError):  # its stream ends once all is recorded
                await asyncio.wait_for(self.engine_done.wait(), timeout=60)
        await self.detach()

    async def detach(self) -> None:
        """Leave an attached TUI; the orchestra runs on."""
        if not getattr(self.engine, "remote", False):
            self.notify(
                "this TUI runs the orchestra itself (--in-process): q stops it; plain `conductor up` attaches instead"
            )
            return
        await self.shutdown()

    async def _hang_up(self) -> None:
        """The terminal is gone (SIGHUP): stop and record as `q` would, then leave without
        restoring the terminal; Textual's own shutdown blocks writing to a dead tty. The ledger
        commits every statement, and the run dir's lock goes with the process."""
        if not self.engine_done.is_set():
            self.engine.stop()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.engine_done.wait(), timeout=120)
        with contextlib.suppress(Exception):
            close = getattr(self.engine, "close", None)
            if close is not None:
                close()
        os._exit(128 + signal.SIGHUP)

    async def shutdown(self) -> None:
        """Stop the orchestra, wait until it has recorded everything, then leave."""
        if self._stopping:
            return
        self._stopping = True
        for bar in self.dashboard.query("TopBar"):
            bar.stopping = not getattr(self.engine, "remote", False)
        self.tick()
        if not self.engine_done.is_set():
            self.engine.stop()
            await self.engine_done.wait()
        self.bridge.drain()
        if getattr(self.engine, "remote", False):
            self._mark_seen()
        failed = any(p.state == "error" for p in self.model.panes.values())
        code = 1 if failed or self.engine_error is not None else 0
        self.exit(code, return_code=code)

    # ------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from palette.commands(self, screen)
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Keys"):
                yield command
