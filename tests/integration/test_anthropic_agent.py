"""The built-in Anthropic agent end to end: the real SDK over HTTP to a loopback Messages API,
real git worktrees, real experiment subprocesses and the real ledger.

The fast workspace's metric is score = (X-3)^2 + (Y+1)^2 + 1 from the constants in train.py
(baseline X=0.5, Y=2.0: 16.25), so every scripted edit has a known outcome.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import check_invariants
from fixtures.messages_server import (
    Error,
    MessagesServer,
    Recorded,
    overloaded,
    rate_limited,
    reply,
    spend_limit,
    text,
    tool_use,
)

import conductor.agents.anthropic_retry as anthropic_retry
from conductor.agents.anthropic import AnthropicAgent
from conductor.agents.base import create_agent
from conductor.config import load_config
from conductor.core.commands import ReloadProgram, Resume, Say
from conductor.core.events import AgentActivity, Alert, ExperimentStarted, PaneState, QuotaSample, TokenRates
from conductor.core.ledger import Ledger
from conductor.core.orchestra import Orchestra

MODEL = "claude-test"
PRICES = f'[prices."{MODEL}"]\ninput = 3.0\noutput = 15.0\ncache_write = 3.75\ncache_read = 0.30\n'


@pytest.fixture
def api(monkeypatch):
    with MessagesServer() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def write_config(tmp_path: Path, ws: Path, *, agent: str = "", workspace: str = "", extra_ws: str = "") -> Path:
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(
        f'[conductor]\ncpu_slots = 1\n\n[agent]\nkind = "anthropic"\nmodel = "{MODEL}"\n{agent}\n{PRICES}\n'
        f'[[workspace]]\nname = "fast"\npath = "{ws}"\n{workspace}\n{extra_ws}'
    )
    return cfg


def run(cfg_path: Path, *, max_experiments: int, on_event=None, stream: bool = True, timeout: float = 60):
    """Run the orchestra in-process to the end; returns (orchestra, events)."""
    cfg = load_config(cfg_path)
    events = []

    def listen(event):
        events.append(event)
        if on_event is not None:
            on_event(orch, event)

    factory = create_agent if stream else (lambda config: AnthropicAgent(config, stream=False))
    orch = Orchestra(cfg, max_experiments=max_experiments, agent_factory=factory)
    orch.bus.subscribe(listen)
    orch.open()
    try:
        asyncio.run(asyncio.wait_for(orch.run(), timeout))
    finally:
        orch.close()
    return orch, events


def edit(old: str, new: str) -> dict:
    return tool_use("edit_file", path="train.py", old_text=old, new_text=new)


def experiment(description: str) -> dict:
    return tool_use("run_experiment", description=description)


def ledger_rows(tmp_path: Path, pane: str = "fast"):
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        return ledger.experiments(pane), [(u.request_id, u.source) for u in ledger.usage_rows(pane)]
    finally:
        ledger.close()


def activities(events, kind: str) -> list[str]:
    return [e.text for e in events if isinstance(e, AgentActivity) and e.kind == kind]


def states(events, pane: str = "fast") -> list[tuple[str, str]]:
    return [(e.state, e.detail) for e in events if isinstance(e, PaneState) and e.pane == pane]


def conductor(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conductor", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


# ---------------------------------------------------------------- the research loop


def test_keep_discard_crash_and_nudge(tmp_path, fastws, api):
    api.add(
        reply(text("Let me look at the code first.\nX is far from its best."), tool_use("read_file", path="train.py")),
        reply(edit("X = 0.5", "X = 3.0"), experiment("x to 3")),  # 10.0: keep
        reply(text("I think we are done here.")),  # no tool call: nudged
        reply(edit("Y = 2.0", "Y = 5.0"), experiment("y to 5")),  # 37.0: discard
        reply(edit('MODE = "ok"', 'MODE = "crash"'), experiment("crash on purpose")),
        reply(edit("Y = 2.0", "Y = -1.0"), experiment("y to -1")),  # 1.0: keep
    )
    orch, events = run(write_config(tmp_path, fastws), max_experiments=5)

    rows, usage = ledger_rows(tmp_path)
    assert [(r.status, r.description) for r in rows] == [
        ("keep", "baseline"),
        ("keep", "x to 3"),
        ("discard", "y to 5"),
        ("crash", "crash on purpose"),
        ("keep", "y to -1"),
    ]
    assert [r.metric for r in rows] == [16.25, 10.0, 37.0, None, 1.0]
    assert api.problems == []
    reqs = api.requests
    assert len(reqs) == 6 and all(r.status == 200 for r in reqs)
    # the system prompt: agents.md, program.md and the in-scope files, cached at its last block
    system = reqs[0].body["system"]
    assert "cache_control" in system[-1] and all("cache_control" not in b for b in system[:-1])
    assert "Rules for every research agent" in reqs[0].system_text
    assert "Lower `score` by changing X and Y" in reqs[0].system_text
    assert "## train.py (editable)" in reqs[0].system_text and "X = 0.5" in reqs[0].system_text
    assert "## prepare.py (protected, read-only)" in reqs[0].system_text
    assert [t["name"] for t in reqs[0].body["tools"]] == [
        "read_file",
        "list_files",
        "write_file",
        "edit_file",
        "run_experiment",
    ]
    assert reqs[0].body["stream"] is True and reqs[0].body["model"] == MODEL
    assert "1 | baseline | 16.250000 | baseline" in reqs[0].last_user_text
    # tool results come back in the next request, in order, outcome text included
    assert "X = 0.5\nY = 2.0" in reqs[1].tool_results()[0]["content"]
    edit_result, outcome = reqs[2].tool_results()
    assert edit_result["content"].startswith("edited train.py") and not edit_result["is_error"]
    assert "KEEP" in outcome["content"] and "score: 10.000000" in outcome["content"]
    assert "delta -6.250000" in outcome["content"]
    assert "no tool call" in reqs[3].last_user_text  # the nudge
    assert "DISCARD" in reqs[4].tool_results()[1]["content"]
    crash = reqs[5].tool_results()[1]
    assert "CRASH" in crash["content"] and "RuntimeError: boom" in crash["content"] and not crash["is_error"]
    # every assistant turn went back into the conversation unchanged
    assert reqs[5].body["messages"][1]["content"][0]["text"].startswith("Let me look")
    # activity: streamed text by line (not per token), tool calls and their results
    assert activities(events, "text")[:3] == [
        "Let me look at the code first.",
        "X is far from its best.",
        "I think we are done here.",
    ]
    assert "edit_file train.py" in activities(events, "tool")
    assert "run_experiment: x to 3" in activities(events, "tool")
    assert any(t.startswith("experiment #2") and "KEEP" in t for t in activities(events, "result"))
    assert any("nudging" in t for t in activities(events, "info"))
    # one usage row per API response, with the API's request id
    assert [u[0] for u in usage] == [r.request_id for r in reqs]
    assert {u[1] for u in usage} == {"anthropic-stream"}
    # the quota in command: the API's rate-limit headers of every response, saved for status
    quota = [e for e in events if isinstance(e, QuotaSample)]
    assert {(q.account, q.window) for q in quota} == {
        ("anthropic", k) for k in ("tokens", "input-tokens", "output-tokens", "requests")
    }
    requests = next(q for q in quota if q.window == "requests")
    assert requests.utilization == pytest.approx(1 / 4000) and requests.resets_at > time.time()
    saved = json.loads(Ledger(tmp_path / ".conductor" / "ledger.db", readonly=True).get_meta("quota"))
    assert {q["window"] for q in saved} == {"tokens", "input-tokens", "output-tokens", "requests"}
    assert orch.panes["fast"].state == "done"
    check_invariants(tmp_path / ".conductor")


def test_refused_tool_calls_change_nothing(tmp_path, fastws, api):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    os.symlink(outside, fastws / "escape.txt")  # committed into the workspace as a symlink
    (fastws / "data.bin").write_bytes(b"\x00\x01\x02binary")
    refused = [
        tool_use("read_file", path="../../../outside.txt"),
        tool_use("read_file", path=str(outside)),
        tool_use("read_file", path="escape.txt"),
        tool_use("write_file", path="escape.txt", content="overwrite through the link\n"),
        tool_use("write_file", path="prepare.py", content="def evaluate(x, y):\n    return 0.0\n"),
        tool_use("edit_file", path="prepare.py", old_text="1.0", new_text="0.0"),
        tool_use("write_file", path="program.md", content="be lazy\n"),
        tool_use("write_file", path="notes.txt", content="new file\n"),
        tool_use("write_file", path="train.py", content="X = 1\x00\n"),
        tool_use("write_file", path="train.py", content="#" * 300_000),
        tool_use("read_file", path="data.bin"),
        tool_use("edit_file", path="train.py", old_text="no such text", new_text="x"),
        tool_use("write_file", path=".git/config", content="x"),
        tool_use("delete_everything"),
    ]
    api.add(reply(*refused), reply(edit("X = 0.5", "X = 3.0"), experiment("x to 3")))
    orch, events = run(write_config(tmp_path, fastws), max_experiments=2)

    results = api.requests[1].tool_results()
    assert len(results) == len(refused) and all(r["is_error"] for r in results), results
    reasons = [r["content"] for r in results]
    expected = [
        "'..' is not allowed",
        "absolute paths are not allowed",
        "a symlink leads outside the worktree",
        "a symlink leads outside the worktree",
        "prepare.py is protected",
        "prepare.py is protected",
        "program.md is not editable",
        "notes.txt is not editable",
        "NUL bytes",
        "too large to write",
        "binary file",
        "old_text was not found",
        "git's internals are off limits",
        "unknown tool 'delete_everything'",
    ]
    for reason, want in zip(reasons, expected, strict=True):
        assert reason.startswith("refused: ") and want in reason, (want, reason)
    assert outside.read_text() == "secret\n"
    wt = tmp_path / ".conductor" / "worktrees" / "fast"
    assert (wt / "prepare.py").read_text() == (fastws / "prepare.py").read_text()
    assert (wt / "program.md").read_text() == (fastws / "program.md").read_text()
    assert not (wt / "notes.txt").exists()
    rows, _ = ledger_rows(tmp_path)
    assert [(r.status, r.metric) for r in rows] == [("keep", 16.25), ("keep", 10.0)]  # nothing was rejected
    check_invariants(tmp_path / ".conductor")


def test_researcher_message_enters_at_the_next_turn(tmp_path, fastws, api):
    api.add(
        reply(edit("X = 0.5", "X = 3.0"), experiment("x to 3")),
        reply(edit("Y = 2.0", "Y = -1.0"), experiment("y to -1 as asked")),
    )

    def on_event(orch, event):
        if isinstance(event, ExperimentStarted) and event.seq == 2:  # mid-experiment
            orch.command(Say(pane="fast", text="Try Y = -1 next."))

    run(write_config(tmp_path, fastws), max_experiments=3, on_event=on_event)

    second = api.requests[1]
    assert "Try Y = -1 next." not in json.dumps(api.requests[0].body)
    content = second.body["messages"][-1]["content"]
    assert [b["type"] for b in content] == ["tool_result", "tool_result", "text"]
    assert "KEEP" in content[1]["content"]
    assert content[2] == {"type": "text", "text": "[message from the researcher]\nTry Y = -1 next."}
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    assert [(m[1], m[2]) for m in ledger.messages("fast")] == [("researcher", "Try Y = -1 next.")]
    ledger.close()


def test_program_edit_is_picked_up_at_the_next_turn(tmp_path, fastws, api):
    api.add(
        reply(edit("X = 0.5", "X = 3.0"), experiment("x to 3")),
        reply(tool_use("read_file", path="train.py")),
        reply(edit("Y = 2.0", "Y = -1.0"), experiment("y to -1")),
        reply(tool_use("list_files")),
        reply(edit("X = 3.0", "X = 2.0"), experiment("x to 2")),
    )

    def on_event(orch, event):
        if isinstance(event, ExperimentStarted) and event.seq == 3:
            orch.panes["fast"].program_path.write_text("NEW RULE: only ever change Y.\n")
            orch.command(ReloadProgram(pane="fast"))

    run(write_config(tmp_path, fastws), max_experiments=4, on_event=on_event)

    reqs = api.requests
    assert len(reqs) == 5
    assert ["NEW RULE" in r.system_text for r in reqs] == [False, False, False, True, True]
    assert "Lower `score`" not in reqs[3].system_text
    assert "edited program.md" in reqs[3].last_user_text
    # the cached prefix changed once: written, read, read, written again, read
    writes = [r.usage["cache_creation_input_tokens"] > 0 for r in reqs]
    reads = [r.usage["cache_read_input_tokens"] > 0 for r in reqs]
    assert writes == [True, False, False, True, False] and reads == [False, True, True, False, True]


# ---------------------------------------------------------------- API trouble


def test_rate_limit_waits_out_retry_after_then_succeeds(tmp_path, fastws, api, monkeypatch):
    monkeypatch.setattr(anthropic_retry, "SDK_WAIT_CAP_S", 0.5)  # so a 0.8 s retry-after is the loop's to wait
    api.add(
        rate_limited(0.3),  # the SDK retries this one itself, visibly
        reply(edit("X = 0.5", "X = 3.0"), experiment("x to 3")),
        rate_limited(0.8),  # longer than the SDK may sleep: the loop waits
        reply(edit("Y = 2.0", "Y = -1.0"), experiment("y to -1")),
    )
    orch, events = run(write_config(tmp_path, fastws), max_experiments=3)

    reqs = api.requests
    assert [r.status for r in reqs] == [429, 200, 429, 200]
    assert reqs[1].ts - reqs[0].ts >= 0.3 and reqs[3].ts - reqs[2].ts >= 0.8
    waiting = [d for s, d in states(events) if s == "waiting"]
    assert waiting == ["retry in 1 s (429 rate_limit_error)", "retry in 1 s (429 rate_limit_error)"]
    assert sum("waiting, retry in 1 s" in t for t in activities(events, "info")) == 2
    rows, usage = ledger_rows(tmp_path)
    assert [r.status for r in rows] == ["keep", "keep", "keep"]
    assert [u[0] for u in usage] == [reqs[1].request_id, reqs[3].request_id]  # errors cost no tokens
    assert orch.panes["fast"].state == "done"


def test_overloaded_529_and_a_stream_that_fails_midway(tmp_path, fastws, api, monkeypatch):
    monkeypatch.setattr(anthropic_retry, "BACKOFF_BASE_S", 0.25)
    api.add(
        overloaded(),  # HTTP 529 before the stream starts: the SDK retries after its backoff
        overloaded(),
        overloaded(),  # the SDK's two retries are spent: the loop waits and tries again
        reply(text("Moving X."), edit("X = 0.5", "X = 3.0"), experiment("x to 3"), stream_error="overloaded_error"),
        reply(text("Moving X."), edit("X = 0.5", "X = 3.0"), experiment("x to 3")),
    )
    orch, events = run(write_config(tmp_path, fastws), max_experiments=2)

    reqs = api.requests
    assert [r.status for r in reqs] == [529, 529, 529, 200, 200]
    waiting = [d for s, d in states(events) if s == "waiting"]
    assert len(waiting) == 4 and all(d.startswith("retry in") for d in waiting)
    assert waiting[2].endswith("(529 overloaded_error)") and waiting[3].endswith("(overloaded_error mid-stream)")
    # the failed stream's tokens were counted as the API reported them before it failed
    rows, usage = ledger_rows(tmp_path)
    assert [u[0] for u in usage] == [reqs[3].request_id, reqs[4].request_id]
    assert_ledger_matches_server(tmp_path, api)
    assert [r.status for r in rows] == ["keep", "keep"]


def test_spend_limit_pauses_the_pane_until_resumed(tmp_path, fastws, api):
    api.add(spend_limit(), reply(edit("X = 0.5", "X = 3.0"), experiment("x to 3")))

    def on_event(orch, event):
        if isinstance(event, PaneState) and event.state == "paused":
            asyncio.get_running_loop().call_later(0.3, orch.command, Resume(pane="fast"))

    orch, events = run(write_config(tmp_path, fastws), max_experiments=2, on_event=on_event)

    assert [r.status for r in api.requests] == [429, 200]  # never retried by the SDK
    alerts = [e for e in events if isinstance(e, Alert) and e.pane == "fast" and e.level == "error"]
    assert len(alerts) == 1 and "spend limit reached" in alerts[0].message
    assert "regain access" in alerts[0].message and "resume" in alerts[0].message
    assert ("paused", "") in states(events)
    assert orch.panes["fast"].state == "done"


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_stops_only_that_pane(tmp_path, fastws, api, status):
    if status == 401:
        api.api_key = "the-real-key"  # the agent's "test" key is refused
    else:
        api.add(Error(403, "This API key does not have permission to use the model"))
    other = tmp_path / "other"
    other.mkdir()
    for name in ("train.py", "prepare.py", "program.md", "workspace.toml"):
        (other / name).write_text((fastws / name).read_text())
    cfg = write_config(
        tmp_path, fastws, extra_ws=f'[[workspace]]\nname = "opt"\npath = "{other}"\nagent = {{ kind = "optuna" }}\n'
    )
    orch, events = run(cfg, max_experiments=3)

    assert orch.panes["fast"].state == "error"
    assert orch.panes["opt"].state == "done"
    message = [e.message for e in events if isinstance(e, Alert) and e.pane == "fast" and e.level == "error"][0]
    assert f"refused the key ({status})" in message
    assert ("invalid x-api-key" if status == 401 else "does not have permission") in message
    assert len(api.requests) == 1
    opt_rows, _ = ledger_rows(tmp_path, "opt")
    assert len(opt_rows) == 3


# ---------------------------------------------------------------- long runs and budgets


def test_context_restart_keeps_results_and_last_outcome(tmp_path, fastws, api):
    api.add(
        reply(edit("X = 0.5", "X = 3.0"), experiment("x to 3")),
        reply(edit("Y = 2.0", "Y = 5.0"), experiment("y to 5"), usage={"input_tokens": 6000}),
        reply(edit("Y = 2.0", "Y = -1.0"), experiment("y to -1")),
        reply(edit("X = 3.0", "X = 2.5"), experiment("x to 2.5")),
    )
    cfg = write_config(tmp_path, fastws, agent="context_limit = 5000\n")
    orch, events = run(cfg, max_experiments=5)

    reqs = api.requests
    assert [len(r.body["messages"]) for r in reqs] == [1, 3, 1, 3]
    restart = reqs[2].last_user_text
    assert "restarted to keep the context bounded" in restart
    assert "2 | keep | 10.000000 | x to 3" in restart and "3 | discard | 37.000000 | y to 5" in restart
    assert "Last outcome:\nexperiment #3" in restart and "DISCARD" in restart
    assert "X = 3.0" in reqs[2].system_text  # the restart shows the files as they are now
    notes = [t for t in activities(events, "info") if t.startswith("context restart")]
    assert len(notes) == 1 and "over context_limit 5000" in notes[0]
    rows, _ = ledger_rows(tmp_path)
    assert [r.status for r in rows] == ["keep", "keep", "discard", "keep", "discard"]


def test_a_rejected_conversation_restarts_once_then_stops_the_pane(tmp_path, fastws, api):
    api.add(
        reply(edit("X = 0.5", "X = 3.0"), experiment("x to 3")),
        Error(400, "prompt is too long: 210000 tokens > 200000 maximum"),
        reply(edit("Y = 2.0", "Y = -1.0"), experiment("y to -1")),
        Error(400, "messages.0: unexpected content"),
        Error(400, "messages.0: unexpected content"),
    )
    orch, events = run(write_config(tmp_path, fastws), max_experiments=5)

    reqs = api.requests
    assert [(r.status, len(r.body["messages"])) for r in reqs] == [(200, 1), (400, 3), (200, 1), (400, 3), (400, 1)]
    assert "prompt is too long" in reqs[2].last_user_text and "Last outcome:\nexperiment #2" in reqs[2].last_user_text
    assert orch.panes["fast"].state == "error"
    errors = [e.message for e in events if isinstance(e, Alert) and e.level == "error"]
    assert errors == ["the API rejected the request (400): messages.0: unexpected content"]
    rows, _ = ledger_rows(tmp_path)
    assert [r.status for r in rows] == ["keep", "keep", "keep"]


@pytest.mark.parametrize("budget", ["max_tokens = 1000", "max_usd = 0.001"])
def test_budget_pauses_the_pane(tmp_path, fastws, api, budget):
    api.add(reply(tool_use("list_files")), reply(tool_use("list_files")))

    def on_event(orch, event):
        if isinstance(event, PaneState) and event.pane == "fast" and event.state == "paused":
            orch.stop()

    orch, events = run(write_config(tmp_path, fastws, agent=budget + "\n"), max_experiments=5, on_event=on_event)

    assert len(api.requests) == 1  # the first response passed the budget; no second request was made
    alerts = [e.message for e in events if isinstance(e, Alert) and e.pane == "fast"]
    assert any(m.startswith("budget reached") and budget.split(" ")[0] in m for m in alerts), alerts
    check_invariants(tmp_path / ".conductor")


# ---------------------------------------------------------------- exact token accounting


def assert_ledger_matches_server(tmp_path: Path, api: MessagesServer) -> dict:
    out = conductor("status", "--runs-dir", str(tmp_path / ".conductor"), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    sent = api.usage_sent()
    expected = {
        "input": sent["input_tokens"],
        "output": sent["output_tokens"],
        "cache_write": sent["cache_creation_input_tokens"],
        "cache_read": sent["cache_read_input_tokens"],
    }
    assert status["totals"]["tokens"] == expected
    fast = next(p for p in status["panes"] if p["name"] == "fast")
    assert fast["tokens"] == expected
    usd = (
        expected["input"] * 3.0
        + expected["output"] * 15.0
        + expected["cache_write"] * 3.75
        + expected["cache_read"] * 0.3
    ) / 1e6
    assert fast["usd"] == pytest.approx(usd, abs=1e-6) and usd > 0
    return status


def _accounting_script() -> list:
    return [
        reply(text("Reading first.\n" * 3), tool_use("read_file", path="train.py")),
        reply(edit("X = 0.5", "X = 3.0"), experiment("x to 3")),
        reply(text("Next: Y.")),
        reply(edit("Y = 2.0", "Y = -1.0"), experiment("y to -1")),
    ]


def test_streamed_token_totals_equal_what_the_api_sent(tmp_path, fastws, api):
    """Through the real CLI: `conductor run`, then `conductor status --json`."""
    api.add(*_accounting_script())
    cfg = write_config(tmp_path, fastws)
    out = conductor("run", "-c", str(cfg), "--max-experiments", "3", "--json", cwd=tmp_path, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert len(api.requests) == 4 and all(r.body["stream"] for r in api.requests)
    # the stream's message_start said output 1; message_delta's cumulative count replaced it
    assert all(r.usage["output_tokens"] > 1 for r in api.requests)
    status = assert_ledger_matches_server(tmp_path, api)
    assert status["panes"][0]["experiments"] == 3 and status["panes"][0]["keep"] == 2  # and the baseline
    usage_events = [json.loads(line) for line in out.stdout.splitlines() if '"token_usage"' in line]
    assert sum(e["output"] for e in usage_events) == api.usage_sent()["output_tokens"]


def test_non_streamed_token_totals_equal_what_the_api_sent(tmp_path, fastws, api):
    script = _accounting_script()

    def slow_last(rec: Recorded):
        import time

        time.sleep(1.2)  # let the 1 Hz token-rates publisher tick while usage is in its window
        return script[-1]

    api.add(*script[:-1], slow_last)
    orch, events = run(write_config(tmp_path, fastws), max_experiments=3, stream=False)

    assert len(api.requests) == 4 and not any(r.body.get("stream") for r in api.requests)
    status = assert_ledger_matches_server(tmp_path, api)
    assert activities(events, "text")[:4] == ["Reading first.", "Reading first.", "Reading first.", "Next: Y."]
    rates = [e for e in events if isinstance(e, TokenRates)]
    assert {e.pane for e in rates} == {"fast", ""}
    assert rates[-1].in_per_s > 0 and rates[-1].usd_total > 0
    assert max(e.usd_total for e in rates if e.pane == "") <= round(status["totals"]["usd"], 6) + 1e-9


def test_run_without_a_key_exits_2_naming_the_pane(tmp_path, fastws):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    out = conductor("run", "-c", str(write_config(tmp_path, fastws)), cwd=tmp_path, env=env)
    assert out.returncode == 2
    assert "pane 'fast'" in out.stderr and "ANTHROPIC_API_KEY" in out.stderr and "optuna" in out.stderr
    assert not (tmp_path / ".conductor" / "ledger.db").exists()
