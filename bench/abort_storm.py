"""Abort storm: thousands of downloads cut at random offsets, and the server's books must balance.

Run: ``python bench/abort_storm.py`` (defaults: 5,000 downloads, 64 at a time)

What it does, on 127.0.0.1 only, bounded in count and time:

- writes a small deterministic library (``bench/make_library.py``, 32 KiB
  files) into a temporary folder and starts ``python -m server`` on a free
  port with it (JSON logs on stderr, collected by a thread);
- creates one plan (1 week x 3 lessons x 7 exercises: generated documents
  sent with ``write()`` and materials sent with ``sendfile``), downloads it
  once whole, then reads the baseline: outcome counts and slots from
  ``/metrics`` and ``/healthz``, and the server's open descriptors
  (``/proc/<pid>/fd``);
- runs ``--downloads`` raw-socket downloads, ``--concurrency`` at a time,
  each reading a random number of bytes of the response (1 byte up to its
  whole length, headers included; one in ten within the first 400 bytes, in
  or just after the head) and then leaving: half with a TCP reset
  (SO_LINGER 0, like a killed browser tab), half with a FIN (close());
- waits until the server is idle again and checks: the outcome counts added
  by the storm add up to the downloads made (every request ends with exactly
  one outcome: aborted, or completed when the kernel had taken the last byte
  before the client left), no download is still holding a slot or queued, the
  descriptors are back to the baseline, and the server's stderr holds no
  ERROR line and no traceback.

Prints a markdown table and exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLAN = {
    "name": "风暴测试",
    "mode": "focus",
    "age": 9,
    "weeks": 1,
    "lessons_per_week": 3,
    "exercises_per_lesson": 7,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(port: int, path: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read()


def outcomes(port: int) -> dict[str, int]:
    text = http(port, "/metrics")[1].decode()
    found = re.findall(r'^planstream_downloads_total\{outcome="(\w+)"\} (\d+)$', text, re.M)
    return {name: int(n) for name, n in found}


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Server:
    """``python -m server`` in a subprocess; its stderr lines kept in memory."""

    def __init__(self, library: Path, port: int) -> None:
        env = dict(os.environ, PLANSTREAM_SECRET="abort-storm-secret-0123456789")
        env["PYTHONPATH"] = str(ROOT)
        cmd = [sys.executable, "-m", "server", "--port", str(port), "--library", str(library)]
        cmd += ["--log-format", "json", "--max-per-client", "100000", "--library-scan", "0"]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "listening on" in line:
                self.ready.set()
        self.ready.set()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def errors(self) -> list[str]:
        bad = []
        for line in self.lines:
            try:
                level = json.loads(line).get("level")
                has_trace = "exc" in json.loads(line)
            except ValueError:
                level, has_trace = None, "Traceback" in line
            if level in ("error", "critical") or has_trace or "Traceback" in line:
                bad.append(line.strip())
        return bad


async def one_download(port: int, path: str, total: int, rng: random.Random, reset: bool) -> int:
    """Read a random number of response bytes, then leave; the bytes read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    # One in ten leaves within the first 400 bytes (in or just after the head).
    want = rng.randrange(1, 400) if rng.random() < 0.1 else rng.randrange(1, total + 1)
    got = 0
    try:
        while got < want:
            data = await asyncio.wait_for(reader.read(min(65536, want - got)), 30)
            if not data:
                break
            got += len(data)
    finally:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()
    return got


async def storm(port: int, path: str, total: int, n: int, concurrency: int, seed: int) -> dict:
    rng = random.Random(seed)
    gate = asyncio.Semaphore(concurrency)
    counts = {"reset": 0, "fin": 0, "in_head": 0, "client_errors": 0}
    head_len = 0

    async def run(i: int) -> None:
        reset = i % 2 == 0
        async with gate:
            try:
                got = await one_download(port, path, total, rng, reset)
            except (OSError, TimeoutError):
                counts["client_errors"] += 1
                return
        counts["reset" if reset else "fin"] += 1
        if got < head_len:
            counts["in_head"] += 1

    head_len = 400  # about the response head's length: a cut below it leaves inside the headers
    await asyncio.gather(*(run(i) for i in range(n)))
    return counts


def wait_idle(port: int, expected: int, baseline_total: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        health = json.loads(http(port, "/healthz")[1])
        done = sum(outcomes(port).values()) - baseline_total
        if (health["in_use"] == 0 and health["queued"] == 0 and done >= expected) or (
            time.monotonic() > deadline
        ):
            return health
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--downloads", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if not 1 <= args.downloads <= 20000 or not 1 <= args.concurrency <= 512:
        p.error("--downloads 1..20000, --concurrency 1..512 (a bounded run)")
    with tempfile.TemporaryDirectory(prefix="abort-storm-") as tmp:
        library = Path(tmp) / "library"
        subprocess.run(
            [
                *(sys.executable, str(HERE / "make_library.py"), "--out", str(library)),
                *("--file-size", "32KiB", "--files-per-level", "2"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        port = free_port()
        server = Server(library, port)
        try:
            return run_storm(server, port, args)
        finally:
            server.stop()


def settle_descriptors(pid: int, baseline: int) -> tuple[int, list[str]]:
    """Open descriptors once the last FINs have landed, and what they are if above baseline."""
    fds = descriptors(pid)
    for _ in range(50):  # a connection whose FIN is still on its way closes within moments
        if fds <= baseline:
            return fds, []
        time.sleep(0.2)
        fds = descriptors(pid)
    return fds, sorted(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))


def run_storm(server: Server, port: int, args: argparse.Namespace) -> int:
    if not server.ready.wait(60) or server.proc.poll() is not None:
        print("".join(server.lines), file=sys.stderr)
        return 1
    status, body = http(port, "/api/plans", PLAN)
    meta = json.loads(body)
    path, size = meta["download_url"], meta["size"]
    assert status == 201 and len(http(port, path)[1]) == size  # one whole download: warm-up
    time.sleep(0.3)
    before = outcomes(port)
    base_total = sum(before.values())
    base_fds = descriptors(server.proc.pid)
    t0 = time.monotonic()
    total = size + 400  # response bytes: the body and about the head
    counts = asyncio.run(storm(port, path, total, args.downloads, args.concurrency, args.seed))
    took = time.monotonic() - t0
    made = args.downloads - counts["client_errors"]
    health = wait_idle(port, made, base_total, 60)
    time.sleep(0.5)
    after = outcomes(port)
    added = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    fds, left = settle_descriptors(server.proc.pid, base_fds)
    errors = server.errors()
    checks = {
        "outcomes add up to the downloads made": sum(added.values()) == made,
        "no slot in use, nothing queued": health["in_use"] == 0 and health["queued"] == 0,
        "descriptors back to baseline": fds <= base_fds,
        "no ERROR line or traceback on stderr": not errors,
        "no failed download": added.get("failed", 0) == 0,
    }
    print(
        f"# abort storm: {args.downloads:,} downloads of a {size:,}-byte plan, "
        f"{args.concurrency} at a time, {took:.1f} s\n"
    )
    print("| figure | value |\n|---|---:|")
    print(f"| downloads made (client errors) | {made:,} ({counts['client_errors']}) |")
    print(f"| left with RST / with FIN | {counts['reset']:,} / {counts['fin']:,} |")
    print(f"| left inside the response head (about) | {counts['in_head']:,} |")
    for name, n in sorted(added.items()):
        print(f"| outcome {name} | {n:,} |")
    print(f"| sum of outcomes | {sum(added.values()):,} |")
    print(f"| slots in use / queued after | {health['in_use']} / {health['queued']} |")
    print(f"| descriptors before / after | {base_fds} / {fds} |")
    print(f"| ERROR lines or tracebacks on stderr | {len(errors)} |")
    print()
    for name, ok in checks.items():
        print(f"- {'ok' if ok else 'FAILED'}: {name}")
    if left:
        print(f"  descriptors open: {left}")
    for line in errors[:5]:
        print(f"  {line[:300]}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
