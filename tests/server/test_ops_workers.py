"""``--workers 2``: two processes on one port, one secret, summed metrics, restarts.

Runs the real ``python -m server --workers 2`` (the supervisor and its two
forked workers) on 127.0.0.1 without ``--secret``, so the cross-worker link
also proves the supervisor handed both workers the same generated secret.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.ops_support import server_process

from .conftest import PLAN, write_library


def _get(url: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read()


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def _completed(metrics: str) -> int:
    """Downloads that ended, counted by either worker's /metrics.

    ``completed`` plus ``aborted``: a client that reads the last byte and closes
    before the loop finishes the handler is counted ``aborted`` (a known race,
    README "Scale"); this test is about the workers sharing, not that label."""
    total = 0
    for outcome in ("completed", "aborted"):
        pattern = rf'^planstream_downloads_total\{{outcome="{outcome}"\}} (\d+)$'
        m = re.search(pattern, metrics, re.M)
        total += int(m.group(1)) if m else 0
    assert total, metrics
    return total


def _pids(url: str, n: int) -> list[int]:
    return [json.loads(_get(url + "/healthz")[1])["pid"] for _ in range(n)]


@pytest.mark.slow
def test_two_workers_share_port_secret_metrics_restart_and_signals(tmp_path: Path):
    library = write_library(tmp_path / "lib")
    args = ["--workers", "2", "--library", str(library), "--max-per-client", "100"]
    with server_process(args, listening=2) as server:
        assert server.matching("share one random secret")
        shm = [line for line in server.log() if "(tmpfs)" in line]
        assert shm and "/dev/shm/planstream-metrics-" in shm[0]
        metrics_dir = Path(shm[0].split(" in ", 1)[1].split(" (tmpfs)")[0])
        assert metrics_dir.is_dir()
        health = json.loads(_get(server.url + "/healthz")[1])
        assert health["workers"] == 2
        assert health["memory_budget"] * 2 == health["memory_budget_total"]
        assert len(server.matching("/ 2 workers")) == 2  # each start-up log: share and slots

        pids = _pids(server.url, 50)  # 50 requests, a new connection each
        assert len(set(pids)) == 2, pids
        assert min(pids.count(p) for p in set(pids)) >= 3, pids

        meta = _post(server.url + "/api/plans", PLAN)
        creator = server.wait_for("plan created")[0]
        creator_id = re.search(r"\[worker (\d)\]", creator).group(1)
        for _ in range(12):
            status, body = _get(server.url + meta["download_url"])
            assert status == 200 and len(body) == meta["size"]
        # every byte went out: completed, or aborted by the race named in _completed
        lines = server.wait_for(f"bytes={meta['size']} ", count=12)
        served_by = {re.search(r"\[worker (\d)\]", line).group(1) for line in lines}
        other = {"0", "1"} - {creator_id}
        assert served_by & other, "no download on the worker that did not create the link"

        for _ in range(6):  # any worker's /metrics counts both workers' downloads
            assert _completed(_get(server.url + "/metrics")[1].decode()) == 12

        victim = pids[0]
        # its render pool: resource tracker, forkserver, one process per worker
        helpers = psutil.Process(victim).children(recursive=True)
        assert len(helpers) >= 4, [p.cmdline() for p in helpers]
        os.kill(victim, signal.SIGKILL)
        server.wait_for("died with exit code -9: restarting")
        _, orphans = psutil.wait_procs(helpers, timeout=10)  # they end with it, none orphaned
        assert not orphans, [p.pid for p in orphans]
        server.wait_for("listening on", count=3)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = set(_pids(server.url, 20))
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2 and victim not in now, now
        assert _completed(_get(server.url + "/metrics")[1].decode()) == 12  # kept after restart

        server.signal(signal.SIGHUP)  # forwarded: both workers re-index the library
        server.wait_for("SIGHUP, re-indexing", count=2)

        server.signal(signal.SIGTERM)
        assert server.wait(15) == 0
    assert not metrics_dir.exists()  # removed at exit
