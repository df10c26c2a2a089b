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


class LoopMonitor:
    """Loop lag and GC pauses of this process."""

    def __init__(self, sink: Callable[[float], None] | None = None) -> None:
        self.lag = Histogram()
        self.gc_pause = Histogram()
        self._gc_started = 0.0
        # Where each lag sample also goes: the prometheus-client histogram of
        # server.metrics, summed across workers; then this module shows only maxima.
        self.sink = sink

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self.gc_pause.observe(time.perf_counter() - self._gc_started)
            self._gc_started = 0.0

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK
            await asyncio.sleep(TICK)
            lag = max(0.0, loop.time() - due)
            self.lag.observe(lag)
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
        pauses = self.gc_pause.exposition(
            "planstream_gc_pause_seconds", "Duration of each garbage collection."
        )
        return [
            *lag,
            "# HELP planstream_event_loop_lag_max_seconds Largest loop lag since start.",
            "# TYPE planstream_event_loop_lag_max_seconds gauge",
            f"planstream_event_loop_lag_max_seconds {self.lag.max_seen:.6f}",
            *pauses,
            "# HELP planstream_gc_pause_max_seconds Longest garbage collection since start.",
            "# TYPE planstream_gc_pause_max_seconds gauge",
            f"planstream_gc_pause_max_seconds {self.gc_pause.max_seen:.6f}",
        ]
