"""Admission: how many downloads run at once, and what happens to the next one.

Slots come from the memory budget: ``slots = (budget - reserve) / cost``, where
the cost of one download is what it can pin at worst (see ``download_cost``).
They are also capped by file descriptors: each running download holds a
socket and, while it sends a material file, that file; so at start-up the soft
RLIMIT_NOFILE is raised to the hard limit and slots never exceed what remains
after a fixed reserve for listeners, logs and queued sockets.

A request that finds every slot taken waits up to the queue timeout (FIFO),
then is turned away with 503 and Retry-After. The queue itself is bounded (a
waiting request holds a socket too). A slot is taken around the body only,
never while a request is validated, and is released in ``finally``, so a
client that leaves frees it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None  # type: ignore[assignment]

from .errors import Busy

log = logging.getLogger("planstream.admission")

BUSY_MESSAGE = "the server is at its memory budget; retry shortly"

KiB = 1024
FD_RESERVE = 64  # listeners, stdio, library index reads, metrics, slack
FDS_PER_DOWNLOAD = 2  # the client socket + one open material file


def download_cost(chunk_size: int, sndbuf: int) -> int:
    """Worst-case bytes one running download pins, the unit the budget is divided by.

    - kernel send buffer: Linux doubles the SO_SNDBUF asked for (socket(7)).
      256 KiB asked (512 KiB held) is where one fast client reaches sendfile
      speed on loopback in ``bench/compare.py``; 64 KiB halved it;
    - the transport's user-space buffer: it is drained once past aiohttp's
      64 KiB mark, so at most that plus one write;
    - the current piece: a generated worksheet or lesson page is rendered whole
      while its entry is sent (the largest stay under 256 KiB);
    - per-connection Python objects (request, response, parser, handler task,
      generator frames): about 32 KiB, measured by ``bench/load.py`` with
      stalled clients.
    """
    kernel = 2 * sndbuf
    transport = 64 * KiB + chunk_size
    piece = 256 * KiB
    objects = 32 * KiB
    return kernel + transport + piece + objects


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit in force."""
    if resource is None:
        return 1 << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise RLIMIT_NOFILE from %d to %d: %s", soft, hard, exc)
    return soft


@dataclass(frozen=True, slots=True)
class SlotPlan:
    slots: int
    cost: int
    by_memory: int
    by_fds: int
    nofile: int
    connections: int  # open connections allowed: what descriptors leave after files and reserve


def plan_slots(
    budget: int, reserve: int, cost: int, nofile: int, cap: int | None = None
) -> SlotPlan:
    """How many downloads may run at once under this budget and descriptor limit."""
    by_memory = max(1, (budget - reserve) // cost)
    by_fds = max(1, (nofile - FD_RESERVE) // (FDS_PER_DOWNLOAD + 1))  # +1: a queued socket
    slots = min(by_memory, by_fds)
    if cap is not None:
        slots = max(1, min(slots, cap))
    # Every slot may hold a material file open; the other descriptors are for
    # connections (downloads, queued ones, page and API requests).
    connections = max(2, nofile - FD_RESERVE - slots * (FDS_PER_DOWNLOAD - 1))
    return SlotPlan(slots, cost, by_memory, by_fds, nofile, connections)


class QueueFull(Busy):
    """No slot came free within the queue timeout (or the queue is full): 503."""


class Admission:
    """A FIFO semaphore with a bounded wait and counters for /healthz and /metrics."""

    def __init__(self, slots: int, queue_timeout: float, max_queue: int | None = None) -> None:
        self.slots = slots
        self.queue_timeout = queue_timeout
        self.max_queue = slots if max_queue is None else max_queue
        self.in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def retry_after(self) -> int:
        """Seconds a turned-away client should wait: the queue timeout, at least 1."""
        return max(1, round(self.queue_timeout))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self.in_use < self.slots and not self._waiters:
            self.in_use += 1
            return
        if len(self._waiters) >= self.max_queue:
            raise QueueFull(BUSY_MESSAGE, self.retry_after())
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.queue_timeout)
        except TimeoutError:
            if fut.done() and not fut.cancelled():
                return  # handed a slot in the same instant: keep it
            fut.cancel()
            raise QueueFull(BUSY_MESSAGE, self.retry_after()) from None
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._release()  # we were handed a slot but are leaving
            else:
                fut.cancel()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(fut)

    def _release(self) -> None:
        # Hand the slot straight to the oldest live waiter, so a freed slot is
        # taken by the queue rather than by a newcomer.
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.in_use -= 1
