"""The notifier: a bus subscriber that batches notices and sends them from its own thread.

The subscriber only puts the event on a queue, so the engine's loop never waits on a
network. The worker turns events into notices, gathers those that come within `batch_s`
into one message, sends at most `max_per_hour` messages (more wait and join the next
one) and sends what is left at once when the run finishes. A message goes to every
apprise URL, rings the bell and runs the shell hook, each as configured; a failure is
logged with the URL's secrets masked and never stops the run.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

from conductor.config.masking import MASK, mask_url, secret_parts
from conductor.config.schema import NotifyConfig
from conductor.core.events import Event, RunFinished
from conductor.notify.notices import Notice, NoticeWatch

log = logging.getLogger(__name__)
HOOK_TIMEOUT_S = 30.0
_TICK_S = 0.5
_MAX_LINES = 20  # a message lists at most this many notices, then "and N more"


class Notifier:
    def __init__(self, cfg: NotifyConfig, run_name: str = "", *, clock: Callable[[], float] = time.time):
        self.cfg = cfg
        self.run_name = run_name
        self.clock = clock
        self.watch = NoticeWatch(cfg.events, cfg.rate_limited_after_s)
        self.sent: list[tuple[str, str]] = []  # (title, body) of every message sent, for the curious and tests
        self.failures: list[str] = []  # one masked line per failed delivery
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._pending: list[Notice] = []
        self._first_pending: float | None = None
        self._sent_at: deque[float] = deque()
        self._flush_now = False
        self._apprise = None
        self._thread = threading.Thread(target=self._work, name="conductor-notify", daemon=True)
        self._secrets = [p for url in cfg.urls for p in secret_parts(url)]

    @property
    def active(self) -> bool:
        return bool(self.cfg.urls or self.cfg.bell or self.cfg.command.strip())

    def start(self) -> Notifier:
        logging.getLogger("apprise").addFilter(self._mask_record)
        self._thread.start()
        return self

    def __call__(self, event: Event) -> None:
        """The bus subscriber: never blocks."""
        self._queue.put(event)

    def close(self, timeout: float = 15.0) -> None:
        """Send what is pending, then stop the worker (waits at most `timeout`)."""
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ---------------------------------------------------------------- the worker

    def _work(self) -> None:
        stopping = False
        while not stopping:
            for event in self._drain():
                if event is None:
                    stopping = True
                else:
                    self._take(event)
            now = self.clock()
            self._add(self.watch.due(now), now)
            if self._pending and (stopping or self._ready(now)):
                self._send(now)

    def _drain(self) -> list[Event | None]:
        """Whatever the queue holds, after waiting at most one tick for the first."""
        try:
            out = [self._queue.get(timeout=_TICK_S)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def _take(self, event: Event) -> None:
        now = self.clock()
        self._add(self.watch.observe(event), now)
        if isinstance(event, RunFinished):
            self._flush_now = True

    def _add(self, notices: list[Notice], now: float) -> None:
        if notices and not self._pending:
            self._first_pending = now
        self._pending += notices

    def _ready(self, now: float) -> bool:
        if self._flush_now:
            return True
        while self._sent_at and now - self._sent_at[0] >= 3600:
            self._sent_at.popleft()
        if len(self._sent_at) >= self.cfg.max_per_hour:
            return False
        return now - (self._first_pending or now) >= self.cfg.batch_s

    def _send(self, now: float) -> None:
        notices, self._pending, self._flush_now = self._pending, [], False
        self._sent_at.append(now)
        title, body = self.message(notices)
        self.sent.append((title, body))
        kinds = sorted({n.kind for n in notices})
        if self.cfg.urls:
            self._send_apprise(title, body)
        if self.cfg.bell:
            ring_bell()
        if self.cfg.command.strip():
            self._run_hook(title, body, kinds)

    def message(self, notices: list[Notice]) -> tuple[str, str]:
        run = f"conductor {self.run_name}".strip()
        title = f"{run}: {notices[0].text}" if len(notices) == 1 else f"{run}: {len(notices)} events"
        lines = [n.text for n in notices[:_MAX_LINES]]
        if len(notices) > _MAX_LINES:
            lines.append(f"and {len(notices) - _MAX_LINES} more")
        return title[:200], "\n".join(lines)

    # ---------------------------------------------------------------- the outlets

    def _send_apprise(self, title: str, body: str) -> None:
        try:
            if self._apprise is None:
                import apprise

                self._apprise = apprise.Apprise()
                for url in self.cfg.urls:
                    if not self._apprise.add(url):
                        self._fail(f"notify: apprise does not understand {mask_url(url)}")
            if len(self._apprise) and not self._apprise.notify(title=title, body=body):
                self._fail("notify: a message could not be delivered to " + ", ".join(map(mask_url, self.cfg.urls)))
        except Exception as exc:  # a notification never stops a run
            self._fail(f"notify: {type(exc).__name__}: {self._mask(str(exc))}")

    def _run_hook(self, title: str, body: str, kinds: list[str]) -> None:
        env = dict(os.environ)
        env.update(CONDUCTOR_NOTIFY_TITLE=title, CONDUCTOR_NOTIFY_BODY=body, CONDUCTOR_NOTIFY_EVENTS=" ".join(kinds))
        try:
            done = subprocess.run(
                self.cfg.command,
                shell=True,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=HOOK_TIMEOUT_S,
                start_new_session=True,
            )
            if done.returncode:
                self._fail(f"notify: the hook exited with status {done.returncode}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            self._fail(f"notify: the hook failed: {type(exc).__name__}")

    def _fail(self, line: str) -> None:
        self.failures.append(line)
        log.warning("%s", line)

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def _mask_record(self, record: logging.LogRecord) -> bool:
        record.msg = self._mask(record.getMessage())
        record.args = ()
        return True


def ring_bell() -> None:
    """BEL to the controlling terminal (the TUI owns stdout), else to a terminal stderr."""
    try:
        fd = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        if sys.stderr is not None and sys.stderr.isatty():
            sys.stderr.write("\a")
            sys.stderr.flush()
        return
    try:
        os.write(fd, b"\a")
    finally:
        os.close(fd)


def attach(orchestra) -> Notifier | None:
    """Subscribe a started Notifier to an open orchestra's bus when `[notify]` asks for anything."""
    notifier = Notifier(orchestra.config.notify, orchestra.run_name)
    if not notifier.active:
        return None
    orchestra.bus.subscribe(notifier)
    return notifier.start()
