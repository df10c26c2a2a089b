"""Failure paths: clients that leave or stall, files that change, full slots, and no disk writes."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import random
import socket
import sys
import time
import zipfile
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from generators.archive import FileSource
from generators.request import PlanRequest
from server.state import STATE

from .conftest import PLAN


async def _create(client: TestClient) -> dict:
    resp = await client.post("/api/plans", json=PLAN)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _raw_get(client: TestClient, path: str, rcvbuf: int = 8192):
    """A bare socket client with a small receive buffer, so the server feels backpressure."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (client.server.host, client.server.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=rcvbuf)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    return reader, writer, head


async def _health(client: TestClient) -> dict:
    return await (await client.get("/healthz")).json()


async def _wait_for(predicate, timeout: float) -> float:
    """Poll until predicate() is true; return the seconds it took, or fail."""
    t0 = time.monotonic()
    while True:
        if await predicate():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def _outcomes(client: TestClient) -> dict[str, int]:
    text = await (await client.get("/metrics")).text()
    out = {}
    for line in text.splitlines():
        if line.startswith("planstream_downloads_total{"):
            name = line.split('"')[1]
            out[name] = int(line.rsplit(" ", 1)[1])
    return out


async def test_client_disconnect_frees_slot(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    meta = await _create(client)
    rng = random.Random(3)
    for _ in range(3):
        reader, writer, head = await _raw_get(client, meta["download_url"])
        assert head.startswith(b"HTTP/1.1 200")
        want = rng.randrange(1, 512 * 1024)
        got = 0
        while got < want:
            got += len(await reader.read(min(65536, want - got)))
        assert (await _health(client))["in_use"] == 1
        writer.transport.abort()  # leave mid-body
        took = await _wait_for(lambda: _idle(client), 1.0)
        assert took <= 1.0
    outcomes = await _outcomes(client)
    assert outcomes["aborted"] == 3
    assert outcomes["completed"] == 0


async def _idle(client: TestClient) -> bool:
    h = await _health(client)
    return h["in_use"] == 0 and h["queued"] == 0


async def test_stalled_client_is_cut(aiohttp_client, app_factory):
    stall = 1.0
    client = await aiohttp_client(app_factory(stall_timeout=stall))
    meta = await _create(client)
    reader, writer, head = await _raw_get(client, meta["download_url"], rcvbuf=4096)
    assert head.startswith(b"HTTP/1.1 200")
    size = meta["size"]
    await reader.read(1000)
    t_stop = time.monotonic()  # from here on the client reads nothing

    async def stalled() -> bool:
        return (await _outcomes(client)).get("stalled", 0) == 1

    await _wait_for(stalled, stall + 3)
    assert time.monotonic() - t_stop <= stall + 1.0
    assert await _idle(client)
    # The client sees a truncated body, never a clean end.
    received = 1000
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        while True:
            data = await reader.read(65536)
            if not data:
                raise asyncio.IncompleteReadError(b"", None)
            received += len(data)
    assert received < size
    writer.close()


async def test_library_file_truncated_mid_download(aiohttp_client, app_factory, caplog):
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _create(client)
    archive = app[STATE].archive_for(PlanRequest.from_mapping(PLAN))
    last_file = [e.source for e in archive.layout.entries if isinstance(e.source, FileSource)][-1]
    caplog.set_level(logging.INFO, logger="planstream.download")
    async with client.get(meta["download_url"]) as resp:
        assert resp.status == 200
        await resp.content.readexactly(64 * 1024)
        os.truncate(last_file.path, 10)
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    await _wait_for(lambda: _idle(client), 1.0)
    assert (await _outcomes(client))["failed"] == 1
    failed = [r for r in caplog.records if getattr(r, "fields", {}).get("outcome") == "failed"]
    assert failed and "source changed" in failed[0].fields["reason"]


async def test_full_slots_wait_then_503(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory(max_slots=1, queue_timeout=0.5))
    meta = await _create(client)
    reader, writer, _ = await _raw_get(client, meta["download_url"])
    await reader.read(1000)
    t0 = time.monotonic()
    resp = await client.get(meta["download_url"])
    waited = time.monotonic() - t0
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["code"] == "busy"
    assert 0.45 <= waited < 2.0
    assert (await _outcomes(client))["rejected"] == 1
    writer.transport.abort()


async def test_slot_freed_during_wait_is_taken(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory(max_slots=1, queue_timeout=5.0))
    meta = await _create(client)
    reader, writer, _ = await _raw_get(client, meta["download_url"])
    await reader.read(1000)
    waiting = asyncio.ensure_future(client.get(meta["download_url"]))
    await _wait_for(lambda: _queued(client), 2.0)
    writer.transport.abort()
    resp = await asyncio.wait_for(waiting, 5.0)
    assert resp.status == 200
    assert len(await resp.read()) == meta["size"]


async def _queued(client: TestClient) -> bool:
    return (await _health(client))["queued"] == 1


# -- nothing touches the disk -------------------------------------------------

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_WRITE_EVENTS = {
    "os.remove",
    "os.rename",
    "os.mkdir",
    "os.rmdir",
    "os.truncate",
    "os.symlink",
    "os.link",
    "os.chmod",
    "os.utime",
    "shutil.rmtree",
    "shutil.move",
    "shutil.copyfile",
    "tempfile.mkstemp",
    "tempfile.mkdtemp",
}
_recording: list[tuple[str, tuple]] | None = None
_hooked = False


def _audit(event: str, args: tuple) -> None:
    if _recording is None:
        return
    if event == "open":
        _path, mode, flags = ((*tuple(args), None, None, 0))[:3]
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        ):
            _recording.append((event, args))
    elif event in _WRITE_EVENTS:
        _recording.append((event, args))


async def test_no_file_written_while_serving(aiohttp_client, app_factory):
    global _recording, _hooked
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    client = await aiohttp_client(app_factory())
    # The hook works: a write here is seen (then the list is reset).
    _recording = []
    try:
        with open(os.devnull, "w") as f:
            f.write("x")
        assert _recording, "audit hook did not see a write"
        _recording = []
        plans = [dict(PLAN, name=f"学生{i}", weeks=1 + i % 2) for i in range(4)]
        for plan in plans:
            meta = await (await client.post("/api/plans", json=plan)).json()
            for headers in ({}, {"Range": "bytes=100-5000"}):
                resp = await client.get(meta["download_url"], headers=headers)
                assert resp.status in (200, 206)
                await resp.read()
            # The single-file route: a generated sheet, the overview and a library
            # file, whole and ranged (issue 11).
            with zipfile.ZipFile(
                io.BytesIO(await (await client.get(meta["download_url"])).read())
            ) as zf:
                names = [i.filename.split("/", 1)[1] for i in zf.infolist()]
            base = meta["download_url"].removesuffix(".zip")
            # The teacher page around it: form, submission, plan page, assets.
            html = {"Accept": "text/html"}
            form = {k: str(v) for k, v in plan.items() if k != "scores"}
            form.update({f"scores.{k}": str(v) for k, v in plan["scores"].items()})
            page = await client.post("/plans", data=form, headers=html)
            assert page.status == 200 and "/plans/" in str(page.url)
            await page.read()
            for url in ("/", "/?lang=en", "/static/page.css", "/static/page.js"):
                assert (await client.get(url, headers=html)).status == 200
            for name in (names[0], names[2], names[-1]):
                for headers in ({}, {"Range": "bytes=10-500"}):
                    resp = await client.get(f"{base}/files/{quote(name)}", headers=headers)
                    assert resp.status in (200, 206), name
                    await resp.read()
        seen = list(_recording)
    finally:
        _recording = None
    assert seen == []


async def _read_slowly(reader: asyncio.StreamReader, rate: int, seconds: float) -> int:
    """Read at about ``rate`` bytes/s for ``seconds``; return what arrived."""
    got, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        data = await asyncio.wait_for(reader.read(4096), 5)
        if not data:
            break
        got += len(data)
        ahead = got / rate - (time.monotonic() - t0)
        if ahead > 0:
            await asyncio.sleep(ahead)
    return got


async def test_slow_reader_is_not_taken_for_stalled(aiohttp_client, app_factory):
    """A client reading steadily, slower than 1 MiB per stall_timeout, keeps its download.

    (Sendfile calls of a fixed 1 MiB each bounded by the stall timeout cut it.)
    """
    client = await aiohttp_client(app_factory(stall_timeout=2.0))
    meta = await _create(client)
    reader, writer, head = await _raw_get(client, meta["download_url"], rcvbuf=4096)
    assert head.startswith(b"HTTP/1.1 200")
    got = await _read_slowly(reader, rate=48 * 1024, seconds=4.0)
    assert got > 100 * 1024  # the slow reader made progress through material files
    outcomes = await _outcomes(client)
    assert outcomes.get("stalled", 0) == 0 and outcomes.get("failed", 0) == 0
    assert (await _health(client))["in_use"] == 1  # still downloading
    writer.transport.abort()


async def test_below_min_rate_is_cut(aiohttp_client, app_factory):
    """--min-rate: a client that trickles is cut after one rate window, as stalled."""
    app = app_factory(stall_timeout=5.0, min_rate=200 * 1024, rate_window=1.0)
    client = await aiohttp_client(app)
    meta = await _create(client)
    reader, writer, _ = await _raw_get(client, meta["download_url"], rcvbuf=4096)
    t0 = time.monotonic()

    async def stalled() -> bool:
        return (await _outcomes(client)).get("stalled", 0) == 1

    reading = asyncio.ensure_future(_read_slowly(reader, rate=16 * 1024, seconds=6.0))
    await _wait_for(stalled, 5.0)
    assert time.monotonic() - t0 < 4.0  # well before the 5 s stall timeout
    reading.cancel()
    writer.transport.abort()


async def test_disconnect_logs_one_outcome_and_no_error(aiohttp_client, app_factory, caplog):
    """A client that leaves is an ordinary event: one 'aborted' line, no traceback, no 500."""
    caplog.set_level(logging.INFO)
    client = await aiohttp_client(app_factory())
    meta = await _create(client)
    for _ in range(3):
        reader, writer, _ = await _raw_get(client, meta["download_url"])
        await reader.read(300 * 1024)
        writer.transport.abort()
        await _wait_for(lambda: _idle(client), 1.0)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    aborted = [r for r in caplog.records if getattr(r, "fields", {}).get("outcome") == "aborted"]
    assert len(aborted) == 3
