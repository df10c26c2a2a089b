"""Admission: how many downloads run at once, what each may cost, and what happens to the next.

The whole process lives inside its memory budget, so the budget is divided
into itemised parts, each bounded in bytes (``BudgetPlan``):

- the **reserve**: the interpreter and its modules, the library index, the
  layout cache and the render cache (each byte-bounded), the plan builds
  that may run at once, and the sender process with its bounded copy of the
  replay runs (``reserve_for``);
- the **fast pool**: large kernel send buffers, granted only to clients that
  keep a small one drained (``BytePool``; see ``server.sendbuf``);
- **downloads**: what every running download may pin at worst, its ``cost``:
  a small kernel send buffer, the transport's capped user-space buffer, its
  Python objects, and the largest generated document of its plan (held whole
  while that entry is sent). The cost is per plan, so admission is weighted:
  a download is admitted while the bytes of all running downloads stay
  within the download share. ``slots`` is that share divided by the cost of
  a typical plan, the number the operator reads.

Kernel socket memory is counted although a memory cgroup may not charge it:
it is what the host loses either way.

Descriptors bind too. A running download holds its socket; material files
are opened through a shared, bounded pool (``server.handles``), and a
download granted a large buffer holds one more (``server.express``; the
fast pool bounds how many), so the descriptors left for connections are
``nofile - reserve - pool - grown``, and a
download may take 1.2 of them on average (a queued or API connection for
every five downloads). At start-up the soft RLIMIT_NOFILE is raised to the
hard limit.

A request that finds no room waits up to the queue timeout (FIFO: a freed
slot goes to the oldest waiter that fits, never to a newcomer), then is
turned away with 503 and Retry-After. The queue is bounded (a waiting
request holds a socket too). A slot is taken around the body only and
released in ``finally``, so a client that leaves frees it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None  # type: ignore[assignment]  # callers test for None off Linux

from .errors import Busy

log = logging.getLogger("planstream.admission")

BUSY_MESSAGE = "the server is at its memory budget; retry shortly"

KiB, MiB = 1 << 10, 1 << 20
FD_RESERVE = 64  # listeners, stdio, library index reads, metrics, slack
FD_POOL = 512  # material files open at once, shared by every download (server.handles)
FDS_PER_DOWNLOAD = 1.2  # its socket, plus one queued or API connection per five downloads

BASE_SNDBUF = 16 * KiB  # SO_SNDBUF every download starts with (the kernel holds twice)
FAST_SNDBUF = 2048 * KiB  # what a client that keeps the buffer drained may grow to (see sendbuf)
# ...and where the fast pool holds FAST_LARGE_GRANTS of them (a 2 GiB budget), this. Beside
# 10,000 held downloads a fast client is sent to once per loop turn, and a bigger
# queue bridges the turn: 0.894-0.977x of FileResponse (4 runs) against 0.850-0.895x
# with 2 MiB, alternating (bench/results/2026-12-04-ninth-hold-buf*). A smaller
# budget keeps 2 MiB: there the pool's count of fast clients matters more.
FAST_SNDBUF_LARGE = 4096 * KiB
FAST_LARGE_GRANTS = 15
SLOW_CHUNK = 16 * KiB  # write slices and transport high-water mark for a small buffer
FAST_CHUNK = 64 * KiB  # the same for a grown buffer
OBJECTS = 48 * KiB  # Python objects of one connection + handler + generator (bench: 45-85 KiB)
TYPICAL_DOC = 16 * KiB  # largest generated document of the reference plan is 13 KiB

RESERVE_BASE = 96 * MiB  # interpreter, aiohttp, cryptography, generator modules, slack
BUILD_PEAK = 24 * MiB  # transient memory of one 52-week plan build
SENDER_BASE = 24 * MiB  # the sender process (server.sender) idle: 20 MiB RSS measured
LIBRARY_ENTRY = 512  # bytes per indexed material file (path, identity, CRC)


@dataclass(frozen=True, slots=True)
class CostModel:
    """Bytes one running download may pin, item by item (all worst cases)."""

    kernel: int = 2 * BASE_SNDBUF  # Linux doubles the SO_SNDBUF asked for (socket(7))
    transport: int = 2 * SLOW_CHUNK  # high-water mark + the one slice being written
    objects: int = OBJECTS
    fast_sndbuf: int = FAST_SNDBUF  # SO_SNDBUF a fast client is granted (``fast_sndbuf_for``)
    transport_fast: int = 2 * FAST_CHUNK
    object_stream: int = 0  # an S3 library: one chunk + HTTP client buffer + socket (objects)
    fds: float = FDS_PER_DOWNLOAD  # descriptors per download (+1 for an S3 library's socket)

    @property
    def kernel_fast(self) -> int:
        return 2 * self.fast_sndbuf  # the kernel holds twice what is asked

    @property
    def base(self) -> int:
        return self.kernel + self.transport + self.objects + self.object_stream

    def download(self, largest_document: int) -> int:
        """Cost of a download of a plan whose largest generated document has this size."""
        return self.base + largest_document

    @property
    def fast_extra(self) -> int:
        """What growing one download's buffers to the fast size adds (drawn from the pool)."""
        return self.kernel_fast - self.kernel + self.transport_fast - self.transport


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    """The budget, divided: reserve + fast pool + downloads = budget."""

    budget: int
    reserve: int
    fast_pool: int
    downloads: int  # bytes the running downloads may pin together
    slots: int  # downloads of a typical plan that fit, capped by descriptors
    by_memory: int
    by_fds: int
    nofile: int
    connections: int  # open connections allowed
    cost: int  # a typical plan's download cost

    @property
    def binding(self) -> str:
        """Which limit decides the slot count: "memory", "descriptors" or "cap"."""
        if self.slots == self.by_memory and self.by_memory <= self.by_fds:
            return "memory"
        if self.slots == self.by_fds:
            return "descriptors"
        return "cap"


def reserve_for(
    caches: int, library_files: int, builds: int, sender_runs: int | None = None
) -> int:
    """Bytes kept out of the download share: interpreter, index, caches, builds, and the
    sender process with its mirror of the replay runs (``sender_runs`` bytes; None: no
    sender). Its 8 copying threads hold no buffers of their own: sendfile copies in the
    kernel, and the sockets' buffers are in each download's cost and the fast pool."""
    sender = 0 if sender_runs is None else SENDER_BASE + sender_runs
    return RESERVE_BASE + caches + library_files * LIBRARY_ENTRY + builds * BUILD_PEAK + sender


def fast_pool_for(budget: int) -> int:
    """Large send buffers: 1/16 of the budget, between 4 and 128 MiB (~1-31 fast clients)."""
    return max(4 * MiB, min(128 * MiB, budget // 16))


def fast_sndbuf_for(budget: int, model: CostModel | None = None) -> int:
    """The large buffer for this budget: 4 MiB where the pool holds ``FAST_LARGE_GRANTS``
    of them (budgets from about 2 GiB), else 2 MiB (a 256 MiB container: 16 MiB, 3 fast
    clients at 2 MiB against 1 at 4 MiB)."""
    model = model or CostModel()
    large = dataclasses.replace(model, fast_sndbuf=FAST_SNDBUF_LARGE)
    return (
        FAST_SNDBUF_LARGE
        if fast_pool_for(budget) // large.fast_extra >= FAST_LARGE_GRANTS
        else FAST_SNDBUF
    )


def plan_budget(
    budget: int,
    reserve: int,
    nofile: int,
    model: CostModel | None = None,
    cap: int | None = None,
) -> BudgetPlan:
    """Divide the budget and the descriptors; raise ValueError if nothing is left for downloads."""
    model = model or CostModel()
    fast = fast_pool_for(budget)
    downloads = budget - reserve - fast
    cost = model.download(TYPICAL_DOC)
    if downloads < cost:
        raise ValueError(
            f"memory budget {budget >> 20} MiB leaves no room for downloads "
            f"(reserve {reserve >> 20} MiB, fast buffers {fast >> 20} MiB)"
        )
    # A grown download holds one more descriptor (server.express), and the
    # fast pool bounds how many are grown: 32 for a 128 MiB pool.
    grown = fast // model.fast_extra
    connections = max(2, nofile - FD_RESERVE - FD_POOL - grown)
    by_memory = downloads // cost
    by_fds = max(1, int(connections / model.fds))
    slots = min(by_memory, by_fds)
    if cap is not None:
        slots = max(1, min(slots, cap))
    return BudgetPlan(
        budget, reserve, fast, downloads, slots, by_memory, by_fds, nofile, connections, cost
    )


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


class QueueFull(Busy):
    """No room came free within the queue timeout (or the queue is full): 503."""


class BytePool:
    """Bytes handed out only when free, never waited for (large send buffers)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.grants = 0  # how many grants are out now

    def try_take(self, n: int) -> bool:
        if self.used + n > self.capacity:
            return False
        self.used += n
        self.grants += 1
        return True

    def give(self, n: int) -> None:
        self.used -= n
        self.grants -= 1
        assert self.used >= 0 and self.grants >= 0, "pool released more than it lent"


class Admission:
    """A FIFO semaphore over a count and, optionally, bytes; a bounded wait; counters.

    ``slot(cost)`` admits while fewer than ``slots`` are in use and the bytes
    in use plus ``cost`` stay within ``capacity`` (unbounded when None).
    """

    def __init__(
        self,
        slots: int,
        queue_timeout: float,
        max_queue: int | None = None,
        capacity: int | None = None,
    ) -> None:
        self.slots = slots
        self.capacity = capacity
        self.queue_timeout = queue_timeout
        self.max_queue = slots if max_queue is None else max_queue
        self.in_use = 0
        self.used = 0  # bytes of the admitted
        self._waiters: deque[tuple[asyncio.Future[None], int]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def retry_after(self) -> int:
        """Seconds a turned-away client should wait: the queue timeout, at least 1."""
        return max(1, round(self.queue_timeout))

    def _fits(self, cost: int) -> bool:
        if self.in_use >= self.slots:
            return False
        return self.capacity is None or self.used + cost <= self.capacity

    @contextlib.asynccontextmanager
    async def slot(self, cost: int = 0) -> AsyncIterator[None]:
        await self._acquire(cost)
        try:
            yield
        finally:
            self._release(cost)

    async def _acquire(self, cost: int) -> None:
        if self.capacity is not None and cost > self.capacity:
            raise QueueFull(BUSY_MESSAGE, self.retry_after())
        if not self._waiters and self._fits(cost):
            self._take(cost)
            return
        if len(self._waiters) >= self.max_queue:
            raise QueueFull(BUSY_MESSAGE, self.retry_after())
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (fut, cost)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.queue_timeout)
        except TimeoutError:
            if fut.done() and not fut.cancelled():
                return  # handed a slot in the same instant: keep it
            fut.cancel()
            raise QueueFull(BUSY_MESSAGE, self.retry_after()) from None
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._release(cost)  # we were handed a slot but are leaving
            else:
                fut.cancel()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)
            self._wake()  # a waiter that left may have been blocking smaller ones

    def _take(self, cost: int) -> None:
        self.in_use += 1
        self.used += cost

    def _release(self, cost: int) -> None:
        self.in_use -= 1
        self.used -= cost
        self._wake()

    def _wake(self) -> None:
        # Hand room straight to the oldest waiters that fit, in order, so a
        # freed slot is taken by the queue rather than by a newcomer.
        while self._waiters:
            fut, cost = self._waiters[0]
            if fut.done():
                self._waiters.popleft()
                continue
            if not self._fits(cost):
                return
            self._waiters.popleft()
            self._take(cost)
            fut.set_result(None)
