"""Load generator: N concurrent download clients against one local server, bounded in time.

Run::

    python bench/load.py http://127.0.0.1:8080/api/plans/<token>.zip --clients 100 --kind slow
    python bench/load.py '{"name": "张三", "mode": "assessment", "age": 8}' \\
        --base http://127.0.0.1:8080 --clients 500 --kind stalled --server-pid 1234

What it measures, and why. A download server is judged by what its clients
see (time to first byte, bytes per second, whether the download completes or
is turned away with 503) and by what each download costs the server (resident
memory). Clients are raw non-blocking sockets on one asyncio loop (no HTTP
client library), so thousands of them cost little CPU and the client side
never hides the server's behaviour behind its own buffering. Kinds:

- ``fast``: reads as fast as it can;
- ``slow``: reads ``--rate`` bytes/s with a small SO_RCVBUF, so the server's
  socket fills and it must apply backpressure instead of buffering;
- ``stalled``: reads the response headers, then nothing until the run ends
  (a phone that went to sleep): what a download costs while it is stuck;
- ``aborting``: disconnects at a random offset;
- ``resuming``: disconnects at random offsets, then continues with
  ``Range`` + ``If-Range`` until complete; the total length must equal the
  first response's Content-Length and the CRC-32 of the reassembled body is
  reported, so resumed bodies can be checked against a full download;
- ``first-byte``: reads the first body byte and disconnects (TTFB samples).

Slow and stalled runs can end ``--hold`` seconds after every client has its
response headers, so a fast server is not kept waiting for a cap sized for
a slow one; ``--duration`` stays the hard cap.

While the clients run, the server's resident memory (``--server-pid``, via
psutil) and the kernel's TCP buffer memory (``/proc/net/sockstat``, both ends
of every connection) are sampled; the idle level before the run is the
baseline the per-client figures are taken against. ``/metrics`` is read
before and after when the server has it.

Safety: only 127.0.0.1 / localhost is accepted; every client and the whole
run stop at ``--duration`` (an alarm ends the process if anything hangs);
the client count is capped. Output: one human line on stderr and a JSON
report (``--json PATH``, or stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import resource
import signal
import socket
import statistics
import sys
import threading
import time
import urllib.parse
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

KINDS = ("fast", "slow", "stalled", "aborting", "resuming", "first-byte")
LOCAL_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}
MAX_CLIENTS = 20_000
MAX_DURATION = 3600.0
MB = 1_000_000
KIB = 1024

# -- small helpers -------------------------------------------------------------------


def parse_size(text: str) -> int:
    """Bytes from ``64KiB``, ``1MiB``, ``100k`` or a plain number."""
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(i?b?)\s*$", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    scale = {"": 1, "k": KIB, "m": KIB**2, "g": KIB**3}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def raise_nofile() -> int:
    """Raise the soft descriptor limit to the hard one: every client is a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft


@dataclass(frozen=True)
class Endpoint:
    host: str  # always 127.0.0.1
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"only http:// URLs are supported, not {url!r}")
        host = (parts.hostname or "").lower()
        if host not in LOCAL_HOSTS:
            raise ValueError(f"refusing host {host!r}: only 127.0.0.1 or localhost")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(LOCAL_HOSTS[host], parts.port or 80, path)

    def with_path(self, path: str) -> Endpoint:
        return Endpoint(self.host, self.port, path)


def request_bytes(
    ep: Endpoint, method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [
        f"{method} {ep.path} HTTP/1.1",
        f"Host: {ep.host}:{ep.port}",
        "User-Agent: planstream-bench-load",
        "Accept: */*",
        "Connection: close",
    ]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def simple_request(
    ep: Endpoint,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, dict[str, str], bytes]:
    """One small request (POST a plan, read /metrics): status, headers, whole body."""

    async def go() -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection(ep.host, ep.port)
        try:
            writer.write(request_bytes(ep, method, headers, body))
            await writer.drain()
            raw = await reader.read(-1)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        head, _, rest = raw.partition(b"\r\n\r\n")
        status, hdrs = parse_head(head)
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            counter = ChunkedBody(keep=True)
            counter.feed(memoryview(rest))
            rest = bytes(counter.kept)
        return status, hdrs, rest

    return await asyncio.wait_for(go(), timeout)


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"bad status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return int(parts[1]), headers


class ChunkedBody:
    """Counts the body bytes of a chunked response, skipping the framing arithmetically.

    Only the chunk-size lines are parsed; payload bytes are counted without
    being copied (unless ``keep``), so a fast chunked download costs the
    client about what a Content-Length one does.
    """

    def __init__(self, keep: bool = False) -> None:
        self.remaining = 0  # payload bytes left in the current chunk
        self.line = bytearray()  # a size line (or a CRLF) being read
        self.state = "size"  # size | data | crlf | trailer | done
        self.body = 0
        self.keep = keep
        self.kept = bytearray()

    @property
    def done(self) -> bool:
        return self.state == "done"

    def feed(self, data: memoryview) -> int:
        """Consume ``data``; returns how many body bytes it held."""
        before = self.body
        pos, n = 0, len(data)
        while pos < n and self.state != "done":
            if self.state == "data":
                take = min(self.remaining, n - pos)
                if self.keep:
                    self.kept += data[pos : pos + take]
                self.body += take
                self.remaining -= take
                pos += take
                if self.remaining == 0:
                    self.state = "crlf"
                continue
            end = bytes(data[pos : min(n, pos + 64)]).find(b"\n")
            if end < 0:
                self.line += data[pos : min(n, pos + 64)]
                pos = min(n, pos + 64)
                if len(self.line) > 4096:
                    raise ValueError("chunk size line too long")
                continue
            self.line += data[pos : pos + end + 1]
            pos += end + 1
            text = bytes(self.line).strip()
            self.line.clear()
            if self.state == "crlf":
                self.state = "size"
            elif self.state == "size":
                size = int(text.split(b";")[0], 16)
                if size == 0:
                    self.state = "trailer"
                else:
                    self.remaining, self.state = size, "data"
            elif self.state == "trailer" and not text:
                self.state = "done"
        return self.body - before


# -- one client ----------------------------------------------------------------------


@dataclass
class ClientResult:
    index: int
    kind: str
    outcome: str = "failed"  # completed rejected aborted held cut running failed
    status: int | None = None
    error: str = ""
    bytes: int = 0  # body bytes received (over every connection, for resuming)
    expected: int | None = None  # Content-Length of the full body, when known
    headers_s: float | None = None  # request start -> first response byte
    ttfb_s: float | None = None  # request start -> first body byte
    create_s: float | None = None  # POST /api/plans latency (fresh plans)
    start: float = 0.0
    first_body: float | None = None
    end: float = 0.0
    connections: int = 0
    crc: int | None = None


@dataclass
class Config:
    endpoint: Endpoint
    kind: str
    clients: int
    rate: int
    duration: float
    rcvbuf: int
    seed: int
    resumes: int
    sequential: bool
    connect_parallel: int
    hold: float | None = None
    plan: dict[str, Any] | None = None
    fresh_plans: bool = False
    base: Endpoint | None = None


class Run:
    """Shared state of one run: its deadline, the stop signal and the connect gate."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.loop = asyncio.get_running_loop()
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + cfg.duration
        self.stop = asyncio.Event()
        self.gate = asyncio.Semaphore(cfg.connect_parallel)
        self.settled = 0  # clients past their headers (or finished)
        self.all_settled_at: float | None = None
        self.all_settled = asyncio.Event()
        self.stopped_at: float | None = None

    def halt(self) -> None:
        """End the run: stalled clients wake up, and server samples stop counting."""
        if self.stopped_at is None:
            self.stopped_at = time.perf_counter()
        self.stop.set()

    def settle(self) -> None:
        self.settled += 1
        if self.settled >= self.cfg.clients and self.all_settled_at is None:
            self.all_settled_at = time.perf_counter()
            self.all_settled.set()


class Conn:
    """One HTTP/1.1 exchange over a raw non-blocking socket."""

    def __init__(self, run: Run, result: ClientResult, bufsize: int, endpoint: Endpoint) -> None:
        self.run = run
        self.result = result
        self.endpoint = endpoint
        self.buf = bytearray(bufsize)
        self.view = memoryview(self.buf)
        self.sock: socket.socket | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.length: int | None = None  # this response's body length, if declared
        self.chunked: ChunkedBody | None = None
        self.got = 0  # body bytes on this connection

    async def open(self, headers: dict[str, str] | None = None) -> memoryview:
        """Connect, send the GET and read the head; returns body bytes read with it."""
        cfg, loop = self.run.cfg, self.run.loop
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if cfg.kind in ("slow", "stalled") and cfg.rcvbuf > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cfg.rcvbuf)
        self.sock = sock
        self.result.connections += 1
        async with self.run.gate:
            await loop.sock_connect(sock, (self.endpoint.host, self.endpoint.port))
        await loop.sock_sendall(sock, request_bytes(self.endpoint, "GET", headers))
        head = bytearray()
        while True:
            n = await loop.sock_recv_into(sock, self.view)
            if n == 0:
                raise ConnectionError("closed before the response head")
            if self.result.headers_s is None:
                self.result.headers_s = time.perf_counter() - self.result.start
            head += self.view[:n]
            end = head.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(head) > 65536:
                raise ValueError("response head too large")
        self.status, self.headers = parse_head(bytes(head[:end]))
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            self.chunked = ChunkedBody()
        elif "content-length" in self.headers:
            self.length = int(self.headers["content-length"])
        return memoryview(bytes(head[end + 4 :]))

    def take(self, data: memoryview, crc: bool) -> int:
        """Account for body bytes just read; returns the body byte count."""
        if self.chunked is not None:
            n = self.chunked.feed(data)  # not CRC-checked: a chunked body cannot be resumed
        else:
            n = len(data)
            if self.length is not None:
                n = min(n, self.length - self.got)
            if crc and n:
                self.result.crc = zlib.crc32(data[:n], self.result.crc or 0)
        if n and self.result.first_body is None:
            now = time.perf_counter()
            self.result.first_body = now
            self.result.ttfb_s = now - self.result.start
        self.got += n
        self.result.bytes += n
        return n

    @property
    def complete(self) -> bool:
        if self.chunked is not None:
            return self.chunked.done
        return self.length is not None and self.got >= self.length

    async def read_body(self, limit: int | None = None, rate: int = 0, crc: bool = False) -> bool:
        """Read until complete (True), EOF (False) or ``limit`` body bytes on this connection."""
        loop, sock = self.run.loop, self.sock
        assert sock is not None
        # Slow clients: a token bucket holding at most a quarter second of credit,
        # so a client that waited for the server cannot then burst above its rate.
        burst = max(1024, rate // 4)
        tokens, last = 0.0, time.perf_counter()
        while not self.complete and (limit is None or self.got < limit):
            want = len(self.view)
            if limit is not None and self.chunked is None:
                want = min(want, limit - self.got)
            if rate:
                now = time.perf_counter()
                tokens, last = min(float(burst), tokens + rate * (now - last)), now
                step = min(want, max(1024, rate // 20))
                if tokens < step:
                    await asyncio.sleep((step - tokens) / rate)
                    continue
                want = min(want, int(tokens))
            n = await loop.sock_recv_into(sock, self.view[:want])
            if n == 0:
                return self.complete
            if rate:
                tokens -= n
            self.take(self.view[:n], crc)
        return self.complete

    def close(self, reset: bool = False) -> None:
        if self.sock is not None:
            if reset:
                with contextlib.suppress(OSError):
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            self.sock.close()
            self.sock = None


async def client(run: Run, index: int, rng: random.Random, bufsize: int) -> ClientResult:
    cfg = run.cfg
    result = ClientResult(index, cfg.kind)
    settled = False

    def settle() -> None:
        nonlocal settled
        if not settled:
            settled = True
            run.settle()

    conn = Conn(run, result, bufsize, cfg.endpoint)
    try:
        if cfg.fresh_plans:
            assert cfg.plan is not None and cfg.base is not None
            # Distinct per client and per --seed, so separate runs get new plans too.
            suffix = f"{cfg.seed % 10_000:04d}{index:04d}"
            plan = dict(cfg.plan, name=f"{cfg.plan.get('name', '学生')}{suffix}")
            t = time.perf_counter()
            path = await create_plan(cfg.base, plan)
            result.create_s = time.perf_counter() - t
            conn.endpoint = cfg.base.with_path(path)
        result.start = time.perf_counter()
        leftover = await conn.open()
        result.status = conn.status
        if conn.status == 503:
            result.outcome = "rejected"
            settle()
            return result
        if conn.status != 200:
            result.error = f"HTTP {conn.status}"
            settle()
            return result
        result.expected = conn.length
        crc = cfg.kind == "resuming"
        if leftover:
            conn.take(leftover, crc)
        settle()
        kind = cfg.kind
        if kind == "first-byte":
            while result.first_body is None:
                n = await run.loop.sock_recv_into(conn.sock, conn.view)  # type: ignore[arg-type]
                if n == 0:
                    raise ConnectionError("closed before the first body byte")
                conn.take(conn.view[:n], False)
            result.outcome = "completed"
        elif kind in ("fast", "slow"):
            done = await conn.read_body(rate=cfg.rate if kind == "slow" else 0)
            result.outcome = "completed" if done else "failed"
            if not done:
                result.error = f"connection closed after {result.bytes} body bytes"
        elif kind == "stalled":
            await run.stop.wait()
            result.outcome = "cut" if await ends_soon(run, conn) else "held"
        elif kind == "aborting":
            size = conn.length if conn.length else 100 * MB
            offset = rng.randrange(1, max(2, size))
            done = await conn.read_body(limit=offset)
            result.outcome = "completed" if done else "aborted"
            conn.close(reset=True)
        elif kind == "resuming":
            await resume_until_complete(run, conn, result, rng)
    except asyncio.CancelledError:
        if result.outcome == "failed" and not result.error:
            result.outcome = "running" if result.status == 200 else "failed"
            if result.outcome == "failed":
                result.error = "no response before the run ended"
        settle()
    except (OSError, ValueError, ConnectionError) as exc:
        result.outcome = "failed"
        result.error = f"{type(exc).__name__}: {exc}"
        settle()
    finally:
        conn.close()
        result.end = time.perf_counter()
    return result


async def ends_soon(run: Run, conn: Conn, within: float = 1.0) -> bool:
    """Did the server end this connection? Read what it queued; True on EOF or reset.

    A server that gives up on a stalled client closes its socket, but the
    close (FIN) waits behind the bytes already queued for the client, so the
    client only sees it after reading them: at most the two socket buffers.
    """
    if conn.sock is None:
        return True
    deadline = time.perf_counter() + within
    try:
        while (left := deadline - time.perf_counter()) > 0:
            n = await asyncio.wait_for(run.loop.sock_recv_into(conn.sock, conn.view), left)
            if n == 0:
                return True
    except TimeoutError:
        return False
    except OSError:
        return True
    return False


async def resume_until_complete(
    run: Run, conn: Conn, result: ClientResult, rng: random.Random
) -> None:
    """Break the download ``resumes`` times at random offsets, resume with Range + If-Range."""
    total = conn.length
    etag = conn.headers.get("etag")
    if total is None or etag is None or conn.headers.get("accept-ranges") != "bytes":
        result.error = "no Content-Length / ETag / Accept-Ranges: cannot resume"
        return
    cuts = sorted(rng.randrange(1, total) for _ in range(run.cfg.resumes))
    for cut in cuts:
        if result.bytes < cut:
            await conn.read_body(limit=cut - (result.bytes - conn.got), crc=True)
        conn.close(reset=True)
        conn = Conn(run, result, len(conn.buf), conn.endpoint)
        have = result.bytes
        leftover = await conn.open({"Range": f"bytes={have}-", "If-Range": etag})
        expect_range = f"bytes {have}-{total - 1}/{total}"
        if conn.status != 206 or conn.headers.get("content-range") != expect_range:
            result.error = (
                f"resume at {have}: HTTP {conn.status}, "
                f"Content-Range {conn.headers.get('content-range')!r} != {expect_range!r}"
            )
            return
        if leftover:
            conn.take(leftover, True)
    done = await conn.read_body(crc=True)
    if done and result.bytes == total:
        result.outcome = "completed"
    else:
        result.error = f"resumed body has {result.bytes} bytes, expected {total}"
    conn.close()


async def create_plan(base: Endpoint, plan: dict[str, Any]) -> str:
    """POST the plan request; returns the download path."""
    body = json.dumps(plan, ensure_ascii=False).encode()
    ep = base.with_path("/api/plans")
    status, _, data = await simple_request(ep, "POST", body, {"Content-Type": "application/json"})
    if status != 201:
        raise ValueError(f"POST /api/plans: HTTP {status}: {data[:200]!r}")
    url = json.loads(data)["download_url"]
    return urllib.parse.urlsplit(url).path


# -- server sampling -----------------------------------------------------------------


def tcp_mem_bytes() -> int | None:
    """Kernel memory held by TCP socket buffers, system-wide (both ends of loopback)."""
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    fields = line.split()
                    return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGESIZE")
    except (OSError, ValueError):
        return None
    return None


class Sampler(threading.Thread):
    """Samples the server's RSS (and TCP buffer memory) every ``interval`` seconds."""

    def __init__(self, pid: int | None, interval: float) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid) if pid else None
        self.interval = interval
        self.samples: list[tuple[float, int, int | None]] = []
        self.halt = threading.Event()
        self.error = ""

    def sample(self) -> None:
        rss = 0
        if self.proc is not None:
            try:
                rss = self.proc.memory_info().rss
            except psutil.Error as exc:
                self.error = f"server process: {exc}"
                self.halt.set()
                return
        self.samples.append((time.perf_counter(), rss, tcp_mem_bytes()))

    def run(self) -> None:
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(self.interval)


def idle_level(sampler: Sampler, seconds: float) -> tuple[int, int | None]:
    """Median RSS and TCP memory over ``seconds`` before the clients start."""
    rss, tcp = [], []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sampler.sample()
        _, r, t = sampler.samples[-1]
        rss.append(r)
        if t is not None:
            tcp.append(t)
        time.sleep(0.05)
    sampler.samples.clear()
    return int(statistics.median(rss)), (int(statistics.median(tcp)) if tcp else None)


async def read_metrics(ep: Endpoint) -> dict[str, float] | None:
    """The server's Prometheus metrics, if it has any (planstream does; peers do not)."""
    try:
        status, _, body = await simple_request(ep.with_path("/metrics"), timeout=10)
    except (OSError, ValueError, TimeoutError):
        return None
    if status != 200:
        return None
    out: dict[str, float] = {}
    for line in body.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[key] = float(value)
    return out


# -- the run -------------------------------------------------------------------------


async def run_clients(cfg: Config) -> tuple[list[ClientResult], Run]:
    run = Run(cfg)
    rng = random.Random(cfg.seed)
    if cfg.kind == "fast":
        bufsize = 1 << 20 if cfg.clients <= 4 else 256 * KIB if cfg.clients <= 64 else 64 * KIB
    elif cfg.kind in ("resuming", "aborting", "first-byte"):
        bufsize = 256 * KIB
    else:
        bufsize = 16 * KIB
    seeds = [rng.getrandbits(32) for _ in range(cfg.clients)]
    results: list[ClientResult] = []
    remaining = run.deadline - time.perf_counter()
    if cfg.sequential:
        for i in range(cfg.clients):
            if time.perf_counter() >= run.deadline:
                results.append(ClientResult(i, cfg.kind, error="not started: run time was up"))
                continue
            task = asyncio.ensure_future(client(run, i, random.Random(seeds[i]), bufsize))
            try:
                results.append(
                    await asyncio.wait_for(asyncio.shield(task), run.deadline - time.perf_counter())
                )
            except TimeoutError:
                task.cancel()
                results.append(await task)
        run.halt()
        return results, run
    tasks = [
        asyncio.ensure_future(client(run, i, random.Random(seeds[i]), bufsize))
        for i in range(cfg.clients)
    ]
    if cfg.hold is not None and cfg.kind in ("slow", "stalled"):
        # Until every client has its headers (or the cap), then ``hold`` seconds more.
        settled = asyncio.ensure_future(run.all_settled.wait())
        await asyncio.wait([settled], timeout=remaining)
        settled.cancel()
        left = run.deadline - time.perf_counter()
        await asyncio.wait(tasks, timeout=max(0.0, min(cfg.hold, left)))
        run.halt()
        _, pending = await asyncio.wait(tasks, timeout=5 if cfg.kind == "stalled" else 0.01)
    elif cfg.kind == "stalled":
        # Stalled clients wait for the end of the run; the others end when done.
        await asyncio.wait(tasks, timeout=remaining)
        run.halt()
        _, pending = await asyncio.wait(tasks, timeout=5)
    else:
        _, pending = await asyncio.wait(tasks, timeout=remaining)
        run.halt()
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=10)
    for task in tasks:
        if task.done() and not task.cancelled():
            results.append(task.result())
        else:
            results.append(ClientResult(tasks.index(task), cfg.kind, error="client hung"))
    return results, run


def summarise(
    cfg: Config,
    results: list[ClientResult],
    run: Run,
    sampler: Sampler,
    idle: tuple[int, int | None],
    metrics_before: dict[str, float] | None,
    metrics_after: dict[str, float] | None,
    wall: float,
) -> dict[str, Any]:
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    ttfb = [r.ttfb_s * 1000 for r in results if r.ttfb_s is not None]
    heads = [r.headers_s * 1000 for r in results if r.headers_s is not None]
    creates = [r.create_s * 1000 for r in results if r.create_s is not None]
    total_bytes = sum(r.bytes for r in results)
    starts = [r.start for r in results if r.start]
    ends = [r.end for r in results if r.end]
    span = (max(ends) - min(starts)) if starts and ends else 0.0
    per_client = [
        r.bytes / (r.end - r.first_body) / MB
        for r in results
        if r.first_body is not None and r.end > r.first_body and r.bytes > 0
    ]
    whole = [  # request sent -> last byte, completed downloads only
        r.bytes / (r.end - r.start) / MB
        for r in results
        if r.outcome == "completed" and r.end > r.start and r.bytes > 0
    ]
    idle_rss, idle_tcp = idle
    # Only the run itself counts: not stalled clients draining their sockets afterwards.
    samples = [s for s in sampler.samples if run.stopped_at is None or s[0] <= run.stopped_at]
    rss = [s[1] for s in samples]
    tcp = [s[2] for s in samples if s[2] is not None]
    hold_from = run.all_settled_at
    hold = [s[1] for s in samples if hold_from is not None and s[0] >= hold_from]
    active = max(
        1,
        sum(1 for r in results if r.outcome in ("held", "running", "completed", "aborted"))
        if cfg.kind != "first-byte"
        else 1,
    )
    peak = max(rss) if rss else None
    mean = statistics.fmean(rss) if rss else None
    hold_mean = statistics.fmean(hold) if hold else None
    errors: dict[str, int] = {}
    for r in results:
        if r.outcome == "failed" and r.error:
            key = re.sub(r"\d+", "N", r.error)[:120]
            errors[key] = errors.get(key, 0) + 1
    crcs = sorted(
        {f"{r.crc:08x}" for r in results if r.crc is not None and r.outcome == "completed"}
    )
    report: dict[str, Any] = {
        "kind": cfg.kind,
        "clients": cfg.clients,
        "rate": cfg.rate if cfg.kind == "slow" else None,
        "duration_cap_s": cfg.duration,
        "wall_s": round(wall, 3),
        "url_path_prefix": cfg.endpoint.path[:24],
        "outcomes": outcomes,
        "completed": outcomes.get("completed", 0),
        "rejected_503": outcomes.get("rejected", 0),
        "aborted": outcomes.get("aborted", 0),
        "failed": outcomes.get("failed", 0),
        "held": outcomes.get("held", 0),
        "cut": outcomes.get("cut", 0),
        "running_at_end": outcomes.get("running", 0),
        "errors": errors,
        "expected_size": next((r.expected for r in results if r.expected), None),
        "ttfb_ms": {
            "p50": percentile(ttfb, 50),
            "p99": percentile(ttfb, 99),
            "min": min(ttfb) if ttfb else None,
            "max": max(ttfb) if ttfb else None,
            "n": len(ttfb),
        },
        "headers_ms": {"p50": percentile(heads, 50), "p99": percentile(heads, 99)},
        "create_ms": {"p50": percentile(creates, 50), "p99": percentile(creates, 99)}
        if creates
        else None,
        "bytes": total_bytes,
        "throughput_MBps": {
            "aggregate": total_bytes / span / MB if span > 0 else None,
            "per_client_p50": percentile(per_client, 50),
            "per_client_min": min(per_client) if per_client else None,
            "whole_download_p50": percentile(whole, 50),
        },
        "server_rss": {
            "idle": idle_rss or None,
            "peak": peak,
            "mean": mean,
            "hold_mean": hold_mean,
            "samples": len(rss),
            "active_clients": active,
            "peak_delta_per_client": (peak - idle_rss) / active if peak and idle_rss else None,
            "hold_delta_per_client": (hold_mean - idle_rss) / active
            if hold_mean and idle_rss
            else None,
            "error": sampler.error or None,
        },
        "tcp_mem": {
            "idle": idle_tcp,
            "peak": max(tcp) if tcp else None,
            "peak_delta_per_client": (max(tcp) - idle_tcp) / active
            if tcp and idle_tcp is not None
            else None,
        },
        "body_crc32": crcs,
        "metrics": metrics_delta(metrics_before, metrics_after),
    }
    return report


def metrics_delta(
    before: dict[str, float] | None, after: dict[str, float] | None
) -> dict[str, float] | None:
    if before is None or after is None:
        return None
    out = {}
    for key, value in after.items():
        if key.startswith(("planstream_downloads_total", "planstream_downloads_started")):
            out[key] = value - before.get(key, 0.0)
        elif key.startswith(("planstream_resident_memory_bytes", "planstream_download_slots")):
            out[key] = value
    return out


def human_line(rep: dict[str, Any]) -> str:
    def f(v: float | None, spec: str = ".1f") -> str:
        return "-" if v is None else format(v, spec)

    rss = rep["server_rss"]
    per = rss["peak_delta_per_client"]
    return (
        f"{rep['clients']} {rep['kind']}: ttfb p50 {f(rep['ttfb_ms']['p50'])} ms "
        f"p99 {f(rep['ttfb_ms']['p99'])} ms | {f(rep['throughput_MBps']['aggregate'])} MB/s "
        f"aggregate, {f(rep['throughput_MBps']['per_client_p50'], '.3f')} MB/s per client | "
        f"completed {rep['completed']} 503 {rep['rejected_503']} aborted {rep['aborted']} "
        f"held {rep['held']} cut {rep['cut']} running {rep['running_at_end']} "
        f"failed {rep['failed']} | RSS idle {f(rss['idle'] and rss['idle'] / 2**20)} MiB "
        f"peak {f(rss['peak'] and rss['peak'] / 2**20)} MiB "
        f"mean {f(rss['mean'] and rss['mean'] / 2**20)} MiB, "
        f"{f(per and per / 1024)} KiB per client"
    )


async def main_async(
    cfg: Config, pid: int | None, interval: float, idle_seconds: float
) -> dict[str, Any]:
    if cfg.plan is not None and not cfg.fresh_plans:
        assert cfg.base is not None
        path = await create_plan(cfg.base, cfg.plan)
        cfg.endpoint = cfg.base.with_path(path)
    metrics_ep = cfg.base or cfg.endpoint
    metrics_before = await read_metrics(metrics_ep)
    sampler = Sampler(pid, interval)
    loop = asyncio.get_running_loop()
    idle = await loop.run_in_executor(None, idle_level, sampler, idle_seconds)
    sampler.start()
    started = time.perf_counter()
    try:
        results, run = await run_clients(cfg)
    finally:
        sampler.halt.set()
    wall = time.perf_counter() - started
    sampler.join(timeout=2)
    metrics_after = await read_metrics(metrics_ep)
    return summarise(cfg, results, run, sampler, idle, metrics_before, metrics_after, wall)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Concurrent download clients against a local server (127.0.0.1 only)."
    )
    p.add_argument("target", help="download URL, or a plan request as JSON (or @file.json)")
    p.add_argument(
        "--base", help="server URL for a plan request target, e.g. http://127.0.0.1:8080"
    )
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--kind", choices=KINDS, default="fast")
    p.add_argument("--rate", type=parse_size, default=64 * KIB, help="slow clients: bytes/s")
    p.add_argument("--duration", type=float, default=30.0, help="hard cap on the run, seconds")
    p.add_argument(
        "--rcvbuf",
        type=parse_size,
        default=8 * KIB,
        help="SO_RCVBUF of slow and stalled clients (the kernel doubles it)",
    )
    p.add_argument("--resumes", type=int, default=2, help="resuming clients: breaks per download")
    p.add_argument("--sequential", action="store_true", help="one client after another")
    p.add_argument(
        "--fresh-plans",
        action="store_true",
        help="each client POSTs its own plan (distinct name) before downloading",
    )
    p.add_argument(
        "--connect-parallel",
        type=int,
        default=64,
        help="connections being opened at once (the server's listen backlog)",
    )
    p.add_argument(
        "--hold",
        type=float,
        help="slow/stalled: end the run this many seconds after every client has its "
        "headers (still capped by --duration)",
    )
    p.add_argument("--server-pid", type=int, help="sample this process's RSS with psutil")
    p.add_argument("--sample-interval", type=float, default=0.1)
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=1.0,
        help="how long the idle RSS is sampled before the clients start",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write the JSON report here (default: stdout)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS:
        p.error(f"--clients must be 1-{MAX_CLIENTS}")
    if not 0 < args.duration <= MAX_DURATION:
        p.error(f"--duration must be in (0, {MAX_DURATION:g}]")
    if args.kind == "slow" and args.rate <= 0:
        p.error("--rate must be positive")
    target: str = args.target
    plan: dict[str, Any] | None = None
    base: Endpoint | None = None
    try:
        if args.base:
            base = Endpoint.parse(args.base)
        if target.startswith(("{", "@")):
            text = Path(target[1:]).read_text("utf-8") if target[0] == "@" else target
            plan = json.loads(text)
            if base is None:
                p.error("a plan request target needs --base http://127.0.0.1:PORT")
            endpoint = base.with_path("/")
        else:
            endpoint = Endpoint.parse(target)
            base = base or endpoint.with_path("/")
    except (ValueError, OSError) as exc:
        p.error(str(exc))
    if args.fresh_plans and plan is None:
        p.error("--fresh-plans needs a plan request target")
    raise_nofile()
    # Last line of defence: whatever hangs, the process ends shortly after the cap.
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(int(args.duration + args.idle_seconds + 60))
    cfg = Config(
        endpoint=endpoint,
        kind=args.kind,
        clients=args.clients,
        rate=args.rate,
        duration=args.duration,
        rcvbuf=args.rcvbuf,
        seed=args.seed,
        resumes=args.resumes,
        sequential=args.sequential,
        connect_parallel=max(1, args.connect_parallel),
        hold=args.hold,
        plan=plan,
        fresh_plans=args.fresh_plans,
        base=base,
    )
    try:
        report = asyncio.run(
            main_async(cfg, args.server_pid, args.sample_interval, args.idle_seconds)
        )
    except (OSError, ValueError, TimeoutError) as exc:
        print(f"load: cannot run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    report["argv"] = list(argv) if argv is not None else sys.argv[1:]
    print(human_line(report), file=sys.stderr)
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
