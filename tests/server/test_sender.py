"""The sender process (server.sender): a fast replay copied off the serving loop."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import random
import signal
import zipfile

import aiohttp
import pytest

from generators.archive import FileSource
from generators.request import PlanRequest
from server import sender as sender_mod
from server.admission import SENDER_BASE
from server.sender import SENDER, Sender
from server.state import STATE

from .conftest import PLAN
from .test_express import _clear_when_idle, _count, _create, _download, _fds, _grow_then
from .test_failures import _wait_for
from .test_sendbuf import _outcome_fields


@pytest.fixture(autouse=True)
def _sender_on(monkeypatch):
    """The sender is opt-in (``PLANSTREAM_SENDER=process``); these tests are about it."""
    monkeypatch.setenv("PLANSTREAM_SENDER", "process")


async def _sender_ready(app) -> None:
    sender = app[SENDER]
    assert sender is not None
    await _wait_for(lambda: _true(sender.free()), 5.0)


async def _true(v: bool) -> bool:
    return v


async def test_a_fast_replay_goes_through_the_sender_and_equals_the_ordinary_path(
    aiohttp_client, app_factory, caplog
):
    caplog.set_level(logging.INFO)
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _create(client)
    await _download(client, meta["download_url"])  # cold: recorded
    await _download(client, meta["download_url"])  # starts the sender
    await _sender_ready(app)
    await _clear_when_idle(client, caplog)
    fast = await _download(client, meta["download_url"])
    app[STATE].limits.use_sendfile = False
    plain = await _download(client, meta["download_url"])
    assert hashlib.sha256(fast).digest() == hashlib.sha256(plain).digest()
    assert zipfile.ZipFile(io.BytesIO(fast)).testzip() is None
    await _wait_for(lambda: _count(caplog, 2), 2.0)
    sent, ordinary = _outcome_fields(caplog)
    assert sent["outcome"] == "completed"
    assert sent["sender"] > meta["size"] * 0.8, sent
    assert ordinary["sender"] == 0


async def _warm(client, app, **plan):
    """A plan recorded, the sender started and ready (the first replay starts it)."""
    meta = await _create(client, **plan)
    assert len(await _download(client, meta["download_url"])) == meta["size"]
    await _download(client, meta["download_url"])
    await _sender_ready(app)
    return meta


async def test_range_windows_through_the_sender_are_the_archives_bytes(
    aiohttp_client, app_factory, caplog
):
    caplog.set_level(logging.INFO)
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _warm(client, app, weeks=12, lessons_per_week=3)
    url, size = meta["download_url"], meta["size"]
    app[STATE].limits.use_sendfile = False
    whole = await _download(client, url)  # the ordinary path's bytes
    app[STATE].limits.use_sendfile = True
    await _clear_when_idle(client, caplog)
    rng = random.Random(7)
    windows = [(0, size - 1), (size // 3, size - 1)]
    windows += [
        (a, min(size - 1, a + rng.randrange(4 << 20, 12 << 20)))
        for a in (rng.randrange(size // 2) for _ in range(4))
    ]
    for a, b in windows:
        await _sender_ready(app)
        resp = await client.get(url, headers={"Range": f"bytes={a}-{b}"})
        assert resp.status == 206
        assert await resp.read() == whole[a : b + 1], (a, b)
    await _wait_for(lambda: _count(caplog, len(windows)), 2.0)
    fields = _outcome_fields(caplog)
    assert all(f["outcome"] == "completed" for f in fields), fields
    assert sum(f["sender"] for f in fields) > 0.5 * sum(b + 1 - a for a, b in windows), fields


async def test_a_client_that_stops_reading_is_handed_back_and_cut(
    aiohttp_client, app_factory, caplog
):
    caplog.set_level(logging.INFO)
    app = app_factory(stall_timeout=1.0)
    client = await aiohttp_client(app)
    meta = await _warm(client, app, weeks=12, lessons_per_week=3)
    await _clear_when_idle(client, caplog)
    before = _fds()
    writer = await _grow_then(client, meta["download_url"])
    await _wait_for(lambda: _count(caplog, 1), 10.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "stalled", fields
    assert fields["sender"] > 0 and fields["handbacks"] >= 1, fields
    assert fields["bytes"] < meta["size"]
    writer.transport.abort()
    await asyncio.sleep(0.1)
    assert _fds() <= before
    assert app[STATE].fast_pool.grants == 0 and app[SENDER]._pending == {}


async def test_a_client_that_leaves_the_sender_is_aborted(aiohttp_client, app_factory, caplog):
    caplog.set_level(logging.INFO)
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _warm(client, app, weeks=12, lessons_per_week=3)
    await _clear_when_idle(client, caplog)
    before = _fds()
    writer = await _grow_then(client, meta["download_url"])
    writer.transport.abort()
    await _wait_for(lambda: _count(caplog, 1), 5.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "aborted" and fields["sender"] > 0, str(fields)
    await _wait_for(lambda: _true(not app[SENDER]._pending), 2.0)
    await asyncio.sleep(0.1)
    assert _fds() <= before
    assert app[STATE].fast_pool.grants == 0


async def test_a_material_changed_after_recording_fails_in_the_sender(
    aiohttp_client, app_factory, caplog
):
    caplog.set_level(logging.INFO)
    app = app_factory(library_scan=0)  # only the download's own checks see the change
    client = await aiohttp_client(app)
    meta = await _warm(client, app, weeks=12, lessons_per_week=3)
    layout = (
        app[STATE]
        .archive_for(PlanRequest.from_mapping(dict(PLAN, weeks=12, lessons_per_week=3)))
        .layout
    )
    first: dict[str, int] = {}
    for i, e in enumerate(layout.entries):
        if isinstance(e.source, FileSource):
            first.setdefault(e.source.path, layout.local_header_offset(i))
    path, header_at = next((p, at) for p, at in first.items() if at > 6 << 20)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    await _clear_when_idle(client, caplog)
    received = 0
    async with client.get(meta["download_url"]) as resp:
        with pytest.raises(aiohttp.ClientPayloadError):
            async for block in resp.content.iter_any():
                received += len(block)
    assert received <= header_at < meta["size"]
    await _wait_for(lambda: _count(caplog, 1), 2.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "failed" and "source changed" in fields["reason"], fields
    assert fields["sender"] > 0, fields


async def test_a_sender_killed_mid_download_fails_that_download_only(
    aiohttp_client, app_factory, caplog, monkeypatch
):
    monkeypatch.setattr(sender_mod, "RESTART_AFTER", 0.0)
    caplog.set_level(logging.INFO)
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _warm(client, app, weeks=12, lessons_per_week=3)
    sender = app[SENDER]
    pid = sender.pid
    await _clear_when_idle(client, caplog)
    writer = await _grow_then(client, meta["download_url"])
    os.kill(pid, signal.SIGKILL)
    await _wait_for(lambda: _count(caplog, 1), 5.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "failed" and "sender" in fields["reason"], fields
    writer.transport.abort()
    assert sender.failures == 1
    # The next downloads are whole; the sender is started again and takes them.
    assert len(await _download(client, meta["download_url"])) == meta["size"]
    await _sender_ready(app)
    assert sender.pid != pid
    await _clear_when_idle(client, caplog)
    again = await _download(client, meta["download_url"])
    assert zipfile.ZipFile(io.BytesIO(again)).testzip() is None
    await _wait_for(lambda: _count(caplog, 1), 2.0)
    (fields,) = _outcome_fields(caplog)
    assert fields["outcome"] == "completed" and fields["sender"] > 0, fields


async def test_the_sender_exits_with_the_app(aiohttp_client, app_factory):
    app = app_factory()
    client = await aiohttp_client(app)
    await _warm(client, app)
    proc = app[SENDER].proc
    assert proc is not None and proc.poll() is None
    await client.close()
    assert proc.poll() is not None


def test_the_sender_setting(monkeypatch, app_factory):
    monkeypatch.delenv("PLANSTREAM_SENDER")
    assert app_factory()[SENDER] is None  # off unless asked for
    monkeypatch.setenv("PLANSTREAM_SENDER", "off")
    assert app_factory()[SENDER] is None
    monkeypatch.setenv("PLANSTREAM_SENDER", "process")
    assert isinstance(app_factory()[SENDER], Sender)
    monkeypatch.setenv("PLANSTREAM_SENDER", "thread")
    with pytest.raises(ValueError, match="PLANSTREAM_SENDER"):
        app_factory()


def test_a_small_budget_has_no_sender_and_a_large_one_counts_it(app_factory, monkeypatch):
    small = app_factory(memory_budget=256 << 20)
    assert small[SENDER] is None and not small[STATE].sender
    large = app_factory(memory_budget=2 << 30)
    assert large[STATE].sender
    sender = large[SENDER]
    assert sender is not None and sender.runs_bytes == large[STATE].runs.max_bytes
    # Its reserve: the process and a copy of the replay runs, on top of the same
    # budget without it.
    monkeypatch.setenv("PLANSTREAM_SENDER", "off")
    without = app_factory(memory_budget=2 << 30)
    extra = large[STATE].slot_plan.reserve - without[STATE].slot_plan.reserve
    assert extra == SENDER_BASE + sender.runs_bytes


async def test_a_client_that_reads_a_senders_job_and_closes_is_completed(
    aiohttp_client, app_factory, caplog, monkeypatch
):
    """Every byte the sender sent was acknowledged, then the client reset: ``completed``.

    The handler finishes after the child's answer and ``write_eof`` (slowed
    here to open the window every time); a client that has read everything
    and closed by then cancelled it, and it was logged ``aborted`` with
    ``sender=`` the whole size. The download now keeps a duplicate of the
    socket, as the lane does, and reads the client's acknowledgments.
    """
    from aiohttp import web

    from .test_failures import _raw_get
    from .test_outcomes import _reset, _sum_is

    caplog.set_level(logging.INFO)
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _warm(client, app)
    slow_eof = web.StreamResponse.write_eof

    async def write_eof(self, data: bytes = b"") -> None:
        await asyncio.sleep(0.3)
        await slow_eof(self, data)

    monkeypatch.setattr(web.StreamResponse, "write_eof", write_eof)
    await _clear_when_idle(client, caplog)
    reader, writer, _ = await _raw_get(client, meta["download_url"], rcvbuf=1 << 20)
    got = 0
    while got < meta["size"]:
        chunk = await asyncio.wait_for(reader.read(1 << 20), 10)
        assert chunk
        got += len(chunk)
    await asyncio.sleep(0.05)  # the client's ACKs are out; the handler still sleeps
    _reset(writer)
    await _wait_for(lambda: _sum_is(client, 3), 3.0)  # the two of _warm and this one
    (fields,) = _outcome_fields(caplog)
    assert fields["sender"] > meta["size"] * 0.5, fields  # the sender's job
    assert fields["outcome"] == "completed", fields
