"""Two nodes, one bucket, one secret, behind a real nginx upstream.

Each node is its own ``python -m server`` process indexing the same
``s3://`` library (the second reuses the index object the first wrote), so
both lay out the same archive byte for byte: a link sealed by one node
downloads on the other, a download cut on node A resumes on node B with
Range + If-Range, and stopping node A while nginx balances over both loses no
request (nginx retries a refused connection or a 503 on node B).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import fill, new_bucket
from .moto_s3 import MotoS3
from .nodes import Node, upstream_nginx

PLAN = {"name": "李四", "mode": "assessment", "age": 9, "weeks": 2, "lessons_per_week": 2,
        "exercises_per_lesson": 4, "scores": {"span": 30, "shifting": 60, "auditory": 50},
        "start_date": "2026-10-12"}  # fmt: skip


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, dict(resp.headers), resp.read()


def _create(base: str) -> dict:
    req = urllib.request.Request(
        f"{base}/api/plans", json.dumps(PLAN).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 201
        return json.loads(resp.read())


def _cut_after(url: str, nbytes: int) -> bytes:
    """Read the first ``nbytes`` of the body over a raw socket, then drop the connection."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        while len(body) < nbytes:
            chunk = sock.recv(65536)
            assert chunk, "server ended early"
            body += chunk
    return body[:nbytes]


@pytest.fixture(scope="module")
def two_nodes(moto: MotoS3) -> Iterator[tuple[Node, Node, str]]:
    """Shared by this module's tests (starting two nodes takes seconds); the drain test,
    which stops node A, comes last in the file and so last on any worker."""
    bucket = new_bucket(moto)
    fill(moto, bucket, "materials/", size=256 * 1024)
    args = ["--library", f"s3://{bucket}/materials", "--s3-endpoint", moto.endpoint,
            "--stall-timeout", "20s"]  # fmt: skip
    a = Node("A", args)
    mark = len(moto.seen(bucket))
    b = Node("B", args)
    # B found every CRC in the index object A wrote: no object body was read for it.
    assert [r.method for r in moto.seen(bucket)[mark:]] == ["GET", "GET"]
    try:
        yield a, b, bucket
    finally:
        a.stop()
        b.stop()


def test_link_from_one_node_downloads_on_the_other_and_resumes_there(
    two_nodes: tuple[Node, Node, str], tmp_path: Path
) -> None:
    a, b, _ = two_nodes
    with upstream_nginx(tmp_path, [a, b]) as lb:
        meta = _create(a.url)  # sealed by A
        status, headers, whole = _get(lb + meta["download_url"])
        assert status == 200 and len(whole) == meta["size"] == int(headers["Content-Length"])
        assert headers["ETag"] == meta["etag"]
        status, headers_b, on_b = _get(b.url + meta["download_url"])  # opened by B
        assert status == 200 and on_b == whole and headers_b["ETag"] == meta["etag"]
        # A download cut at 40 % on A resumes on B with Range + If-Range: byte-identical.
        cut = int(len(whole) * 0.4)
        first = _cut_after(a.url + meta["download_url"], cut)
        resume = {"Range": f"bytes={cut}-", "If-Range": meta["etag"]}
        status, headers_r, rest = _get(b.url + meta["download_url"], resume)
        assert status == 206
        assert headers_r["Content-Range"] == f"bytes {cut}-{len(whole) - 1}/{len(whole)}"
        assert first + rest == whole
        # ... and the same through nginx, wherever it sends the request.
        for _ in range(4):
            status, _, rest = _get(lb + meta["download_url"], resume)
            assert status == 206 and first + rest == whole


def test_stopping_a_node_behind_nginx_loses_no_request(
    two_nodes: tuple[Node, Node, str], tmp_path: Path
) -> None:
    a, b, _ = two_nodes
    with upstream_nginx(tmp_path, [a, b]) as lb:
        meta = _create(lb)
        _, _, whole = _get(lb + meta["download_url"])
        results: list[tuple[int, bool]] = []
        errors: list[str] = []
        stop = threading.Event()

        def client(seed: int) -> None:
            n = seed
            while not stop.is_set():
                start = (n * 7919 * 1024) % (len(whole) - 300_000)
                end = start + 256 * 1024
                headers = {"Range": f"bytes={start}-{end - 1}", "If-Range": meta["etag"]}
                try:
                    status, _, body = _get(lb + meta["download_url"], headers)
                    results.append((status, body == whole[start:end]))
                except (urllib.error.URLError, OSError) as exc:
                    errors.append(repr(exc))
                n += 1

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        served_before = len(results)
        a.proc.send_signal(signal.SIGTERM)
        code = a.proc.wait(40)
        time.sleep(1.5)  # B alone now
        stop.set()
        for t in threads:
            t.join(60)
        retried = [ln for ln in lb.error_log().splitlines() if "while connecting to upstream" in ln]
    print(f"{served_before} ranges before SIGTERM, {len(results)} in all, nginx retried "
          f"{len(retried)} on the other node")  # fmt: skip
    assert retried  # nginx did meet the stopped node, and retried those requests on B
    assert code == 0
    assert served_before > 0 and len(results) > served_before
    assert errors == []
    assert all(status == 206 and ok for status, ok in results), results[:5]
    assert any("download completed" in line for line in a.lines)  # A did serve some
