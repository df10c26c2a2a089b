"""The download contract over real HTTP on 127.0.0.1: bytes, headers and status codes."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from aiohttp.test_utils import TestClient

from server.state import STATE

from .conftest import PLAN


async def _create(client: TestClient, plan: dict | None = None) -> dict:
    resp = await client.post("/api/plans", json=plan or PLAN)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_download_equals_cli_archive(
    aiohttp_client, app_factory, library_dir: Path, tmp_path
):
    client = await aiohttp_client(app_factory())
    meta = await _create(client)
    resp = await client.get(meta["download_url"])
    assert resp.status == 200
    body = await resp.read()
    assert int(resp.headers["Content-Length"]) == len(body) == meta["size"]
    assert resp.headers["ETag"] == meta["etag"]

    out = tmp_path / "cli.zip"
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "generators",
            "--name",
            "张三",
            "--mode",
            "assessment",
            "--age",
            "8",
            "--weeks",
            "2",
            "--lessons-per-week",
            "2",
            "--exercises-per-lesson",
            "4",
            "--scores",
            "span=40,sustained=55,selective=70",
            "--start-date",
            "2026-09-07",
            "--library",
            str(library_dir),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert out.read_bytes() == body

    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.testzip() is None
        names = z.namelist()
    assert names[0] == "张三—2周训练方案/index.html"
    assert any("/材料/" in n for n in names)


async def test_random_ranges_equal_slices(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    meta = await _create(client)
    full = await (await client.get(meta["download_url"])).read()
    rng = random.Random(7)
    size = len(full)
    for _ in range(10):
        a = rng.randrange(size)
        b = rng.randrange(a, size)
        resp = await client.get(meta["download_url"], headers={"Range": f"bytes={a}-{b}"})
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes {a}-{b}/{size}"
        part = await resp.read()
        assert part == full[a : b + 1]
        assert int(resp.headers["Content-Length"]) == b - a + 1
    # open-ended and suffix forms
    resp = await client.get(meta["download_url"], headers={"Range": "bytes=-100"})
    assert resp.status == 206 and await resp.read() == full[-100:]
    resp = await client.get(meta["download_url"], headers={"Range": f"bytes={size - 5}-"})
    assert resp.status == 206 and await resp.read() == full[-5:]


async def test_head_equals_get_headers(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    meta = await _create(client)
    head = await client.head(meta["download_url"])
    get = await client.get(meta["download_url"])
    await get.read()
    assert head.status == get.status == 200
    skip = {"Date"}
    h = {k: v for k, v in head.headers.items() if k not in skip}
    g = {k: v for k, v in get.headers.items() if k not in skip}
    assert h == g
    assert head.headers["Accept-Ranges"] == "bytes"
    assert head.headers["Content-Type"] == "application/zip"
    cd = head.headers["Content-Disposition"]
    assert cd.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E5%BC%A0%E4%B8%89%E2%80%942%E5%91%A8" in cd
    assert await head.read() == b""


async def test_conditional_and_errors(aiohttp_client, app_factory):
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _create(client)
    url = meta["download_url"]
    size = meta["size"]

    resp = await client.get(url, headers={"If-None-Match": meta["etag"]})
    assert resp.status == 304
    assert await resp.read() == b""
    resp = await client.get(url, headers={"If-None-Match": '"other"'})
    assert resp.status == 200
    await resp.read()

    resp = await client.get(url, headers={"Range": f"bytes={size}-"})
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{size}"

    # If-Range: matching ETag -> 206; stale ETag or date -> full 200
    resp = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": meta["etag"]})
    assert resp.status == 206 and len(await resp.read()) == 10
    resp = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert resp.status == 200 and len(await resp.read()) == size
    # A date proves nothing about the bytes (a library file replaced by an
    # older-dated one keeps Last-Modified): even the current one gets the whole file.
    lm = resp.headers["Last-Modified"]
    for date in (lm, "Mon, 01 Jan 2001 00:00:00 GMT"):
        resp = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": date})
        assert resp.status == 200 and len(await resp.read()) == size
    resp = await client.get(url, headers={"Range": "bytes=0-9", "If-Range": "W/" + meta["etag"]})
    assert resp.status == 200

    # tampered token -> 404; unknown -> 404; expired -> 410
    token = url.rsplit("/", 1)[1].removesuffix(".zip")
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    respelled = (token[:20] + "!!" + token[20:], token + "==")  # one token, one spelling
    for bad in (flipped, "nonsense", *respelled):
        resp = await client.get(f"/api/plans/{bad}.zip")
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    state = app[STATE]
    from generators.request import PlanRequest

    expired = state.sealer.seal(
        PlanRequest.from_mapping(PLAN).canonical_bytes(), int(time.time()) - 1
    )
    resp = await client.get(f"/api/plans/{expired}.zip")
    assert resp.status == 410
    assert (await resp.json())["error"]["code"] == "expired"


async def test_create_validation_and_form(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory())
    resp = await client.post("/api/plans", json=dict(PLAN, age=30))
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["field"] == "age" and err["code"] and err["message"]
    resp = await client.post(
        "/api/plans", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    # a browser form post gets 303 to the download URL
    form = {"name": "李四", "mode": "focus", "age": "6", "weeks": "1"}
    resp = await client.post(
        "/api/plans", data=form, headers={"Accept": "text/html"}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/api/plans/")
    # the token reveals nothing of the request
    assert "李四" not in resp.headers["Location"]
    assert "%E6%9D%8E" not in resp.headers["Location"]


async def test_healthz_and_metrics(aiohttp_client, app_factory):
    client = await aiohttp_client(app_factory(memory_budget=1 << 30, budget_source="test"))
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "ok"
    assert health["memory_budget"] == 1 << 30
    assert health["slots"] >= 1 and health["in_use"] == 0 and health["queued"] == 0
    meta = await _create(client)
    await (await client.get(meta["download_url"])).read()
    text = await (await client.get("/metrics")).text()
    assert 'planstream_downloads_total{outcome="completed"} 1' in text
    assert f"planstream_bytes_sent_total {meta['size']}" in text
    assert "planstream_resident_memory_bytes " in text
    assert "planstream_library_disk_free_bytes " in text


async def test_without_sendfile_same_bytes(aiohttp_client, app_factory):
    """TLS and uvloop have no sendfile: the read-and-write fallback sends the same bytes."""
    app = app_factory()
    client = await aiohttp_client(app)
    meta = await _create(client)
    with_sendfile = await (await client.get(meta["download_url"])).read()
    app[STATE].limits.use_sendfile = False
    without = await (await client.get(meta["download_url"])).read()
    assert without == with_sendfile
    assert len(without) == meta["size"]


def test_json_log_lines(capsys):
    """--log-format json: one parseable object per line, with the outcome fields."""
    import json
    import logging

    from server.metrics import setup_logging

    setup_logging("json")
    try:
        logging.getLogger("planstream.download").info(
            "download completed", extra={"fields": {"outcome": "completed", "bytes": 42}}
        )
        line = capsys.readouterr().err.strip().splitlines()[-1]
        record = json.loads(line)
        assert record["outcome"] == "completed" and record["bytes"] == 42
        assert record["logger"] == "planstream.download"
    finally:
        logging.getLogger().handlers.clear()


async def test_metrics_show_loop_lag_and_gc_pauses(aiohttp_client, app_factory):
    import asyncio
    import gc

    client = await aiohttp_client(app_factory())
    await asyncio.sleep(0.3)  # ~30 ticks of the lag probe (>= 5 even on a loaded machine)
    gc.collect()
    text = await (await client.get("/metrics")).text()
    lines = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert int(lines["planstream_event_loop_lag_seconds_count"]) >= 5
    assert int(lines["planstream_gc_pause_seconds_count"]) >= 1
    assert 0 <= float(lines["planstream_event_loop_lag_max_seconds"]) < 1.0
