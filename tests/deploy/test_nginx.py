"""planstream behind a real nginx: a 168 MiB plan streams through without touching nginx's disk.

nginx's defaults buffer a proxied response and spool what does not fit into
``proxy_temp_path`` (up to 1 GiB). The download's ``X-Accel-Buffering: no``
must switch that off with the defaults untouched, and ``deploy/nginx.conf``
must do it on its own. Each run downloads the reference plan (4 weeks x 3
lessons x 7 exercises of 2 MiB materials, 168 MiB) through nginx by a client
reading at ~32 MiB/s, compares its SHA-256 with a direct download, watches the
temp directory the whole time, and resumes with Range + If-Range. A control
run with nginx told to ignore the header shows the watcher does see a spool.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.nginx_support import DEPLOY_CONF, running_nginx
from tests.ops_support import ROOT, SECRET, ServerProcess

MiB = 1 << 20
REFERENCE_PLAN = {
    "name": "张三",
    "mode": "assessment",
    "age": 8,
    "weeks": 4,
    "lessons_per_week": 3,
    "exercises_per_lesson": 7,
    "scores": {"span": 40, "sustained": 55, "selective": 70},
    "start_date": "2026-09-07",
}
CLI_ARGS = [
    "--name", "张三", "--mode", "assessment", "--age", "8", "--weeks", "4",
    "--lessons-per-week", "3", "--exercises-per-lesson", "7",
    "--scores", "span=40,sustained=55,selective=70", "--start-date", "2026-09-07",
]  # fmt: skip
LIB_ARGS = ["--file-size", "2MiB", "--files-per-level", "1"]
RATE = 32 * MiB  # bytes/s the "slow" client reads: well below what the upstream sends


def _request(port: int, method: str, path: str, body: Any = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data else {}
    hdrs.update(headers or {})
    conn.request(method, path, body=data, headers=hdrs)
    return conn, conn.getresponse()


def _read_all(resp: http.client.HTTPResponse, rate: float | None = None) -> tuple[str, int]:
    """SHA-256 and length of the body, read at ``rate`` bytes/s if given."""
    digest = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    while chunk := resp.read(256 * 1024):
        digest.update(chunk)
        n += len(chunk)
        if rate:
            ahead = n / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    return digest.hexdigest(), n


def _read_upto(resp: http.client.HTTPResponse, n: int, rate: float) -> bytes:
    out = bytearray()
    t0 = time.monotonic()
    while len(out) < n and (chunk := resp.read(min(256 * 1024, n - len(out)))):
        out += chunk
        ahead = len(out) / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    return bytes(out)


@pytest.fixture(scope="module")
def plan_server(tmp_path_factory) -> Iterator[tuple[ServerProcess, dict, str]]:
    """planstream with a 2 MiB-per-file library, the reference plan and its SHA-256."""
    lib = tmp_path_factory.mktemp("lib") / "library"
    made = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "make_library.py"), "--out", str(lib), *LIB_ARGS],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    server = ServerProcess(["--library", str(lib), "--secret", SECRET])
    try:
        conn, resp = _request(server.port, "POST", "/api/plans", REFERENCE_PLAN)
        assert resp.status == 201
        meta = json.load(resp)
        conn.close()
        assert 168 * MiB <= meta["size"] < 172 * MiB, meta["size"]
        conn, resp = _request(server.port, "HEAD", meta["download_url"])
        assert resp.getheader("X-Accel-Buffering") == "no"
        conn.close()
        # The expected bytes come from the CLI, not from the server under test.
        out = tmp_path_factory.mktemp("cli") / "plan.zip"
        cli = [sys.executable, "-m", "generators", *CLI_ARGS, "--library", str(lib), "-o", str(out)]
        made = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        with out.open("rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        assert out.stat().st_size == meta["size"]
        out.unlink()
        yield server, meta, sha
    finally:
        server.stop()


def _through(nginx_port: int, meta: dict, sha: str, rate: float) -> None:
    """Whole plan, slowly; then a resumed tail with If-Range; then a stale If-Range."""
    conn, resp = _request(nginx_port, "GET", meta["download_url"])
    assert resp.status == 200
    assert int(resp.getheader("Content-Length")) == meta["size"]
    assert resp.getheader("Content-Encoding") is None
    assert _read_all(resp, rate) == (sha, meta["size"])
    conn.close()

    cut = meta["size"] // 3  # "the first third arrived, then the connection dropped"
    conn, resp = _request(nginx_port, "GET", meta["download_url"], headers={"Range": "bytes=0-"})
    head = _read_upto(resp, cut, rate)
    conn.close()
    conn, resp = _request(
        nginx_port,
        "GET",
        meta["download_url"],
        headers={"Range": f"bytes={cut}-", "If-Range": meta["etag"]},
    )
    assert resp.status == 206
    assert resp.getheader("Content-Range") == f"bytes {cut}-{meta['size'] - 1}/{meta['size']}"
    tail = _read_upto(resp, meta["size"] - cut, rate)
    conn.close()
    assert hashlib.sha256(head + tail).hexdigest() == sha

    conn, resp = _request(
        nginx_port,
        "GET",
        meta["download_url"],
        headers={"Range": f"bytes={cut}-", "If-Range": '"another-version"'},
    )
    assert resp.status == 200  # If-Range failed: the whole (current) archive
    assert int(resp.getheader("Content-Length")) == meta["size"]
    conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("config", ["nginx defaults", "deploy/nginx.conf"])
def test_168_mib_plan_through_nginx_never_spools(plan_server, tmp_path: Path, config: str):
    server, meta, sha = plan_server
    block = DEPLOY_CONF.read_text() if config == "deploy/nginx.conf" else None
    with running_nginx(tmp_path, server.port, server_block=block) as nginx:
        t0 = time.monotonic()
        _through(nginx.port, meta, sha, RATE)
        took = time.monotonic() - t0
        nginx.temp.stop()
        assert nginx.temp_dir.is_dir()
        assert (nginx.temp.peak_files, nginx.temp.peak_bytes) == (0, 0), nginx.error_log()
        assert "buffered to a temporary file" not in nginx.error_log()
    assert took < 30, took


@pytest.mark.slow
def test_control_nginx_spools_when_the_header_is_ignored(plan_server, tmp_path: Path):
    """Without X-Accel-Buffering the same slow read fills nginx's temp directory."""
    server, meta, _sha = plan_server
    block = (
        "server {\n    listen 127.0.0.1:1;\n    location / {\n"
        "        proxy_pass http://127.0.0.1:8080;\n"
        "        proxy_ignore_headers X-Accel-Buffering;\n    }\n}\n"
    )
    with running_nginx(tmp_path, server.port, server_block=block) as nginx:
        conn, resp = _request(nginx.port, "GET", meta["download_url"])
        assert resp.status == 200
        resp.read(1 * MiB)
        deadline = time.monotonic() + 5
        while nginx.temp.peak_bytes < 8 * MiB and time.monotonic() < deadline:
            time.sleep(0.05)
        conn.close()
        assert nginx.temp.peak_bytes >= 8 * MiB, nginx.temp.peak_bytes
        assert "buffered to a temporary file" in nginx.error_log()
