"""The slot pool: FIFO fairness, no starvation, direct handoff, release on cancellation."""

import asyncio

import pytest

from conductor.core.slots import SlotPool, cpu_slots, gpu_slot


async def test_fifo_handoff_and_queue_positions():
    pool = SlotPool(cpu_slots(1, cores=2))
    first = await pool.acquire("a")
    order = []

    async def waiter(name):
        slot = await pool.acquire(name)
        order.append(name)
        await asyncio.sleep(0)
        pool.release(slot)

    tasks = [asyncio.create_task(waiter(n)) for n in ("b", "c", "d")]
    await asyncio.sleep(0)
    assert [pool.position(n) for n in ("b", "c", "d")] == [0, 1, 2]
    assert pool.position("a") is None and pool.waiting == 3
    pool.release(first)
    await asyncio.gather(*tasks)
    assert order == ["b", "c", "d"]
    assert pool.waiting == 0


async def test_no_starvation_with_a_greedy_pane():
    """A pane that re-queues at once still waits behind everyone already queued."""
    pool = SlotPool(cpu_slots(1))
    runs = {"greedy": 0, "polite": 0}

    async def pane(name, n):
        for _ in range(n):
            async with pool.lease(name):
                runs[name] += 1
                await asyncio.sleep(0.001)

    await asyncio.wait_for(asyncio.gather(pane("greedy", 20), pane("polite", 5)), timeout=5)
    assert runs == {"greedy": 20, "polite": 5}


async def test_grants_interleave_under_contention():
    pool = SlotPool(cpu_slots(1))
    log = []

    async def pane(name):
        for _ in range(4):
            async with pool.lease(name):
                log.append(name)
                await asyncio.sleep(0.002)

    await asyncio.gather(pane("a"), pane("b"), pane("c"))
    # round-robin-like: no pane gets two grants in a row while others wait
    assert all(x != y for x, y in zip(log, log[1:], strict=False)), log


async def test_cancelled_waiter_leaves_the_queue_and_cancelled_holder_releases():
    pool = SlotPool(cpu_slots(1))
    held = await pool.acquire("a")
    waiting = asyncio.create_task(pool.acquire("b"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert pool.waiting == 0
    pool.release(held)

    async def crashing():
        async with pool.lease("c"):
            raise RuntimeError("experiment crashed")

    with pytest.raises(RuntimeError):
        await crashing()
    assert pool.holder("cpu0") is None
    again = await asyncio.wait_for(pool.acquire("d"), 1)
    assert again.name == "cpu0"


def test_slot_envs():
    cpu = cpu_slots(2, cores=8)
    assert [s.name for s in cpu] == ["cpu0", "cpu1"]
    assert cpu[0].env["CUDA_VISIBLE_DEVICES"] == "" and cpu[0].env["CONDUCTOR_THREADS"] == "4"
    assert cpu[0].env["OMP_NUM_THREADS"] == "4"
    gpu = gpu_slot(1, "GPU-abc", "NVIDIA H100")
    assert gpu.env == {"CUDA_VISIBLE_DEVICES": "GPU-abc", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert gpu.name == "gpu1" and gpu.kind == "gpu"


def test_cpu_threads_are_sized_to_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert [s.env["CONDUCTOR_THREADS"] for s in cpu_slots(3)] == ["1", "1", "1"]


async def test_every_queue_move_is_announced_with_the_new_positions():
    """What "queued (k ahead)" on a pane is drawn from: a callback at each join, grant and leave."""
    pool = SlotPool(cpu_slots(1, cores=2))
    seen: list[dict] = []
    pool.on_queue_change = lambda: seen.append({n: pool.position(n) for n in ("b", "c", "d")})
    held = await pool.acquire("a")
    assert seen == []  # a free slot: no queue
    tasks = {n: asyncio.create_task(pool.acquire(n)) for n in ("b", "c", "d")}
    await asyncio.sleep(0)
    assert seen[-1] == {"b": 0, "c": 1, "d": 2}
    tasks["c"].cancel()
    await asyncio.sleep(0)
    assert seen[-1] == {"b": 0, "c": None, "d": 1}
    pool.release(held)
    assert seen[-1] == {"b": None, "c": None, "d": 0}
    pool.release(await tasks["b"])
    assert seen[-1] == {"b": None, "c": None, "d": None}
    pool.release(await tasks["d"])
    assert len(seen) == 6


async def test_a_retired_slot_leaves_at_once_when_free_and_on_release_when_held():
    a, b, c = cpu_slots(3, cores=3)
    pool = SlotPool([a, b, c])
    held = await pool.acquire("p")
    assert held == a
    pool.retire({a.name, b.name})
    assert [s.name for s in pool.slots] == [c.name]
    pool.release(held)  # its node is gone: it is not handed on
    assert await pool.acquire("q") == c
    waiting = asyncio.create_task(pool.acquire("r"))
    await asyncio.sleep(0)
    assert pool.waiting == 1  # the retired slots are never granted again
    waiting.cancel()


async def test_an_added_slot_goes_to_the_head_of_the_queue():
    pool = SlotPool(cpu_slots(1, cores=1))
    await pool.acquire("a")
    waiting = asyncio.create_task(pool.acquire("b"))
    await asyncio.sleep(0)
    joined = gpu_slot(0, "GPU-x", "fake")
    pool.add(joined)
    assert await waiting == joined and pool.holder(joined.name) == "b"
    assert [s.name for s in pool.slots] == ["cpu0", "gpu0"]
