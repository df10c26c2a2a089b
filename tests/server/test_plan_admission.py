"""Plan creation is admitted like a download: bounded work, then 503 with Retry-After."""

from __future__ import annotations

import asyncio

from .conftest import PLAN

BIG = dict(PLAN, weeks=52, lessons_per_week=7, exercises_per_lesson=10)


async def test_a_burst_of_new_big_plans_gets_503_not_a_pile_up(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory(queue_timeout=0.2))

    async def post(n: int):
        resp = await client.post("/api/plans", json=dict(BIG, name=f"孩子{n}"))
        return resp.status, resp.headers.get("Retry-After"), await resp.json()

    results = await asyncio.gather(*(post(n) for n in range(24)))
    statuses = sorted(r[0] for r in results)
    assert set(statuses) <= {201, 503}, statuses
    busy = [r for r in results if r[0] == 503]
    assert busy, "24 big builds at once with a 0.2 s queue timeout must turn some away"
    assert all(r[1] and int(r[1]) >= 1 and r[2]["error"]["code"] == "busy" for r in busy)
    assert statuses.count(201) >= 2  # the workers did build some
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "ok"


async def test_concurrent_requests_for_one_new_plan_share_one_build(aiohttp_client, app_factory):
    app = app_factory()
    client = await aiohttp_client(app)
    from server.state import STATE

    state = app[STATE]
    calls = 0
    real = state._keep  # every build ends there, in a worker process or a thread

    def counting(key, library, archive):
        nonlocal calls
        calls += 1
        return real(key, library, archive)

    state._keep = counting  # type: ignore[method-assign]
    resps = await asyncio.gather(*(client.post("/api/plans", json=BIG) for _ in range(8)))
    assert [r.status for r in resps] == [201] * 8
    assert calls == 1
