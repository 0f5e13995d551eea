"""File access that cannot be steered out of a folder: every path is walked from an open
descriptor of the root, one component at a time, with O_NOFOLLOW.

A path checked first and opened later can change in between: a symlink swapped in for a
folder or the file itself sends the open elsewhere. Holding a descriptor of each folder and
never following a link closes that window. Writes go to a fresh file in the same folder,
renamed over the target, so a hardlink to a file outside the root (another name of the
same inode) is never written through, and a link swapped in for the target is replaced,
not followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TMP_TRIES = 8


class Escape(OSError):
    """A path component is a symlink, or the target is not a regular file."""


@contextlib.contextmanager
def folder(root: str, parts: list[str]) -> Iterator[int]:
    """A descriptor of `root/parts...`, each component opened without following a link."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Escape(errno.ELOOP, f"{part} is a symlink or not a folder") from None
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _split(rel: str) -> tuple[list[str], str]:
    *parents, name = rel.split("/")
    return parents, name


def _regular(name: str, dir_fd: int) -> os.stat_result | None:
    """The target's own stat (links not followed); None when it does not exist."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise Escape(errno.EINVAL, f"{name} is not a regular file")
    return st


def _read_in(dir_fd: int, name: str, limit: int) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Escape(errno.EINVAL, f"{name} is not a regular file")
        if st.st_size > limit:
            raise Escape(errno.EFBIG, f"{st.st_size} bytes")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(limit + 1)
    finally:
        os.close(fd)


def read_bytes(root: str, rel: str, limit: int) -> bytes:
    """The content of the regular file `root/rel` (at most limit + 1 bytes read). Raises
    FileNotFoundError, Escape (a link on the way or not a regular file; EFBIG: too large)."""
    parents, name = _split(rel)
    with folder(root, parents) as dir_fd:
        try:
            return _read_in(dir_fd, name, limit)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise Escape(errno.ELOOP, f"{name} is a symlink") from None
            raise


def replace_file(root: str, rel: str, content: Callable[[bytes | None], bytes], limit: int) -> bytes:
    """Write `content(current)` to `root/rel` through a new file renamed over it; `current`
    is the file's bytes, or None when it does not exist yet. Returns what was written."""
    parents, name = _split(rel)
    with folder(root, parents) as dir_fd:
        st = _regular(name, dir_fd)
        data = content(None if st is None else _read_in(dir_fd, name, limit))
        tmp, fd = _new_temp(name, dir_fd)
        try:
            with os.fdopen(fd, "wb") as fh:
                if st is not None:
                    os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
                fh.write(data)
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        return data


def _new_temp(name: str, dir_fd: int) -> tuple[str, int]:
    """A fresh file beside `name` (an unguessable name, created exclusively, never a link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_TMP_TRIES):
        tmp = f".conductor-{secrets.token_hex(8)}.tmp"
        try:
            return tmp, os.open(tmp, flags, 0o644, dir_fd=dir_fd)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name beside {name}")
