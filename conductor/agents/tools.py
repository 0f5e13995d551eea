"""The built-in agent's tools, confined to the pane's worktree (README: "The built-in Anthropic agent").

`read_file`, `list_files`, `write_file`, `edit_file` and `run_experiment`. Paths are relative
to the worktree; `..`, absolute paths, symlinks that lead out of it, writes to files that
are not editable (or are protected), binary and huge content are refused with a reason and
`is_error`, before anything on disk is touched. `run_experiment` hands the change to the
pane (guard, commit, run, judge) and returns the outcome as the agent should read it.
The checks name the reason; the disk access itself goes through `confined.py`, so a symlink
swapped in after the check, or a hardlink to a file outside, still cannot lead out.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fnmatch
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from conductor.agents.confined import Escape, read_bytes, replace_file
from conductor.core.gitsafe import safe_env

if TYPE_CHECKING:
    from conductor.core.agent import PaneSession

MAX_READ_BYTES = 256_000
MAX_WRITE_BYTES = 256_000

TOOL_SPECS: list[dict[str, Any]] = [
    {
        "name": "read_file",
        "description": "Read a text file of the worktree. Paths are relative to the worktree root.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "e.g. train.py"}},
            "required": ["path"],
        },
    },
    {
        "name": "list_files",
        "description": "List the tracked files of the worktree, marking which ones you may edit.",
        "input_schema": {"type": "object", "properties": {}},
    },
    {
        "name": "write_file",
        "description": "Replace the whole content of an editable file.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
    {
        "name": "edit_file",
        "description": (
            "Replace one exact occurrence of old_text with new_text in an editable file. old_text must "
            "appear exactly once: include enough surrounding lines to make it unique."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "old_text": {"type": "string"},
                "new_text": {"type": "string"},
            },
            "required": ["path", "old_text", "new_text"],
        },
    },
    {
        "name": "run_experiment",
        "description": (
            "Commit your current changes and run them as one experiment under the fixed time budget. "
            "The result is the outcome: the metric, its change against the best, and whether the commit "
            "was kept or reverted (with the log tail when it crashed). One idea per experiment."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "description": {"type": "string", "description": "what this experiment tries, in a few words"}
            },
            "required": ["description"],
        },
    },
]


@dataclass(frozen=True)
class ToolResult:
    text: str
    is_error: bool = False


class Refused(Exception):
    """A tool call that must not happen; its message is the reason the agent reads."""


class WorktreeFiles:
    """File access for one worktree, with the editable/protected rules of its workspace."""

    def __init__(self, root: Path, editable: tuple[str, ...], protected: tuple[str, ...]):
        self.root = Path(root).resolve()
        self.editable = editable
        self.protected = protected

    # ------------------------------------------------------------ rules

    def is_editable(self, rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, p) for p in self.editable) and not self.is_protected(rel)

    def is_protected(self, rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, p) for p in self.protected)

    def resolve(self, raw: Any) -> tuple[str, Path]:
        """(normalised relative path, absolute path inside the worktree), or Refused."""
        if not isinstance(raw, str) or not raw.strip():
            raise Refused("path must be a non-empty string relative to the worktree")
        if "\x00" in raw:
            raise Refused("path contains a NUL byte")
        pure = PurePosixPath(raw)
        if pure.is_absolute() or raw.startswith("~"):
            raise Refused(f"{raw}: absolute paths are not allowed; use a path relative to the worktree")
        if ".." in pure.parts:
            raise Refused(f"{raw}: '..' is not allowed; paths stay inside the worktree")
        rel = pure.as_posix().removeprefix("./")
        if rel.split("/")[0] == ".git":
            raise Refused(f"{raw}: git's internals are off limits; conductor handles git")
        target = self.root / rel
        resolved = target.resolve()
        if not resolved.is_relative_to(self.root):
            raise Refused(f"{raw}: a symlink leads outside the worktree")
        return rel, resolved

    # ------------------------------------------------------------ tools

    def read_file(self, path: Any) -> ToolResult:
        rel, target = self.resolve(path)
        if not target.exists():
            raise Refused(f"{rel}: no such file (list_files shows what exists)")
        if not target.is_file():
            raise Refused(f"{rel}: not a regular file")
        size = target.stat().st_size
        if size > MAX_READ_BYTES:
            raise Refused(f"{rel}: {size} bytes is too large to read (limit {MAX_READ_BYTES})")
        inside = target.relative_to(self.root).as_posix()  # no link on the way: read without following any
        with self._confined(rel):
            data = read_bytes(str(self.root), inside, MAX_READ_BYTES)
        text = _as_text(data)
        if text is None:
            raise Refused(f"{rel}: binary file; only text files can be read")
        return ToolResult(text)

    @contextlib.contextmanager
    def _confined(self, rel: str) -> Iterator[None]:
        """What `confined.py` finds on disk, as the reason the agent reads."""
        try:
            yield
        except FileNotFoundError:
            raise Refused(f"{rel}: no such file (list_files shows what exists)") from None
        except Escape as exc:
            if exc.errno == errno.EFBIG:
                raise Refused(f"{rel}: too large (limit {MAX_READ_BYTES} bytes)") from None
            if exc.errno == errno.ELOOP:
                raise Refused(f"{rel} goes through a symlink; only regular files inside the worktree") from None
            raise Refused(f"{rel}: not a regular file") from None

    def tracked_files(self) -> list[str]:
        out = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=self.root,
            capture_output=True,
            check=False,
            timeout=30,
            env=safe_env(self.root),
        ).stdout.decode("utf-8", "replace")
        return sorted(f for f in out.split("\x00") if f)

    def list_files(self) -> ToolResult:
        lines = []
        for rel in self.tracked_files():
            tag = (
                " (editable)" if self.is_editable(rel) else " (protected, read-only)" if self.is_protected(rel) else ""
            )
            lines.append(rel + tag)
        return ToolResult("\n".join(lines) or "(no tracked files)")

    def write_file(self, path: Any, content: Any) -> ToolResult:
        rel, _ = self._writable(path)
        if not isinstance(content, str):
            raise Refused("content must be a string")
        data = _checked_content(content, rel)
        with self._confined(rel):
            replace_file(str(self.root), rel, lambda _current: data, MAX_READ_BYTES)
        return ToolResult(f"wrote {rel} ({len(data)} bytes, {content.count(chr(10)) + 1} lines)")

    def edit_file(self, path: Any, old_text: Any, new_text: Any) -> ToolResult:
        rel, target = self._writable(path)
        if not isinstance(old_text, str) or not isinstance(new_text, str):
            raise Refused("old_text and new_text must be strings")
        if not old_text:
            raise Refused("old_text is empty; give the exact text to replace (or use write_file)")
        if not target.is_file():
            raise Refused(f"{rel}: no such file; create it with write_file")

        def edited(current: bytes | None) -> bytes:
            if current is None:
                raise Refused(f"{rel}: no such file; create it with write_file")
            text = _as_text(current)
            if text is None:
                raise Refused(f"{rel}: binary file; only text files can be edited")
            count = text.count(old_text)
            if count == 0:
                raise Refused(f"{rel}: old_text was not found; read_file shows the current content")
            if count > 1:
                raise Refused(f"{rel}: old_text occurs {count} times; include more context so it is unique")
            return _checked_content(text.replace(old_text, new_text, 1), rel)

        with self._confined(rel):
            replace_file(str(self.root), rel, edited, MAX_READ_BYTES)
        return ToolResult(f"edited {rel}: replaced {old_text.count(chr(10)) + 1} line(s)")

    def _writable(self, path: Any) -> tuple[str, Path]:
        rel, target = self.resolve(path)
        if self.is_protected(rel):
            raise Refused(f"{rel} is protected (read-only): it must stay byte-identical")
        if not self.is_editable(rel):
            allowed = ", ".join(self.editable) or "nothing"
            raise Refused(f"{rel} is not editable; you may change only: {allowed}")
        if target.relative_to(self.root).as_posix() != rel:
            raise Refused(f"{rel} goes through a symlink; only regular files can be written")
        if target.exists() and not target.is_file():
            raise Refused(f"{rel}: not a regular file")
        return rel, target


def _as_text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _checked_content(content: str, rel: str) -> bytes:
    if "\x00" in content:
        raise Refused(f"{rel}: content contains NUL bytes; only text can be written")
    data = content.encode("utf-8", "surrogatepass")
    if len(data) > MAX_WRITE_BYTES:
        raise Refused(f"{rel}: {len(data)} bytes is too large to write (limit {MAX_WRITE_BYTES})")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(f"{rel}: content is not valid UTF-8 text") from None
    return data


def describe_call(name: str, tool_input: dict) -> str:
    """One line for the pane's activity: what the agent is doing."""
    path = tool_input.get("path", "") if isinstance(tool_input, dict) else ""
    if name == "run_experiment":
        return f"run_experiment: {tool_input.get('description', '')}"
    if name == "write_file":
        content = tool_input.get("content", "")
        return f"write_file {path} ({len(content) if isinstance(content, str) else '?'} chars)"
    if name == "edit_file":
        return f"edit_file {path}"
    return f"{name} {path}".rstrip()


async def call_tool(session: PaneSession, files: WorktreeFiles, name: str, tool_input: Any) -> ToolResult:
    """Run one tool call. A refusal is a result the model reads, never an exception it causes.

    `PaneFinished` (a BaseException) from `run_experiment` propagates: the pane is done.
    """
    if not isinstance(tool_input, dict):
        return ToolResult("tool input must be a JSON object", is_error=True)
    try:
        if name == "run_experiment":
            description = tool_input.get("description")
            if not isinstance(description, str) or not description.strip():
                raise Refused("description must be a short non-empty string saying what this experiment tries")
            outcome = await session.run_experiment(description)
            return ToolResult(outcome.text())
        if name == "read_file":
            return await asyncio.to_thread(files.read_file, tool_input.get("path"))
        if name == "list_files":
            return await asyncio.to_thread(files.list_files)
        if name == "write_file":
            return await asyncio.to_thread(files.write_file, tool_input.get("path"), tool_input.get("content"))
        if name == "edit_file":
            args = (tool_input.get("path"), tool_input.get("old_text"), tool_input.get("new_text"))
            return await asyncio.to_thread(files.edit_file, *args)
        raise Refused(f"unknown tool '{name}'; the tools are: {', '.join(t['name'] for t in TOOL_SPECS)}")
    except Refused as exc:
        return ToolResult(f"refused: {exc}", is_error=True)
    except OSError as exc:
        return ToolResult(f"failed: {exc.strerror or exc}", is_error=True)
