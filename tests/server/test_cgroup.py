"""The server in a real 256 MiB memory cgroup: it finds the limit itself and never gets OOM-killed.

Needs root and a writable cgroup hierarchy (v1 memory controller or v2).
Under ``CI=true`` as root it must run; elsewhere it skips with the reason.
The server is started as a plain process moved into a child group of the
test's own group (no namespaces, no ``--memory-budget``), driven on
127.0.0.1 with twice its slots of slow and stalled clients plus 20 POSTs of
different 52-week plans, and then must still serve a normal download.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from server.config import PROC_CGROUP, PROC_MOUNTINFO, _group_dirs, _mounts, _own_groups

from .conftest import PLAN, write_library

LIMIT = 256 << 20


def _child_group(tmp_name: str) -> tuple[Path, str]:
    """Create a child memory cgroup of 256 MiB under our own; (folder, version)."""
    reason = None
    if os.geteuid() != 0:
        reason = "needs root to create a memory cgroup"
    else:
        v2, v1 = _own_groups(PROC_CGROUP)
        mounts_v2, mounts_v1 = _mounts(PROC_MOUNTINFO)
        for version, group, mounts, limit_file in (
            ("v1", v1, mounts_v1, "memory.limit_in_bytes"),
            ("v2", v2, mounts_v2, "memory.max"),
        ):
            dirs = _group_dirs(group, mounts) if group is not None else []
            if not dirs:
                continue
            child = dirs[0] / tmp_name
            try:
                child.mkdir()
                (child / limit_file).write_text(str(LIMIT))
            except OSError as exc:
                reason = f"cannot create a {version} memory cgroup: {exc}"
                if child.exists():
                    child.rmdir()
                continue
            return child, version
        reason = reason or "no memory cgroup hierarchy found"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _oom_kills(group: Path, version: str) -> int:
    text = (group / ("memory.oom_control" if version == "v1" else "memory.events")).read_text()
    m = re.search(r"^oom_kill (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _hold(port: int, path: str, read_rate: int | None) -> int:
    """One client: status of the answer; then read slowly (or not at all) until cancelled."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4096)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split()[1])
    if status != 200:
        writer.transport.abort()
        return status
    try:
        while read_rate:
            if not await reader.read(read_rate // 4):
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(3600)
    finally:
        writer.transport.abort()
    return status


@pytest.mark.slow
async def test_server_in_a_256_mib_cgroup_is_never_oom_killed(tmp_path: Path):
    group, version = _child_group(f"planstream-test-{os.getpid()}")
    library = write_library(tmp_path / "library", size=128 * 1024, per_level=1)
    port = _free_port()
    cmd = (
        f"echo $$ > {group}/cgroup.procs && exec {sys.executable} -m server --port {port} "
        f"--library {library} --queue-timeout 1s --stall-timeout 60s --max-per-client 10000"
    )
    env = dict(os.environ, PLANSTREAM_SECRET="cgroup-test-secret-0123456789", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        ["sh", "-c", cmd], stderr=subprocess.PIPE, text=True, env=env, cwd=os.getcwd()
    )
    lines: list[str] = []
    listening = threading.Event()

    def drain() -> None:  # a full stderr pipe would block the server's event loop
        for line in proc.stderr:
            lines.append(line)
            if "listening on" in line:
                listening.set()
        listening.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        assert listening.wait(60) and proc.poll() is None, "".join(lines)
        log = "".join(lines)
        m = re.search(
            r"memory budget (\d+) MiB \(from cgroup (v1|v2) ([^)]+)\).* -> (\d+) slots", log
        )
        assert m, log
        assert int(m.group(1)) == 256 and str(group) in m.group(3)
        slots = int(m.group(4))
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/api/plans", json=PLAN) as resp:
                assert resp.status == 201
                path = (await resp.json())["download_url"]
            clients = [
                asyncio.ensure_future(_hold(port, path, 16384 if n % 2 else None))
                for n in range(2 * slots)
            ]
            await asyncio.sleep(0.5)

            async def post(n: int) -> int:
                body = dict(PLAN, name=f"孩子{n}", weeks=52, lessons_per_week=7)
                body["exercises_per_lesson"] = 10
                async with session.post(f"{base}/api/plans", json=body) as r:
                    await r.read()
                    return r.status

            posts = await asyncio.gather(*(post(n) for n in range(20)))
            assert set(posts) <= {201, 503}, posts
            # The queue timeout (1 s) has passed for the clients past the slots.
            deadline = time.monotonic() + 30
            done: set[asyncio.Future[int]] = set()
            while time.monotonic() < deadline and len(done) < slots:
                done = {c for c in clients if c.done()}
                await asyncio.sleep(0.2)
            rejected = [c.result() for c in done]
            assert rejected and set(rejected) == {503}, rejected
            async with session.get(f"{base}/healthz") as resp:
                health = await resp.json()
            assert health["in_use"] == slots, health
            for cache in health["caches"].values():  # every cache within its byte bound
                assert cache["bytes"] <= cache["max_bytes"], health["caches"]
            async with session.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
            rss = int(re.search(r"^planstream_resident_memory_bytes (\d+)$", metrics, re.M)[1])
            assert rss < LIMIT, f"RSS {rss >> 20} MiB in a {LIMIT >> 20} MiB group"
            assert len(rejected) == len(clients) - slots
            assert _oom_kills(group, version) == 0
            for c in clients:
                c.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
            await asyncio.sleep(1.0)
            async with session.get(f"{base}{path}") as resp:  # serves normally afterwards
                body = await resp.read()
                assert resp.status == 200 and len(body) == int(resp.headers["Content-Length"])
        assert proc.poll() is None, "server died"
        assert _oom_kills(group, version) == 0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        group.rmdir()
