"""Plan builds and document rendering happen in worker processes; the server keeps no plan.

A 52-week plan's layout is about 0.9 s of pure Python. Built in a thread of
the server, it held the GIL the event loop needs after every syscall, and 5
builds pushed the loop's lag past 100 ms (bench/scale.py). These tests pin
what replaced it: the build runs in a render worker, only the compact layout
comes back (no plan objects), the bytes are the same as a build in this
process, and a worker renders a centre-branded plan's documents too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import itertools
import os
import pickle
import random
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import psutil

from generators.archive import FileSlice, read_slice
from generators.entries import PlanSources, build_archive
from generators.request import PlanRequest
from server.render_pool import CD_ENTRIES, WORKERS, segments_of
from server.state import STATE

from .conftest import PLAN
from .test_scale import MID, TAIL, _create, _tail_under_probe

BIG = dict(PLAN, weeks=12, lessons_per_week=7, exercises_per_lesson=10)


def _local_bytes(req: PlanRequest, library: object, centre: str = "") -> bytes:
    """The archive built and read in this process, the reference for the server's bytes."""
    layout = build_archive(req, library, None, centre).layout  # type: ignore[arg-type]
    out = bytearray()
    for piece in layout.pieces():
        if isinstance(piece, FileSlice):
            for data in read_slice(piece, 1 << 20):
                out += data
        else:
            out += piece
    return bytes(out)


async def test_a_plan_is_built_in_a_worker_and_the_server_keeps_no_plan(
    aiohttp_client, app_factory
):
    app = app_factory()
    client = await aiohttp_client(app)
    state = app[STATE]
    url, size = await _create(client, MID)
    archive = await state.archive_for_request(PlanRequest.from_mapping(MID))
    resolver = archive.layout.resolver
    assert isinstance(resolver, PlanSources)
    # Built elsewhere: the layout came back without its plan, and serving keeps it so.
    assert resolver._plan is None
    body = await (await client.get(url)).read()
    assert len(body) == size and resolver._plan is None
    assert (
        hashlib.sha256(body).digest()
        == hashlib.sha256(_local_bytes(PlanRequest.from_mapping(MID), state.library)).digest()
    )


async def test_builds_in_workers_do_not_delay_healthz(aiohttp_client, app_factory):
    """Four creations of a 12-week plan at once while /healthz is asked every 10 ms.

    Two build at a time, so the last waits for two builds: on a loaded CI
    machine that is more than the fixture's 1 s queue timeout (a 503 there is
    admission working, not the loop stalling), hence a longer timeout here.
    """
    app = app_factory(queue_timeout=30.0)
    client = await aiohttp_client(app)
    small_url, small_size = await _create(client, PLAN)

    async def create(k: int) -> int:
        resp = await client.post("/api/plans", json=dict(BIG, name=f"孩子{k}"))
        await resp.read()
        return resp.status

    creations = asyncio.gather(*(create(k) for k in range(4)))
    await asyncio.sleep(0.02)
    # The probe runs while the builds do (a small tail range is its pretext).
    _, worst = await _tail_under_probe(client, small_url, small_size)
    assert await creations == [201, 201, 201, 201]
    assert worst.count >= 3
    assert worst.own < 0.050, f"/healthz delayed {worst} while 4 plans were built"


async def test_a_centre_branded_plan_is_rendered_by_workers(aiohttp_client, app_factory):
    """Workers rebuild the plan with the server's --centre-name, or the sizes would not match."""
    app = app_factory(centre_name="星星专注力中心")
    client = await aiohttp_client(app)
    url, size = await _create(client, MID)
    tail = await (await client.get(url, headers={"Range": f"bytes={size - TAIL}-"})).read()
    body = await (await client.get(url)).read()
    assert len(body) == size and body[-TAIL:] == tail
    expected = _local_bytes(PlanRequest.from_mapping(MID), app[STATE].library, "星星专注力中心")
    assert body == expected
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        index = next(n for n in zf.namelist() if n.endswith("index.html"))
        assert "星星专注力中心" in zf.read(index).decode("utf-8")


def test_plan_sources_cross_a_pickle_without_their_plan() -> None:
    """What a build worker sends back: refs, sizes and files; the plan is rebuilt only if asked."""
    req = PlanRequest.from_mapping(MID)
    archive = build_archive(req)
    again = pickle.loads(pickle.dumps(archive))
    resolver = again.layout.resolver
    assert isinstance(resolver, PlanSources) and resolver._plan is None
    assert resolver.cache is None
    assert again.etag == archive.etag and again.layout.total_size == archive.layout.total_size
    assert resolver.nbytes() == archive.layout.resolver.nbytes()  # type: ignore[union-attr]
    assert resolver._plan is None  # sizing it did not build it
    for i in random.Random(3).sample(range(len(archive.layout)), 40):
        a, b = archive.layout.source(i), again.layout.source(i)
        assert (a.size, a.identity()) == (b.size, b.identity())
    assert resolver._plan is not None  # making a source rebuilt it, from the request


def test_segments_partition_any_window_and_cut_the_directory() -> None:
    layout = build_archive(PlanRequest.from_mapping(BIG)).layout
    total, cd = layout.total_size, layout.central_offset
    assert len(layout) > 2 * CD_ENTRIES
    whole = list(segments_of(layout, 0, total))
    directory = [s for s in whole if s[0] >= cd]
    assert len(directory) == -(-len(layout) // CD_ENTRIES)  # at most CD_ENTRIES headers each
    rnd = random.Random(7)
    for _ in range(300):
        a = rnd.randrange(total)
        b = total if rnd.random() < 0.3 else rnd.randrange(a, total + 1)
        segs = list(segments_of(layout, a, b))
        if a == b:
            assert segs == []
            continue
        assert segs[0][0] == a and segs[-1][1] == b
        assert all(x[1] == y[0] for x, y in itertools.pairwise(segs))
        assert all(lo < hi for lo, hi in segs)


_POOL_CHILD = """
import asyncio
from server.render_pool import RenderPool
async def main():
    await RenderPool(kind="process").start()
    print("ready", flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


def test_a_killed_servers_render_pool_ends_with_it() -> None:
    """SIGKILL (an OOM kill) leaves no render worker, forkserver or resource tracker.

    Forked by the forkserver, a worker is not the server's child and holds both
    ends of its call queue, so it never saw the server go: before the pidfd
    watch, each killed server left 4 processes and 5 semaphores behind.
    """
    root = Path(__file__).resolve().parents[2]
    left: list[psutil.Process] = []
    trackers: list[psutil.Process] = []
    proc = subprocess.Popen(
        [sys.executable, "-c", _POOL_CHILD], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        left = psutil.Process(proc.pid).children(recursive=True)
        trackers = [p for p in left if "resource_tracker" in " ".join(p.cmdline())]
        # the tracker, the forkserver and one process per worker (forked by the forkserver)
        assert len(trackers) == 1 and len(left) == 2 + WORKERS, [p.cmdline() for p in left]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        _, alive = psutil.wait_procs(left, timeout=10)
        assert not alive, [p.pid for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # A failed run cleans up after itself: the workers and forkserver first,
        # so the tracker sees its last writer go and unlinks the semaphores.
        for p in left:
            if p not in trackers:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
        for p in psutil.wait_procs(trackers, timeout=5)[1]:
            p.kill()
