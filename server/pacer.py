"""The paced lane: slow downloads' full sockets tried on a timer, many in one callback.

A slow client's socket is full almost all the time. Waiting for it through
epoll (``loop.sendfile``) woke the loop for every few KiB the client took:
beside 10,000 held downloads that was 18,664 sendfile and 24,000 epoll_ctl
calls in 5 s, loop turns of 1.7 s and /healthz answered in 4-6 s. Sleeping
each download's task on its own timer instead cut the syscalls but still cost
a task step per try (10,000 a second). Here one callback per tick tries every
socket that is due with a single non-blocking ``sendfile`` and wakes a
download's task only when its file slice is done, it was granted the large
buffer, or it failed. Each try costs one syscall and a heap push.

A try that takes at least the small kernel buffer's half means the client
reads faster than it is tried: its interval halves (down to ``PACE_MIN``, where
a try moves up to 32 KiB, 1.6 MB/s, above the rate that grants the large
buffer). A socket still full doubles it (up to ``PACE_MAX``). A tick serves at
most ``TICK_JOBS`` sockets, so however many are due a loop turn stays short.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PACE_MIN = 0.02  # seconds between tries of a socket its client empties
PACE_MAX = 1.0  # ...and of one its client leaves full (stalled)
# Sockets tried in one callback at most (about 0.3 ms): the express lane refills a
# fast client's socket between callbacks (beside 10,000 held: 200 gave it 0.88x, 64 0.92x).
TICK_JOBS = 64
TRY_MAX = 256 * 1024  # bytes asked of one try: more than a small buffer takes


class PaceStalled(Exception):
    """Nothing moved for the download's stall timeout."""


@dataclass(eq=False)
class Job:
    """One download's file slice waiting in the paced lane."""

    transport: Any  # asyncio transport: its socket, and whether it is closing
    fileno: int
    offset: int
    remaining: int
    interval: float
    half: int  # bytes that mean "the client emptied it": half the kernel's buffer
    stall: float
    on_sent: Callable[[int], bool]  # counts bytes; False: leave the lane (granted)
    future: asyncio.Future[None] = field(repr=False)
    progress: float = 0.0


_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = weakref.WeakKeyDictionary()


class Pacer:
    """Per event loop: a heap of due times, one timer for the earliest."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._timer_at = float("inf")
        self.tries = 0  # for tests and metrics: sendfile calls made
        self.waiting = 0  # jobs in the lane now

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Pacer:
        pacer = _PACERS.get(loop)
        if pacer is None:
            pacer = _PACERS[loop] = cls(loop)
        return pacer

    async def send(
        self,
        transport: Any,
        fileno: int,
        offset: int,
        count: int,
        *,
        interval: float,
        half: int,
        stall: float,
        since: float,
        on_sent: Callable[[int], bool],
    ) -> tuple[int, float]:
        """Send ``count`` bytes of the file from ``offset``, one try per interval.

        Returns (bytes left, the interval reached): 0 left unless ``on_sent``
        asked to leave. Raises ``PaceStalled`` after ``stall`` seconds without a
        byte since ``since``, ``ConnectionResetError`` when the client is gone,
        and whatever ``sendfile`` or ``on_sent`` raised.
        """
        job = Job(
            transport=transport,
            fileno=fileno,
            offset=offset,
            remaining=count,
            interval=min(PACE_MAX, max(PACE_MIN, interval)),
            half=half,
            stall=stall,
            on_sent=on_sent,
            future=self.loop.create_future(),
            progress=since,
        )
        self.waiting += 1
        try:
            self._push(job, self.loop.time() + job.interval)
            await job.future
            return job.remaining, job.interval
        finally:
            self.waiting -= 1
            if not job.future.done():
                job.future.cancel()  # a cancelled download: the heap drops it

    def _push(self, job: Job, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), job))
        if due < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_at(due, self._tick)
            self._timer_at = due

    def _tick(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        now = self.loop.time()
        wall = time.monotonic()
        heap = self._heap
        served = 0
        while heap and heap[0][0] <= now and served < TICK_JOBS:
            _, _, job = heapq.heappop(heap)
            if job.future.done():
                continue
            served += 1
            if self._try(job, wall):
                heapq.heappush(heap, (now + job.interval, next(self._seq), job))
        if heap:
            due = heap[0][0]
            if served >= TICK_JOBS and due <= now:  # more due: the next turn, not now
                self._timer = self.loop.call_soon(self._tick)
                self._timer_at = now
            else:
                self._timer = self.loop.call_at(due, self._tick)
                self._timer_at = due

    def _try(self, job: Job, wall: float) -> bool:
        """One sendfile for ``job``; whether it stays in the lane."""
        transport = job.transport
        # A closing transport's descriptor may already be another connection's.
        if transport.is_closing():
            job.future.set_exception(ConnectionResetError("client went away"))
            return False
        n: int | None = None
        if not transport.get_write_buffer_size():  # bytes must follow aiohttp's in order
            self.tries += 1
            try:
                n = os.sendfile(
                    transport.get_extra_info("socket").fileno(),
                    job.fileno,
                    job.offset,
                    min(TRY_MAX, job.remaining),
                )
            except (BlockingIOError, InterruptedError):
                n = None
            except OSError as exc:
                job.future.set_exception(exc)
                return False
            if n == 0:
                job.future.set_exception(EOFError(f"file ended early at byte {job.offset}"))
                return False
        if n:
            job.offset += n
            job.remaining -= n
            job.progress = wall
            if n >= job.half:
                job.interval = max(PACE_MIN, job.interval / 2)
            try:
                stay = job.on_sent(n)
            except Exception as exc:  # the writer's own limits (minimum rate)
                job.future.set_exception(exc)
                return False
            if not job.remaining or not stay:
                job.future.set_result(None)
                return False
            return True
        if wall - job.progress >= job.stall:
            job.future.set_exception(PaceStalled(f"no progress for {job.stall:g} s"))
            return False
        job.interval = min(PACE_MAX, job.interval * 2)
        return True
