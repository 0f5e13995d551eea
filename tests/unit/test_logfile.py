"""The capped log file (head, one marker line, rolling tail) and the streaming summary tracker."""

import random
import re

from conductor.core.logfile import CappedLog, marker
from conductor.core.summary import SummaryTracker, parse_summary

MARKER = re.compile(rb"\n\[conductor: +(\d+) bytes of output cut here \(max_log_mb\)\]\n")


def output(n_lines: int) -> bytes:
    return b"".join(b"line %08d %s\n" % (i, b"." * (i % 50)) for i in range(n_lines))


def write_in_pieces(log: CappedLog, data: bytes, rng: random.Random) -> None:
    i = 0
    while i < len(data):
        n = rng.choice((1, 100, 4096, 65536, 300_000))
        log.write(data[i : i + n])
        i += n
    log.close()


def test_under_the_cap_the_log_is_the_output(tmp_path):
    data = output(1000)
    log = CappedLog(tmp_path / "a.log", max_bytes=len(data))
    write_in_pieces(log, data, random.Random(1))
    assert (tmp_path / "a.log").read_bytes() == data


def test_past_the_cap_head_marker_tail(tmp_path):
    data = output(200_000)  # about 9 MB through a 1 MB cap
    cap = 2**20
    for seed in range(3):
        log = CappedLog(tmp_path / "b.log", max_bytes=cap)
        write_in_pieces(log, data, random.Random(seed))
        text = (tmp_path / "b.log").read_bytes()
        assert len(text) <= cap
        m = MARKER.search(text)
        assert m and len(MARKER.findall(text)) == 1
        head, tail = text[: m.start()], text[m.end() :]
        assert head == data[: cap // 2]
        assert data.endswith(tail) and len(tail) >= cap // 10 and tail.startswith(b"line ")
        assert len(head) + int(m.group(1)) + len(tail) == len(data)  # the count is exact


def test_one_huge_write_is_cut_without_being_written(tmp_path):
    data = output(100_000)
    log = CappedLog(tmp_path / "c.log", max_bytes=2**18)
    log.write(data)
    log.close()
    text = (tmp_path / "c.log").read_bytes()
    m = MARKER.search(text)
    assert text[: m.start()] == data[: 2**17] and data.endswith(text[m.end() :])
    assert len(marker(0)) == len(marker(10**12))  # rewritten in place


SUMMARY = b"step 9/9\r---\nscore:  1.25\npeak_vram_mb: 10.0\n"


def track(pieces: list[bytes]) -> dict:
    tracker = SummaryTracker()
    for p in pieces:
        tracker.feed(p)
    return tracker.summary()


def test_the_tracker_agrees_with_the_parser_however_the_output_is_cut():
    data = b"---\nscore: 9\nwarmup\n\x1b[32m---\x1b[0m\nnot: this\n" + b"x\r" * 5 + SUMMARY + b"bye\n"
    expected = parse_summary(data.decode())
    assert expected == {"score": 1.25, "peak_vram_mb": 10.0}
    for cut in range(len(data)):
        for cut2 in range(cut, len(data), 7):
            assert track([data[:cut], data[cut:cut2], data[cut2:]]) == expected


def test_a_summary_followed_by_megabytes_still_counts():
    chatter = b"y" * 999 + b"\n"
    assert track([output(1000), SUMMARY] + [chatter * 1000] * 5) == {"score": 1.25, "peak_vram_mb": 10.0}
    assert track([SUMMARY, b"--- not a rule\n", b"----\n"]) == {"score": 1.25, "peak_vram_mb": 10.0}
    assert track([SUMMARY, b"---\nother: 2\n"]) == {"other": 2.0}
    assert track([output(100)]) == {}
