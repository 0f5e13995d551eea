"""Keep / discard / crash: a missing metric is never 0, and min_delta is respected."""

import math

import pytest

from conductor.core.judge import judge
from conductor.core.record import improvement


def j(**kw):
    base = dict(goal="min", best=2.0, metric=1.9, exit_code=0, timed_out=False, min_delta=0.0)
    base.update(kw)
    return judge(**base)


def test_better_is_keep_for_min_and_max():
    assert j().status == "keep"
    assert j(goal="max", best=1.0, metric=1.5).status == "keep"
    assert j(goal="max", best=1.0, metric=0.5).status == "discard"


def test_worse_and_equal_are_discard():
    assert j(metric=2.1).status == "discard"
    assert j(metric=2.0).status == "discard"


def test_min_delta():
    assert j(metric=1.95, min_delta=0.1).status == "discard"
    assert j(metric=1.85, min_delta=0.1).status == "keep"


@pytest.mark.parametrize(
    "kw,reason",
    [
        ({"timed_out": True}, "timeout"),
        ({"exit_code": 1}, "exit code 1"),
        ({"exit_code": -9}, "exit code -9"),
        ({"metric": None}, "no val_bpb"),
        ({"metric": math.nan}, "nan"),
        ({"metric": math.inf}, "inf"),
    ],
)
def test_crashes(kw, reason):
    v = j(metric_name="val_bpb", **kw)
    assert v.status == "crash"
    assert reason in v.reason


def test_metric_zero_is_a_real_value_not_a_crash():
    assert j(metric=0.0).status == "keep"


def test_first_result_is_keep():
    assert j(best=None, metric=5.0).status == "keep"


def test_improvement_sign():
    assert improvement("min", 2.0, 1.5) == 0.5
    assert improvement("max", 2.0, 1.5) == -0.5
