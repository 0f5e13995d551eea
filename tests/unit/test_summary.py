"""The `---` summary block parser: upstream's block, missing values, garbage, progress lines."""

import math

from conductor.core.summary import memory_gb, metric_from, parse_summary

UPSTREAM = """\
step 00950 (99.9%) | loss: 2.9 | lrm: 0.00 | dt: 301ms
---
val_bpb:          0.997900
training_seconds: 300.1
total_seconds:    325.9
peak_vram_mb:     45060.2
mfu_percent:      39.80
total_tokens_M:   499.6
num_steps:        953
num_params_M:     50.3
depth:            8
"""


def test_upstream_block():
    s = parse_summary(UPSTREAM)
    assert s["val_bpb"] == 0.9979
    assert s["num_steps"] == 953.0
    assert s["depth"] == 8.0
    assert memory_gb(s) == 44.0
    assert metric_from(s, "val_bpb") == 0.9979


def test_only_the_last_block_counts():
    text = "---\nval_bpb: 3.0\n" + "more training\n" + "---\nval_bpb: 2.5\n"
    assert parse_summary(text)["val_bpb"] == 2.5


def test_no_block_is_empty_and_metric_is_none_not_zero():
    s = parse_summary("training...\nval_bpb: 1.0 (printed without a block)\n")
    assert s == {}
    assert metric_from(s, "val_bpb") is None
    assert memory_gb(s) == 0.0


def test_missing_metric_in_block():
    s = parse_summary("---\ntraining_seconds: 20.0\n")
    assert metric_from(s, "val_bpb") is None


def test_carriage_return_progress_and_ansi():
    text = "step 1\rstep 2\rstep 3\n---\r\n\x1b[32mval_bpb:\x1b[0m 1.25\r\nnum_steps: 12\r\n"
    s = parse_summary(text)
    assert s["val_bpb"] == 1.25
    assert s["num_steps"] == 12.0


def test_progress_line_rewritten_into_block_marker():
    # a progress bar whose final rewrite is the block marker still opens the block
    s = parse_summary("epoch 1/1 [=====]\r---\nscore: 4.5\n")
    assert s["score"] == 4.5


def test_garbage_and_non_numbers():
    text = "---\n\x00\xff garbage ::: \nval_bpb: nan\nname: tiny gpt\n: no key\nnot a pair\n"
    s = parse_summary(text)
    assert math.isnan(s["val_bpb"])
    assert s["name"] == "tiny gpt"
    assert metric_from(s, "name") is None


def test_negative_and_scientific_values():
    s = parse_summary("---\nreward: -1.5e-3\npeak_vram_mb: 2048\n")
    assert s["reward"] == -0.0015
    assert memory_gb(s) == 2.0
