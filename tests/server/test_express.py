"""The express lane (server.express): a fast client's bytes go straight to its socket.

What must hold: the archive is byte-for-byte the one the ordinary path
sends; most of a fast download goes through the lane; the duplicate
descriptor it waits on is closed however the download ends; a client that
stops reading is still cut after the stall timeout, and one that leaves is
``aborted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import time
import zipfile

import pytest

from server.sender import SENDER
from server.state import STATE

from .conftest import PLAN
from .test_failures import _raw_get, _wait_for
from .test_sendbuf import _outcome_fields


def _fds() -> int:
    """Open sockets of this process (material files may stay open in the pool)."""
    out = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            out += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
    return out


async def _download(client, url: str) -> bytes:
    resp = await client.get(url)
    assert resp.status == 200
    return await resp.read()


async def test_fast_download_takes_the_lane_and_equals_the_ordinary_path(
    aiohttp_client, app_factory, caplog
):
    caplog.set_level(logging.INFO)
    app = app_factory()
    app[SENDER] = None  # the loop's own lane (the sender's is tests/server/test_sender.py)
    client = await aiohttp_client(app)
    meta = await _create(client)
    cold = await _download(client, meta["download_url"])  # the lane of a cold plan
    before = _fds()
    fast = await _download(client, meta["download_url"])  # a replay: the callback-driven lane
    app[STATE].limits.use_sendfile = False  # the ordinary path: no sendfile, no lane
    plain = await _download(client, meta["download_url"])
    assert len(fast) == meta["size"]
    assert hashlib.sha256(fast).digest() == hashlib.sha256(plain).digest()
    assert hashlib.sha256(cold).digest() == hashlib.sha256(plain).digest()
    assert zipfile.ZipFile(io.BytesIO(fast)).testzip() is None
    await _wait_for(lambda: _count(caplog, 3), 2.0)
    first, lane, ordinary = _outcome_fields(caplog)
    assert first["express"] > meta["size"] * 0.5, first
    assert lane["outcome"] == "completed" and lane["grown"] >= 1
    # Only the start (before the buffer is granted) takes the ordinary path.
    assert lane["express"] > meta["size"] * 0.8, lane
    assert ordinary["express"] == 0 and ordinary["outcome"] == "completed"
    assert _fds() == before  # the duplicate was closed


async def _count(caplog, n: int) -> bool:
    return len(_outcome_fields(caplog)) >= n


async def _create(client, **changes) -> dict:
    resp = await client.post("/api/plans", json=dict(PLAN, **changes))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _grow_then(client, url: str):
    """Read fast until the download is grown and in the lane; then stop or go away."""
    reader, writer, _ = await _raw_get(client, url, rcvbuf=1 << 20)
    got = 0
    while got < 3 << 20:
        data = await asyncio.wait_for(reader.read(1 << 20), 5)
        assert data
        got += len(data)
    return writer  # it holds the reader too


@pytest.mark.parametrize("warm", [False, True], ids=["cold-plan", "replay"])
async def test_a_fast_client_that_stops_reading_is_cut_in_the_lane(
    aiohttp_client, app_factory, caplog, warm
):
    caplog.set_level(logging.INFO)
    app = app_factory(stall_timeout=1.0)
    app[SENDER] = None  # the loop's own lane (the sender's is tests/server/test_sender.py)
    client = await aiohttp_client(app)
    meta = await _create(client, weeks=12, lessons_per_week=3)
    assert meta["size"] > 12 << 20
    if warm:
        assert len(await _download(client, meta["download_url"])) == meta["size"]
        caplog.clear()
    before = _fds()
    writer = await _grow_then(client, meta["download_url"])
    t0 = time.monotonic()
    await _wait_for(lambda: _count(caplog, 1), 10.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "stalled", fields
    assert fields["express"] > 0 and fields["bytes"] < meta["size"]
    assert 0.5 < time.monotonic() - t0 < 6.0
    writer.transport.abort()
    await asyncio.sleep(0.1)
    assert _fds() <= before
    assert app[STATE].fast_pool.grants == 0


@pytest.mark.parametrize("warm", [False, True], ids=["cold-plan", "replay"])
async def test_a_fast_client_that_leaves_in_the_lane_is_aborted(
    aiohttp_client, app_factory, caplog, warm
):
    caplog.set_level(logging.INFO)
    app = app_factory()
    app[SENDER] = None  # the loop's own lane (the sender's is tests/server/test_sender.py)
    client = await aiohttp_client(app)
    meta = await _create(client, weeks=12, lessons_per_week=3)
    assert meta["size"] > 12 << 20
    if warm:
        assert len(await _download(client, meta["download_url"])) == meta["size"]
        caplog.clear()
    before = _fds()
    writer = await _grow_then(client, meta["download_url"])
    writer.transport.abort()
    await _wait_for(lambda: _count(caplog, 1), 5.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "aborted", fields
    assert fields["express"] > 0
    await asyncio.sleep(0.1)
    assert _fds() <= before
