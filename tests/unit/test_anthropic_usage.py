"""The Anthropic agent's pure parts: usage from SDK objects, retry-after, text batching, the table."""

from __future__ import annotations

import email.utils
import time

import pytest
from anthropic.types import Message, MessageDeltaUsage, Usage

from conductor.agents.anthropic import TextBatcher, usage_counts
from conductor.agents.anthropic_retry import is_spend_limit, retry_after_seconds
from conductor.agents.prompts import results_table
from conductor.core.record import ExperimentRecord


def test_usage_counts_split_cache_writes_by_ttl():
    usage = Usage.model_validate(
        {
            "input_tokens": 12,
            "output_tokens": 345,
            "cache_creation_input_tokens": 1024,
            "cache_read_input_tokens": 20480,
            "cache_creation": {"ephemeral_5m_input_tokens": 24, "ephemeral_1h_input_tokens": 1000},
        }
    )
    c = usage_counts(usage)
    assert (c.input, c.output, c.cache_write_5m, c.cache_write_1h, c.cache_read) == (12, 345, 24, 1000, 20480)
    assert c.total_input == 12 + 1024 + 20480


def test_usage_without_breakdown_counts_every_write_as_5m():
    c = usage_counts(Usage(input_tokens=5, output_tokens=7, cache_creation_input_tokens=300))
    assert (c.cache_write_5m, c.cache_write_1h, c.cache_read) == (300, 0, 0)


def test_stream_snapshot_overwrites_with_cumulative_delta_counts():
    """The SDK's rule, on its own accumulator: message_delta counts replace message_start's."""
    from anthropic.lib.streaming._messages import accumulate_event
    from anthropic.types import RawMessageDeltaEvent, RawMessageStartEvent

    start = RawMessageStartEvent.model_validate(
        {
            "type": "message_start",
            "message": Message.model_validate(
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "m",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 40,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": 100,
                        "cache_read_input_tokens": 0,
                        "cache_creation": {"ephemeral_5m_input_tokens": 60, "ephemeral_1h_input_tokens": 40},
                    },
                }
            ).model_dump(),
        }
    )
    delta = RawMessageDeltaEvent(
        type="message_delta",
        delta={"stop_reason": "end_turn", "stop_sequence": None},
        usage=MessageDeltaUsage(output_tokens=7, cache_creation_input_tokens=90),
    )
    snapshot = accumulate_event(event=start, current_snapshot=None, json_bufs={})
    snapshot = accumulate_event(event=delta, current_snapshot=snapshot, json_bufs={})
    c = usage_counts(snapshot.usage)
    assert c.output == 7  # not 8
    assert (c.cache_write_5m + c.cache_write_1h, c.cache_write_1h) == (90, 40)  # the total always matches


def test_retry_after_forms():
    assert retry_after_seconds({"retry-after": "45"}) == 45.0
    assert retry_after_seconds({"retry-after": "0.25"}) == 0.25
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after_seconds({"retry-after": date}) <= 30


def test_spend_limit_codes():
    assert is_spend_limit("enforced_spend_limit_reached") and is_spend_limit("contract_spend_limit_reached")
    assert not is_spend_limit(None) and not is_spend_limit("ramp_limit_exceeded")


def test_text_batcher_emits_lines_not_tokens():
    lines: list[str] = []
    batcher = TextBatcher(lines.append)
    for token in ["Hel", "lo wo", "rld\n\nSecond", " line\nthird", " (unfinished)"]:
        batcher.add(token)
    assert lines == ["Hello world", "Second line"]
    batcher.flush()
    assert lines[-1] == "third (unfinished)"
    batcher.add("x" * 500)  # a very long line goes out without waiting for its newline
    assert lines[-1] == "x" * 500


@pytest.mark.parametrize("n", [3, 260])
def test_results_table_keeps_every_keep_and_the_recent_rows(n):
    rows = [
        ExperimentRecord(
            pane="p",
            seq=i,
            commit=f"{i:07d}",
            status="keep" if i in (1, 2) else "discard",
            metric=float(i),
            description=f"idea {i}",
            reason="",
            parent="",
            started_at=0,
            finished_at=0,
            is_baseline=i == 1,
        )
        for i in range(1, n + 1)
    ]
    table = results_table(rows, "val_bpb", 200).splitlines()
    assert table[0] == "seq | status | val_bpb | description"
    assert table[1] == "1 | baseline | 1.000000 | idea 1" and table[2] == "2 | keep | 2.000000 | idea 2"
    if n == 260:
        assert len(table) == 1 + 2 + 200 + 1 and table[-1].startswith("(58 older")
    else:
        assert len(table) == 4
