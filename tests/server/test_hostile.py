"""Hostile connections: late heads and bodies are cut, connections capped, no address hogs slots.

These run the server the way ``python -m server`` does (``server.serve.start``),
on 127.0.0.1, because the head timeout and the connection cap live there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import ClientSession

from server.serve import Running, start

from .conftest import PLAN


@pytest.fixture
async def serve(app_factory) -> AsyncIterator[Callable[..., object]]:
    started: list[Running] = []

    async def run(**overrides: object) -> Running:
        running = await start(app_factory(**overrides), "127.0.0.1", 0)
        started.append(running)
        return running

    yield run
    for running in started:
        await running.runner.cleanup()


async def _closed_after(reader: asyncio.StreamReader, trickle=None, limit: float = 10.0) -> float:
    """Seconds until the server closes the connection (EOF or reset)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if trickle is not None:
            trickle()
        try:
            data = await asyncio.wait_for(reader.read(1024), 0.25)
        except TimeoutError:
            continue
        except ConnectionError:
            return time.monotonic() - t0
        if not data:
            return time.monotonic() - t0
    pytest.fail(f"connection still open after {limit} s")


async def test_partial_head_is_closed_at_the_header_timeout(serve):
    running = await serve(header_timeout=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

    def trickle() -> None:  # a slowloris: a byte now and then never resets the timer
        writer.write(b"X")

    took = await _closed_after(reader, trickle)
    assert 0.8 <= took <= 2.0, took
    writer.close()


async def test_partial_body_is_closed_at_the_body_timeout(serve):
    running = await serve(body_timeout=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(
        b"POST /api/plans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 500\r\n\r\n{"name": '
    )
    took = await _closed_after(reader)
    assert 0.8 <= took <= 2.5, took
    writer.close()


async def test_connections_past_the_cap_are_refused_at_once(serve, caplog):
    caplog.set_level(logging.INFO)
    running = await serve(max_connections=20)
    held = [await asyncio.open_connection("127.0.0.1", running.port) for _ in range(20)]
    await asyncio.sleep(0.1)
    extra = []
    for _ in range(30):
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        extra.append((reader, writer))
    for reader, _writer in extra:
        writer_closed = await _closed_after(reader, limit=2.0)
        assert writer_closed < 1.0
    assert running.guard.refused == 30
    for _, writer in held:
        writer.close()
    await asyncio.sleep(0.2)
    url = f"http://127.0.0.1:{running.port}/metrics"
    async with ClientSession() as session, session.get(url) as resp:  # capacity comes back
        assert resp.status == 200
        assert "planstream_connections_refused_total 30" in await resp.text()
    warnings = [r for r in caplog.records if "connection cap" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited, not one per refused connection
    assert not [r for r in caplog.records if r.exc_info]


async def test_one_address_cannot_hold_more_than_max_per_client(serve):
    running = await serve(max_per_client=10, stall_timeout=30.0)
    base = f"http://127.0.0.1:{running.port}"
    async with ClientSession() as session:
        async with session.post(f"{base}/api/plans", json=PLAN) as resp:
            url = base + (await resp.json())["download_url"]
        stalled = []
        for _ in range(10):  # read the headers, then stop reading
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(f"GET {url[len(base) :]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await reader.readuntil(b"\r\n\r\n")
            stalled.append(writer)
        async with session.get(url) as resp:
            assert resp.status == 503
            body = await resp.json()
            assert body["error"]["code"] == "too_many_per_client"
            assert int(resp.headers["Retry-After"]) >= 1
        for writer in stalled:
            writer.transport.abort()
        await asyncio.sleep(0.3)
        async with session.get(url) as resp:
            assert resp.status == 200
            assert len(await resp.read()) == int(resp.headers["Content-Length"])
