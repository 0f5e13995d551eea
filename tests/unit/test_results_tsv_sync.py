"""results.tsv at a start: left alone when it agrees with the ledger, appended to when it agrees
as far as it goes, rebuilt otherwise; the result is the same file a rebuild writes."""

from __future__ import annotations

from conductor.core import results_tsv
from conductor.core.record import ExperimentRecord

ROWS = [
    ExperimentRecord(pane="p", seq=i, commit=f"{i:07d}abc", status="keep" if i % 3 else "discard", metric=1.0 / i)
    for i in range(1, 9)
]


def tail(n: int) -> list[ExperimentRecord]:
    return ROWS[len(ROWS) - n :] if n else []


def rebuilt(tmp_path) -> str:
    path = tmp_path / "rebuilt.tsv"
    results_tsv.rewrite(path, "loss", ROWS)
    return path.read_text()


def test_agreeing_file_is_left_alone_and_a_short_one_appended(tmp_path):
    path = tmp_path / "results.tsv"
    results_tsv.rewrite(path, "loss", ROWS)
    before = path.stat().st_mtime_ns
    assert results_tsv.sync(path, "loss", len(ROWS), tail) == "agrees"
    assert path.stat().st_mtime_ns == before
    results_tsv.rewrite(path, "loss", ROWS[:5])  # a stop between the ledger and the file
    assert results_tsv.sync(path, "loss", len(ROWS), tail) == "appended"
    assert path.read_text() == rebuilt(tmp_path)


def test_a_file_that_disagrees_is_rebuilt(tmp_path):
    path = tmp_path / "results.tsv"
    results_tsv.rewrite(path, "loss", ROWS[:4] + ROWS[5:6])  # its last row is not the ledger's 5th
    assert results_tsv.sync(path, "loss", len(ROWS), tail) == "rewritten"
    assert path.read_text() == rebuilt(tmp_path)
    path.write_text("edited by hand\n")
    assert results_tsv.sync(path, "loss", len(ROWS), tail) == "rewritten"
    path.unlink()
    assert results_tsv.sync(path, "loss", len(ROWS), tail) == "rewritten"
    assert path.read_text() == rebuilt(tmp_path)
