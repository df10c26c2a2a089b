"""Event-loop lag and garbage-collection pauses, measured all the time, shown in /metrics.

One request must never delay another by more than a few milliseconds; these
two numbers say whether that holds. A ticker sleeps ``TICK`` seconds in a
loop and records how late each wake-up is (the lag every request on this
loop saw at that moment); ``gc.callbacks`` time every collection. Both go
into fixed-bucket histograms and a recent maximum, cheap enough to run in
production.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

TICK = 0.01  # seconds between wake-ups of the lag probe
BUCKETS: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class Histogram:
    """Cumulative Prometheus-style histogram with a max since the last ``take_max``."""

    buckets: Sequence[float] = BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0
    max_seen: float = 0.0  # since start
    recent_max: float = 0.0  # since the last take_max()

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.max_seen = max(self.max_seen, value)
        self.recent_max = max(self.recent_max, value)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def take_max(self) -> float:
        value, self.recent_max = self.recent_max, 0.0
        return value

    def exposition(self, name: str, help_text: str) -> list[str]:
        lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for bound, count in zip(self.buckets, self.counts, strict=True):
            lines.append(f'{name}_bucket{{le="{bound:g}"}} {count}')
        lines += [
            f'{name}_bucket{{le="+Inf"}} {self.n}',
            f"{name}_sum {self.total:.6f}",
            f"{name}_count {self.n}",
        ]
        return lines


SCHEDSTAT = "/proc/thread-self/schedstat"


class _Schedstat:
    """One thread's schedstat file, opened once: read on every tick and every collection.

    Opening it each time cost 10 us, twice per garbage collection and per
    tick (6 % of the loop thread on a fast download); a ``pread`` costs 0.7.
    Kept per thread (``/proc/thread-self`` names the opener) and closed when
    the thread ends (the thread-local value is dropped then).
    """

    def __init__(self) -> None:
        self.fd: int | None = None
        with contextlib.suppress(OSError):
            self.fd = os.open(SCHEDSTAT, os.O_RDONLY | os.O_CLOEXEC)

    def __del__(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)


_local = threading.local()


def runqueue_wait() -> float | None:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat), or None.

    Lag has two causes: this process kept the loop busy (or a thread held
    the GIL), or the host gave the loop no CPU. Only the first is ours to
    fix; on a shared machine the second can be larger, so the lag is also
    shown with the time spent on the run queue taken out.
    """
    stat: _Schedstat | None = getattr(_local, "schedstat", None)
    if stat is None:
        stat = _local.schedstat = _Schedstat()
    if stat.fd is None:
        return None
    try:
        return int(os.pread(stat.fd, 128, 0).split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class _HostSteal:
    """Time the hypervisor ran something else while this machine's CPUs wanted to run.

    On a shared VM the host takes the whole machine away for 10-30 ms at a
    time (``steal`` in /proc/stat on every CPU at once, a few times a
    minute here). Every lag spike over 20 ms in bench/scale.py's mix with
    no CPU time and no run-queue wait of the loop thread came with such a
    steal; no code in the guest can prevent it. Read with one ``pread`` of
    the open file (the per-CPU lines come first).
    """

    def __init__(self) -> None:
        self.fd: int | None = None
        self.tick = 1 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
        self.size = 256 + 160 * (os.cpu_count() or 1)
        with contextlib.suppress(OSError):
            self.fd = os.open("/proc/stat", os.O_RDONLY | os.O_CLOEXEC)

    def least(self) -> float | None:
        """Seconds of steal so far on the CPU that had the least (all of them lost that)."""
        if self.fd is None:
            return None
        try:
            text = os.pread(self.fd, self.size, 0)
        except OSError:
            return None
        least: int | None = None
        for line in text.split(b"\n")[1:]:
            if not line.startswith(b"cpu"):
                break
            fields = line.split()
            if len(fields) > 8:
                value = int(fields[8])
                least = value if least is None else min(least, value)
        return None if least is None else least * self.tick


class LoopMonitor:
    """Loop lag and GC pauses of this process."""

    def __init__(self, sink: Callable[[float], None] | None = None) -> None:
        self.lag = Histogram()
        # Lag less what the host took in the same tick: the loop thread's
        # run-queue wait or the whole machine's steal, whichever is larger.
        self.own_lag = Histogram()
        self._steal = _HostSteal()
        self.gc_pause = Histogram()
        self.own_gc_pause = Histogram()  # less the run-queue wait, like own_lag
        self._gc_started = 0.0
        self._gc_queued: float | None = None
        # Where each lag sample also goes: the prometheus-client histogram of
        # server.metrics, summed across workers; then this module shows only maxima.
        self.sink = sink

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            self._gc_queued = runqueue_wait()
        elif self._gc_started:
            pause = time.perf_counter() - self._gc_started
            self.gc_pause.observe(pause)
            queued = runqueue_wait()
            if queued is not None and self._gc_queued is not None:
                self.own_gc_pause.observe(max(0.0, pause - (queued - self._gc_queued)))
            self._gc_started = 0.0

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        before, stolen = runqueue_wait(), self._steal.least()
        while True:
            due = loop.time() + TICK
            await asyncio.sleep(TICK)
            lag = max(0.0, loop.time() - due)
            self.lag.observe(lag)
            after, stolen_after = runqueue_wait(), self._steal.least()
            if before is not None and after is not None:
                host = after - before
                if stolen is not None and stolen_after is not None:
                    # Counted in clock ticks: less one tick, so it is never overstated.
                    host = max(host, stolen_after - stolen - self._steal.tick)
                self.own_lag.observe(max(0.0, lag - host))
            before, stolen = after, stolen_after  # this tick's end is the next one's start
            if self.sink is not None:
                self.sink(lag)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoopMonitor]:
        """Measure while the context is open (the app's lifetime)."""
        gc.callbacks.append(self._on_gc)
        task = asyncio.ensure_future(self._tick())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            gc.callbacks.remove(self._on_gc)

    def exposition(self) -> list[str]:
        lag = (
            []
            if self.sink is not None
            else self.lag.exposition(
                "planstream_event_loop_lag_seconds",
                "How late the event loop woke a 10 ms timer (every request waits as long).",
            )
        )
        own = self.own_lag.exposition(
            "planstream_event_loop_own_lag_seconds",
            "Loop lag less what the host took: the loop thread's wait for a CPU, or the "
            "machine's steal time if larger (what this process caused).",
        )
        pauses = self.gc_pause.exposition(
            "planstream_gc_pause_seconds", "Duration of each garbage collection."
        )
        return [
            *lag,
            "# HELP planstream_event_loop_lag_max_seconds Largest loop lag since start.",
            "# TYPE planstream_event_loop_lag_max_seconds gauge",
            f"planstream_event_loop_lag_max_seconds {self.lag.max_seen:.6f}",
            *own,
            "# HELP planstream_event_loop_own_lag_max_seconds Largest own loop lag since start.",
            "# TYPE planstream_event_loop_own_lag_max_seconds gauge",
            f"planstream_event_loop_own_lag_max_seconds {self.own_lag.max_seen:.6f}",
            *pauses,
            "# HELP planstream_gc_pause_max_seconds Longest garbage collection since start.",
            "# TYPE planstream_gc_pause_max_seconds gauge",
            f"planstream_gc_pause_max_seconds {self.gc_pause.max_seen:.6f}",
            "# HELP planstream_gc_own_pause_max_seconds Longest collection less run-queue wait.",
            "# TYPE planstream_gc_own_pause_max_seconds gauge",
            f"planstream_gc_own_pause_max_seconds {self.own_gc_pause.max_seen:.6f}",
        ]
