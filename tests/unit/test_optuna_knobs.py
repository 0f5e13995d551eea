"""The offline proposer rewrites only the values of `NAME = value` lines."""

import pytest

from conductor.agents.optuna import format_value, read_knob, write_knobs
from conductor.config import Knob
from conductor.errors import AgentFatal

SOURCE = '''"""train"""
LEARNING_RATE = 1e-3   # peak lr
DEPTH = 4
WIDTH: int = 128  # model width
NOT_A_KNOB = "LEARNING_RATE = 5"

def f():
    DEPTH = 99  # local, must not change
    return DEPTH
'''


def test_read_knob():
    assert read_knob(SOURCE, "LEARNING_RATE") == 0.001
    assert read_knob(SOURCE, "DEPTH") == 4
    assert read_knob(SOURCE, "WIDTH") == 128
    assert read_knob(SOURCE, "MISSING") is None


def test_write_keeps_everything_but_the_values():
    out = write_knobs(SOURCE, {"LEARNING_RATE": "0.003162", "DEPTH": "2", "WIDTH": "64"})
    assert "LEARNING_RATE = 0.003162   # peak lr\n" in out
    assert "\nDEPTH = 2\n" in out
    assert "WIDTH: int = 64  # model width\n" in out
    assert "    DEPTH = 99  # local, must not change" in out
    assert 'NOT_A_KNOB = "LEARNING_RATE = 5"' in out
    assert out.replace("0.003162", "1e-3").replace("DEPTH = 2", "DEPTH = 4").replace("= 64", "= 128") == SOURCE


def test_missing_knob_is_a_clear_agent_error():
    with pytest.raises(AgentFatal, match="knob NOPE not found"):
        write_knobs(SOURCE, {"NOPE": "1"})


def test_format_value():
    assert format_value(Knob("D", "int", 1, 8), 3.6) == "4"
    assert format_value(Knob("L", "float", 1e-5, 1), 0.0031623) == "0.003162"
    assert float(format_value(Knob("L", "float", 1e-7, 1), 3.3e-6)) == pytest.approx(3.3e-6)
