"""Side-by-side benchmark: planstream against the replaced design, its peers and the ceiling.

Run: ``python bench/compare.py --profile short`` (``make bench``, under 10 minutes on
2 cores) or ``--profile full`` (``make bench-full``: the concurrency ladder).

What it measures, and why. planstream's claims are relative: it starts a
download sooner than the design it replaces, sends it about as fast as a
prebuilt file, and holds far more downloads in the same memory than the
libraries a Python team would otherwise use. So every server serves the
same plan (the 168 MiB reference plan: 4 weeks x 3 lessons x 7 exercises of
2 MiB materials, from a synthetic library made by ``make_library.py``) and
faces the same workloads from ``load.py``:

- ``content``: one full download from each server, opened with ``zipfile``
  and compared (names, sizes, CRC-32) with the CLI's archive: same content;
- ``ttfb``: sequential first-byte requests (time to first body byte);
- ``fast-1`` (one client at a time; several sequential downloads per cell,
  several rounds with the server order alternating between rounds, so drift
  in the machine's state does not favour one server) and ``fast-10``:
  throughput; ``fast-1-new-plan``: the same for a plan the server has never
  seen (a distinct student name per request), so no cache of rendered
  documents helps;
- ``resuming-10``: downloads broken twice and resumed with Range/If-Range;
- ``slow-N`` (``--rate`` bytes/s per client) and ``stalled-N``: resident
  memory per download. Each such cell starts a fresh server process, warms
  it with one download, samples its idle RSS, then runs the clients: a
  reused process would hide allocations in memory freed by an earlier cell;
- ``admission``: planstream with a small memory budget (S slots) and
  ``--queue-timeout 0`` against S + 100 stalled clients: exactly 100 must
  get 503 and RSS must stay under the budget.

Servers (each a subprocess on its own 127.0.0.1 port, stopped at the end and
on any error or time-out): ``planstream`` (``python -m server``),
``disk-baseline`` (``baseline_disk.py``), ``zipstream-loop`` /
``zipstream-thread`` (``peer_zipstream.py``), ``streamzip-loop`` /
``streamzip-thread`` (``peer_streamzip.py``), ``fileresponse``
(``peer_fileresponse.py``, the archive prebuilt by planstream's CLI). The
disk baseline holds a whole archive in memory per download, so it runs the
TTFB and fast workloads only; its memory rows say so instead of running a
ladder that would need ~170 MiB per client.

Output: ``bench/results/<date>[-full].json`` (every row, the machine, the
command), the markdown table (also printed) and PNG plots, written by
``compare_report.py``. A server or client that crashes yields a failed row.
Everything else (library, prebuilt archive, downloads, logs) lives in a
temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import compare_report
import make_library
import psutil

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PY = sys.executable
HOST = "127.0.0.1"
MiB = 1 << 20

REFERENCE_PLAN: dict[str, Any] = {
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


# -- profiles ------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    name: str
    ttfb_samples: int
    ttfb_new_plan: int  # first-byte samples, each for a plan never requested before
    baseline_ttfb_samples: int
    fast_rounds: int
    fast_repeats: int  # sequential downloads per fast-1 cell (their median is the cell's rate)
    fast_many: int  # clients of the fast-N workload
    resuming: int
    aborting: int
    slow: tuple[int, ...]
    stalled: tuple[int, ...]
    slow_hold: float  # seconds a slow run goes on once every client has its headers
    stalled_hold: float  # the same for stalled runs
    cap_per_client: float  # hard cap of a slow/stalled run: 30 s + this per client
    admission_budget: str
    time_limit: float  # seconds for the whole run


PROFILES = {
    "short": Profile(
        name="short", ttfb_samples=20, ttfb_new_plan=10, baseline_ttfb_samples=3,
        fast_rounds=3, fast_repeats=5, fast_many=10, resuming=10, aborting=20, slow=(100,),
        stalled=(200,),
        slow_hold=10, stalled_hold=4, cap_per_client=0.1, admission_budget="300MiB",
        time_limit=570,
    ),
    "full": Profile(
        name="full", ttfb_samples=50, ttfb_new_plan=20, baseline_ttfb_samples=5,
        fast_rounds=5, fast_repeats=5, fast_many=10, resuming=20, aborting=100,
        slow=(1, 10, 100, 500, 1000, 2000),
        stalled=(1, 10, 100, 500, 1000, 2000), slow_hold=15, stalled_hold=5,
        cap_per_client=0.1, admission_budget="300MiB", time_limit=3 * 3600,
    ),
}  # fmt: skip


# -- servers -------------------------------------------------------------------------


@dataclass
class Paths:
    tmp: Path
    library: Path
    archive: Path
    workdir: Path
    logs: Path


@dataclass(frozen=True)
class ServerSpec:
    name: str
    role: str  # product | baseline | peer | ceiling
    what: str
    argv: Callable[[Paths, int], list[str]]
    ladder: bool = True  # takes part in the slow / stalled memory ladder


def _planstream(paths: Paths, port: int) -> list[str]:
    return [
        PY,
        "-m",
        "server",
        "--host",
        HOST,
        "--port",
        str(port),
        "--library",
        str(paths.library),
        "--secret",
        "bench-secret-not-for-production",
        "--stall-timeout",
        "900s",
        "--log-format",
        "json",
    ]


def _script(name: str, *extra: str) -> Callable[[Paths, int], list[str]]:
    def argv(paths: Paths, port: int) -> list[str]:
        out = [PY, str(BENCH / name), "--port", str(port), "--library", str(paths.library)]
        for arg in extra:
            out.append(
                arg.replace("{archive}", str(paths.archive)).replace("{work}", str(paths.workdir))
            )
        return out

    return argv


SERVERS: dict[str, ServerSpec] = {
    s.name: s
    for s in (
        ServerSpec("planstream", "product", "python -m server", _planstream),
        ServerSpec(
            "disk-baseline",
            "baseline",
            "replaced design: folder on disk, ZIP_DEFLATED into BytesIO, rmtree, send",
            _script("baseline_disk.py", "--workdir", "{work}"),
            ladder=False,
        ),
        ServerSpec(
            "zipstream-loop",
            "peer",
            "zipstream-ng ZipStream(sized=True), iterated on the event loop",
            _script("peer_zipstream.py", "--mode", "loop"),
        ),
        ServerSpec(
            "zipstream-thread",
            "peer",
            "zipstream-ng, each chunk taken in the default thread pool",
            _script("peer_zipstream.py", "--mode", "thread"),
        ),
        ServerSpec(
            "streamzip-loop",
            "peer",
            "stream-zip stream_zip(), NO_COMPRESSION_32(size, crc), on the event loop",
            _script("peer_streamzip.py", "--mode", "loop"),
        ),
        ServerSpec(
            "streamzip-thread",
            "peer",
            "stream-zip async_stream_zip() (its thread-pool async interface)",
            _script("peer_streamzip.py", "--mode", "thread"),
        ),
        ServerSpec(
            "fileresponse",
            "ceiling",
            "aiohttp web.FileResponse of the archive prebuilt by the CLI (sendfile)",
            _script("peer_fileresponse.py", "--archive", "{archive}"),
        ),
    )
}


class ServerFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """GET a local URL, never through a proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post_json(url: str, body: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with opener.open(req, timeout=timeout) as resp:
        return json.loads(resp.read())


LIVE: list[Server] = []  # every started server, for clean-up on any exit


class Server:
    """One server process on its own port; started, health-checked, stopped."""

    def __init__(self, spec: ServerSpec, paths: Paths, extra: Sequence[str] = ()) -> None:
        self.spec = spec
        self.paths = paths
        self.extra = list(extra)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = paths.logs / f"{spec.name}.log"
        self.starts = 0

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        self.stop()
        self.port = free_port()
        self.starts += 1
        argv = self.spec.argv(self.paths, self.port) + self.extra
        log = self.log_path.open("ab")
        log.write(f"\n=== start {self.starts}: {' '.join(argv)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        LIVE.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerFailed(f"{self.spec.name} exited at start-up: {self.log_tail()}")
            with contextlib.suppress(OSError):
                status, _ = http_get(self.base + "/healthz", timeout=2)
                if status == 200:
                    return
            time.sleep(0.1)
        raise ServerFailed(f"{self.spec.name} not ready within {timeout:g} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        with contextlib.suppress(ValueError):
            LIVE.remove(self)
        self.proc = None

    def exit_note(self) -> str:
        rc = self.proc.poll() if self.proc is not None else None
        return f"{self.spec.name} exited (rc {rc}): {self.log_tail()}"

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])[-800:]


def stop_all() -> None:
    for server in list(LIVE):
        with contextlib.suppress(Exception):
            server.stop()


# -- one workload cell ---------------------------------------------------------------


class TimeUp(Exception):
    pass


@dataclass
class Bench:
    profile: Profile
    paths: Paths
    servers: list[str]
    rate: int
    started: float = field(default_factory=time.monotonic)
    rows: list[dict[str, Any]] = field(default_factory=list)
    running: dict[str, Server] = field(default_factory=dict)
    reference_crc: int = 0  # CRC-32 of the CLI's whole archive (resumed bodies must match)

    def left(self) -> float:
        return self.profile.time_limit - (time.monotonic() - self.started)

    def server(self, name: str, fresh: bool = False) -> Server:
        srv = self.running.get(name)
        if srv is None:
            srv = self.running[name] = Server(SERVERS[name], self.paths)
        if fresh or not srv.alive():
            srv.start()
        return srv

    def row(self, workload: str, server: str, kind: str, clients: int, **kw: Any) -> dict[str, Any]:
        row = {"workload": workload, "server": server, "kind": kind, "clients": clients}
        row.update(kw)
        self.rows.append(row)
        status = row.get("status")
        note = row.get("error") or row.get("note") or ""
        print(
            f"[{time.monotonic() - self.started:6.0f}s] {workload:<14} {server:<17} "
            f"{status:<8} {row.get('line', '')}{' ' + note if note else ''}"[:260],
            file=sys.stderr,
            flush=True,
        )
        return row

    def load(
        self,
        workload: str,
        name: str,
        kind: str,
        clients: int,
        duration: float,
        *,
        fresh: bool = False,
        extra: Sequence[str] = (),
        round_no: int | None = None,
        server: Server | None = None,
        estimate: float | None = None,
    ) -> dict[str, Any]:
        """Run ``load.py`` against one server; always returns (and records) a row.

        ``server`` is a server started by the caller (with its own flags);
        otherwise the shared process for ``name`` is used (or a fresh one).
        """
        meta: dict[str, Any] = {"round": round_no} if round_no is not None else {}
        if self.left() < (duration if estimate is None else estimate) + 20:
            return self.row(
                workload,
                name,
                kind,
                clients,
                status="skipped",
                note="time limit of the profile reached",
                **meta,
            )
        try:
            srv = server or self.server(name, fresh=fresh)
            if fresh:
                warm_up(srv)
        except (ServerFailed, OSError, ValueError) as exc:
            return self.row(workload, name, kind, clients, status="failed", error=str(exc), **meta)
        out = self.paths.tmp / f"load-{len(self.rows)}.json"
        argv = [
            PY,
            str(BENCH / "load.py"),
            json.dumps(REFERENCE_PLAN, ensure_ascii=False),
            "--base",
            srv.base,
            "--clients",
            str(clients),
            "--kind",
            kind,
            "--duration",
            str(duration),
            "--rate",
            str(self.rate),
            "--server-pid",
            str(srv.pid),
            "--json",
            str(out),
            *extra,
        ]
        try:
            proc = subprocess.run(
                argv, cwd=REPO, capture_output=True, text=True, timeout=duration + 120
            )
        except subprocess.TimeoutExpired:
            return self.row(
                workload,
                name,
                kind,
                clients,
                status="failed",
                error="load.py did not stop in time (killed)",
                **meta,
            )
        line = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        if not srv.alive():
            return self.row(
                workload,
                name,
                kind,
                clients,
                status="failed",
                error=srv.exit_note(),
                line=line,
                **meta,
            )
        if proc.returncode != 0 or not out.exists():
            return self.row(
                workload,
                name,
                kind,
                clients,
                status="failed",
                error=f"load.py rc {proc.returncode}: {proc.stderr.strip()[-600:]}",
                **meta,
            )
        report = json.loads(out.read_text("utf-8"))
        out.unlink()
        ok = report["completed"] + report["held"] + report["running_at_end"] + report["aborted"]
        status = "ok" if report["failed"] == 0 and report["cut"] == 0 else "partial"
        if ok == 0 and report["rejected_503"] == 0:
            status = "failed"
        if report["errors"]:
            error, count = max(report["errors"].items(), key=lambda kv: kv[1])
            meta["note"] = f"{count} × {error}"
        return self.row(
            workload,
            name,
            kind,
            clients,
            status=status,
            report=slim(report),
            line=line.split(": ", 1)[-1][:160],
            **meta,
        )


def slim(report: dict[str, Any]) -> dict[str, Any]:
    """The load report without what the tables never use (keeps the JSON small)."""
    drop = {"argv", "url_path_prefix", "duration_cap_s"}
    return {k: v for k, v in report.items() if k not in drop}


def warm_up(srv: Server) -> None:
    """One complete download, so lazily loaded code and caches are in place before sampling."""
    plan = http_post_json(srv.base + "/api/plans", REFERENCE_PLAN)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(srv.base + plan["download_url"], timeout=120) as resp:
        while resp.read(1 << 20):
            pass


# -- workloads -----------------------------------------------------------------------


def ordered(names: list[str], turn: int) -> list[str]:
    """Server order for a round: forward on even turns, reversed on odd ones."""
    return list(names) if turn % 2 == 0 else list(reversed(names))


def content_check(bench: Bench, reference: dict[str, tuple[int, int]]) -> None:
    """Download once from every server; the archive must hold the CLI archive's files."""
    for name in bench.servers:
        try:
            srv = bench.server(name)
            plan = http_post_json(srv.base + "/api/plans", REFERENCE_PLAN)
            path = bench.paths.tmp / f"check-{name}.zip"
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            t0 = time.perf_counter()
            with (
                opener.open(srv.base + plan["download_url"], timeout=300) as resp,
                open(path, "wb") as f,
            ):
                shutil.copyfileobj(resp, f, 1 << 20)
            seconds = time.perf_counter() - t0
            size = path.stat().st_size
            with zipfile.ZipFile(path) as zf:
                members = {i.filename: (i.file_size, i.CRC) for i in zf.infolist()}
                bad = zf.testzip()
            path.unlink()
        except (ServerFailed, OSError, ValueError, zipfile.BadZipFile) as exc:
            bench.row("content", name, "check", 1, status="failed", error=str(exc))
            continue
        same = members == reference
        note = (
            "same names, sizes and CRC-32 as the CLI archive"
            if same
            else (
                f"differs: {len(set(members) ^ set(reference))} names differ, "
                f"{sum(1 for k in members if k in reference and members[k] != reference[k])} bodies"
            )
        )
        if bad is not None:
            note += f"; bad CRC in {bad}"
        bench.row(
            "content",
            name,
            "check",
            1,
            status="ok" if same and bad is None else "failed",
            note=note,
            archive_bytes=size,
            seconds=round(seconds, 3),
        )


def run_workloads(bench: Bench) -> None:
    p, names = bench.profile, bench.servers
    ladder = [n for n in names if SERVERS[n].ladder]
    turn = 0
    # TTFB: sequential first-byte requests on warm servers.
    for name in ordered(names, turn):
        samples = p.baseline_ttfb_samples if name == "disk-baseline" else p.ttfb_samples
        bench.load(
            "ttfb",
            name,
            "first-byte",
            samples,
            30 + samples * 12.0 if name == "disk-baseline" else 60,
            extra=["--sequential"],
            estimate=samples * 6.0 if name == "disk-baseline" else 10,
        )
    # The same for plans never requested before: POST, then the first byte.
    for name in ordered([n for n in ladder if SERVERS[n].role != "ceiling"], turn):
        bench.load(
            "ttfb-new-plan",
            name,
            "first-byte",
            p.ttfb_new_plan,
            60,
            extra=["--sequential", "--fresh-plans"],
            estimate=10,
        )
    # Throughput with one fast client, rounds in alternating order.
    for r in range(p.fast_rounds):
        turn += 1
        for name in ordered(names, turn):
            n = 1 if name == "disk-baseline" else p.fast_repeats
            bench.load(
                "fast-1", name, "fast", n, 120, round_no=r + 1, estimate=10, extra=["--sequential"]
            )
    # One fast client, each time a plan the server has not seen: nothing cached.
    for r in range(p.fast_rounds):
        turn += 1
        for name in ordered([n for n in names if SERVERS[n].role != "ceiling"], turn):
            n = 1 if name == "disk-baseline" else p.fast_repeats
            bench.load(
                "fast-1-new-plan",
                name,
                "fast",
                n,
                120,
                round_no=r + 1,
                estimate=10,
                extra=["--sequential", "--fresh-plans", "--seed", str(100 + r)],
            )
    turn += 1
    for name in ordered(names, turn):
        bench.load(f"fast-{p.fast_many}", name, "fast", p.fast_many, 240, estimate=30)
    turn += 1
    for name in ordered(ladder, turn):
        row = bench.load(f"resuming-{p.resuming}", name, "resuming", p.resuming, 120, estimate=15)
        crcs = row.get("report", {}).get("body_crc32")
        if crcs:
            row["same_bytes_as_cli_archive"] = crcs == [f"{bench.reference_crc:08x}"]
    if "disk-baseline" in names:
        bench.row(
            f"resuming-{p.resuming}",
            "disk-baseline",
            "resuming",
            p.resuming,
            status="skipped",
            note="no Range support; each try rebuilds the archive",
        )
    if p.aborting:
        turn += 1
        for name in ordered(ladder, turn):
            row = bench.load(
                f"aborting-{p.aborting}", name, "aborting", p.aborting, 120, estimate=10
            )
            if name == "planstream" and row["status"] != "failed":
                row["slots_in_use_after_1s"] = in_use_after(bench.running[name])
    # Memory ladder: a fresh process per cell, alternating order per step.
    steps = sorted({(n, "slow") for n in p.slow} | {(n, "stalled") for n in p.stalled})
    for clients, kind in steps:
        turn += 1
        hold = p.slow_hold if kind == "slow" else p.stalled_hold
        cap = round(30 + clients * p.cap_per_client, 1)
        for name in ordered(ladder, turn):
            bench.load(
                f"{kind}-{clients}",
                name,
                kind,
                clients,
                cap,
                fresh=True,
                extra=["--hold", str(hold)],
                estimate=hold + 5,
            )
        if "disk-baseline" in names:
            bench.row(
                f"{kind}-{clients}",
                "disk-baseline",
                kind,
                clients,
                status="skipped",
                note="holds a whole archive (~170 MiB) per download; see fast rows",
            )
    if "planstream" in names:
        admission(bench)


def in_use_after(srv: Server, wait: float = 1.0) -> int | None:
    time.sleep(wait)
    try:
        status, body = http_get(srv.base + "/healthz")
    except OSError:
        return None
    return json.loads(body).get("in_use") if status == 200 else None


def admission(bench: Bench) -> None:
    """planstream with S slots and no queue wait, against S + 100 stalled clients."""
    p = bench.profile
    spec = SERVERS["planstream"]
    srv = Server(spec, bench.paths, ["--memory-budget", p.admission_budget, "--queue-timeout", "0"])
    workload = "admission"
    try:
        srv.start()
        warm_up(srv)
        _, body = http_get(srv.base + "/healthz")
        health = json.loads(body)
        slots, budget = int(health["slots"]), int(health["memory_budget"])
    except (ServerFailed, OSError, ValueError, KeyError) as exc:
        srv.stop()
        bench.row(workload, "planstream", "stalled", 0, status="failed", error=str(exc))
        return
    clients = slots + 100
    cap = round(30 + clients * p.cap_per_client, 1)
    row = bench.load(
        workload,
        "planstream",
        "stalled",
        clients,
        cap,
        server=srv,
        extra=["--hold", str(p.stalled_hold)],
        estimate=p.stalled_hold + 5,
    )
    row["slots"], row["budget"] = slots, budget
    rep = row.get("report")
    if rep:
        peak = rep["server_rss"]["peak"] or 0
        row["exactly_100_rejected"] = rep["rejected_503"] == 100
        row["rss_under_budget"] = peak < budget
        row["note"] = (
            f"S={slots} slots ({p.admission_budget} budget, queue timeout 0): "
            f"{rep['rejected_503']} of {clients} got 503, {rep['held']} held; "
            f"peak RSS {peak / MiB:.0f} MiB vs budget {budget / MiB:.0f} MiB"
        )
    srv.stop()


# -- set-up and main -----------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for pkg in ("aiohttp", "zipstream-ng", "stream-zip", "psutil", "matplotlib"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[pkg] = metadata.version(pkg)
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "commit": commit,
        "tcp_wmem": Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()
        if Path("/proc/sys/net/ipv4/tcp_wmem").exists()
        else None,
    }


def code_changed(before: str, after: str) -> bool:
    """Did the code the servers run (server/, generators/, bench/ but its results) change?"""
    try:
        diff = subprocess.run(
            [
                "git",
                "diff",
                "--quiet",
                before,
                after,
                "--",
                "server",
                "generators",
                "bench",
                ":(exclude)bench/results",
            ],
            cwd=REPO,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return True
    return diff.returncode != 0


def file_crc(path: Path) -> int:
    crc = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            crc = zlib.crc32(block, crc)
    return crc


def prepare(tmp: Path, files_per_level: int) -> tuple[Paths, dict[str, tuple[int, int]], int]:
    """Library, the CLI's archive of the reference plan, and its member list."""
    paths = Paths(tmp, tmp / "library", tmp / "reference.zip", tmp / "work", tmp / "logs")
    paths.workdir.mkdir()
    paths.logs.mkdir()
    make_library.write_library(paths.library, 2 * MiB, files_per_level)
    cli = [
        PY,
        "-m",
        "generators",
        *CLI_ARGS,
        "--library",
        str(paths.library),
        "-o",
        str(paths.archive),
    ]
    subprocess.run(cli, cwd=REPO, check=True, capture_output=True, timeout=300)
    with zipfile.ZipFile(paths.archive) as zf:
        reference = {i.filename: (i.file_size, i.CRC) for i in zf.infolist()}
    return paths, reference, paths.archive.stat().st_size


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="planstream vs the replaced design, peers, ceiling")
    p.add_argument("--profile", choices=sorted(PROFILES), default="short")
    p.add_argument("--servers", help="comma-separated subset of: " + ", ".join(SERVERS))
    p.add_argument("--slow", help="override the slow ladder, e.g. 500,1000")
    p.add_argument("--stalled", help="override the stalled ladder, e.g. 500")
    p.add_argument("--rate", default="64KiB", help="bytes/s of each slow client (64KiB)")
    p.add_argument("--time-limit", type=float, help="seconds for the whole run")
    p.add_argument("--files-per-level", type=int, default=3)
    p.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    p.add_argument("--tag", help="file name stem (default: <date> or <date>-full)")
    return p


def _ladder(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    if text is None:
        return default
    return tuple(int(x) for x in text.split(",") if x.strip())


@contextlib.contextmanager
def hard_limit(seconds: float) -> Iterator[None]:
    """Raise TimeUp in the main thread once ``seconds`` have passed."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeUp(f"profile time limit of {seconds:.0f} s reached")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(seconds)))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    base = PROFILES[args.profile]
    profile = Profile(
        **{
            **base.__dict__,
            "slow": _ladder(args.slow, base.slow),
            "stalled": _ladder(args.stalled, base.stalled),
            "time_limit": args.time_limit or base.time_limit,
        }
    )
    names = list(SERVERS) if not args.servers else [s.strip() for s in args.servers.split(",")]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        print(f"unknown servers: {unknown}; choose from {list(SERVERS)}", file=sys.stderr)
        return 2
    rate = make_library.parse_size(args.rate)
    today = dt.date.today().isoformat()
    tag = args.tag or (today if profile.name == "short" else f"{today}-{profile.name}")

    def on_term(signum: int, frame: object) -> None:
        raise TimeUp(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="planstream-bench-"))
    started = time.time()
    result: dict[str, Any] = {
        "date": today,
        "profile": profile.__dict__,
        "command": "python bench/compare.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "plan": REFERENCE_PLAN,
        "rate": rate,
        "servers": {n: {"role": SERVERS[n].role, "what": SERVERS[n].what} for n in names},
    }
    bench: Bench | None = None
    error = ""
    try:
        with hard_limit(profile.time_limit + 30):
            paths, reference, size = prepare(tmp, args.files_per_level)
            result["archive"] = {"bytes": size, "entries": len(reference)}
            bench = Bench(profile, paths, names, rate)
            bench.reference_crc = file_crc(paths.archive)
            content_check(bench, reference)
            run_workloads(bench)
    except (TimeUp, KeyboardInterrupt) as exc:
        error = str(exc) or type(exc).__name__
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    rows = bench.rows if bench is not None else []
    if error:
        rows.append(
            {
                "workload": "run",
                "server": "-",
                "kind": "-",
                "clients": 0,
                "status": "failed",
                "error": error,
            }
        )
        print(f"compare: {error}", file=sys.stderr)
    result["rows"] = rows
    result["seconds"] = round(time.time() - started, 1)
    commit_after = machine()["commit"]
    if commit_after != result["machine"]["commit"]:
        result["machine"]["commit_after"] = commit_after
        result["machine"]["code_changed"] = code_changed(result["machine"]["commit"], commit_after)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{tag}.json"
    json_path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", "utf-8")
    markdown = compare_report.write_all(result, args.out, tag)
    print(markdown)
    print(f"\nwrote {json_path} and the .md / .png beside it", file=sys.stderr)
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
