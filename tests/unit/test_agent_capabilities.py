"""Agent capabilities are found on the pane's running agent by type; budgets move on once reached."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conductor.agents.budget import Budget
from conductor.agents.prompts import labelled
from conductor.core.agent import TakeOver, TakesExperiments, TakesOver, take_over, takeover_agent
from conductor.core.ledger import UsageTotals
from conductor.errors import ConductorError


class Handing:
    kind = "fake"

    def __init__(self, live: bool = True):
        self.live = live
        self.calls: list[str] = []

    async def run(self, session) -> None: ...

    def can_take_over(self) -> bool:
        return self.live

    async def begin_takeover(self) -> TakeOver:
        self.calls.append("begin")
        return TakeOver(argv=["fake", "--resume", "s"], cwd=Path("."), env={})

    def end_takeover(self) -> None:
        self.calls.append("end")


class Plain:
    kind = "optuna"

    async def run(self, session) -> None: ...


@dataclass
class FakePane:
    agent: object | None
    name: str = "p1"
    seen: list = field(default_factory=list)


def test_take_over_hands_the_session_back_even_when_the_block_fails():
    agent = Handing()

    async def use():
        async with take_over(FakePane(agent)) as handover:
            assert handover.argv == ["fake", "--resume", "s"]
            raise OSError("the terminal went away")

    with pytest.raises(OSError):
        asyncio.run(use())
    assert agent.calls == ["begin", "end"]


@pytest.mark.parametrize("agent", [None, Plain(), Handing(live=False)])
def test_only_a_running_agent_with_the_capability_can_be_taken_over(agent):
    pane = FakePane(agent)
    assert takeover_agent(pane) is None

    async def use():
        async with take_over(pane):
            pass

    with pytest.raises(ConductorError, match="pane p1 has no external agent running to take over"):
        asyncio.run(use())


def test_capabilities_are_protocols_checked_by_type():
    assert isinstance(Handing(), TakesOver)
    assert not isinstance(Plain(), TakesOver)
    assert not isinstance(Handing(), TakesExperiments)


def spent(usd: float = 0.0, tokens: int = 0) -> UsageTotals:
    return UsageTotals(input=tokens, output=0, cache_write=0, cache_read=0, usd=usd)


def test_a_reached_budget_allows_as_much_again():
    budget = Budget(max_usd=0.5, max_tokens=None)
    assert budget.reached(spent(usd=0.4)) is None
    reached = budget.reached(spent(usd=0.6))
    assert reached.message == "budget reached: $0.60 spent, max_usd is $0.50"
    assert reached.alert.endswith("The pane is paused; resuming allows another $0.50.")
    assert budget.reached(spent(usd=1.0)) is None
    assert budget.reached(spent(usd=1.1)) is not None
    tokens = Budget(max_usd=None, max_tokens=100)
    assert tokens.reached(spent(tokens=150)).allowance == "another 100 tokens"
    assert tokens.reached(spent(tokens=240)) is None


def test_conductor_notes_are_not_labelled_as_the_researcher():
    assert labelled("[conductor] experiment #3 was rejected") == "[conductor] experiment #3 was rejected"
    assert labelled("try X=3") == "[message from the researcher]\ntry X=3"
