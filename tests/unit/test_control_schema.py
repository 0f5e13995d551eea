"""The control socket's request schema, on its own: what a hostile client may send."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conductor.core.commands import COMMAND_TYPES
from conductor.core.control_schema import OPTIONAL, SCHEMAS, BadRequest, parse_request, too_deep

PANES = ("p1", "p2")


def line(**request) -> bytes:
    return json.dumps(request).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (line(type="say", pane="p1", text=12345), '"text" must be a string, not a number'),
        (line(type="say", pane="p1", text={"a": 1}), '"text" must be a string, not an object'),
        (line(type="say", pane="p1", text=["a"]), '"text" must be a string, not an array'),
        (line(type="say", pane="p1", text="  "), '"text" must not be empty'),
        (line(type="say", pane="p1", text="a\x00b"), "NUL"),
        (b'{"type": "say", "pane": "p1", "text": "\\ud800"}', "lone surrogate"),
        (line(type="say", pane="p1"), '"text" is missing'),
        (line(type="say", pane="nope", text="hi"), "no pane named 'nope'"),
        (line(type="pause", pane=["p1"]), '"pane" must be a pane name, not an array'),
        (line(type="pause", pane="p1", extra=1), "unknown field(s) 'extra'"),
        (line(type="stop", pane="ghost"), "no pane named 'ghost'"),
        (b'{"type": "verify", "pane": "p1", "commit": "abcd", "worktree": "/w", "runs": 1e999}', "integer"),
        (line(type="verify", pane="p1", commit="abcd", worktree="/w", runs=10**6), "between 1 and 100"),
        (line(type="verify", pane="p1", commit="abcd", worktree="/w", runs=True), "integer, not a boolean"),
        (line(type="verify", pane="p1", commit="HEAD; rm -rf /", worktree="/w"), "must match"),
        (b'{"type": "verify", "pane": "p1", "commit": "abcd", "worktree": "/w", "runs": NaN}', "not a JSON line"),
        (line(type="exp", pane="p1", message="x" * 20_001), "at most 20000"),
        (line(type="hello", id=[1]), '"id" must be a string'),
        (line(type="hello", v=2), "protocol version 2"),
        (line(type="dance"), "unknown request type 'dance'"),
        (line(type=7), 'a JSON object with a "type"'),
        (b"[1, 2]", 'a JSON object with a "type"'),
        (b"{nope", "not a JSON line"),
        (b"[" * 200_000 + b"]" * 200_000, "nests at most"),
        (b'{"type": "hello", "id": ' + b"[" * 9 + b"]" * 9 + b"}", "nests at most"),
    ],
)
def test_a_bad_request_is_refused_with_its_reason(raw, reason):
    with pytest.raises(BadRequest) as err:
        parse_request(raw, PANES)
    assert reason in str(err.value)


def test_good_requests_come_back_checked():
    assert parse_request(line(type="say", pane="p1", text="[[[[[[[[[[ brackets in text", id=3), PANES) == {
        "v": 1,
        "type": "say",
        "pane": "p1",
        "text": "[[[[[[[[[[ brackets in text",
        "id": 3,
    }
    assert parse_request(line(type="stop"), PANES) == {"v": 1, "type": "stop"}
    assert parse_request(line(type="stop", pane=None), PANES)["pane"] is None
    verify = line(type="verify", pane="p2", commit="ab" * 20, worktree="/w", runs=5)
    assert parse_request(verify, PANES)["runs"] == 5


def test_the_depth_check_reads_a_whole_megabyte_without_recursing():
    """Half a million open brackets: a recursive parser would hit the recursion limit here;
    brackets inside a string do not count. (Its speed is a bench's business, not a test's.)"""
    assert too_deep(b"[" * (1 << 19) + b"]" * (1 << 19))
    assert not too_deep(json.dumps({"type": "say", "text": "{" * (1 << 20)}).encode())


def test_every_engine_command_has_a_schema_with_its_fields():
    for name, cls in COMMAND_TYPES.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        declared = set(SCHEMAS[name])
        assert fields <= declared, name  # verify over the socket names its worktree too
        defaults = {f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
        assert defaults <= OPTIONAL.get(name, frozenset()), name
