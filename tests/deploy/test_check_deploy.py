"""``make check-deploy``: passes against a real server, fails against one that flips a byte.

The corrupting deployment is a small aiohttp proxy in front of the real
server that changes one byte at a fixed archive offset (in whole downloads
and in ranges alike, as a broken cache or disk would). Its ZIP still has the
right length, ETag and ranges; only the CRC check can catch it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from aiohttp import ClientSession, web

from tests.ops_support import ROOT, SECRET, server_process
from tests.server.conftest import write_library

FLIP_AT = 20_000  # inside the first entries' bodies of the small default plan


def _corrupting_proxy(upstream: str) -> web.Application:
    async def forward(request: web.Request) -> web.StreamResponse:
        async with ClientSession() as session:
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            async with session.request(
                request.method, upstream + request.path_qs, headers=headers,
                data=await request.read(), auto_decompress=False,
            ) as up:  # fmt: skip
                body = await up.read()
                start = 0
                if up.status == 206:
                    start = int(up.headers["Content-Range"].split()[1].split("-")[0])
                if request.path.endswith(".zip") and start <= FLIP_AT < start + len(body):
                    i = FLIP_AT - start
                    body = body[:i] + bytes([body[i] ^ 0xFF]) + body[i + 1 :]
                keep = ("Content-Type", "ETag", "Accept-Ranges", "Content-Range", "Location")
                out = {k: up.headers[k] for k in keep if k in up.headers}
                if request.method == "HEAD":
                    head = web.StreamResponse(status=up.status, headers=out)
                    head.content_length = int(up.headers["Content-Length"])
                    await head.prepare(request)
                    return head
                return web.Response(status=up.status, body=body, headers=out)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def _run_check(url: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "tools" / "check_deploy.py"), url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    library = write_library(tmp_path_factory.mktemp("lib") / "library")
    with server_process(["--library", str(library), "--secret", SECRET]) as server:
        yield server


def test_check_deploy_passes_against_a_local_server(deployment):
    result = subprocess.run(
        ["make", "-s", "check-deploy", f"URL={deployment.url}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for step in ("healthz", "create plan", "HEAD", "download", "CRC-32", "resume"):
        assert f"ok   {step}" in out, out
    assert "first byte" in out and "MB/s" in out
    assert out.strip().endswith(f"PASS {deployment.url}")


async def test_check_deploy_fails_on_a_flipped_byte(deployment):
    runner = web.AppRunner(_corrupting_proxy(deployment.url))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        result = await asyncio.to_thread(_run_check, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
    assert result.returncode == 1, result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("FAIL CRC check:"), result.stdout
    assert "ok   download" in result.stdout  # length and headers were fine: only the CRC shows it


def test_check_deploy_fails_clearly_when_nothing_listens():
    from tests.ops_support import free_port

    result = _run_check(f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL cannot talk to"), result.stdout
