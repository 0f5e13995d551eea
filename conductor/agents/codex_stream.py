"""The parser for `codex exec --json` (and `codex exec --json resume THREAD_ID`).

Codex reports usage only at `turn.completed`, thread-cumulative after a resume: successive
values of one thread are differenced (the last value of each thread is what the agent
keeps across a conductor restart). `cached_input_tokens` is a subset of `input_tokens`, so
uncached input is the difference of the two.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from conductor.agents.streams import (
    Activity,
    SessionStarted,
    Signal,
    TurnEnded,
    Usage,
    clip,
    first_line,
    json_object,
    token_count,
)


@dataclass(frozen=True)
class CodexTotals:
    """A thread's cumulative usage as Codex last reported it."""

    input: int = 0  # including cached
    cached: int = 0
    output: int = 0

    def covers(self, other: CodexTotals) -> bool:
        return self.input >= other.input and self.cached >= other.cached and self.output >= other.output

    def minus(self, other: CodexTotals) -> CodexTotals:
        return CodexTotals(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def to_list(self) -> list[int]:
        return [self.input, self.cached, self.output]

    @classmethod
    def from_list(cls, values: Any) -> CodexTotals:
        try:
            return cls(*(max(0, int(v)) for v in values[:3]))
        except (TypeError, ValueError):
            return cls()


class CodexStream:
    """`codex exec --json` (and `codex exec --json resume THREAD_ID`)."""

    def __init__(self, model: str, totals: dict[str, CodexTotals] | None = None):
        self.model = model
        self.thread_id = ""
        self.totals: dict[str, CodexTotals] = dict(totals or {})  # thread -> last cumulative report
        self._turn = 0

    def feed(self, line: str) -> list[Signal]:
        data = json_object(line)
        if data is None:
            return []
        kind = data.get("type")
        if kind == "thread.started":
            tid = str(data.get("thread_id") or "")
            if not tid:
                return []
            self.thread_id = tid
            return [SessionStarted(tid, self.model), Activity("info", f"codex thread {tid}")]
        if kind == "turn.started":
            return []
        if kind == "turn.completed":
            usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
            return self._usage(usage) + [TurnEnded(ok=True)]
        if kind == "turn.failed":
            error = data.get("error") if isinstance(data.get("error"), dict) else {}
            message = first_line(str(error.get("message") or "the turn failed"))
            return [Activity("error", message), TurnEnded(ok=False, detail=message)]
        if kind == "error":
            return [Activity("error", first_line(str(data.get("message") or "error")))]
        if isinstance(kind, str) and kind.startswith("item."):
            item = data.get("item") if isinstance(data.get("item"), dict) else {}
            return self._item(kind[5:], item)
        return []

    def close(self) -> list[Signal]:
        return []

    def _usage(self, usage: dict) -> list[Signal]:
        now = CodexTotals(
            input=token_count(usage.get("input_tokens")),
            cached=token_count(usage.get("cached_input_tokens")),
            output=token_count(usage.get("output_tokens")),
        )
        key = self.thread_id or f"turn-{self._turn}"
        self._turn += 1
        before = self.totals.get(key)
        delta = now.minus(before) if before is not None and now.covers(before) else now
        self.totals[key] = now
        cached = min(delta.cached, delta.input)
        if delta.input == 0 and delta.output == 0:
            return []
        return [
            Usage(model=self.model, input=delta.input - cached, output=delta.output, cache_read=cached, request_id=key)
        ]

    def _item(self, phase: str, item: dict) -> list[Signal]:
        itype = item.get("type") or item.get("item_type") or ""
        if itype == "assistant_message":
            itype = "agent_message"
        if phase == "started":
            if itype == "command_execution" and item.get("command"):
                return [Activity("tool", clip(f"$ {item['command']}"))]
            return []
        if phase != "completed":
            return []
        if itype == "agent_message":
            return [Activity("text", clip(ln)) for ln in str(item.get("text", "")).splitlines() if ln.strip()]
        if itype == "reasoning":
            text = first_line(str(item.get("text", "")))
            return [Activity("text", clip(f"(thinking) {text}"))] if text else []
        if itype == "command_execution":
            code = item.get("exit_code")
            tail = [ln for ln in str(item.get("aggregated_output", "")).splitlines() if ln.strip()]
            last = f": {clip(tail[-1], 200)}" if tail else ""
            kind = "result" if code in (0, None) else "error"
            return [Activity(kind, f"exit {code if code is not None else '?'}{last}")]
        if itype == "file_change":
            changes = item.get("changes") if isinstance(item.get("changes"), list) else []
            paths = [str(c.get("path", "")) for c in changes if isinstance(c, dict)]
            return [Activity("tool", clip("edit " + (", ".join(p for p in paths if p) or "files")))]
        if itype == "mcp_tool_call":
            return [Activity("tool", clip(f"{item.get('server', '')}.{item.get('tool', '')}".strip(".")))]
        if itype == "web_search":
            return [Activity("tool", clip(f"web search: {item.get('query', '')}"))]
        if itype == "todo_list":
            items = item.get("items") if isinstance(item.get("items"), list) else []
            return [Activity("info", f"plan: {len(items)} step(s)")]
        if itype == "error":
            return [Activity("error", first_line(str(item.get("message", "error"))))]
        return []
