"""Pure parsers for the lines external agent CLIs print: the signals every parser returns,
Claude Code's stream-json and a plain command's lines (Codex's is in `codex_stream.py`).

A parser takes one line at a time and returns what it meant as small signal objects
(tokens, activity lines, the session id, a rate-limit state, the end of a turn), so that
the subprocess side never reads JSON and the counting rules can be tested on recorded
shapes alone. The rule that makes Claude's counts exact: it repeats a message's usage on
every content block it prints (and again in partial `message_start`/`message_delta`
events), so usage is taken per `message.id` as the field-wise maximum seen, and emitted
once when the message is over; anything that arrives for it later is emitted only as the
difference. `result.usage` (a session aggregate) is never counted.

Unknown event types, unknown item types and lines that are not JSON are skipped, never
fatal: these CLIs grow new events faster than anyone can follow.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

LINE_MAX = 400  # an activity line is a glance, not a transcript
_REMEMBERED_MESSAGES = 4096


# ---------------------------------------------------------------- signals


@dataclass(frozen=True)
class Usage:
    """Tokens of one model request (or the part of it not reported before)."""

    model: str
    input: int = 0  # uncached input
    output: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    request_id: str = ""

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write_5m + self.cache_write_1h + self.cache_read


_COUNTS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")


@dataclass(frozen=True)
class Activity:
    kind: str  # text | tool | result | info | error
    text: str


@dataclass(frozen=True)
class SessionStarted:
    session_id: str
    model: str = ""


@dataclass(frozen=True)
class RateLimit:
    status: str  # allowed | allowed_warning | rejected | ...
    resets_at: float | None
    limit_type: str
    utilization: float | None

    @property
    def allowed(self) -> bool:
        return self.status.startswith("allowed")


@dataclass(frozen=True)
class TurnEnded:
    ok: bool
    detail: str = ""
    cost_usd: float | None = None  # the CLI's own estimate, not billing
    num_turns: int | None = None


Signal = Usage | Activity | SessionStarted | RateLimit | TurnEnded


# ---------------------------------------------------------------- helpers


def json_object(line: str) -> dict | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def token_count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def clip(text: str, limit: int = LINE_MAX) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_line(text: str) -> str:
    for line in str(text).splitlines():
        if line.strip():
            return clip(line)
    return ""


def claude_counts(usage: dict) -> dict[str, int]:
    """Anthropic usage as ledger counts; cache writes split by TTL when the breakdown is there."""
    written = token_count(usage.get("cache_creation_input_tokens"))
    breakdown = usage.get("cache_creation") if isinstance(usage.get("cache_creation"), dict) else {}
    one_hour = min(written, token_count(breakdown.get("ephemeral_1h_input_tokens")))
    return {
        "input": token_count(usage.get("input_tokens")),
        "output": token_count(usage.get("output_tokens")),
        "cache_write_5m": written - one_hour,
        "cache_write_1h": one_hour,
        "cache_read": token_count(usage.get("cache_read_input_tokens")),
    }


def _max_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: max(a.get(k, 0), b.get(k, 0)) for k in _COUNTS}


def _describe_tool(name: str, tool_input: Any) -> str:
    args = tool_input if isinstance(tool_input, dict) else {}
    for key in ("command", "file_path", "path", "pattern", "url", "description", "prompt"):
        if isinstance(args.get(key), str) and args[key].strip():
            return clip(f"{name}: {args[key]}")
    return clip(name or "tool")


def _tool_result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text")
    return ""


class _LineBuffer:
    """Streamed text deltas to whole lines (one activity per line, never one per token)."""

    def __init__(self) -> None:
        self.buffer = ""

    def add(self, chunk: str) -> list[Activity]:
        self.buffer += chunk
        out: list[Activity] = []
        if "\n" in self.buffer:
            done, self.buffer = self.buffer.rsplit("\n", 1)
            out = [Activity("text", clip(ln)) for ln in done.split("\n") if ln.strip()]
        if len(self.buffer) >= LINE_MAX:
            out += self.flush()
        return out

    def flush(self) -> list[Activity]:
        text, self.buffer = self.buffer, ""
        return [Activity("text", clip(text))] if text.strip() else []


# ---------------------------------------------------------------- Claude Code


class ClaudeStream:
    """`claude -p --output-format stream-json --verbose [--include-partial-messages]`."""

    def __init__(self) -> None:
        self.session_id = ""
        self.model = ""
        self._pending: OrderedDict[str, tuple[str, dict[str, int]]] = OrderedDict()  # id -> (model, max)
        self._emitted: OrderedDict[str, dict[str, int]] = OrderedDict()  # id -> counts already emitted
        self._streaming: dict[str, str] = {}  # parent_tool_use_id ("" = main) -> message id of partials
        self._streamed_text: set[str] = set()  # ids whose text arrived as deltas
        self._text = _LineBuffer()

    def feed(self, line: str) -> list[Signal]:
        data = json_object(line)
        if data is None:
            return []
        kind = data.get("type")
        out: list[Signal] = []
        sid = data.get("session_id") or data.get("sessionId")
        if isinstance(sid, str) and sid and sid != self.session_id:
            self.session_id = sid
            if not (kind == "system" and data.get("subtype") == "init"):
                message = data.get("message") if isinstance(data.get("message"), dict) else {}
                out.append(SessionStarted(sid, str(message.get("model") or self.model)))
        if kind == "system":
            out += self._system(data)
        elif kind == "assistant":
            out += self._assistant(data)
        elif kind == "stream_event":
            out += self._stream_event(data)
        elif kind == "user":
            out += self._text.flush() + self._flush_usage() + self._user(data)
        elif kind == "rate_limit_event":
            out += self._rate_limit(data)
        elif kind == "result":
            out += self._text.flush() + self._flush_usage() + [self._result(data)]
        return out

    def close(self) -> list[Signal]:
        """The stream ended (process exit): whatever is still pending."""
        return self._text.flush() + self._flush_usage()

    # ------------------------------------------------------------ events

    def _system(self, data: dict) -> list[Signal]:
        if data.get("subtype") != "init":
            if data.get("subtype") == "compact_boundary":
                return [Activity("info", "the agent compacted its context")]
            return []
        self.model = str(data.get("model") or self.model)
        out: list[Signal] = [SessionStarted(self.session_id, self.model)] if self.session_id else []
        mode = data.get("permissionMode")
        detail = f" (permission mode {mode})" if mode else ""
        out.append(Activity("info", f"claude session {self.session_id or '?'} on {self.model or '?'}{detail}"))
        return out

    def _observe_usage(self, message_id: str, model: str, usage: Any) -> None:
        if not message_id or not isinstance(usage, dict):
            return
        counts = claude_counts(usage)
        old_model, old = self._pending.get(message_id, ("", {}))
        self._pending[message_id] = (model or old_model or self.model, _max_counts(old, counts))

    def _flush_usage(self) -> list[Signal]:
        out: list[Signal] = []
        for message_id, (model, counts) in self._pending.items():
            before = self._emitted.get(message_id, {})
            delta = {k: counts[k] - before.get(k, 0) for k in _COUNTS}
            if any(v > 0 for v in delta.values()):
                out.append(Usage(model=model, request_id=message_id, **{k: max(0, v) for k, v in delta.items()}))
                self._emitted[message_id] = _max_counts(before, counts)
                self._emitted.move_to_end(message_id)
        self._pending.clear()
        while len(self._emitted) > _REMEMBERED_MESSAGES:
            self._emitted.popitem(last=False)
        return out

    def _assistant(self, data: dict) -> list[Signal]:
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        message_id = str(message.get("id") or "")
        model = str(message.get("model") or "")
        if model and model != "<synthetic>":
            self.model = model
        out: list[Signal] = []
        if message_id and self._pending and message_id not in self._pending and not data.get("parent_tool_use_id"):
            out += self._flush_usage()  # the main thread moved on to its next message
        self._observe_usage(message_id, model, message.get("usage"))
        streamed = message_id in self._streamed_text
        for block in message.get("content") or []:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            if btype == "text" and not streamed:
                out += [Activity("text", clip(ln)) for ln in str(block.get("text", "")).splitlines() if ln.strip()]
            elif btype == "tool_use":
                out.append(Activity("tool", _describe_tool(str(block.get("name", "")), block.get("input"))))
        return out

    def _stream_event(self, data: dict) -> list[Signal]:
        event = data.get("event") if isinstance(data.get("event"), dict) else {}
        etype = event.get("type")
        thread = str(data.get("parent_tool_use_id") or "")
        if etype == "message_start":
            message = event.get("message") if isinstance(event.get("message"), dict) else {}
            message_id = str(message.get("id") or "")
            self._streaming[thread] = message_id
            self._observe_usage(message_id, str(message.get("model") or ""), message.get("usage"))
            return []
        if etype == "message_delta":
            message_id = self._streaming.get(thread, "")
            self._observe_usage(message_id, "", event.get("usage"))
            return []
        if etype == "content_block_delta":
            delta = event.get("delta") if isinstance(event.get("delta"), dict) else {}
            if delta.get("type") == "text_delta" and not thread:
                self._streamed_text.add(self._streaming.get(thread, ""))
                return self._text.add(str(delta.get("text", "")))
            return []
        if etype in ("content_block_stop", "message_stop"):
            return self._text.flush()
        return []

    def _user(self, data: dict) -> list[Signal]:
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        content = message.get("content")
        out: list[Signal] = []
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    text = first_line(_tool_result_text(block.get("content")))
                    if text:
                        out.append(Activity("error" if block.get("is_error") else "result", text))
        return out

    def _rate_limit(self, data: dict) -> list[Signal]:
        info = data.get("rate_limit_info") if isinstance(data.get("rate_limit_info"), dict) else {}
        resets = _num(info.get("resetsAt"))
        if resets is not None and resets > 1e11:  # milliseconds
            resets /= 1000.0
        return [
            RateLimit(
                status=str(info.get("status") or "allowed"),
                resets_at=resets,
                limit_type=str(info.get("rateLimitType") or ""),
                utilization=_num(info.get("utilization")),
            )
        ]

    def _result(self, data: dict) -> TurnEnded:
        subtype = str(data.get("subtype") or "")
        is_error = bool(data.get("is_error")) or (subtype not in ("", "success"))
        detail = first_line(str(data.get("result") or "")) if not is_error else ""
        if is_error:
            status = data.get("api_error_status")
            errors = data.get("errors") if isinstance(data.get("errors"), list) else []
            parts = [subtype or "error"]
            if status:
                parts.append(f"API status {status}")
            text = first_line(str(data.get("result") or "")) or (first_line(str(errors[0])) if errors else "")
            if text:
                parts.append(text)
            detail = ": ".join(parts)
        turns = data.get("num_turns")
        return TurnEnded(
            ok=not is_error,
            detail=detail,
            cost_usd=_num(data.get("total_cost_usd")),
            num_turns=turns if isinstance(turns, int) else None,
        )


# ---------------------------------------------------------------- any command


class PlainStream:
    """A `command` agent: every non-empty output line is an activity line; no tokens."""

    def feed(self, line: str) -> list[Signal]:
        text = line.rstrip("\r\n")
        return [Activity("text", clip(text))] if text.strip() else []

    def close(self) -> list[Signal]:
        return []
