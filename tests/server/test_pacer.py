"""The paced lane: slow clients' full sockets are tried on a timer, not woken through epoll."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from server.pacer import PACE_MAX, PACE_MIN, Pacer
from server.state import STATE

from .test_failures import _raw_get, _read_slowly, _wait_for
from .test_sendbuf import _create_mid, _outcome_fields


async def _done(caplog) -> bool:
    return bool(_outcome_fields(caplog))


async def test_a_slow_reader_is_paced_and_gets_its_rate(aiohttp_client, app_factory):
    """At 48 KiB/s the download goes through the pacer and the client gets what it reads."""
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _create_mid(client)
    reader, writer, _ = await _raw_get(client, meta["download_url"], rcvbuf=4096)
    pacer = Pacer.of(asyncio.get_running_loop())
    await _into_the_files(reader)
    tries0, t0 = pacer.tries, time.monotonic()
    got = await _read_slowly(reader, rate=48 * 1024, seconds=3.0)
    assert pacer.tries > tries0
    # Paced at most every PACE_MIN, a try moving up to 32 KiB: 48 KiB/s fits easily.
    assert got >= 0.8 * 48 * 1024 * (time.monotonic() - t0), got
    assert app[STATE].fast_pool.grants == 0
    writer.transport.abort()
    await _wait_for(lambda: _no_one_waiting(pacer), 3.0)


async def _no_one_waiting(pacer: Pacer) -> bool:
    return pacer.waiting == 0


async def _into_the_files(reader: asyncio.StreamReader) -> int:
    """Read past the first lesson's documents (~150 KiB) slowly: then a material is paced."""
    pacer = Pacer.of(asyncio.get_running_loop())
    got = await _read_slowly(reader, rate=100 * 1024, seconds=2.0)
    for _ in range(20):  # between two files a document goes out through aiohttp
        if pacer.waiting == 1:
            return got
        got += await _read_slowly(reader, rate=100 * 1024, seconds=0.2)
    raise AssertionError(f"not in the paced lane after {got} bytes")


async def test_a_stalled_socket_is_tried_ever_more_rarely(aiohttp_client, app_factory):
    """A client that stops reading is tried at most about once per PACE_MAX, then cut."""
    app = app_factory(stall_timeout=6.0)
    client = await aiohttp_client(app)
    meta = await _create_mid(client)
    reader, writer, _ = await _raw_get(client, meta["download_url"], rcvbuf=4096)
    await _into_the_files(reader)
    pacer = Pacer.of(asyncio.get_running_loop())
    await asyncio.sleep(3.0)  # not reading: the interval doubles up to PACE_MAX
    tries = pacer.tries
    await asyncio.sleep(2.0)
    tried = pacer.tries - tries
    assert 1 <= tried <= 2.0 / PACE_MAX + 1, tried
    assert tried < 2.0 / PACE_MIN / 10  # far from the try-every-tick of a reading client
    writer.transport.abort()
    await _wait_for(lambda: _no_one_waiting(pacer), 3.0)


async def test_a_stalled_paced_download_is_cut_after_the_stall_timeout(
    aiohttp_client, app_factory, caplog
):
    caplog.set_level(logging.INFO)
    app = app_factory(stall_timeout=2.0)
    client = await aiohttp_client(app)
    meta = await _create_mid(client)
    reader, writer, _ = await _raw_get(client, meta["download_url"], rcvbuf=4096)
    await _into_the_files(reader)
    t0 = time.monotonic()
    took = await _wait_for(lambda: _done(caplog), 2.0 + PACE_MAX + 2.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "stalled", fields
    assert "no progress for 2 s" in fields["reason"], fields
    assert time.monotonic() - t0 >= 1.0 and took > 0
    assert Pacer.of(asyncio.get_running_loop()).waiting == 0
    assert app[STATE].admission.in_use == 0
    writer.close()


async def test_a_paced_client_that_speeds_up_is_granted_and_finishes_fast(
    aiohttp_client, app_factory, caplog
):
    caplog.set_level(logging.INFO)
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _create_mid(client)
    reader, writer, _ = await _raw_get(client, meta["download_url"], rcvbuf=4096)
    got = await _into_the_files(reader)
    pacer = Pacer.of(asyncio.get_running_loop())
    assert app[STATE].fast_pool.grants == 0
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # now a fast reader
    reader._limit = 1 << 20  # type: ignore[attr-defined]  # and a large read buffer
    t0 = time.monotonic()
    while got < meta["size"]:  # keep-alive: read the body's length, not to the end
        data = await asyncio.wait_for(reader.read(1 << 20), 10)
        assert data, got
        got += len(data)
    rate = (got - 64 * 1024) / (time.monotonic() - t0)
    await _wait_for(lambda: _done(caplog), 2.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "completed" and fields["grown"] == 1, fields
    assert fields["express"] > meta["size"] // 2, fields  # the rest went by the fast lane
    assert rate > 20e6, f"{rate / 1e6:.1f} MB/s"
    assert pacer.waiting == 0
    writer.close()
