"""The stream parsers on recorded shapes: exact tokens, activity, sessions, limits, turn ends."""

from __future__ import annotations

import json

from conductor.agents.budget import price_key_candidates
from conductor.agents.codex_stream import CodexStream, CodexTotals
from conductor.agents.streams import (
    Activity,
    ClaudeStream,
    PlainStream,
    RateLimit,
    SessionStarted,
    TurnEnded,
    Usage,
)

SID = "0a1b2c3d-0000-4000-8000-000000000001"
MODEL = "claude-sonnet-4-5-20250929"
USAGE = {
    "input_tokens": 12,
    "output_tokens": 345,
    "cache_creation_input_tokens": 1024,
    "cache_read_input_tokens": 20480,
    "cache_creation": {"ephemeral_5m_input_tokens": 768, "ephemeral_1h_input_tokens": 256},
}


def line(obj) -> str:
    return json.dumps(obj) + "\n"


def feed_all(parser, objs) -> list:
    out = []
    for obj in objs:
        out += parser.feed(obj if isinstance(obj, str) else line(obj))
    return out + parser.close()


def of(kind, signals):
    return [s for s in signals if isinstance(s, kind)]


def assistant(message_id, content, usage, parent=None):
    return {
        "type": "assistant",
        "session_id": SID,
        "parent_tool_use_id": parent,
        "message": {"id": message_id, "model": MODEL, "role": "assistant", "content": content, "usage": usage},
    }


def partial(event, parent=None):
    return {"type": "stream_event", "session_id": SID, "parent_tool_use_id": parent, "event": event}


def claude_turn(message_id="msg_A"):
    """One message printed as 3 blocks, each repeating its usage, with partial events."""
    return [
        partial(
            {
                "type": "message_start",
                "message": {"id": message_id, "model": MODEL, "usage": {**USAGE, "output_tokens": 1}},
            }
        ),
        partial({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}}),
        partial(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "try X=1\nthen run"}}
        ),
        partial({"type": "content_block_stop", "index": 0}),
        assistant(message_id, [{"type": "text", "text": "Let me try X=1\nthen run"}], USAGE),
        assistant(message_id, [{"type": "thinking", "thinking": "hmm"}], USAGE),
        assistant(
            message_id,
            [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "conductor exp -m x"}}],
            USAGE,
        ),
        partial({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 345}}),
        {
            "type": "user",
            "message": {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "KEEP\nmore"}],
            },
        },
    ]


def test_claude_usage_counted_once_per_message_across_repeated_blocks():
    parser = ClaudeStream()
    signals = feed_all(
        parser, [{"type": "system", "subtype": "init", "session_id": SID, "model": MODEL}, *claude_turn()]
    )
    usages = of(Usage, signals)
    assert usages == [
        Usage(
            model=MODEL,
            input=12,
            output=345,
            cache_write_5m=768,
            cache_write_1h=256,
            cache_read=20480,
            request_id="msg_A",
        )
    ]


def test_claude_result_usage_is_never_counted_and_cost_is_the_clis_estimate():
    parser = ClaudeStream()
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "num_turns": 3,
        "session_id": SID,
        "total_cost_usd": 0.4231,
        "usage": {"input_tokens": 99999, "output_tokens": 99999},
        "modelUsage": {MODEL: {"inputTokens": 99999, "costUSD": 0.41}},
        "result": "done",
    }
    signals = feed_all(parser, [*claude_turn(), result])
    assert sum(u.output for u in of(Usage, signals)) == 345
    assert of(TurnEnded, signals) == [TurnEnded(ok=True, detail="done", cost_usd=0.4231, num_turns=3)]


def test_claude_partial_output_counts_take_the_maximum_not_the_sum():
    parser = ClaudeStream()
    signals = feed_all(
        parser,
        [
            assistant("msg_P", [{"type": "text", "text": "a"}], {**USAGE, "output_tokens": 10}),
            assistant("msg_P", [{"type": "text", "text": "b"}], {**USAGE, "output_tokens": 90}),
            assistant("msg_Q", [{"type": "text", "text": "c"}], {"input_tokens": 3, "output_tokens": 4}),
        ],
    )
    assert [(u.request_id, u.input, u.output) for u in of(Usage, signals)] == [("msg_P", 12, 90), ("msg_Q", 3, 4)]


def test_claude_late_usage_for_an_emitted_message_adds_only_the_difference():
    parser = ClaudeStream()
    first = feed_all(parser, [assistant("msg_L", [], {"input_tokens": 5, "output_tokens": 10})])
    late = feed_all(parser, [assistant("msg_L", [], {"input_tokens": 5, "output_tokens": 25})])
    again = feed_all(parser, [assistant("msg_L", [], {"input_tokens": 5, "output_tokens": 25})])
    assert [(u.input, u.output) for u in of(Usage, first)] == [(5, 10)]
    assert [(u.input, u.output) for u in of(Usage, late)] == [(0, 15)]
    assert of(Usage, again) == []


def test_claude_subagent_messages_are_counted_separately():
    parser = ClaudeStream()
    signals = feed_all(
        parser,
        [
            assistant("msg_main", [], {"input_tokens": 1, "output_tokens": 2}),
            assistant("msg_sub", [], {"input_tokens": 30, "output_tokens": 40}, parent="toolu_task"),
            assistant("msg_main", [], {"input_tokens": 1, "output_tokens": 2}),
        ],
    )
    assert sorted((u.request_id, u.input, u.output) for u in of(Usage, signals)) == [
        ("msg_main", 1, 2),
        ("msg_sub", 30, 40),
    ]


def test_claude_activity_session_and_deltas_shown_once():
    parser = ClaudeStream()
    signals = feed_all(
        parser, [{"type": "system", "subtype": "init", "session_id": SID, "model": MODEL}, *claude_turn()]
    )
    assert of(SessionStarted, signals) == [SessionStarted(SID, MODEL)]
    texts = [(a.kind, a.text) for a in of(Activity, signals)]
    assert ("text", "Let me try X=1") in texts and ("text", "then run") in texts
    assert texts.count(("text", "Let me try X=1")) == 1  # the full text block repeats the deltas: not shown twice
    assert ("tool", "Bash: conductor exp -m x") in texts
    assert ("result", "KEEP") in texts


def test_claude_without_partials_shows_text_blocks():
    parser = ClaudeStream()
    signals = feed_all(parser, [assistant("m1", [{"type": "text", "text": "plain reply"}], {"input_tokens": 1})])
    assert [(a.kind, a.text) for a in of(Activity, signals)] == [("text", "plain reply")]
    assert of(SessionStarted, signals) == [SessionStarted(SID, MODEL)]


def test_claude_rate_limit_event():
    parser = ClaudeStream()
    info = {"status": "rejected", "resetsAt": 1767225600, "rateLimitType": "five_hour", "utilization": 1.0}
    signals = feed_all(parser, [{"type": "rate_limit_event", "rate_limit_info": info}])
    assert signals == [RateLimit("rejected", 1767225600.0, "five_hour", 1.0)]
    assert not signals[0].allowed
    allowed = feed_all(ClaudeStream(), [{"type": "rate_limit_event", "rate_limit_info": {"status": "allowed_warning"}}])
    assert allowed[0].allowed and allowed[0].resets_at is None


def test_claude_error_result_and_unknown_lines_are_not_fatal():
    parser = ClaudeStream()
    signals = feed_all(
        parser,
        [
            "not json at all\n",
            "[1, 2, 3]\n",
            {"type": "mystery_event", "payload": {}},
            {"type": "system", "subtype": "hook_response"},
            {"type": "stream_event", "event": {"type": "future_event"}},
            {
                "type": "result",
                "subtype": "success",
                "is_error": True,
                "api_error_status": 529,
                "result": "Overloaded",
                "session_id": SID,
            },
        ],
    )
    assert of(TurnEnded, signals) == [TurnEnded(ok=False, detail="success: API status 529: Overloaded")]


def test_codex_usage_cached_is_a_subset_and_resumes_are_differenced():
    previous = {"thread-1": CodexTotals(input=24763, cached=24448, output=122)}
    parser = CodexStream("gpt-5-codex", previous)
    signals = feed_all(
        parser,
        [
            {"type": "thread.started", "thread_id": "thread-1"},
            {"type": "turn.started"},
            {
                "type": "turn.completed",
                "usage": {"input_tokens": 50000, "cached_input_tokens": 49000, "output_tokens": 300},
            },
        ],
    )
    assert of(Usage, signals) == [
        Usage(model="gpt-5-codex", input=25237 - 24552, output=178, cache_read=24552, request_id="thread-1")
    ]
    assert parser.totals["thread-1"] == CodexTotals(50000, 49000, 300)
    assert of(TurnEnded, signals) == [TurnEnded(ok=True)]


def test_codex_fresh_thread_counts_the_whole_report_and_a_reset_counter_is_not_negative():
    parser = CodexStream("codex", {"t": CodexTotals(100000, 90000, 5000)})
    signals = feed_all(
        parser,
        [
            {"type": "thread.started", "thread_id": "t"},
            {
                "type": "turn.completed",
                "usage": {"input_tokens": 1000, "cached_input_tokens": 400, "output_tokens": 50},
            },
        ],
    )
    assert [(u.input, u.cache_read, u.output) for u in of(Usage, signals)] == [(600, 400, 50)]


def test_codex_items_in_both_spellings_and_unknown_types():
    parser = CodexStream("codex")
    signals = feed_all(
        parser,
        [
            {"type": "thread.started", "thread_id": "t"},
            {"type": "item.started", "item": {"id": "1", "type": "command_execution", "command": "bash -lc ls"}},
            {
                "type": "item.completed",
                "item": {"id": "1", "type": "command_execution", "aggregated_output": "a\nb\n", "exit_code": 0},
            },
            {"type": "item.completed", "item": {"id": "2", "type": "agent_message", "text": "new spelling"}},
            {"type": "item.completed", "item": {"id": "3", "item_type": "assistant_message", "text": "old spelling"}},
            {"type": "item.completed", "item": {"id": "4", "type": "file_change", "changes": [{"path": "train.py"}]}},
            {"type": "item.completed", "item": {"id": "5", "type": "brand_new_item"}},
            {"type": "session.mystery"},
            {"type": "turn.failed", "error": {"message": "You've hit your usage limit."}},
        ],
    )
    texts = [(a.kind, a.text) for a in of(Activity, signals)]
    assert ("tool", "$ bash -lc ls") in texts
    assert ("result", "exit 0: b") in texts
    assert ("text", "new spelling") in texts and ("text", "old spelling") in texts
    assert ("tool", "edit train.py") in texts
    assert of(TurnEnded, signals) == [TurnEnded(ok=False, detail="You've hit your usage limit.")]
    assert of(SessionStarted, signals) == [SessionStarted("t", "codex")]


def test_plain_stream_and_price_keys():
    assert PlainStream().feed("hello\n") == [Activity("text", "hello")]
    assert PlainStream().feed("   \n") == []
    assert price_key_candidates("claude-sonnet-4-5-20250929") == ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"]
    assert price_key_candidates("claude-sonnet-4-5[1m]") == ["claude-sonnet-4-5[1m]", "claude-sonnet-4-5"]
    assert price_key_candidates("gpt-5-codex") == ["gpt-5-codex"]
