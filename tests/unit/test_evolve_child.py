"""The offline evolver makes one change a generation: a TPE program is moved to a Gaussian
process once a lineage (where torch and scipy are there), and narrowed after that."""

from __future__ import annotations

import random

from conductor.agents import optuna_sampler
from conductor.agents.search_space import render, search_from
from conductor.config import Knob
from conductor.evolve import Observation, child_search

DECLARED = tuple(Knob(name=n, type="float", low=0.0, high=1.0, file="train.py") for n in ("A", "B"))


def observations(count: int = 30) -> list[Observation]:
    rng = random.Random(1)
    out = []
    for _ in range(count):
        a, b = rng.random(), rng.random()
        out.append(Observation({"A": a, "B": b}, (a - 0.3) ** 2 + (b - 0.6) ** 2, "p0"))
    return out


def test_a_tpe_program_first_moves_to_a_gaussian_process_over_the_same_ranges():
    parent = search_from("", DECLARED)
    child, why = child_search(observations(), parent, DECLARED, "min", {"p0": "# original"})
    assert child.sampler == "gp" and child.knobs == parent.knobs and "Gaussian process" in why
    assert search_from(render(child), DECLARED).sampler == "gp"  # it survives the written section


def test_once_a_gp_ran_in_the_lineage_the_child_narrows_and_keeps_its_parents_sampler():
    gp_text = render(search_from('```toml conductor-search\nsampler = "gp"\n```', DECLARED))
    for parent_text in ("", gp_text):
        parent = search_from(parent_text, DECLARED)
        child, why = child_search(observations(), parent, DECLARED, "min", {"p0": "", "p1": gp_text})
        assert child.sampler == parent.sampler and "Gaussian process" not in why
        assert any(k.high - k.low < 1.0 for k in child.knobs), why


def test_without_torch_or_scipy_the_child_narrows(monkeypatch):
    monkeypatch.setattr(optuna_sampler, "gp_missing", lambda: "the gp sampler needs scipy, not installed")
    child, why = child_search(observations(), search_from("", DECLARED), DECLARED, "min", {})
    assert child.sampler == "tpe" and "Gaussian process" not in why
