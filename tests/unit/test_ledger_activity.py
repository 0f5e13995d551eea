"""The activity table: batched writes, the last lines back oldest first, trimming per pane."""

from conductor.core.activity_log import ActivityRecorder, replay
from conductor.core.events import AgentActivity
from conductor.core.ledger import Ledger


def test_recorder_batches_replays_and_trims(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    recorder = ActivityRecorder(ledger)
    for i in range(30):
        recorder(AgentActivity(pane="a" if i % 3 else "b", kind="text", text=f"line {i}", ts=1000.0 + i))
    recorder(AgentActivity(pane="a", kind="info", text="old", replayed=True, ts=1.0))  # never stored twice
    assert ledger.recent_activity("a", 100) == []  # nothing until the flush
    recorder.flush()
    a = ledger.recent_activity("a", 100)
    assert [t for _, _, t in a] == [f"line {i}" for i in range(30) if i % 3]
    assert [t for _, _, t in ledger.recent_activity("a", 3)] == ["line 26", "line 28", "line 29"]
    ledger.trim_activity(5)
    assert [t for _, _, t in ledger.recent_activity("a", 100)] == [
        "line 23",
        "line 25",
        "line 26",
        "line 28",
        "line 29",
    ]
    assert len(ledger.recent_activity("b", 100)) == 5
    events = replay(ledger, ["b", "a"])
    assert all(e.replayed for e in events) and [e.pane for e in events] == ["b"] * 5 + ["a"] * 5
    assert events[0].ts == 1000.0 + 15 and events[0].text == "line 15"
    ledger.close()
