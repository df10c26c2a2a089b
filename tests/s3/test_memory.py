"""Slow clients of a 100 MiB object: the server holds chunks, never the object.

The server runs as its own process (``python -m server --library s3://...``)
so its resident memory can be measured alone; moto serves the bucket from the
test process. Sixteen clients read 16 KiB/s from the middle of the object (a
resume), each for a few seconds, while the server's RSS is sampled: per
download it must stay within the admission cost of an S3 download, which is
far below the object. A server that buffered the object, or a segment of it,
would grow by megabytes per client.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil

from generators.archive import ObjectSource
from generators.entries import build_archive
from generators.library_s3 import index_bucket
from generators.plan import build_plan
from generators.request import PlanRequest
from server.admission import CostModel
from server.objects import STREAM_COST

from .conftest import material, new_bucket, s3, upload
from .moto_s3 import CREDENTIALS, MotoS3

REPO = Path(__file__).resolve().parents[2]
BIG = 100 << 20
SLOW_CLIENTS = 16
RATE = 16 * 1024  # bytes/s each slow client reads
READ_FOR = 6.0  # seconds each slow client reads
PLAN = {"name": "一班", "mode": "focus", "age": 9, "weeks": 1, "lessons_per_week": 1,
        "exercises_per_lesson": 3, "start_date": "2026-09-07"}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _slow_read(port: int, path: str, start: int, out: list[bytes]) -> None:
    """A client with a small receive buffer that reads RATE bytes/s for READ_FOR seconds."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes={start}-\r\n\r\n".encode()
    )
    got = bytearray()
    deadline = time.monotonic() + READ_FOR
    while time.monotonic() < deadline:
        got += sock.recv(4096)
        time.sleep(4096 / RATE)
    sock.close()
    out.append(bytes(got))


def test_slow_clients_of_a_100_mib_object_keep_memory_per_download_small(
    moto: MotoS3, tmp_path: Path
) -> None:
    bucket = new_bucket(moto)
    req = PlanRequest.from_mapping(PLAN)
    dims = [ex.dimension for lesson in build_plan(req).lessons for ex in lesson.exercises]
    client = s3(moto)
    big_key = f"lib/{dims[0]}/1/大视频.bin"
    big = material("big", BIG)
    upload(client, bucket, big_key, big, "crc32")
    for dim in dims[1:]:
        upload(client, bucket, f"lib/{dim}/1/small.bin", material(dim, 4096), "plain")
    url = f"s3://{bucket}/lib"
    # The same index in this process gives the same layout: where the object's body starts.
    library, _ = asyncio.run(index_bucket(url, moto.endpoint))
    archive = build_archive(req, library)
    layout = archive.layout
    i = next(
        n
        for n, e in enumerate(layout.entries)
        if isinstance(e.source, ObjectSource) and e.source.key == big_key
    )
    body_at = layout.local_header_offset(i + 1) - BIG

    port = _free_port()
    env = {**os.environ, **CREDENTIALS, "PLANSTREAM_SECRET": "test-secret-0123456789"}
    cmd = [sys.executable, "-m", "server", "--port", str(port), "--library", url,
           "--s3-endpoint", moto.endpoint, "--memory-budget", "1GiB", "--stall-timeout", "30s",
           "--max-per-client", "100"]  # fmt: skip
    server = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(server.stderr or ()), daemon=True).start()
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).read()
                break
            except OSError:
                assert server.poll() is None, "".join(log)
                time.sleep(0.1)
        post = urllib.request.Request(
            f"{base}/api/plans", json.dumps(PLAN).encode(), {"Content-Type": "application/json"}
        )
        meta = json.loads(urllib.request.urlopen(post, timeout=30).read())
        assert meta["etag"] == archive.etag  # another process, same index: same bytes
        path = meta["download_url"]  # a path: the server does not know its public host
        # Warm up: one fast reader of 24 MiB of the object (three ranged GETs).
        warm = urllib.request.Request(
            base + path, headers={"Range": f"bytes={body_at}-{body_at + (24 << 20) - 1}"}
        )
        assert urllib.request.urlopen(warm, timeout=60).read() == big[: 24 << 20]
        proc = psutil.Process(server.pid)
        before = proc.memory_info().rss
        results: list[bytes] = []
        offsets = [body_at + (30 << 20) + k * (4 << 20) for k in range(SLOW_CLIENTS)]
        threads = [
            threading.Thread(target=_slow_read, args=(port, path, off, results)) for off in offsets
        ]
        for t in threads:
            t.start()
        peak = before
        while any(t.is_alive() for t in threads):
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.2)
        per_download = (peak - before) / SLOW_CLIENTS
        print(f"RSS before {before >> 20} MiB, peak {peak >> 20} MiB, "
              f"per slow download {per_download / 1024:.0f} KiB")  # fmt: skip
        assert len(results) == SLOW_CLIENTS
        received = sum(len(got) for got in results)
        assert received >= SLOW_CLIENTS * RATE * READ_FOR * 0.4  # they really were reading
        for got in results:
            head, _, body = got.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 206"), head[:300]
            assert len(body) > 16 * 1024  # more than one chunk: it was being streamed to
            start = int(head.split(b"bytes ")[1].split(b"-")[0]) - body_at
            assert body == big[start : start + len(body)]
        # Within what admission charges for an S3 download (chunk, HTTP client buffer, socket
        # buffers, Python objects): far below one 8 MiB segment, let alone the object.
        assert per_download < CostModel(object_stream=STREAM_COST).base, per_download
    finally:
        server.terminate()
        server.wait(20)
