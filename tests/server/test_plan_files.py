"""``/api/plans/{token}/files/{path}``: one entry of a plan, equal to that entry of the ZIP."""

from __future__ import annotations

import asyncio
import io
import zipfile
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from generators.request import PlanRequest
from server.state import STATE

from .conftest import PLAN


async def _plan(client: TestClient, plan: dict | None = None) -> tuple[str, zipfile.ZipFile, bytes]:
    resp = await client.post("/api/plans", json=plan or PLAN)
    assert resp.status == 201
    url = (await resp.json())["download_url"]
    body = await (await client.get(url)).read()
    return url.removesuffix(".zip"), zipfile.ZipFile(io.BytesIO(body)), body


async def _raw_status(client: TestClient, target: str) -> int:
    """GET ``target`` exactly as written: no client-side dot-segment normalisation."""
    import asyncio

    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readline()
    writer.close()
    return int(head.split()[1])


def _file_url(base: str, name: str) -> str:
    return f"{base}/files/{quote(name.split('/', 1)[1])}"


async def test_every_entry_one_by_one_equals_the_zip(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    base, zf, _ = await _plan(client)
    kinds = set()
    for info in zf.infolist():
        resp = await client.get(_file_url(base, info.filename))
        assert resp.status == 200, info.filename
        body = await resp.read()
        assert body == zf.read(info), info.filename
        assert int(resp.headers["Content-Length"]) == info.file_size
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["ETag"].startswith('"')
        ctype = resp.headers["Content-Type"]
        if info.filename.endswith(".svg"):
            assert ctype == "image/svg+xml"
        elif info.filename.endswith(".html"):
            assert ctype == "text/html; charset=utf-8"
        else:  # the centre's .bin materials, by extension
            assert ctype == "application/octet-stream"
        generated = info.filename.endswith((".svg", ".html"))
        csp = resp.headers.get("Content-Security-Policy", "")
        if generated:
            assert "default-src 'none'" in csp and "script-src" not in csp
        kinds.add(info.filename.rsplit(".", 1)[-1])
    assert kinds == {"svg", "html", "bin"}


async def test_ranges_and_validators(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    base, zf, _ = await _plan(client)
    for info in (zf.infolist()[2], zf.infolist()[-1]):  # a worksheet, a library file
        url = _file_url(base, info.filename)
        data = zf.read(info)
        resp = await client.get(url, headers={"Range": "bytes=100-1099"})
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
        assert await resp.read() == data[100:1100]
        resp = await client.get(url, headers={"Range": "bytes=-50"})
        assert await resp.read() == data[-50:]
        resp = await client.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert resp.status == 416
        etag = resp.headers["ETag"]
        resp = await client.get(url, headers={"If-None-Match": etag})
        assert resp.status == 304
        resp = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
        assert resp.status == 200 and await resp.read() == data
        resp = await client.head(url)
        assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(data)


async def test_traversal_and_unknown_paths_are_404(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    base, zf, _ = await _plan(client)
    first = zf.infolist()[2].filename.split("/", 1)[1]
    folder = first.rsplit("/", 1)[0]
    root = zf.infolist()[0].filename.split("/", 1)[0]
    attempts = [
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        f"{quote(folder)}/../index.html",
        f"{quote(folder)}/%2e%2e/index.html",
        f"./{quote(first)}",
        f"{quote(folder)}/./{quote(first.rsplit('/', 1)[1])}",
        f"{quote(folder)}//{quote(first.rsplit('/', 1)[1])}",
        quote(f"{root}/{first}"),  # with the top folder: not the contract
        quote(folder),  # a folder, not an entry
        quote(first) + "%00",
        quote(first.upper()),
        "%252e%252e/index.html",
        "..\\..\\index.html",
        "/etc/passwd",
    ]
    for path in attempts:
        assert await _raw_status(client, f"{base}/files/{path}") == 404, path
    resp = await client.get(f"{base}/files/nothing.svg")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    # The real entry still answers, and an unknown token is 404 too.
    assert (await client.get(f"{base}/files/{quote(first)}")).status == 200
    resp = await client.get(f"/api/plans/AAAA/files/{quote(first)}")
    assert resp.status == 404


async def test_only_that_entry_is_rendered(aiohttp_client, app_factory):
    """A fresh server renders one document for one sheet, not the plan's others."""
    app = app_factory()
    client = await aiohttp_client(app)
    resp = await client.post("/api/plans", json=dict(PLAN, name="单页"))
    base = (await resp.json())["download_url"].removesuffix(".zip")
    cache = app[STATE].render_cache
    before = cache.misses
    archive = app[STATE].archive_for(PlanRequest.from_mapping(dict(PLAN, name="单页")))
    sheet = archive.layout.name(2).split("/", 1)[1]
    resp = await client.get(f"{base}/files/{quote(sheet)}")
    assert resp.status == 200
    await resp.read()
    assert cache.misses - before == 1


async def test_a_stalled_reader_of_a_library_file_is_cut(aiohttp_client, tmp_path):
    """A client that stops reading a large material frees its slot after the stall timeout."""
    import os

    from generators.worksheets.base import DIMENSIONS
    from server.app import make_app
    from server.config import Config

    from .test_failures import _health, _raw_get, _wait_for

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1024) * (16 * 1024))  # 16 MiB: more than any socket buffers
    for dim in DIMENSIONS:
        for level in range(1, 6):
            shelf = tmp_path / "lib" / dim / str(level)
            shelf.mkdir(parents=True)
            os.link(big, shelf / "big.bin")  # one file on disk, forty shelf entries
    app = make_app(
        Config(
            secrets=("test-secret-0123456789",), library=str(tmp_path / "lib"), stall_timeout=1.0
        )
    )
    client = await aiohttp_client(app)
    base, zf, _ = await _plan(client, dict(PLAN, weeks=1, lessons_per_week=1))
    material = next(n for n in zf.namelist() if n.endswith("big.bin"))
    reader, writer, head = await _raw_get(client, _file_url(base, material), rcvbuf=4096)
    assert head.startswith(b"HTTP/1.1 200")
    assert (await _health(client))["in_use"] == 1  # the slot is held while it sends

    async def freed() -> bool:
        return (await _health(client))["in_use"] == 0

    waited = await _wait_for(freed, 6.0)
    assert waited >= 0.5  # not before the stall timeout had a chance to run
    got = 0
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):
            got += len(chunk)
    except (ConnectionError, TimeoutError):
        pass
    assert got < 16 * 1024 * 1024  # cut, not completed
    writer.transport.abort()
