"""S3-backed downloads over real HTTP: same entries as a folder library, ranges, changes.

The server runs in-process on 127.0.0.1 (pytest-aiohttp) with
``--library s3://...`` pointing at moto; the folder library holds the same
bytes, so the two archives must list the same names, sizes and CRC-32s.
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from generators.archive import ObjectSource
from generators.request import PlanRequest
from server.app import make_app
from server.config import Config
from server.state import STATE
from tests.archive.conftest import JavaCheck, java_check  # noqa: F401 (fixture)
from tests.archive.support import UTF8_ENV, require_tool, run_tool

from .conftest import fill, new_bucket, s3, upload
from .moto_s3 import MotoS3

PLAN = {
    "name": "张三",
    "mode": "assessment",
    "age": 8,
    "weeks": 2,
    "lessons_per_week": 2,
    "exercises_per_lesson": 4,
    "scores": {"span": 40, "sustained": 55, "selective": 70},
    "start_date": "2026-09-07",
}


def _config(library: str, endpoint: str | None = None, **extra: object) -> Config:
    settings: dict[str, object] = {
        "secrets": ("test-secret-0123456789",),
        "library": library,
        "s3_endpoint": endpoint,
        "stall_timeout": 5.0,
        "queue_timeout": 1.0,
    }
    settings.update(extra)
    return Config(**settings)  # type: ignore[arg-type]


Bucket = tuple[str, Path, dict[str, str]]  # name, the same files in a folder, key -> kind
App = Callable[..., web.Application]


def _bucket(moto: MotoS3, folder: Path) -> Bucket:
    bucket = new_bucket(moto)
    kinds = fill(moto, bucket, "lib/", folder, size=192 * 1024)
    return bucket, folder, kinds


@pytest.fixture(scope="module")
def shared_bucket(moto: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> Bucket:
    """One bucket for the tests that only read it (filling one takes seconds)."""
    return _bucket(moto, tmp_path_factory.mktemp("shared") / "library")


@pytest.fixture
def bucket_and_folder(moto: MotoS3, tmp_path: Path) -> Bucket:
    """A bucket of the test's own, for tests that replace objects."""
    return _bucket(moto, tmp_path / "library")


def _app_factory(moto: MotoS3, bucket: str) -> Callable[..., web.Application]:
    def make(**extra: object) -> web.Application:
        return make_app(_config(f"s3://{bucket}/lib", moto.endpoint, **extra))

    return make


@pytest.fixture
def shared_app(moto: MotoS3, shared_bucket: Bucket) -> App:
    return _app_factory(moto, shared_bucket[0])


@pytest.fixture
def s3_app(moto: MotoS3, bucket_and_folder: Bucket) -> App:
    return _app_factory(moto, bucket_and_folder[0])


async def _download(client: TestClient) -> tuple[dict, bytes, dict[str, str]]:
    resp = await client.post("/api/plans", json=PLAN)
    assert resp.status == 201, await resp.text()
    meta = await resp.json()
    got = await client.get(meta["download_url"])
    assert got.status == 200
    body = await got.read()
    assert len(body) == int(got.headers["Content-Length"]) == meta["size"]
    return meta, body, dict(got.headers)


def _listing(body: bytes) -> list[tuple[str, int, int]]:
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        return [(i.filename, i.file_size, i.CRC) for i in zf.infolist()]


async def test_s3_plan_equals_folder_plan_and_passes_independent_readers(
    aiohttp_client,
    shared_app,
    shared_bucket,
    tmp_path: Path,
    java_check: JavaCheck,  # noqa: F811
) -> None:
    folder = shared_bucket[1]
    s3_client = await aiohttp_client(shared_app())
    folder_client = await aiohttp_client(make_app(_config(str(folder))))
    _, from_s3, _ = await _download(s3_client)
    _, from_folder, _ = await _download(folder_client)
    listing = _listing(from_s3)
    assert listing == _listing(from_folder)
    materials = [name for name, _, _ in listing if "/材料/" in name]
    assert len(materials) >= 8
    # The library really was the bucket: every material came from an object.
    lib = s3_client.server.app[STATE].library
    assert lib is not None and all(isinstance(m.source, ObjectSource) for m in lib)
    with zipfile.ZipFile(io.BytesIO(from_s3)) as a, zipfile.ZipFile(io.BytesIO(from_folder)) as b:
        for name in materials:
            assert a.read(name) == b.read(name), name

    path = tmp_path / "s3.zip"
    path.write_bytes(from_s3)
    unzip = require_tool("unzip")
    assert "No errors detected" in run_tool([unzip, "-t", str(path)]).stdout
    sevenzip = require_tool("7zz")
    assert "Everything is Ok" in run_tool([sevenzip, "t", str(path)]).stdout
    bsdtar = require_tool("bsdtar")
    assert len(run_tool([bsdtar, "-tf", str(path)]).stdout.splitlines()) == len(listing)
    java = run_tool(java_check.command("file", str(path))).stdout.splitlines()
    rows = [line.split("\t") for line in java[:-1]]
    assert [(n, int(s), int(c, 16)) for n, s, c in rows] == listing
    streamed = subprocess.run(
        java_check.command("stream"), input=from_s3, capture_output=True, env=UTF8_ENV
    )
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.decode().splitlines()[-1] == f"entries {len(listing)}"


async def test_ten_random_ranges_equal_slices_of_the_whole(
    aiohttp_client, shared_app, moto: MotoS3, shared_bucket
) -> None:
    client = await aiohttp_client(shared_app())
    meta, whole, _ = await _download(client)
    rng = random.Random(14)
    bucket = shared_bucket[0]
    mark = len(moto.seen(bucket))
    for _ in range(10):
        start = rng.randrange(0, len(whole) - 1)
        end = rng.randrange(start + 1, min(len(whole), start + 3_000_000) + 1)
        resp = await client.get(
            meta["download_url"],
            headers={"Range": f"bytes={start}-{end - 1}", "If-Range": meta["etag"]},
        )
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(whole)}"
        assert await resp.read() == whole[start:end]
    # Bodies came by ranged GETs conditioned on the indexed ETag, never whole.
    gets = [r for r in moto.seen(bucket)[mark:] if r.method == "GET" and not r.query]
    assert gets and all(r.range and r.if_match for r in gets)


async def test_second_start_reads_no_object_body(
    aiohttp_client, shared_app, moto: MotoS3, shared_bucket
) -> None:
    bucket, _, kinds = shared_bucket
    first = await aiohttp_client(shared_app())
    meta1, body1, _ = await _download(first)
    assert moto.full_gets(bucket, kinds)  # the first start computed CRCs by reading
    mark = len(moto.seen(bucket))
    second = await aiohttp_client(shared_app())
    start_up = moto.seen(bucket)[mark:]
    assert [r.method for r in start_up] == ["GET", "GET"]  # the listing, the index object
    meta2, body2, _ = await _download(second)
    assert meta2["etag"] == meta1["etag"] and body2 == body1
    after = moto.seen(bucket)[mark:]
    bodies = [r for r in after if r.method == "GET" and r.path.endswith(".bin")]
    assert bodies and all(r.range for r in bodies)  # the download's ranged reads only
    assert not [r for r in after if r.method == "HEAD"]


def _material_entries(client: TestClient, plan_etag: str) -> list[tuple[int, ObjectSource]]:
    """(local header offset, source) of each material of the plan, in archive order."""
    archive = client.server.app[STATE].archive_for(PlanRequest.from_mapping(PLAN))
    assert archive.etag == plan_etag
    layout = archive.layout
    found = []
    for i in range(len(layout)):
        source = layout.source(i)
        if isinstance(source, ObjectSource):
            found.append((layout.local_header_offset(i), source))
    return found


async def test_object_replaced_during_a_download_cuts_it_and_the_next_plan_differs(
    aiohttp_client, s3_app, moto: MotoS3, bucket_and_folder, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = bucket_and_folder[0]
    client = await aiohttp_client(s3_app())
    resp = await client.post("/api/plans", json=PLAN)
    meta = await resp.json()
    head = await client.head(meta["download_url"])
    entries = _material_entries(client, head.headers["ETag"])
    offset, target = entries[-1]  # the last material: far behind what the socket buffers hold
    assert offset > 2 << 20
    caplog.set_level(logging.INFO)
    got = await client.get(meta["download_url"])
    first = await got.content.readexactly(1024)
    await asyncio.sleep(0.3)  # the server is now blocked on a full socket, well before target
    upload(s3(moto), bucket, target.key, b"a new version " * 10_000, "plain")
    with pytest.raises(aiohttp.ClientPayloadError):
        rest = await got.content.read()
        pytest.fail(f"clean end after {1024 + len(rest)} of {meta['size']} bytes")
    assert first.startswith(b"PK\x03\x04")
    cut = [r for r in caplog.records if "cutting the download" in r.getMessage()]
    assert cut and target.key in cut[0].getMessage()
    assert "changed since it was indexed" in cut[0].getMessage()
    # The object is indexed again in the background; the plan's ETag follows it.
    for _ in range(100):
        again = await client.head(meta["download_url"])
        if again.headers["ETag"] != meta["etag"]:
            break
        await asyncio.sleep(0.1)
    assert again.headers["ETag"] != meta["etag"]
    _, body, _ = await _download(client)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        assert b"a new version " * 10_000 in [zf.read(i) for i in zf.infolist()]


async def test_object_replaced_between_starts_changes_the_plan_etag(
    aiohttp_client, s3_app, moto: MotoS3, bucket_and_folder
) -> None:
    bucket = bucket_and_folder[0]
    first = await aiohttp_client(s3_app())
    meta1, _, _ = await _download(first)
    _, target = _material_entries(first, meta1["etag"])[0]
    upload(s3(moto), bucket, target.key, b"changed " * 3000, "crc32")
    second = await aiohttp_client(s3_app())
    meta2, body2, _ = await _download(second)
    assert meta2["etag"] != meta1["etag"]
    with zipfile.ZipFile(io.BytesIO(body2)) as zf:
        assert zf.testzip() is None
    # A resume that names the old ETag gets the whole new archive, not a mix.
    resp = await second.get(
        meta1["download_url"], headers={"Range": "bytes=100-", "If-Range": meta1["etag"]}
    )
    assert resp.status == 200 and await resp.read() == body2


async def test_transient_errors_before_the_first_byte_are_retried(
    aiohttp_client, shared_app, moto: MotoS3, shared_bucket
) -> None:
    """A store that refuses connections for a moment: the GET is retried, the download whole."""
    client = await aiohttp_client(shared_app())
    state = client.server.app[STATE]
    reader = state.objects
    real = reader.client.get_object
    failures = {"left": 2}

    async def flaky(**kw: object) -> object:
        if failures["left"]:
            failures["left"] -= 1
            raise aiohttp.ClientConnectionError("connection refused (test)")
        return await real(**kw)

    reader.client.get_object = flaky
    _, body, _ = await _download(client)
    assert failures["left"] == 0 and reader.retries == 2
    assert zipfile.ZipFile(io.BytesIO(body)).testzip() is None


def test_admission_counts_the_object_stream(moto: MotoS3, shared_bucket) -> None:
    bucket, folder, _ = shared_bucket
    s3_state = make_app(_config(f"s3://{bucket}/lib", moto.endpoint))[STATE]
    folder_state = make_app(_config(str(folder)))[STATE]
    from server.objects import STREAM_COST

    assert s3_state.cost_model.base == folder_state.cost_model.base + STREAM_COST
    assert s3_state.objects.pool == s3_state.slot_plan.slots
    # Each S3 download holds a pooled store connection too: fewer slots per descriptor.
    nofile = s3_state.slot_plan.nofile
    assert s3_state.slot_plan.by_fds == int(s3_state.slot_plan.connections / 2.2)
    assert folder_state.slot_plan.by_fds == int(folder_state.slot_plan.connections / 1.2)
    assert nofile == folder_state.slot_plan.nofile
    assert re.fullmatch(r"s3://.+/lib/", s3_state.library.root)


async def test_a_failure_mid_object_cuts_the_download_without_retrying(
    aiohttp_client, shared_app, caplog: pytest.LogCaptureFixture
) -> None:
    """The store drops the connection after an object's first chunk: truncation, not a retry."""
    client = await aiohttp_client(shared_app())
    reader = client.server.app[STATE].objects
    real = reader.client.get_object
    broken: list[str] = []

    class Breaks:
        def __init__(self, body: object, key: str) -> None:
            self.body, self.key, self.reads = body, key, 0

        async def read(self, n: int) -> bytes:
            self.reads += 1
            if self.reads == 2:
                broken.append(self.key)
                raise aiohttp.ClientPayloadError("connection reset by the store (test)")
            return await self.body.read(n)  # type: ignore[attr-defined]

        def close(self) -> None:
            self.body.close()  # type: ignore[attr-defined]

    async def flaky(**kw: object) -> dict:
        resp = await real(**kw)
        if not broken and int(resp["ContentLength"]) > 64 * 1024:
            resp["Body"] = Breaks(resp["Body"], str(kw["Key"]))
        return resp

    reader.client.get_object = flaky
    retries = reader.retries
    resp = await client.post("/api/plans", json=PLAN)
    meta = await resp.json()
    caplog.set_level(logging.WARNING)
    got = await client.get(meta["download_url"])
    with pytest.raises(aiohttp.ClientPayloadError):
        await got.read()
    assert broken and reader.retries == retries
    cut = [r.getMessage() for r in caplog.records if "cutting the download" in r.getMessage()]
    assert cut and broken[0] in cut[0] and "read failed" in cut[0]


async def test_a_store_that_stops_sending_is_cut_at_the_stall_timeout(
    aiohttp_client, shared_app, caplog: pytest.LogCaptureFixture
) -> None:
    """An object body that stops arriving is bounded like a client that stops reading."""
    client = await aiohttp_client(shared_app(stall_timeout=1.0))
    reader = client.server.app[STATE].objects
    real = reader.client.get_object

    class Hangs:
        def __init__(self, body: object) -> None:
            self.body = body

        async def read(self, n: int) -> bytes:
            await asyncio.sleep(3600)
            return b""

        def close(self) -> None:
            self.body.close()  # type: ignore[attr-defined]

    async def hanging(**kw: object) -> dict:
        resp = await real(**kw)
        resp["Body"] = Hangs(resp["Body"])
        return resp

    reader.client.get_object = hanging
    resp = await client.post("/api/plans", json=PLAN)
    meta = await resp.json()
    caplog.set_level(logging.WARNING)
    t0 = asyncio.get_running_loop().time()
    got = await client.get(meta["download_url"])
    with pytest.raises(aiohttp.ClientPayloadError):
        await got.read()
    elapsed = asyncio.get_running_loop().time() - t0
    assert 0.9 < elapsed < 5.0, elapsed
    cut = [r.getMessage() for r in caplog.records if "cutting the download" in r.getMessage()]
    assert cut and "read failed" in cut[0] and "TimeoutError" in cut[0]


async def test_a_full_reindex_sighup_picks_up_a_replaced_object(
    aiohttp_client, s3_app, moto: MotoS3, bucket_and_folder
) -> None:
    """The library watch's re-index (SIGHUP) lists the bucket again; scans find nothing."""
    bucket = bucket_and_folder[0]
    client = await aiohttp_client(s3_app())
    state = client.server.app[STATE]
    meta1, _, _ = await _download(client)
    assert await state.library_watch.scan() == []  # objects have no cheap stat
    _, target = _material_entries(client, meta1["etag"])[0]
    upload(s3(moto), bucket, target.key, b"after sighup " * 2000, "plain")
    generation = state.library.generation
    changes = await state.library_watch.reindex()
    assert [(c.path, c.change) for c in changes] == [(target.key, "changed")]
    assert state.library.generation == generation + 1
    meta2, body2, _ = await _download(client)
    assert meta2["etag"] != meta1["etag"]
    with zipfile.ZipFile(io.BytesIO(body2)) as zf:
        assert b"after sighup " * 2000 in [zf.read(i) for i in zf.infolist()]
