"""An experiment's log file, written by conductor: redacted, capped, live.

The experiment's stdout and stderr are a pipe that a thread of conductor drains (off the
event loop) in large chunks: each chunk is redacted (the values of conductor's secrets
never reach the disk, even split across writes), written to the log at once (the TUI's
zoom tails the file while the experiment runs) and fed to the summary tracker (so the
`---` block counts wherever it is and whatever follows it).

The file never grows much beyond `max_bytes`: past it, the log keeps its head (the first
half) and a rolling tail, with one marker line between that says how much was cut.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import threading
import time
from pathlib import Path

from conductor.core.secrets import Redactor
from conductor.core.summary import SummaryTracker

DEFAULT_MAX_LOG_BYTES = 64 * 2**20
CHUNK = 2**20
PIPE_SIZE = 2**20  # the kernel's default ceiling for an unprivileged pipe
# After a short read the pipe is empty: wait this long so that the next read is a big one.
# The log is at most this far behind the output.
IDLE_S = 0.01
# How long the pipe is still drained after the experiment's processes were killed: a
# straggler outside the group that holds it open must not hang the run.
DRAIN_S = 1.0
MARKER_WIDTH = 16


def marker(cut: int) -> bytes:
    """The line between head and tail; fixed width, so it is rewritten in place."""
    return f"\n[conductor: {cut:>{MARKER_WIDTH}} bytes of output cut here (max_log_mb)]\n".encode()


class CappedLog:
    """A log file of at most about `max_bytes`: the head, a marker line, a rolling tail.

    When the file would pass the cap, the part after the head is cut down to its newest
    `keep_bytes` (an eighth of the cap; the marker's count grows) and the file grows again
    from there: it stays under the cap, and a third of the bytes are copied once more."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_LOG_BYTES):
        self.path = path
        self.max_bytes = max(max_bytes, 8 * len(marker(0)))
        self.head_bytes = self.max_bytes // 2
        self.tail_start = self.head_bytes + len(marker(0))
        self.keep_bytes = (self.max_bytes - self.tail_start) // 4
        self.cut = 0  # bytes of output not in the file
        self.size = 0
        self._marked = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)

    def write(self, data: bytes) -> None:
        if self.size + len(data) <= self.max_bytes:
            self._append(data)
            return
        if self.size < self.head_bytes:
            fill = self.head_bytes - self.size
            self._append(data[:fill])
            data = data[fill:]
        if len(data) >= self.keep_bytes:
            # more than the tail keeps: what would be cut at once is never written
            self._compact(data[-self.keep_bytes :], skipped=len(data) - self.keep_bytes)
        else:
            self._compact(b"", skipped=0)
            self._append(data)

    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.size += len(data)

    def _compact(self, fresh: bytes, skipped: int) -> None:
        """Rewrite the file as head, marker, and the newest `keep_bytes` of the rest + `fresh`."""
        region = self.tail_start if self._marked else self.head_bytes  # where cutting may start
        take = max(0, min(self.keep_bytes - len(fresh), self.size - region))
        kept = (os.pread(self._fd, take, self.size - take) if take else b"") + fresh
        self.cut += self.size - region - take + skipped
        newline = kept.find(b"\n", 0, 64 * 1024)  # the tail starts at a line, as the marker ends one
        if newline != -1:
            self.cut += newline + 1
            kept = kept[newline + 1 :]
        os.pwrite(self._fd, marker(self.cut), self.head_bytes)
        os.pwrite(self._fd, kept, self.tail_start)
        self._marked = True
        self.size = self.tail_start + len(kept)
        os.ftruncate(self._fd, self.size)
        os.lseek(self._fd, self.size, os.SEEK_SET)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class LogPump:
    """Drains the read end of an experiment's output pipe into its log, in a thread."""

    def __init__(self, read_fd: int, log: CappedLog, redactor: Redactor | None):
        self._fd = read_fd
        self.log = log
        self._redact = redactor.stream() if redactor is not None and redactor.byte_values else None
        self.tracker = SummaryTracker()
        self.error: OSError | None = None  # why the log stopped being written, if it did
        self._stop_at: float | None = None  # set once the experiment's processes are gone
        self._poll = select.poll()  # not select(): conductor may hold more than 1024 fds
        self._poll.register(read_fd, select.POLLIN)
        self._thread = threading.Thread(target=self._run, name=f"log:{log.path.name}", daemon=True)

    @staticmethod
    def pipe() -> tuple[int, int]:
        """(read end, write end) for the child's stdout and stderr, as large as allowed."""
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        os.set_blocking(read_fd, False)
        return read_fd, write_fd

    def start(self) -> None:
        self._thread.start()

    def finish(self, drain_s: float = DRAIN_S) -> dict[str, float | str]:
        """Blocking: read what is left (until EOF, or `drain_s` if a straggler holds the
        pipe), close the log, and return the summary block found in the output."""
        self._stop_at = time.monotonic() + drain_s
        self._thread.join()
        return self.tracker.summary()

    def _run(self) -> None:
        try:
            while self._read_once():
                pass
            if self._redact is not None:
                self._write(self._redact.flush(), redacted=True)
        finally:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self.log.close()

    def _read_once(self) -> bool:
        """One wait and read; False at EOF or when draining has run out of time."""
        if self._stop_at is not None and time.monotonic() > self._stop_at:
            return False
        if not self._poll.poll(200):
            return True
        try:
            data = os.read(self._fd, CHUNK)
        except BlockingIOError:
            return True
        if not data:
            return False
        self._write(data)
        if len(data) < CHUNK // 4 and self._stop_at is None:
            time.sleep(IDLE_S)
        return True

    def _write(self, data: bytes, redacted: bool = False) -> None:
        if self._redact is not None and not redacted:
            data = self._redact.feed(data)
        if not data:
            return
        self.tracker.feed(data)
        if self.error is None:
            try:
                self.log.write(data)
            except OSError as exc:  # a full disk: the pipe is still drained, or the child would block
                self.error = exc
