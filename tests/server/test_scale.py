"""Scale: rendering never stalls the event loop; CRCs are learned once per plan.

A tail Range of a never-downloaded plan needs the CRC of every generated
document (for the central directory). The test measures how long a
concurrent ``/healthz`` takes while that happens, from the same event loop:
with the render pool it must stay under 50 ms; with rendering on the loop
(``inline``, what ``layout.pieces`` does by itself) the same request delays
it far longer, which shows the probe can see a stall. On this shared
machine the host alone delays a wake-up by up to ~200 ms at times (measured
with nothing else running), so the time the loop thread waited for a CPU is
taken out (Linux schedstat): what remains is what this process caused.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from dataclasses import dataclass

from aiohttp.test_utils import TestClient

from server.looplag import runqueue_wait
from server.render_pool import RENDER_POOL, RenderPool
from server.state import STATE

from .conftest import PLAN

# ~1,200 generated documents: about 0.5-1 s of rendering on one core.
MID = dict(PLAN, weeks=8, lessons_per_week=7, exercises_per_lesson=10)
TAIL = 200_000


@dataclass
class Probe:
    """The worst /healthz delay seen: wall clock, and less the loop's wait for a CPU."""

    wall: float = 0.0
    own: float = 0.0
    count: int = 0

    def __str__(self) -> str:
        return f"{self.own * 1e3:.0f} ms own ({self.wall * 1e3:.0f} ms wall, {self.count} probes)"


async def _tail_under_probe(client: TestClient, url: str, size: int) -> tuple[bytes, Probe]:
    """GET the last TAIL bytes while a /healthz is due every 10 ms.

    A probe's delay runs from when it was due, not from when it got to run,
    so a stall that falls into the probe's sleep counts too. The machine is
    shared: the time the loop thread spent runnable on the run queue
    (``/proc/thread-self/schedstat``) in that span is not this process's
    doing, and is taken out for ``own``.
    """
    stop = asyncio.Event()
    worst = Probe()

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not stop.is_set():
            due += 0.01
            queued = runqueue_wait()
            await asyncio.sleep(max(0.0, due - loop.time()))
            resp = await client.get("/healthz")
            await resp.read()
            assert resp.status == 200
            delay = loop.time() - due
            queued = runqueue_wait() - queued  # type: ignore[operator]
            worst.wall = max(worst.wall, delay)
            worst.own = max(worst.own, delay - queued)
            worst.count += 1
            due = max(due, loop.time())  # the next one is due 10 ms after this one ended

    assert runqueue_wait() is not None, "needs Linux schedstat to tell our stalls from the host's"
    task = asyncio.ensure_future(probe())
    await asyncio.sleep(0.05)
    resp = await client.get(url, headers={"Range": f"bytes={size - TAIL}-"})
    body = await resp.read()
    assert resp.status == 206
    await asyncio.sleep(0.03)
    stop.set()
    await task
    return body, worst


async def _create(client: TestClient, plan: dict) -> tuple[str, int]:
    resp = await client.post("/api/plans", json=plan)
    assert resp.status == 201, await resp.text()
    meta = await resp.json()
    return meta["download_url"], meta["size"]


async def test_tail_range_of_a_new_plan_does_not_delay_healthz(aiohttp_client, app_factory):
    app = app_factory()
    client = await aiohttp_client(app)
    url, size = await _create(client, MID)  # layout built; no document rendered yet
    pool = app[RENDER_POOL]
    assert pool.kind == "process"
    layout = (await app[STATE].archive_for_request(_req(MID))).layout
    producers = [i for i in range(len(layout)) if layout.producer(i) is not None]
    assert len(producers) > 1000
    assert not any(layout.crc_known(i) for i in producers)
    bodies, crcs = layout.needs(size - TAIL, size)
    assert len(crcs) > 500  # the central directory's part of the window

    tail, worst = await _tail_under_probe(client, url, size)
    assert worst.count >= 5, "the probe must have run while the tail was prepared"
    assert worst.own < 0.050, f"/healthz delayed {worst} during a tail range"
    assert len(tail) == TAIL
    assert all(layout.crc_known(i) for i in bodies + crcs)
    assert pool.stats.documents == len(bodies) + len(crcs)  # each rendered once

    # Learned once: a second tail window of the same plan renders nothing.
    jobs = pool.stats.jobs
    again = await (await client.get(url, headers={"Range": f"bytes={size - TAIL}-"})).read()
    assert again == tail and pool.stats.jobs == jobs

    # The bytes are the archive's: the full download ends with them and every reader opens it.
    full = await (await client.get(url)).read()
    assert len(full) == size and full[-TAIL:] == tail
    with zipfile.ZipFile(io.BytesIO(full)) as zf:
        assert zf.testzip() is None
        assert len(zf.infolist()) == len(layout)


async def test_rendering_on_the_loop_is_what_the_probe_catches(aiohttp_client, app_factory):
    """Control: the same tail with ``inline`` rendering stalls /healthz well past 50 ms."""
    app = app_factory()
    app[RENDER_POOL] = RenderPool(kind="inline", cache=app[STATE].render_cache)
    client = await aiohttp_client(app)
    url, size = await _create(client, dict(MID, name="李四"))
    tail, worst = await _tail_under_probe(client, url, size)
    assert len(tail) == TAIL
    assert worst.own > 0.2, f"inline rendering delayed /healthz only {worst}"


async def test_parallel_ranges_of_a_new_plan_equal_the_whole(aiohttp_client, app_factory):
    """8 segments at once (a download manager) share the CRC learning and add up to the archive."""
    app = app_factory()
    client = await aiohttp_client(app)
    url, size = await _create(client, dict(MID, name="王五"))
    cuts = [size * k // 8 for k in range(9)]

    async def part(k: int) -> bytes:
        hdr = {"Range": f"bytes={cuts[k]}-{cuts[k + 1] - 1}"}
        resp = await client.get(url, headers=hdr)
        assert resp.status == 206
        return await resp.read()

    parts = await asyncio.gather(*(part(k) for k in range(8)))
    whole = b"".join(parts)
    assert len(whole) == size
    with zipfile.ZipFile(io.BytesIO(whole)) as zf:
        assert zf.testzip() is None
    stats = app[RENDER_POOL].stats
    layout = (await app[STATE].archive_for_request(_req(dict(MID, name="王五")))).layout
    producers = sum(1 for i in range(len(layout)) if layout.producer(i) is not None)
    # Every document rendered about once: bodies by the segment that holds them,
    # CRCs of the rest once for the central directory, never once per segment.
    assert stats.documents <= 1.5 * producers, (stats.documents, producers)


def _req(plan: dict):
    from generators.request import PlanRequest

    return PlanRequest.from_mapping(plan)


BIG = dict(PLAN, weeks=52, lessons_per_week=7, exercises_per_lesson=10)


async def test_serving_a_big_plan_adds_no_object_per_entry(aiohttp_client, app_factory):
    """A tail range and the first 20 MB of a 52-week plan add almost no long-lived objects.

    The layout's own objects are the layout's business (compact arrays); what
    serving adds (learned CRCs, segments, render jobs, file handles) must not
    be an object per entry (7,645 here), or every full collection walks them.
    Collection pauses themselves are timed in /metrics and by bench/scale.py.
    """
    import gc

    app = app_factory()
    client = await aiohttp_client(app)
    url, size = await _create(client, BIG)
    gc.collect()
    before = len(gc.get_objects())
    await (await client.get(url, headers={"Range": f"bytes={size - TAIL}-"})).read()
    head = await (await client.get(url, headers={"Range": "bytes=0-19999999"})).read()
    assert len(head) == 20_000_000
    del head
    gc.collect()
    added = len(gc.get_objects()) - before
    assert added < 2000, f"serving added {added} tracked objects"
