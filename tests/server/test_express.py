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
import socket
import time
import zipfile
from collections.abc import Generator

import pytest

from server.express import Express
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
    # Its handler ends once the client acknowledged every byte, just after the read.
    await _wait_for(lambda: _count(caplog, 1), 2.0)
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


async def _clear_when_idle(client, caplog) -> None:
    """Clear the log once no download runs: one ends (and is logged) when the client
    has acknowledged its last byte, a moment after the client's read returned."""

    async def idle() -> bool:
        health = await (await client.get("/healthz")).json()
        return health["in_use"] == 0 and health["queued"] == 0

    await _wait_for(idle, 5.0)
    caplog.clear()


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
        await _clear_when_idle(client, caplog)
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
        await _clear_when_idle(client, caplog)
    before = _fds()
    writer = await _grow_then(client, meta["download_url"])
    writer.transport.abort()
    await _wait_for(lambda: _count(caplog, 1), 5.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "aborted", fields
    assert fields["express"] > 0
    await asyncio.sleep(0.1)
    assert _fds() <= before


def _connected() -> tuple[socket.socket, socket.socket]:
    """A loopback TCP pair: the server end (TCP_NODELAY, as aiohttp sets it) and a client."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return server, client


def _receive(sock: socket.socket, size: int) -> tuple[float, int]:
    """Read ``size`` bytes; the time the last arrived and the data segments they took."""
    got = 0
    while got < size:
        got += len(sock.recv(1 << 20))
    done = time.monotonic()
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return done, int.from_bytes(info[152:156], "little")  # tcpi_data_segs_in


PIECES, PIECE = 200, 1000  # small sends with pauses between: a lane's call tails and headers


def _sends(lane: Express) -> Generator[None, None, None]:
    view = memoryview(b"x" * PIECE)
    for _ in range(PIECES):
        while lane.send(view) is None:
            yield None
        pause = time.monotonic() + 0.0005  # loop turns, no awaitable (that would uncork)
        while time.monotonic() < pause:
            yield None  # the socket has long sent the last piece: nothing to merge it with


async def test_the_lane_sends_full_segments_and_leaves_nothing_corked():
    """In ``drive`` the socket is corked: small sends leave as full segments,
    and the last partial one goes out when the lane ends, not 200 ms later.

    On loopback each call's tail went out as a segment of its own (TCP_NODELAY):
    a 177 MB replay took 4,484 data segments where ``FileResponse`` took
    4,201, and with the cork 2,728 (``nstat``, one download each), which cut
    the server's system CPU per download from 42 to 33 ms.
    """
    loop = asyncio.get_running_loop()
    counts = {}
    for corked in (False, True):
        server, client = _connected()
        try:
            lane = Express(loop, server.fileno())
            reading = asyncio.ensure_future(asyncio.to_thread(_receive, client, PIECES * PIECE))
            if corked:
                await lane.drive(_sends(lane))
            else:  # the control: the same sends, not in a drive
                for _ in _sends(lane):
                    await lane.wait()
            ended = time.monotonic()
            arrived, counts[corked] = await asyncio.wait_for(reading, 5)
            lane.close()
            assert arrived - ended < 0.1, "the lane's last bytes stayed corked"
        finally:
            server.close()
            client.close()
    assert counts[False] >= PIECES * 3 // 4, counts  # each send a segment of its own
    assert counts[True] <= PIECES // 10, counts  # merged into full ones (MSS 64 KiB here)


async def test_a_lane_that_yields_its_turn_pushes_its_corked_tail():
    """``push``: a partial segment goes out at once, while the lane stays corked.

    The writer pushes when a download's turn share is spent with the socket
    not full (beside 10,000 held downloads the next turn can be 15 ms away).
    Without it the 1,000 bytes below wait for the kernel's 200 ms cork limit.
    """
    loop = asyncio.get_running_loop()
    server, client = _connected()
    client.settimeout(5)
    arrived: list[float] = []
    try:
        lane = Express(loop, server.fileno())
        reading = asyncio.ensure_future(asyncio.to_thread(_receive, client, PIECE))

        def steps() -> Generator[None, None, None]:
            assert lane.send(memoryview(b"y" * PIECE)) == PIECE
            lane.push()
            pushed = time.monotonic()
            while not reading.done() and time.monotonic() - pushed < 0.3:
                yield None  # still in the drive, still corked
            arrived.append(time.monotonic() - pushed)

        await lane.drive(steps())
        await reading
        lane.close()
    finally:
        server.close()
        client.close()
    assert arrived and arrived[0] < 0.1, arrived
