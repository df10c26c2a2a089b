"""Graceful drain of a real ``python -m server`` process on SIGTERM.

Ten slow downloads are in flight when SIGTERM arrives: five short ranges
that can finish inside the drain timeout and five whole plans that cannot.
The test checks what a client and an operator see: new requests refused or
503, ``/healthz`` 503 draining, the short ones complete, the long ones cut by
a reset with a short body, outcomes in the log, exit 0 in time.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ops_support import SECRET, server_process

from .conftest import PLAN, write_library

DRAIN = 3.0


@dataclass
class Got:
    status: int
    length: int  # Content-Length
    received: int  # body bytes
    end: str  # "eof" or "reset"


async def slow_get(port: int, path: str, rate: int, headers: str = "") -> Got:
    """A GET that reads ``rate`` bytes/s through a small receive buffer."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    await loop.sock_sendall(sock, request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += await loop.sock_recv(sock, 4096)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(v) for k, _, v in (x.partition(": ") for x in lines) if k == "Content-Length")
    received = len(body)
    step = max(1, rate // 20)
    end = "eof"
    try:
        while received < length:
            chunk = await loop.sock_recv(sock, step)
            if not chunk:
                break
            received += len(chunk)
            await asyncio.sleep(len(chunk) / rate)
    except ConnectionResetError:
        end = "reset"
    finally:
        sock.close()
    return Got(status, length, received, end)


def _post_plan(url: str) -> dict:
    req = urllib.request.Request(
        url + "/api/plans", json.dumps(PLAN).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.mark.slow
async def test_sigterm_drains_then_cuts_with_a_reset_and_exits_0(tmp_path: Path):
    library = write_library(tmp_path / "lib")
    args = [
        "--library",
        str(library),
        "--drain-timeout",
        f"{DRAIN}s",
        "--secret",
        SECRET,
        "--max-per-client",
        "20",
    ]
    with server_process(args) as server:
        meta = _post_plan(server.url)
        path = meta["download_url"]
        size = meta["size"]
        assert size > 3_000_000  # the whole plan takes > 10 s at 256 KB/s
        short = [
            asyncio.ensure_future(slow_get(server.port, path, 256_000, "Range: bytes=0-499999\r\n"))
            for _ in range(5)
        ]
        long = [asyncio.ensure_future(slow_get(server.port, path, 256_000)) for _ in range(5)]
        await asyncio.sleep(0.5)  # all ten are streaming
        assert not any(t.done() for t in short + long), [
            t.result() for t in short + long if t.done()
        ]
        t0 = time.monotonic()
        server.signal(signal.SIGTERM)
        server.wait_for("draining")

        status, headers, body = await asyncio.to_thread(_get, server.url + "/healthz")
        assert status == 503 and json.loads(body)["status"] == "draining"
        try:
            status, headers, body = await asyncio.to_thread(_get, server.url + path)
        except (ConnectionError, urllib.error.URLError):
            pass  # refused once the listener closed: also allowed
        else:
            assert status == 503, body
            assert int(headers["Retry-After"]) >= 1
            assert json.loads(body)["error"]["code"] == "draining"

        done_short = await asyncio.gather(*short)
        done_long = await asyncio.gather(*long)
        code = await asyncio.to_thread(server.wait, DRAIN + 5)
        took = time.monotonic() - t0

    assert code == 0
    assert took <= DRAIN + 2.0, took
    for got in done_short:
        assert (got.status, got.received, got.end) == (206, 500_000, "eof"), got
    for got in done_long:
        assert got.status == 200 and got.length == size
        assert got.received < size, got  # a truncated body ...
        assert got.end == "reset", got  # ... ended by a reset, never a clean end
    log = server.log()
    assert len([x for x in log if "download completed" in x]) == 5, log
    cut = [x for x in log if "download cut_by_shutdown" in x]
    assert len(cut) == 5, log
    assert not [x for x in log if "download aborted" in x or "Traceback" in x], "\n".join(log)
