"""``--workers N``: N processes serving one port, and a supervisor that restarts the dead.

Why processes on SO_REUSEPORT rather than gunicorn's aiohttp worker: each
worker binds the same port with SO_REUSEPORT and the kernel spreads new
connections over them, so no process sits in the data path and nothing is
shared but the port. The supervisor only forks, watches and forwards
signals, in about a hundred lines; gunicorn would add a dependency, its own
signal semantics (SIGTERM there is a fast stop, its graceful stop is its
own timeout), and its own config layer beside ours.

What the workers share:

- **the secret**: with no ``--secret``, the supervisor draws ONE random
  secret and the workers inherit it in memory (fork), never through argv
  or the environment, so a link made by one worker opens on every other;
- **the memory budget**, divided: each worker's admission works from
  ``budget / N`` (its start-up log and ``/healthz`` say the share and slots).

Signals: SIGHUP is forwarded to every worker (each re-indexes the library).
SIGTERM/SIGINT to the supervisor is forwarded once to every worker,
which drains (``server.serve``); a second signal is forwarded again and the
workers exit at once. Workers run in their own process group, so a
terminal's Ctrl-C reaches them only through the supervisor (not twice), and
each watches its parent: if the supervisor dies, the worker drains and exits.
A worker that dies while the service runs is restarted (at most once a
second per worker, so a crash loop does not spin).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import replace
from multiprocessing.process import BaseProcess
from pathlib import Path

from . import render_pool
from .config import Config
from .metrics import enable_multiprocess, setup_logging
from .process import serve

log = logging.getLogger("planstream.supervisor")

SHM = Path("/dev/shm")
METRICS_PREFIX = "planstream-metrics-"
RESTART_BACKOFF = 1.0  # seconds a restarted worker waits if its predecessor lived less
POLL = 0.1  # seconds between two looks at the workers
STOP_GRACE = 5.0  # seconds beyond --drain-timeout before the supervisor kills stragglers


def worker_configs(config: Config) -> list[Config]:
    """One config per worker: the same secret for all, the budget divided."""
    n = config.workers
    share = config.memory_budget // n
    source = f"{config.memory_budget >> 20} MiB / {n} workers, {config.budget_source}"
    return [
        replace(
            config,
            worker_id=i,
            memory_budget=share,
            budget_source=source,
            total_budget=config.memory_budget,
        )
        for i in range(n)
    ]


def metrics_dir() -> Path:
    """A fresh, empty directory in memory (tmpfs) for prometheus-client's per-worker files.

    Left-overs of a supervisor that was killed (its pid is in the name and
    no longer alive) are removed first, so old counts never reappear.
    """
    if not SHM.is_dir():
        raise OSError("/dev/shm (tmpfs) is missing: --workers needs it for metrics")
    for old in SHM.glob(METRICS_PREFIX + "*"):
        pid = old.name[len(METRICS_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-", dir=SHM))


def _worker(config: Config) -> None:
    """A worker process: its own process group, log lines tagged with its id, serve."""
    os.setpgid(0, 0)
    setup_logging(config.log_format, worker=config.worker_id)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the library watcher takes it
    try:
        code = asyncio.run(serve(config, reuse_port=True, parent=os.getppid()))
    finally:
        # A multiprocessing child joins its own children before its atexit
        # handlers run, so the render workers must be stopped here, or the
        # worker waits for them for ever after a drain.
        render_pool.stop_workers()
    sys.exit(code)


class Supervisor:
    def __init__(self, config: Config) -> None:
        if not config.secrets:
            config = replace(config, secrets=(secrets.token_urlsafe(32),))
            log.warning(
                "no --secret given: the %d workers share one random secret; links stop "
                "working when the service restarts (set PLANSTREAM_SECRET on every node)",
                config.workers,
            )
        self.configs = worker_configs(config)
        self.drain_timeout = config.drain_timeout
        self.ctx = multiprocessing.get_context("fork")
        self.procs: dict[int, BaseProcess] = {}
        self.started: dict[int, float] = {}
        self.signals = 0
        self.stop_deadline = 0.0

    def _spawn(self, i: int) -> None:
        proc = self.ctx.Process(target=_worker, args=(self.configs[i],), name=f"worker-{i}")
        proc.start()
        self.procs[i] = proc
        self.started[i] = time.monotonic()
        log.info("worker %d started (pid %s)", i, proc.pid)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.signals += 1
        if self.signals == 1:
            self.stop_deadline = time.monotonic() + self.drain_timeout + STOP_GRACE
        log.info("%s: forwarding to %d workers", signal.Signals(signum).name, len(self.procs))
        for proc in self.procs.values():
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    def _on_hup(self, _signum: int, _frame: object) -> None:
        """SIGHUP: every worker re-indexes the library (server.library_watch)."""
        log.info("SIGHUP: forwarding to %d workers", len(self.procs))
        for proc in self.procs.values():
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGHUP)

    def run(self) -> int:
        """Start the workers, keep them alive, stop them on a signal; exit 0 when drained."""
        directory = metrics_dir()
        enable_multiprocess(str(directory))
        log.info("metrics of all workers in %s (tmpfs)", directory)
        try:
            return self._run()
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _run(self) -> int:
        from prometheus_client import multiprocess

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_hup)
        for i in range(len(self.configs)):
            self._spawn(i)
        while True:
            time.sleep(POLL)
            if self.signals:
                if not any(p.is_alive() for p in self.procs.values()):
                    break
                if time.monotonic() > self.stop_deadline:
                    for proc in self.procs.values():
                        proc.kill()
                    log.error("workers did not stop in time: killed")
                    return 1
                continue
            for i, proc in list(self.procs.items()):
                if proc.is_alive():
                    continue
                proc.join()
                log.warning(
                    "worker %d (pid %s) died with exit code %s: restarting",
                    i,
                    proc.pid,
                    proc.exitcode,
                    extra={"fields": {"event": "worker_died", "worker": i}},
                )
                if proc.pid is not None:
                    multiprocess.mark_process_dead(proc.pid)  # its live gauges leave the sums
                if time.monotonic() - self.started[i] < RESTART_BACKOFF:
                    time.sleep(RESTART_BACKOFF)
                self._spawn(i)
        codes = [p.exitcode for p in self.procs.values()]
        log.info("all workers stopped (exit codes %s)", codes)
        return 0 if all(c == 0 for c in codes) else 1
