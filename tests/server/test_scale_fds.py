"""Descriptors: 10,000 downloads fit 16,384 descriptors; material files are shared, bounded."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import pytest

from generators.archive import FileSlice, FileSource, SourceChanged
from server.admission import (
    FD_POOL,
    FD_RESERVE,
    FDS_PER_DOWNLOAD,
    CostModel,
    plan_budget,
    reserve_for,
)
from server.handles import FILE_POOL, FilePool
from server.state import STATE

from .conftest import PLAN

GiB = 1 << 30


def test_ten_thousand_slots_fit_16384_descriptors_and_the_binding_limit_is_named():
    reserve = reserve_for(64 << 20, 200, 2)
    plan = plan_budget(2 * GiB, reserve, 16_384)
    assert plan.slots >= 10_000, plan
    # Every slot's descriptors (1.2 on average), the shared file pool, the reserve
    # and one duplicate per grown (fast) download (server.express) fit.
    grown = plan.fast_pool // CostModel().fast_extra
    assert 16 <= grown <= 32, grown
    assert plan.slots * FDS_PER_DOWNLOAD + FD_POOL + FD_RESERVE + grown <= 16_384
    assert plan.binding == "descriptors" and plan.by_fds < plan.by_memory
    roomy = plan_budget(2 * GiB, reserve, 1 << 20)
    assert roomy.binding == "memory" and roomy.slots == roomy.by_memory > plan.slots
    tight = plan_budget(2 * GiB, reserve, 4096)
    assert tight.binding == "descriptors" and tight.slots == int((4096 - 576 - grown) / 1.2)
    capped = plan_budget(2 * GiB, reserve, 16_384, cap=100)
    assert capped.binding == "cap" and capped.slots == 100


def _slice(path: Path) -> FileSlice:
    st = path.stat()
    return FileSlice(str(path), 0, st.st_size, st.st_size, st.st_mtime_ns)


def _fds_under(folder: Path) -> int:
    """Descriptors of this process open on files under ``folder``."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(folder)):
                n += 1
        except OSError:
            pass
    return n


async def test_pool_shares_one_descriptor_per_file_and_never_exceeds_its_bound(tmp_path: Path):
    files = []
    for k in range(3):
        p = tmp_path / f"m{k}.bin"
        p.write_bytes(bytes([k]) * 1000)
        files.append(p)
    pool = FilePool(max_open=2)
    a1 = pool.open(_slice(files[0]))
    a2 = pool.open(_slice(files[0]))
    f1, f2 = await a1.__aenter__(), await a2.__aenter__()
    assert f1 is f2 and pool.open_now == 1 and _fds_under(tmp_path) == 1  # shared
    b = pool.open(_slice(files[1]))
    await b.__aenter__()
    assert pool.open_now == 2
    c = pool.open(_slice(files[2]))
    third = asyncio.ensure_future(c.__aenter__())
    await asyncio.sleep(0.05)
    assert not third.done() and pool.open_now == 2  # waits: both descriptors are busy
    await b.__aexit__(None, None, None)
    f3 = await asyncio.wait_for(third, 1)
    assert f3.read(3) == b"\x02\x02\x02"
    assert pool.open_now == 2 and pool.peak == 2 and _fds_under(tmp_path) == 2
    for cm in (a1, a2, c):
        await cm.__aexit__(None, None, None)
    assert pool.open_now <= 2
    pool.close()
    assert pool.open_now == 0 and _fds_under(tmp_path) == 0


async def test_pool_never_sends_a_replaced_or_changed_file(tmp_path: Path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"a" * 1000)
    old = _slice(path)
    pool = FilePool(max_open=4)
    async with pool.open(old) as f:
        assert f.read(1) == b"a"
    # Replaced by rename with the same size and mtime: another inode, so not reused.
    new = tmp_path / "new.bin"
    new.write_bytes(b"b" * 1000)
    os.utime(new, ns=(old.expect_mtime_ns, old.expect_mtime_ns))
    os.replace(new, path)
    async with pool.open(old) as f:
        assert f.read(1) == b"b"
    assert pool.opened == 2
    path.write_bytes(b"c" * 10)  # other size: refused
    with pytest.raises(SourceChanged):
        async with pool.open(old):
            pass


async def test_downloads_inside_one_material_share_its_descriptor(
    aiohttp_client, app_factory, library_dir: Path
):
    """30 slow downloads all sending the same material hold one descriptor for it, not 30."""
    app = app_factory(max_per_client=64, stall_timeout=60.0)
    client = await aiohttp_client(app)
    resp = await client.post("/api/plans", json=PLAN)
    meta = await resp.json()
    archive = await app[STATE].archive_for_request(_req(PLAN))
    layout = archive.layout
    entries = layout.entries
    # A material with megabytes after it, so no client can have read to the end.
    _, body_at = next(
        (k, at)
        for k in range(len(layout))
        if isinstance(entries[k].source, FileSource)
        and layout.total_size - (at := layout.local_header_offset(k + 1) - entries[k].source.size)
        > 4 << 20
    )
    conns = []
    for _ in range(30):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(
            sock, (client.server.host, client.server.port)
        )
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        req = f"GET {meta['download_url']} HTTP/1.1\r\nHost: x\r\nRange: bytes={body_at}-\r\n\r\n"
        writer.write(req.encode())
        conns.append((reader, writer))
    for reader, _ in conns:
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 206")
        await reader.readexactly(1024)  # the material's body is flowing, then the client stalls
    await asyncio.sleep(0.2)
    pool = app[FILE_POOL]
    assert app[STATE].admission.in_use == 30
    assert _fds_under(library_dir) == 1 and pool.open_now == 1 and pool.opened == 1
    for _, writer in conns:
        writer.transport.abort()


def _req(plan: dict):
    from generators.request import PlanRequest

    return PlanRequest.from_mapping(plan)
