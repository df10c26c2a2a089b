"""Admission accounting never exceeds the budget, whatever the mix of clients."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.admission import (
    FAST_SNDBUF,
    FAST_SNDBUF_LARGE,
    Admission,
    BytePool,
    CostModel,
    QueueFull,
    fast_sndbuf_for,
    plan_budget,
)
from server.sendbuf import GROW_RATE, SHRINK_RATE, SendBuffer

MODEL = CostModel()
# Client classes: the plan it downloads (its largest document) and how it reads.
DOCS = st.sampled_from([0, 9_000, 13_341, 28_333, 162_603])
RATES = st.sampled_from([0.0, 16e3, SHRINK_RATE / 2, GROW_RATE * 2, 1e9])


@settings(max_examples=60, deadline=None)
@given(
    budget_mib=st.integers(min_value=300, max_value=2048),
    clients=st.lists(st.tuples(DOCS, st.lists(RATES, max_size=6)), min_size=1, max_size=120),
    hold=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=120),
)
def test_accounting_stays_within_the_budget(budget_mib, clients, hold):
    budget = budget_mib << 20
    model = dataclasses.replace(MODEL, fast_sndbuf=fast_sndbuf_for(budget))  # as build_state
    plan = plan_budget(
        budget, 208 << 20, nofile=1 << 20, model=model, cap=max(1, len(clients) // 2)
    )
    admission = Admission(plan.slots, queue_timeout=0.01, capacity=plan.downloads)
    pool = BytePool(plan.fast_pool)
    peak = {"bytes": 0}

    def check() -> None:
        total = plan.reserve + pool.used + admission.used
        assert admission.used <= plan.downloads and pool.used <= pool.capacity
        assert total <= budget
        assert admission.in_use <= admission.slots
        peak["bytes"] = max(peak["bytes"], total)

    async def client(n: int, doc: int, rates: list[float]) -> str:
        try:
            async with admission.slot(model.download(doc)):
                buf = SendBuffer(None, pool, model)
                check()
                for rate in rates:
                    buf.observe(rate)
                    check()
                    await asyncio.sleep(0)
                for _ in range(hold[n % len(hold)]):
                    await asyncio.sleep(0)
                buf.release()
                check()
                return "ran"
        except QueueFull:
            return "503"

    async def run() -> list[str]:
        return await asyncio.gather(*(client(n, d, r) for n, (d, r) in enumerate(clients)))

    results = asyncio.run(run())
    assert admission.in_use == 0 and admission.used == 0 and pool.used == 0
    assert results.count("ran") >= min(len(clients), admission.slots)  # no 503 below the slots


def test_the_large_buffer_is_4_mib_only_where_the_pool_holds_15_of_them():
    """2 GiB and more: 4 MiB (8 MiB held), 15 fast clients in the 128 MiB pool; smaller
    budgets keep 2 MiB, so a 256 MiB container still has 3 fast clients, not 1."""
    for budget_mib, want, grants in (
        (256, FAST_SNDBUF, 3),
        (1024, FAST_SNDBUF, 15),
        (2048, FAST_SNDBUF_LARGE, 15),
    ):
        model = dataclasses.replace(MODEL, fast_sndbuf=fast_sndbuf_for(budget_mib << 20))
        plan = plan_budget(budget_mib << 20, 96 << 20, nofile=1 << 20, model=model)
        assert model.fast_sndbuf == want, budget_mib
        assert plan.fast_pool // model.fast_extra == grants, budget_mib
        assert model.kernel_fast == 2 * want
        pool = BytePool(plan.fast_pool)
        buffers = [SendBuffer(None, pool, model) for _ in range(grants + 1)]
        for buf in buffers:
            buf.observe(GROW_RATE * 2)
        assert [b.size for b in buffers].count(want) == grants  # the next one stays small
        assert pool.used <= pool.capacity


def test_exactly_the_slots_are_admitted_then_503_then_the_queue_moves():
    cost = MODEL.download(16384)

    async def run() -> None:
        admission = Admission(50, queue_timeout=0.05, capacity=50 * cost)
        release = asyncio.Event()
        admitted = 0

        async def hold() -> None:
            nonlocal admitted
            async with admission.slot(cost):
                admitted += 1
                await release.wait()

        holders = [asyncio.ensure_future(hold()) for _ in range(50)]
        await asyncio.sleep(0.01)
        assert admitted == 50 and admission.used == 50 * cost
        with pytest.raises(QueueFull):
            async with admission.slot(cost):
                pass
        waiter = asyncio.ensure_future(hold())  # queued: gets the first freed slot
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(*holders, waiter)
        assert admitted == 51 and admission.used == 0 and admission.in_use == 0

    asyncio.run(run())


def test_a_bigger_plan_costs_more_room():
    small, big = MODEL.download(13_341), MODEL.download(162_603)

    async def run() -> None:
        admission = Admission(100, queue_timeout=0.01, capacity=big + 2 * small)
        async with admission.slot(big), admission.slot(small):
            async with admission.slot(small):  # two small fit where a big one does not
                pass
            with pytest.raises(QueueFull):
                async with admission.slot(big):
                    pass

    asyncio.run(run())
