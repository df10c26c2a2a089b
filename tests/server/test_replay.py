"""A warm plan is replayed from its recorded runs: same bytes, same file checks, bounded.

``server.replay`` keeps a plan's archive, once sent whole, as byte runs and
file slices. These tests pin that the replay is exactly the archive for any
window, that it is what a second download uses (counted by the render
pool), that a material file changed after the recording is never sent (nor
its header), and that the cache of replays stays inside its bound.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import zipfile
from io import BytesIO
from pathlib import Path

import aiohttp
import pytest

from generators.archive import FileSlice, FileSource, read_slice
from generators.entries import build_archive
from generators.library import Library
from generators.request import PlanRequest
from server import handles
from server.render_pool import RENDER_POOL
from server.replay import Recorder, Runs, runs_cache
from server.state import STATE

from .conftest import PLAN
from .test_failures import _idle, _outcomes, _wait_for
from .test_scale import _create


def _bytes(pieces) -> bytes:
    out = bytearray()
    for piece in pieces:
        if isinstance(piece, tuple):  # a span of Runs.spans: (bytes or slice, its file)
            piece = piece[0]
        if isinstance(piece, FileSlice):
            for data in read_slice(piece, 1 << 20):
                out += data
        else:
            out += piece
    return bytes(out)


def test_runs_give_every_window_of_the_archive(library_dir: Path):
    """Random windows of the replay equal the same windows of the layout, byte for byte."""
    layout = build_archive(PlanRequest.from_mapping(PLAN), Library.load(str(library_dir))).layout
    total = layout.total_size
    rec = Recorder()
    for piece in layout.pieces():
        rec.add(piece)
    runs = rec.finish(total)
    assert isinstance(runs, Runs) and runs.total == total
    files = sum(isinstance(op, FileSlice) for op in runs.ops)
    assert files == sum(isinstance(e.source, FileSource) for e in layout.entries) > 0
    # Between two files there is one run: at most one more run than files, plus the tail.
    assert len(runs.ops) <= 2 * files + 1
    whole = _bytes(runs.spans(0, total))
    assert whole == _bytes(layout.pieces())
    rng = random.Random(7)
    for _ in range(200):
        a = rng.randrange(total + 1)
        b = rng.randrange(a, min(total, a + rng.choice((1, 100, 70_000, total))) + 1)
        assert _bytes(runs.spans(a, b)) == whole[a:b], (a, b)
    with pytest.raises(ValueError):
        list(runs.spans(0, total + 1))
    # Every run that ends with a local header names the file that follows it.
    spans = list(runs.spans(0, total))
    for (span, ref), nxt in itertools.pairwise(spans):
        if not isinstance(span, FileSlice):
            assert ref is (nxt[0] if isinstance(nxt[0], FileSlice) else None)


def test_recording_gives_up_past_its_bound(monkeypatch):
    monkeypatch.setattr("server.replay.RUNS_PLAN_MAX", 1000)
    rec = Recorder()
    rec.add(b"x" * 600)
    rec.add(b"y" * 600)
    assert rec.finish(1200) is None
    rec = Recorder()
    rec.add(b"x" * 600)
    assert rec.finish(601) is None  # the bytes do not add up to the archive: not kept


async def test_a_second_download_is_replayed_with_the_same_bytes(aiohttp_client, app_factory):
    app = app_factory()
    client = await aiohttp_client(app)
    url, size = await _create(client, PLAN)
    stats = app[RENDER_POOL].stats
    first = await (await client.get(url)).read()
    assert len(first) == size and stats.replays == 0
    assert len(app[STATE].runs) == 1
    second = await (await client.get(url)).read()
    assert second == first and stats.replays == 1
    with zipfile.ZipFile(BytesIO(second)) as zf:
        assert zf.testzip() is None
    rng = random.Random(3)
    for k in range(12):
        a = rng.randrange(size)
        b = rng.randrange(a, size)
        resp = await client.get(url, headers={"Range": f"bytes={a}-{b}"})
        assert resp.status == 206
        assert await resp.read() == first[a : b + 1]
        assert stats.replays == 2 + k
    health = await (await client.get("/healthz")).json()
    replays = health["caches"]["replays"]
    assert replays["count"] == 1 and 0 < replays["bytes"] <= replays["max_bytes"]


@pytest.mark.parametrize("lane", [True, False], ids=["express-lane", "ordinary-path"])
@pytest.mark.parametrize("upto_header", [False, True], ids=["whole", "up-to-its-header"])
async def test_a_file_changed_after_recording_is_not_sent_from_the_replay(
    aiohttp_client, app_factory, caplog, lane, upto_header
):
    """The replay checks a file before the run holding its header: neither is sent.

    The file is one far enough in that a fast client is in the express lane
    by then (checked by the pool's acquire), or, with no large buffer to
    grant, on the ordinary path (checked by a stat). A window that ends inside the file's
    local header asks for no byte of the file: only the check before the run
    can stop it."""
    caplog.set_level(logging.INFO)
    app = app_factory(library_scan=0)  # only the download's own checks see the change
    client = await aiohttp_client(app)
    plan = dict(PLAN, weeks=12, lessons_per_week=3)
    url, size = await _create(client, plan)
    assert len(await (await client.get(url)).read()) == size  # recorded
    if not lane:  # no large buffer is granted, so no download takes the lane
        app[STATE].fast_pool.capacity = 0
    layout = app[STATE].archive_for(PlanRequest.from_mapping(plan)).layout
    first: dict[str, int] = {}  # a material may be used by several lessons: its first use
    for i, e in enumerate(layout.entries):
        if isinstance(e.source, FileSource):
            first.setdefault(e.source.path, layout.local_header_offset(i))
    # far enough in that the kernel queue a reset drops (up to 8 MiB held) leaves > 6 MiB
    path, header_at = next((p, at) for p, at in first.items() if at > 16 << 20)
    src = Path(path)
    data = src.read_bytes()
    src.write_bytes(bytes(255 - b for b in data[:64]) + data[64:])  # same size
    st = os.stat(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    received = 0
    headers = {"Range": f"bytes=0-{header_at + 20}"} if upto_header else {}
    async with client.get(url, headers=headers) as resp:
        assert resp.status == (206 if upto_header else 200)
        with pytest.raises(aiohttp.ClientPayloadError):
            async for block in resp.content.iter_any():
                received += len(block)
    assert app[RENDER_POOL].stats.replays == 1
    assert 6 << 20 < received <= header_at < size
    await _wait_for(lambda: _idle(client), 2.0)
    assert (await _outcomes(client))["failed"] == 1
    (fields,) = [
        r.fields for r in caplog.records if getattr(r, "fields", {}).get("outcome") == "failed"
    ]
    assert (fields["express"] > 0) is lane, fields


def test_the_cache_of_replays_stays_in_its_bound():
    cache = runs_cache(1 << 20)
    kept = []
    for k in range(40):
        runs = Runs([bytes(100_000 + k)])
        cache.put(f"plan{k}", runs, runs.nbytes)
        kept.append(runs)  # all still alive (as if being replayed)
        assert cache.resident <= cache.max_bytes
    assert cache.get("plan39") is not None or cache.get("plan0") is not None
    big = Runs([bytes(600_000)])
    assert not cache.put("big", big, big.nbytes)  # more than half of the cache


@pytest.mark.parametrize("lane", [True, False], ids=["express-lane", "ordinary-path"])
async def test_a_file_changed_while_it_is_sent_fails_the_replay(
    aiohttp_client, app_factory, caplog, monkeypatch, lane
):
    """The check after a file's body: a file touched once it passed the check before."""
    caplog.set_level(logging.INFO)
    app = app_factory(library_scan=0)
    client = await aiohttp_client(app)
    plan = dict(PLAN, weeks=12, lessons_per_week=3)
    url, size = await _create(client, plan)
    assert len(await (await client.get(url)).read()) == size  # recorded
    if not lane:  # no large buffer is granted, so no download takes the lane
        app[STATE].fast_pool.capacity = 0
    layout = app[STATE].archive_for(PlanRequest.from_mapping(plan)).layout
    uses: dict[str, list[int]] = {}
    for i, e in enumerate(layout.entries):
        if isinstance(e.source, FileSource):
            uses.setdefault(e.source.path, []).append(layout.local_header_offset(i))
    # Used once: a later use would be caught by its own check before.
    target = next(p for p, at in uses.items() if len(at) == 1 and at[0] > 6 << 20)
    touched: list[str] = []
    stat = handles._stat

    def checked_then_touched(piece):
        st = stat(piece)  # the pool's check passed: now the file is edited
        if piece.path == target and not touched:
            touched.append(piece.path)
            os.utime(piece.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        return st

    monkeypatch.setattr(handles, "_stat", checked_then_touched)
    received = 0
    async with client.get(url) as resp:
        with pytest.raises(aiohttp.ClientPayloadError):
            async for block in resp.content.iter_any():
                received += len(block)
    assert 6 << 20 < received < size
    await _wait_for(lambda: _idle(client), 2.0)
    (fields,) = [
        r.fields for r in caplog.records if getattr(r, "fields", {}).get("outcome") == "failed"
    ]
    assert touched == [target]
    assert "source changed" in fields["reason"] and (fields["express"] > 0) is lane, fields
