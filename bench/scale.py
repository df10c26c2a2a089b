"""Scale: 10,000 slow and stalled downloads in 2 GiB, a fast client beside them, no loop stall.

Run: ``python bench/scale.py --clients 10000`` (``make bench`` runs a smaller,
time-capped ``--clients 2000``). ``--server-root DIR`` runs the server from
another checkout (e.g. ``git archive fdddb41 | tar -x -C DIR``) for a
before/after comparison of the lag phases; ``--phases`` picks a subset.

What it measures, and why (issue 10):

- ``hold``: ``--clients`` downloads of the reference plan held at once, half
  reading at 16 KiB/s and half stalled after their first 4 KiB, from a few
  client processes (sockets with 4 KiB receive buffers; each process stays
  under the 20,000 descriptor limit). Reported: how many got 200 and are
  receiving, how many got 503, the server's RSS (its render workers
  separately) and the kernel memory of the server's own sockets (``ss -tm``
  on its port: receive + send queue + forward allocation).
- ``fast``: one client downloads the reference plan from planstream and from
  aiohttp ``FileResponse`` (``peer_fileresponse.py``, the same bytes
  prebuilt), alternating, median of ``--fast-rounds``; once with no load and
  once while the ``hold`` clients are held. The ratio is what counts. Each
  round also records its first byte's wait (``*_ttfb_ms``). ``--pin`` is a
  control for the kernel's placement: both servers on the last CPU, the fast
  client on CPU 0 (with no pin, on two cores the scheduler put the server
  and this client on one CPU for much of planstream's downloads, which
  sleep on a full socket more often than ``FileResponse``'s single
  ``sendfile``; a client on another machine shares no CPU with the server).
- ``lag``: on a fresh server, at once: 8 parallel Range segments of a
  never-downloaded 52-week plan, 5 creations of the largest plan with new
  names, 100 fast downloads of the reference plan (``--fast-together`` at a
  time, 10 by default). The mix's clients run at ``--client-nice`` (10): on
  this two-core host they stand in for clients on other machines. Reported:
  the server's own loop-lag and GC-pause maxima from ``/metrics`` (wall and
  less what the host took), how many of the mix's 10 ms ticks were late by
  over 10 and 20 ms, the host's steal time, and a ``/healthz`` asked every
  10 ms by a probe process of its own, at the server's priority.
- ``ttfb``: time to the first body byte of the last 200 KB of a
  never-downloaded 52-week plan.

The machine is shared: read ratios, and the run-queue-free figures for the
server's own stalls. Everything binds to 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import compare  # noqa: E402  (bench scripts share the reference plan and helpers)

HOST = "127.0.0.1"
PY = sys.executable
BIG = dict(compare.REFERENCE_PLAN, weeks=52, lessons_per_week=7, exercises_per_lesson=10)
TAIL = 200_000
PER_PROCESS = 2500  # client connections per client process


# -- client process ------------------------------------------------------------------


async def _hold_one(port: int, path: str, slow: bool, rate: int, st: dict[str, int]) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=8192)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 120)
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        st["errors"] += 1
        sock.close()
        return
    status = int(head.split()[1])
    if status != 200:
        st["rejected" if status == 503 else "errors"] += 1
        writer.close()
        return
    st["ok"] += 1
    got = 0
    try:
        while got < 4096:
            data = await reader.read(4096 - got)
            if not data:
                raise ConnectionError
            got += len(data)
        st["receiving"] += 1
        if not slow:
            await asyncio.sleep(1e6)
        t0 = time.monotonic()
        while True:
            data = await reader.read(4096)
            if not data:
                raise ConnectionError
            got += len(data)
            ahead = got / rate - (time.monotonic() - t0)
            if ahead > 0:
                await asyncio.sleep(ahead)
    except (OSError, ConnectionError):
        st["lost"] += 1


async def _client_main(port: int, path: str, count: int, first: int, rate: int) -> None:
    st = {"ok": 0, "receiving": 0, "rejected": 0, "errors": 0, "lost": 0}
    tasks = []
    for k in range(count):
        slow = (first + k) % 2 == 0
        tasks.append(asyncio.ensure_future(_hold_one(port, path, slow, rate, st)))
        if k % 100 == 99:
            await asyncio.sleep(0.05)  # pace the connects: the listen backlog is finite
    while True:
        print(json.dumps(st), flush=True)
        await asyncio.sleep(1.0)


# -- measuring the server ------------------------------------------------------------


SKMEM = re.compile(r"skmem:\(r(\d+),rb\d+,t\d+,tb\d+,f(\d+),w(\d+)")


def server_socket_memory(port: int) -> tuple[int, int]:
    """(sockets, bytes) of kernel memory held by the server's side of its connections."""
    out = subprocess.run(
        ["ss", "-tmnH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    total = n = 0
    for m in SKMEM.finditer(out):
        total += int(m.group(1)) + int(m.group(2)) + int(m.group(3))
        n += 1
    return n, total


def metrics(base: str) -> dict[str, float]:
    with urllib.request.urlopen(base + "/metrics", timeout=30) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and " " in line:
            k, v = line.rsplit(" ", 1)
            with contextlib.suppress(ValueError):
                out[k] = float(v)
    return out


@dataclass
class Proc:
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, port: int, log: Path) -> None:
        env = dict(os.environ, **self.env)
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb")
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, port), 0.5).close()
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[:3]} exited: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def planstream(root: Path, library: Path, port: int) -> Proc:
    argv = [PY, "-m", "server", "--host", HOST, "--port", str(port), "--library", str(library)]
    argv += ["--secret", "bench-secret-not-for-production", "--stall-timeout", "900s"]
    argv += ["--min-rate", "1", "--max-per-client", "100000", "--queue-timeout", "30s"]
    return Proc(argv, root, {"PYTHONPATH": str(root)})


def fast_download(base: str, path: str, ttfb: list[float] | None = None) -> float:
    """Bytes/s of one download read as fast as possible (its first byte's wait appended
    to ``ttfb``: beside 10,000 held downloads the loop's turns before the first byte
    are a share of a ~0.1 s download that a copy rate does not show)."""
    t = time.perf_counter()
    n = 0
    with urllib.request.urlopen(base + path, timeout=300) as r:
        block = r.read(1)
        if ttfb is not None:
            ttfb.append(time.perf_counter() - t)
        while block:
            n += len(block)
            block = r.read(1 << 20)
    return n / (time.perf_counter() - t)


def _server_of(base: str) -> psutil.Process:
    """The process listening on ``base``'s port (planstream or the FileResponse server)."""
    port = base.rsplit(":", 1)[1].strip("/")
    for p in psutil.process_iter(["cmdline"]):
        argv = p.info["cmdline"] or []
        if port in argv or any(a.endswith(f":{port}") or a == f"--port={port}" for a in argv):
            return p
    raise RuntimeError(f"no process listens on {base}")


def fast_pair(ps: str, ps_path: str, fr: str, fr_path: str, rounds: int) -> dict[str, Any]:
    """Alternating fast downloads from planstream and FileResponse; medians and every round.

    Each round also records its server's CPU use (user + system over the
    round's wall time), so a slow round can be told apart: a busy server, or
    one waiting on something.
    """
    a: list[float] = []
    b: list[float] = []
    cpu: dict[str, list[float]] = {ps: [], fr: []}
    first: dict[str, list[float]] = {ps: [], fr: []}
    procs = {ps: _server_of(ps), fr: _server_of(fr)}
    for k in range(rounds):
        order = [(a, ps, ps_path), (b, fr, fr_path)]
        for out, base, path in order if k % 2 == 0 else order[::-1]:
            c0, w0 = sum(procs[base].cpu_times()[:2]), time.perf_counter()
            out.append(fast_download(base, path, first[base]))
            c1, w1 = sum(procs[base].cpu_times()[:2]), time.perf_counter()
            cpu[base].append(round((c1 - c0) / (w1 - w0) * 100))
    pa, fb = statistics.median(a), statistics.median(b)
    return {
        "planstream_MBps": pa / 1e6,
        "fileresponse_MBps": fb / 1e6,
        "ratio": pa / fb,
        "planstream_ttfb_ms": round(statistics.median(first[ps]) * 1000, 2),
        "fileresponse_ttfb_ms": round(statistics.median(first[fr]) * 1000, 2),
        # every round, so an outlier the median hides is still seen
        "planstream_rounds_MBps": [round(x / 1e6, 1) for x in a],
        "fileresponse_rounds_MBps": [round(x / 1e6, 1) for x in b],
        "planstream_rounds_cpu_pct": cpu[ps],
        "fileresponse_rounds_cpu_pct": cpu[fr],
        "planstream_rounds_ttfb_ms": [round(x * 1000, 2) for x in first[ps]],
        "fileresponse_rounds_ttfb_ms": [round(x * 1000, 2) for x in first[fr]],
    }


# -- phases --------------------------------------------------------------------------


def post(base: str, plan: dict[str, Any]) -> dict[str, Any]:
    return compare.http_post_json(base + "/api/plans", plan, timeout=300)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3] if url.startswith("http") else url


KEYS = ("ok", "receiving", "rejected", "errors", "lost")


def _sum(state: dict[int, dict[str, int]]) -> dict[str, int]:
    return {k: sum(s[k] for s in state.values()) for k in KEYS}


def _children_rss(srv: Proc) -> int:
    """RSS of the server's render workers and forkserver (they are memory it uses too)."""
    assert srv.proc is not None
    return sum(p.memory_info().rss for p in psutil.Process(srv.proc.pid).children(recursive=True))


def _settle(base: str, limit: float = 120.0) -> float:
    """Seconds until /healthz answers within 20 ms three times running, once all are held.

    Starting 10,000 downloads and filling their sockets is work (on loopback
    the kernel delivers every byte in the sender's syscall): for 20-25 s
    after the last client received its first bytes the loop was busy and
    /healthz took 1-5 s. The fast rounds measure the held state after that;
    how long it takes is reported.
    """
    t0 = time.monotonic()
    good = 0
    while good < 3 and time.monotonic() - t0 < limit:
        t = time.perf_counter()
        with urllib.request.urlopen(base + "/healthz", timeout=limit) as r:
            r.read()
        good = good + 1 if time.perf_counter() - t < 0.02 else 0
        time.sleep(0.5)
    return round(time.monotonic() - t0, 1)


def hold_phase(args: argparse.Namespace, srv: Proc, base: str, port: int, fr: str) -> dict:
    ref = path_of(post(base, compare.REFERENCE_PLAN)["download_url"])
    clients = []
    for first in range(0, args.clients, PER_PROCESS):
        count = min(PER_PROCESS, args.clients - first)
        argv = [PY, __file__, "--as-client", str(port), ref, str(count), str(first)]
        argv += ["--client-nice", str(args.client_nice)]
        clients.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True))
    state: dict[int, dict[str, int]] = {}
    deadline = time.monotonic() + args.hold_timeout
    peak_rss = peak_kernel = 0
    try:
        while time.monotonic() < deadline:
            for i, c in enumerate(clients):
                line = c.stdout.readline() if c.stdout else ""
                if line:
                    state[i] = json.loads(line)
            total = {
                k: sum(s[k] for s in state.values())
                for k in ("ok", "receiving", "rejected", "errors", "lost")
            }
            done = total["receiving"] + total["rejected"] + total["errors"] + total["lost"]
            if done >= args.clients:
                break
        settle = _settle(base)
        samples = []
        for _ in range(3):
            rss = psutil.Process(srv.proc.pid).memory_info().rss  # type: ignore[union-attr]
            workers = sum(
                p.memory_info().rss for p in psutil.Process(srv.proc.pid).children(recursive=True)
            )  # type: ignore[union-attr]
            socks, kernel = server_socket_memory(port)
            samples.append((rss, workers, socks, kernel))
            peak_rss, peak_kernel = max(peak_rss, rss), max(peak_kernel, kernel)
            time.sleep(1)
        for i, c in enumerate(clients):
            line = c.stdout.readline() if c.stdout else ""
            if line:
                state[i] = json.loads(line)
        total = {
            k: sum(s[k] for s in state.values())
            for k in ("ok", "receiving", "rejected", "errors", "lost")
        }
        m = metrics(base)
        loaded = fast_pair(base, ref, fr, "/api/plans/x.zip", args.fast_rounds)
        rss, workers, socks, kernel = samples[-1]
        return {
            "clients": args.clients,
            **total,
            "server_sockets": socks,
            "server_rss_MiB": rss / 2**20,
            "render_workers_rss_MiB": workers / 2**20,
            "server_kernel_tcp_MiB": kernel / 2**20,
            "rss_plus_kernel_MiB": (peak_rss + peak_kernel) / 2**20,
            "rss_plus_workers_plus_kernel_MiB": (peak_rss + workers + peak_kernel) / 2**20,
            "slots": m.get("planstream_slots"),
            "settle_s": settle,
            "fast_under_load": loaded,
        }
    finally:
        for c in clients:
            c.kill()
            c.wait()


async def _probe(base: str, stop: asyncio.Event) -> float:
    """Worst /healthz latency from when it was due (every 10 ms), from this process."""
    import aiohttp

    worst = 0.0
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as s:
        due = loop.time()
        while not stop.is_set():
            due += 0.01
            await asyncio.sleep(max(0.0, due - loop.time()))
            async with s.get(base + "/healthz") as r:
                await r.read()
            worst = max(worst, loop.time() - due)
            due = max(due, loop.time())
    return worst


def _probe_main(base: str) -> None:
    """In its own process (``--as-probe``): probe until stdin closes, print the worst ms.

    Not in the process that drives the mix: its 100 fast downloads keep its
    own loop busy, and the probe measured that loop's lag, not the server's
    (1.5 s worst where the server's own lag was 18 ms).
    """

    async def run() -> float:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(sys.stdin.fileno(), stop.set)
        return await _probe(base, stop)

    print(f"{asyncio.run(run()) * 1e3:.1f}", flush=True)


async def _lag_mix(base: str, ref: str, together: int) -> dict[str, Any]:
    """The mix itself (in a process of its own, ``--as-mix``): what it got, and how long."""
    import aiohttp

    t0 = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as s:
        async with s.post(base + "/api/plans", json=dict(BIG, name="分段下载")) as r:
            meta = await r.json()
        seg_url, size = base + path_of(meta["download_url"]), meta["size"]
        cuts = [size * k // 8 for k in range(9)]

        async def segment(k: int) -> int:
            hdr = {"Range": f"bytes={cuts[k]}-{cuts[k + 1] - 1}"}
            async with s.get(seg_url, headers=hdr) as r:
                return len(await r.read())

        async def create(k: int) -> int:
            async with s.post(base + "/api/plans", json=dict(BIG, name=f"新计划{k}")) as r:
                return r.status

        sem = asyncio.Semaphore(together)

        async def fast() -> int:
            async with sem, s.get(base + ref) as r:
                n = 0
                async for block in r.content.iter_chunked(1 << 20):
                    n += len(block)
                return n

        results = await asyncio.gather(
            *(segment(k) for k in range(8)),
            *(create(k) for k in range(5)),
            *(fast() for _ in range(100)),
        )
    return {
        "segments_ok": sum(results[:8]) == size,
        "creations": results[8:13],
        "fast_ok": sum(1 for n in results[13:] if n > 0),
        "fast_together": together,
        "seconds": time.perf_counter() - t0,
    }


def _mix_main(base: str, ref: str, together: int, nice: int) -> None:
    """``--as-mix``: the mix's clients at ``nice`` (see ``lag_phase``), its report as JSON."""
    if nice:
        os.nice(nice)
    print(json.dumps(asyncio.run(_lag_mix(base, ref, together))), flush=True)


def _steal_ms() -> list[int]:
    """Each CPU's steal time so far (/proc/stat, in clock ticks of 10 ms): the host's share."""
    tick = 1000 // os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        return [int(ln.split()[8]) * tick for ln in f if re.match(r"cpu\d", ln)]


def lag_phase(base: str, args: argparse.Namespace) -> dict[str, Any]:
    """The lag mix against a fresh server, with the /healthz probe beside it.

    The mix's clients share the server's two cores here; in service they
    are on other machines. Their 100 fast downloads read as fast as the
    loop sends, so at the same priority they took the CPU from the loop
    for up to 28 ms at a time (run-queue wait, which the wall lag
    includes). So they run at ``--client-nice`` (default 10; 0 to compare),
    the probe at the server's own priority. The "own" figures take the
    run-queue wait out either way.
    """
    ref = path_of(post(base, compare.REFERENCE_PLAN)["download_url"])
    fast_download(base, ref)  # warm: the reference plan's documents are cached, as in production
    before = metrics(base)
    stolen = _steal_ms()
    probe = subprocess.Popen(
        [PY, __file__, "--as-probe", base],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        mix = subprocess.run(
            [PY, __file__, "--as-mix", base, ref, str(args.fast_together), str(args.client_nice)],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
            timeout=1800,
        )
    finally:
        out_probe, _ = probe.communicate(input="stop\n", timeout=60)
    out: dict[str, Any] = json.loads(mix.stdout)
    out["client_nice"] = args.client_nice
    out["host_steal_ms"] = [b - a for a, b in zip(stolen, _steal_ms(), strict=True)]
    out["healthz_worst_ms"] = float(out_probe.strip())
    m = metrics(base)
    out["loop_lag_max_ms"] = m.get("planstream_event_loop_lag_max_seconds", float("nan")) * 1e3
    own = m.get("planstream_event_loop_own_lag_max_seconds")
    out["loop_own_lag_max_ms"] = own * 1e3 if own is not None else None
    out["gc_pause_max_ms"] = m.get("planstream_gc_pause_max_seconds", float("nan")) * 1e3
    gown = m.get("planstream_gc_own_pause_max_seconds")
    out["gc_own_pause_max_ms"] = gown * 1e3 if gown is not None else None
    out["lag_max_before_mix_ms"] = before.get("planstream_event_loop_lag_max_seconds", 0) * 1e3
    # A maximum is one event (on this VM often the host's); how many 10 ms
    # ticks of the mix were late by more than 10 and 20 ms says more.
    for kind in ("", "own_"):
        name = f"planstream_event_loop_{kind}lag_seconds"
        count = m.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
        for bound in ("0.01", "0.02"):
            key = f'{name}_bucket{{le="{bound}"}}'
            within = m.get(key, 0) - before.get(key, 0)
            out[f"{kind}ticks_over_{int(float(bound) * 1e3)}ms"] = int(count - within)
        out[f"{kind}ticks"] = int(count)
    return out


def ttfb_phase(base: str) -> dict[str, Any]:
    meta = post(base, dict(BIG, name="尾部窗口"))
    size = meta["size"]
    req = urllib.request.Request(
        base + path_of(meta["download_url"]), headers={"Range": f"bytes={size - TAIL}-"}
    )
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=300) as r:
        r.read(1)
        first = time.perf_counter() - t
        rest = 1 + len(r.read())
    return {"tail_ttfb_s": first, "tail_bytes": rest}


# -- main ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--rate", type=int, default=16 * 1024, help="bytes/s of each slow client")
    p.add_argument("--fast-rounds", type=int, default=3)
    p.add_argument("--hold-timeout", type=float, default=300)
    p.add_argument("--phases", default="fast,hold,lag,ttfb")
    p.add_argument("--server-root", type=Path, default=compare.REPO)
    p.add_argument("--out", type=Path, help="write the report here as JSON")
    p.add_argument("--keep-logs", type=Path, help="copy the servers' logs to this folder")
    p.add_argument("--as-client", nargs=4, help=argparse.SUPPRESS)
    p.add_argument("--fast-together", type=int, default=10, help="lag mix: fast downloads at once")
    p.add_argument(
        "--client-nice",
        type=int,
        default=10,
        help="the load's clients' nice (held and mix clients; 0: the servers')",
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="fast phases: both servers on the last CPU, the fast client on CPU 0",
    )
    p.add_argument("--as-probe", help=argparse.SUPPRESS)
    p.add_argument("--as-mix", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.as_mix:
        base, ref, together, nice = args.as_mix
        _mix_main(base, ref, int(together), int(nice))
        return 0
    if args.as_probe:
        _probe_main(args.as_probe)
        return 0
    if args.as_client:
        port, path, count, first = args.as_client
        compare_nofile()
        if args.client_nice:
            os.nice(args.client_nice)
        asyncio.run(_client_main(int(port), path, int(count), int(first), args.rate))
        return 0
    compare_nofile()
    phases = set(args.phases.split(","))
    report: dict[str, Any] = {"command": " ".join(sys.argv), "server_root": str(args.server_root)}
    procs: list[Proc] = []
    with tempfile.TemporaryDirectory(prefix="planstream-scale-") as tmp:
        try:
            paths, _, _ = compare.prepare(Path(tmp), 3)
            fr_port = compare.free_port()
            fr = Proc(
                [
                    PY,
                    str(BENCH / "peer_fileresponse.py"),
                    "--port",
                    str(fr_port),
                    "--archive",
                    str(paths.archive),
                ],
                BENCH,
            )
            fr.start(fr_port, paths.logs / "fileresponse.log")
            procs.append(fr)
            frb = f"http://{HOST}:{fr_port}"
            if phases & {"fast", "hold"}:
                port = compare.free_port()
                srv = planstream(args.server_root, paths.library, port)
                srv.start(port, paths.logs / "planstream.log")
                procs.append(srv)
                base = f"http://{HOST}:{port}"
                ref = path_of(post(base, compare.REFERENCE_PLAN)["download_url"])
                fast_download(base, ref)
                if args.pin:
                    report["pinned"] = pin(frb, base)
                if "fast" in phases:
                    report["fast_no_load"] = fast_pair(
                        base, ref, frb, "/api/plans/x.zip", args.fast_rounds
                    )
                    print("fast, no load:", report["fast_no_load"], flush=True)
                if "hold" in phases:
                    report["hold"] = hold_phase(args, srv, base, port, frb)
                    print("hold:", report["hold"], flush=True)
                srv.stop()
            for name in ("lag", "ttfb"):
                if name in phases:
                    port = compare.free_port()
                    srv = planstream(args.server_root, paths.library, port)
                    srv.start(port, paths.logs / f"planstream-{name}.log")
                    procs.append(srv)
                    base = f"http://{HOST}:{port}"
                    report[name] = lag_phase(base, args) if name == "lag" else ttfb_phase(base)
                    print(f"{name}:", report[name], flush=True)
                    srv.stop()
        finally:
            for proc in procs:
                proc.stop()
            if args.keep_logs:
                shutil.copytree(paths.logs, args.keep_logs, dirs_exist_ok=True)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


def pin(*servers: str) -> dict[str, Any]:
    """Every thread of each server on the last CPU, this process (the fast client) on CPU 0.

    Threads a server starts later inherit it; the held clients are other
    processes and stay free.
    """
    last = max(os.sched_getaffinity(0))
    for base in servers:
        for thread in _server_of(base).threads():
            os.sched_setaffinity(thread.id, {last})
    os.sched_setaffinity(0, {0})
    return {"servers_cpu": last, "fast_client_cpu": 0}


def compare_nofile() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    sys.exit(main())
