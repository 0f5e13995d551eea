"""conductor's own agent: a tool-use research loop on the Anthropic SDK (`AsyncAnthropic`).

The model sees agents.md, the pane's program.md and the in-scope files as a cached system
prompt, works through the tools in `tools.py`, and ends each idea with `run_experiment`,
whose result is the outcome. The conversation goes on forever: a reply without a tool call
gets a nudge, the researcher's messages and an edited program.md enter at turn boundaries,
and a conversation that grows past `context_limit` restarts from the results table.

Tokens are taken from the SDK's usage objects, once per API response (a stream's final
snapshot, where message_delta counts overwrite message_start's), and recorded with the
request id. API trouble stays visible and local to the pane: the SDK retries quick
failures at most twice, longer waits happen here with the pane showing "waiting, retry in
N s", a spend limit pauses the pane, and a rejected key stops only this pane.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic

from conductor.agents.anthropic_retry import (
    SDK_MAX_RETRIES,
    AttemptWatch,
    RetryLater,
    SpendLimitReached,
    backoff_seconds,
    is_spend_limit,
    loop_retryable,
    retry_after_seconds,
)
from conductor.agents.budget import Budget
from conductor.agents.prompts import RESEARCHER_TAG, board_section, labelled, program_section, results_table
from conductor.agents.quota_headers import quota_from_headers
from conductor.agents.tools import TOOL_SPECS, ToolResult, WorktreeFiles, call_tool, describe_call
from conductor.config import AgentConfig
from conductor.core.agent import PaneSession
from conductor.errors import AgentFatal

MAX_OUTPUT_TOKENS = 8192
ALERT_AFTER_FAILURES = 5
TEXT_FLUSH_CHARS = 400
PROMPT_FILE_MAX_BYTES = 64_000
TABLE_RECENT_ROWS = 200

NUDGE = (
    "[conductor] Your reply had no tool call. This loop never stops on its own: pick the next idea, "
    "change the code with the file tools, and run it with run_experiment. Do not ask for permission."
)


# ---------------------------------------------------------------- usage


@dataclass(frozen=True)
class UsageCounts:
    input: int = 0
    output: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0

    @property
    def total_input(self) -> int:
        return self.input + self.cache_write_5m + self.cache_write_1h + self.cache_read


def usage_counts(usage: Any) -> UsageCounts:
    """Counts from an SDK `Usage`. Cache writes split by TTL when the API gives the breakdown,
    else all 5-minute; the split always sums to `cache_creation_input_tokens`."""
    written = usage.cache_creation_input_tokens or 0
    breakdown = getattr(usage, "cache_creation", None)
    one_hour = min(written, breakdown.ephemeral_1h_input_tokens or 0) if breakdown is not None else 0
    return UsageCounts(
        input=usage.input_tokens or 0,
        output=usage.output_tokens or 0,
        cache_write_5m=written - one_hour,
        cache_write_1h=one_hour,
        cache_read=usage.cache_read_input_tokens or 0,
    )


# ---------------------------------------------------------------- text batching


class TextBatcher:
    """Streamed text to activity lines: one event per complete line, never one per token."""

    def __init__(self, emit: Callable[[str], None]):
        self.emit = emit
        self.buffer = ""

    def add(self, chunk: str) -> None:
        self.buffer += chunk
        if "\n" in self.buffer:
            done, self.buffer = self.buffer.rsplit("\n", 1)
            for line in done.split("\n"):
                if line.strip():
                    self.emit(line)
        elif len(self.buffer) >= TEXT_FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        if self.buffer.strip():
            self.emit(self.buffer)
        self.buffer = ""


# ---------------------------------------------------------------- prompt pieces


def _text(value: str) -> dict:
    return {"type": "text", "text": value}


def _assistant_blocks(message: Any) -> list[dict]:
    """The reply as it goes back into the conversation."""
    out: list[dict] = []
    for block in message.content:
        if block.type == "text" and block.text:
            out.append(_text(block.text))
        elif block.type == "tool_use":
            out.append({"type": "tool_use", "id": block.id, "name": block.name, "input": _tool_input(block)})
        elif block.type in ("thinking", "redacted_thinking"):
            out.append(block.to_dict())
    return out or [_text("(empty reply)")]


def _tool_input(block: Any) -> dict:
    return block.input if isinstance(block.input, dict) else {}


# ---------------------------------------------------------------- the agent


class AnthropicAgent:
    kind = "anthropic"

    def __init__(self, config: AgentConfig, *, stream: bool = True):
        self.config = config
        self.stream = stream
        self.session: PaneSession | None = None
        self.client: anthropic.AsyncAnthropic | None = None
        self.files: WorktreeFiles | None = None
        self.system: list[dict] = []
        self.messages: list[dict] = []
        self.last_outcome = ""
        self._inbox: list[str] = []
        self.budget = Budget(config.max_usd, config.max_tokens)
        self._warned_limit = False

    # ------------------------------------------------------------ main loop

    async def run(self, session: PaneSession) -> None:
        self.session = session
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise AgentFatal(
                'ANTHROPIC_API_KEY is not set: export it, or set agent = { kind = "optuna" } on this workspace'
            )
        self.client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=SDK_MAX_RETRIES,
            middleware=[AttemptWatch(self._show_sdk_retry, lambda: session.set_state("thinking"))],
        )
        ws = session.workspace
        self.files = WorktreeFiles(session.worktree_path, ws.editable, ws.protected)
        if session.price(self.config.model) is None:
            session.alert(
                "warning",
                f'no [prices."{self.config.model}"] in the config: tokens are counted, cost shows $0 '
                "and max_usd cannot trigger",
            )
        session.activity("info", f"anthropic agent on {self.config.model}")
        try:
            await self._converse()
        finally:
            await self.client.close()

    async def _converse(self) -> None:
        session = self.session
        self.system = await asyncio.to_thread(self._system_blocks)
        user = [_text(self._opening())]
        restarted_at_turn = True
        while True:
            user += await self._turn_boundary()
            self.messages.append({"role": "user", "content": user})
            try:
                message, counts = await self._request()
            except (anthropic.BadRequestError, anthropic.ContentTooLargeError) as exc:
                if restarted_at_turn:
                    raise AgentFatal(
                        f"the API rejected the request ({exc.status_code}): {exc.api_message or exc}"
                    ) from None
                rejected = self.messages.pop()["content"]
                user = await self._restart(f"the API rejected the conversation: {exc.api_message or exc}")
                user += [b for b in rejected if b["type"] == "text" and b["text"].startswith(RESEARCHER_TAG)]
                restarted_at_turn = True
                continue
            over_limit = counts.total_input > self.config.context_limit
            if over_limit and restarted_at_turn and not self._warned_limit:
                self._warned_limit = True
                session.alert(
                    "warning",
                    f"context_limit {self.config.context_limit} is below the fresh conversation's size "
                    f"({counts.total_input} tokens): the agent restarts every other turn; raise context_limit",
                )
            restarted_at_turn = False
            self.messages.append({"role": "assistant", "content": _assistant_blocks(message)})
            user = await self._act(message)
            if over_limit and len(self.messages) > 2:
                user = await self._restart(
                    f"the last request read {counts.total_input} input tokens, over context_limit "
                    f"{self.config.context_limit}"
                )
                restarted_at_turn = True
            session.set_state("thinking")

    async def _turn_boundary(self) -> list[dict]:
        """Pause, budget, researcher messages and program reloads happen only here."""
        session = self.session
        blocks: list[dict] = []
        await self._check_budget()
        self._inbox += await session.checkpoint()
        if session.take_program_reload():
            self.system = await asyncio.to_thread(self._system_blocks)
            session.activity("info", "program.md reloaded into the system prompt")
            blocks.append(
                _text(
                    "[conductor] The researcher edited program.md; the system prompt now holds the new "
                    "version. Follow it from here on."
                )
            )
        blocks += [_text(labelled(message)) for message in self._inbox]
        self._inbox = []
        return blocks

    async def _act(self, message: Any) -> list[dict]:
        """Run the reply's tool calls in order; the next user turn is their results (or a nudge)."""
        session = self.session
        calls = [b for b in message.content if b.type == "tool_use"]
        if not calls:
            session.activity("info", "the model replied without a tool call; nudging it to go on")
            return [_text(NUDGE)]
        results = []
        for block in calls:
            tool_input = _tool_input(block)
            if message.stop_reason == "max_tokens" and block is calls[-1]:
                result = ToolResult(
                    f"your reply hit the output limit ({MAX_OUTPUT_TOKENS} tokens) inside this call, so it was "
                    "not run; make smaller edits (edit_file) instead",
                    is_error=True,
                )
            else:
                session.activity("tool", describe_call(block.name, tool_input))
                result = await call_tool(session, self.files, block.name, tool_input)
                if block.name == "run_experiment" and not result.is_error:
                    self.last_outcome = result.text
            session.activity("result", result.text.split("\n", 1)[0][:300])
            results.append(
                {"type": "tool_result", "tool_use_id": block.id, "content": result.text, "is_error": result.is_error}
            )
        return results

    # ------------------------------------------------------------ API calls

    async def _request(self) -> tuple[Any, UsageCounts]:
        """One model turn, waiting out rate limits, overloads and outages for as long as it takes."""
        session = self.session
        failures = 0
        while True:
            session.set_state("thinking")
            try:
                return await self._call()
            except SpendLimitReached as exc:
                await self._pause_for_spend_limit(str(exc))
                continue
            except RetryLater as exc:
                delay, reason = exc.delay, exc.reason
            except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as exc:
                raise AgentFatal(
                    f"the Anthropic API refused the key ({exc.status_code}): {exc.api_message or exc.message}"
                ) from None
            except (anthropic.BadRequestError, anthropic.ContentTooLargeError):
                raise  # the conversation itself is at fault: _converse restarts it
            except anthropic.APIStatusError as exc:
                if is_spend_limit(exc.error_code):
                    await self._pause_for_spend_limit(exc.api_message or exc.error_code)
                    continue
                if exc.status_code == 402:
                    await self._pause(
                        "error", f"Anthropic billing problem (402): {exc.api_message}. The pane is paused."
                    )
                    continue
                if not loop_retryable(exc):
                    raise AgentFatal(
                        f"the Anthropic API refused the request ({exc.status_code}): {exc.api_message or exc.message}"
                    ) from None
                reason = (
                    f"{exc.status_code} {exc.type or 'error'}" if exc.status_code != 200 else f"{exc.type} mid-stream"
                )
                delay = retry_after_seconds(exc.response.headers) if exc.status_code != 200 else None
                if delay is None:
                    delay = backoff_seconds(failures)
            except anthropic.APIConnectionError as exc:
                reason = "timeout" if isinstance(exc, anthropic.APITimeoutError) else "connection error"
                delay = backoff_seconds(failures)
            failures += 1
            if failures == ALERT_AFTER_FAILURES:
                session.alert("warning", f"the Anthropic API keeps failing ({reason}); still retrying")
            await self._wait(delay, reason)

    async def _call(self) -> tuple[Any, UsageCounts]:
        kwargs = {
            "model": self.config.model,
            "max_tokens": MAX_OUTPUT_TOKENS,
            "system": self.system,
            "tools": TOOL_SPECS,
            "messages": self.messages,
        }
        batcher = TextBatcher(lambda line: self.session.activity("text", line))
        if not self.stream:
            raw = await self.client.messages.with_raw_response.create(**kwargs)
            message = await raw.parse()
            counts = self._record(message.usage, raw.headers.get("request-id") or "", "anthropic")
            self._report_quota(raw.headers)
            for block in message.content:
                if block.type == "text":
                    batcher.add(block.text)
                    batcher.flush()
            return message, counts
        async with self.client.messages.stream(**kwargs) as stream:
            started = False
            try:
                async for event in stream:
                    if event.type == "message_start":
                        started = True
                    elif event.type == "text":
                        batcher.add(event.text)
                    elif event.type == "content_block_stop":
                        batcher.flush()
                message = await stream.get_final_message()
            except BaseException:
                batcher.flush()
                if started:  # the API counted what it sent before the failure
                    self._record(stream.current_message_snapshot.usage, stream.request_id or "", "anthropic-stream")
                raise
        self._report_quota(stream.response.headers)
        return message, self._record(message.usage, stream.request_id or "", "anthropic-stream")

    def _report_quota(self, headers: Any) -> None:
        for window, used, resets_at in quota_from_headers(headers):
            self.session.quota("anthropic", window, used, resets_at)

    def _record(self, usage: Any, request_id: str, source: str) -> UsageCounts:
        counts = usage_counts(usage)
        self.session.record_usage(
            self.config.model,
            input=counts.input,
            output=counts.output,
            cache_write_5m=counts.cache_write_5m,
            cache_write_1h=counts.cache_write_1h,
            cache_read=counts.cache_read,
            request_id=request_id,
            source=source,
        )
        return counts

    # ------------------------------------------------------------ waiting, pausing, budgets

    def _show_sdk_retry(self, delay: float, reason: str) -> None:
        shown = max(1, math.ceil(delay))
        self.session.set_state("waiting", f"retry in {shown} s ({reason})", deadline=time.time() + delay)
        self.session.activity("info", f"waiting, retry in {shown} s: {reason}")

    async def _wait(self, delay: float, reason: str) -> None:
        self._show_sdk_retry(delay, reason)
        await asyncio.sleep(delay)

    async def _pause(self, level: str, message: str) -> None:
        """Pause the pane with an alert; returns when the researcher resumes it."""
        self.session.alert(level, message)
        self.session.pause(message)
        self._inbox += await self.session.checkpoint()

    async def _pause_for_spend_limit(self, detail: str) -> None:
        await self._pause(
            "error",
            f"Anthropic spend limit reached: {detail}. The pane is paused: raise the limit in the "
            "Anthropic console, then resume the pane.",
        )

    async def _check_budget(self) -> None:
        if self.budget.pause_if_reached(self.session):
            self._inbox += await self.session.checkpoint()

    # ------------------------------------------------------------ prompts and restarts

    async def _restart(self, reason: str) -> list[dict]:
        """A fresh conversation: system prompt (with current files), results table, last outcome."""
        self.messages = []
        self.system = await asyncio.to_thread(self._system_blocks)
        rows = self.session.history()
        self.session.activity(
            "info",
            f"context restart: {reason}; restarted from the system prompt, the results table ({len(rows)} rows) "
            "and the last outcome",
        )
        last = self.last_outcome or "(none in this conversation yet)"
        return [
            _text(
                f"[conductor] The conversation was restarted to keep the context bounded ({reason}). Nothing is "
                f"lost: every experiment is recorded.\n\nResults so far:\n{self._table(rows)}{self._board()}"
                f"\n\nLast outcome:\n{last}\n\nContinue with your next experiment."
            )
        ]

    def _opening(self) -> str:
        return (
            f"[conductor] Results so far:\n{self._table(self.session.history())}{self._board()}\n\n"
            "Start your next experiment: change the code with the file tools, then call run_experiment."
        )

    def _board(self) -> str:
        board = board_section(self.session)
        return f"\n\n{board}" if board else ""

    def _table(self, rows: list) -> str:
        return results_table(rows, self.session.workspace.metric, TABLE_RECENT_ROWS)

    def _system_blocks(self) -> list[dict]:
        session = self.session
        blocks = []
        agents = session.agents_text().strip()
        if agents:
            blocks.append(_text(agents))
        blocks.append(_text(program_section(session)))
        blocks.append(_text(self._workspace_text()))
        blocks[-1]["cache_control"] = {"type": "ephemeral"}
        return blocks

    def _workspace_text(self) -> str:
        ws = self.session.workspace
        better = "lower" if ws.goal == "min" else "higher"
        lines = [
            "# This loop",
            f"Workspace {ws.name}: each experiment runs `{ws.run}` with a time budget of {ws.time_budget_s:g} s; "
            f"the metric is `{ws.metric}` from the summary block ({better} is better).",
            f"Editable: {', '.join(ws.editable)}. Protected (read-only): {', '.join(ws.protected) or 'none'}.",
            "Work through the tools: read_file, list_files, write_file, edit_file, then run_experiment(description) "
            "for each idea. Its result tells you whether the change was kept or reverted.",
            *self._slot_line(),
            "",
            "# Files at the start of this conversation (read_file shows the current content)",
        ]
        for rel, tag in self._in_scope_files():
            lines.append(f"\n## {rel} ({tag})")
            path = self.files.root / rel
            try:
                data = path.read_bytes()
            except OSError:
                lines.append("(unreadable)")
                continue
            if len(data) > PROMPT_FILE_MAX_BYTES or b"\x00" in data:
                lines.append(f"({len(data)} bytes; too large or binary to include: use read_file)")
                continue
            lines.append("```\n" + data.decode("utf-8", "replace").rstrip("\n") + "\n```")
        return "\n".join(lines)

    def _slot_line(self) -> list[str]:
        """Which of the workspace's declared constants take effect on this run's slots."""
        kind = self.session.slot_kind()
        apart = [k.name for k in self.session.workspace.knobs if k.slot != "any"]
        if not apart or kind == "any":
            return []
        used = [k.name for k in self.session.workspace.knobs if k.slot == kind]
        return [
            f"Experiments run on {kind.upper()} slots: of the slot-specific constants, {', '.join(used)} take effect."
        ]

    def _in_scope_files(self) -> list[tuple[str, str]]:
        tracked = self.files.tracked_files()
        out = [(rel, "editable") for rel in tracked if self.files.is_editable(rel)]
        out += [(rel, "protected, read-only") for rel in tracked if self.files.is_protected(rel)]
        return out
