"""Generated documents rendered off the event loop, in a bounded pool, for any byte window.

Why: rendering is pure Python. A tail Range of a never-downloaded 52-week
plan needs the CRC of every one of its ~7,600 documents for the central
directory, about 3.8 s of CPU here; done on the loop (as ``layout.pieces``
does by itself) every other request waits that long. A thread pool is not
enough on its own: a rendering thread holds the GIL and the loop gets it back
only every switch interval (measured in bench/scale.py ``--render-pool
thread``). So by default documents are rendered in worker *processes*.

How a worker renders without being sent the layout: a plan's documents are a
deterministic function of its ``PlanRequest``. A worker rebuilds the plan's
producers from the canonical request bytes (library-free: materials are
files and never rendered) and looks each one up by its producer key, which
names its output exactly, checking the declared size. Workers keep the
producers of their last few plans, so a plan is rebuilt once per worker.

Bounds, so one request cannot take the pool:

- at most ``MAX_RUNNING`` jobs are in the executor at once; more wait in a
  FIFO (an asyncio semaphore), costing a future each;
- a job is at most ``JOB_BYTES`` of declared output or ``JOB_ITEMS``
  documents, so a waiter is never behind a long job;
- one download drives at most ``PER_REQUEST`` jobs at a time (its window is
  cut into segments at entry boundaries and the next segment is prepared
  while the current one is sent), so a tail window's 120 CRC jobs interleave
  with everyone else's instead of queueing ahead of them. The work queued
  is therefore bounded by the admitted downloads times ``PER_REQUEST``.

CRCs learned once are stored in the layout (``learn_crc``) and reused by every
later window of the plan; concurrent windows that need the same CRCs (a
download manager's 8 ranges) share one learning task per plan. Rendered
bodies go into the process's byte-bounded render cache, so repeat downloads
of a plan need no worker at all. ``PLANSTREAM_RENDER_POOL`` picks
``process`` (default), ``thread`` or ``inline`` (``layout.pieces`` on the
loop, as before this module: only to measure the difference).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import web

from generators.archive import ArchiveLayout, Piece, ProducerSource, crc32
from generators.render_cache import RenderCache

WORKERS = max(1, min(2, os.cpu_count() or 1))  # CPU bound: more than the cores adds nothing
MAX_RUNNING = 2 * WORKERS  # jobs handed to the executor at once (one running, one queued each)
PER_REQUEST = 2  # jobs one download keeps going at once
JOB_BYTES = 256 * 1024  # declared output of one body job
JOB_ITEMS = 64  # documents in one job
CRC_JOB_BYTES = 1 << 62  # a CRC job returns 4 bytes a document: only JOB_ITEMS bounds it
SEGMENT_BYTES = 1 << 20  # producer bytes per prepared segment of a window
WORKER_PLANS = 2  # plans whose producers a worker keeps
KINDS = ("process", "thread", "inline")


class RenderMismatch(Exception):
    """A worker's rebuilt plan has no producer of this key and size (code changed under us?)."""


# -- worker side ---------------------------------------------------------------

_plans: OrderedDict[bytes, dict[str, ProducerSource]] = OrderedDict()


def _producers(canonical: bytes) -> dict[str, ProducerSource]:
    """The producers of a plan by key, rebuilt from its canonical request and kept (LRU)."""
    found = _plans.get(canonical)
    if found is not None:
        _plans.move_to_end(canonical)
        return found
    # Imported here: the worker needs the generators, the server's loop side does not.
    from generators.entries import plan_entries
    from generators.plan import build_plan
    from generators.request import PlanRequest

    plan = build_plan(PlanRequest.from_canonical(canonical))
    found = {}
    for entry in plan_entries(plan):
        if isinstance(entry.source, ProducerSource):
            found[entry.source.key] = entry.source
    _plans[canonical] = found
    while len(_plans) > WORKER_PLANS:
        _plans.popitem(last=False)
    return found


def render_job(
    canonical: bytes, items: list[tuple[str, int]], want_bytes: bool
) -> list[tuple[int, bytes | None]]:
    """In a worker process: render documents by key, return (crc, bytes or None) each."""
    producers = _producers(canonical)
    out: list[tuple[int, bytes | None]] = []
    for key, size in items:
        src = producers.get(key)
        if src is None or src.size != size:
            raise RenderMismatch(f"no producer {key!r} of {size} bytes in the rebuilt plan")
        data = src.render()
        out.append((crc32(data), data if want_bytes else None))
    return out


def _render_local(
    sources: list[ProducerSource], want_bytes: bool
) -> list[tuple[int, bytes | None]]:
    out: list[tuple[int, bytes | None]] = []
    for src in sources:
        data = src.render()
        out.append((crc32(data), data if want_bytes else None))
    return out


WORKER_NICE = 10  # rendering is background work: the serving process gets the CPU first


def _worker_init() -> None:
    """In each worker: lower its priority, so on busy cores the event loop wins.

    The loop's latency is what every client sees; a document rendered 10 ms
    later only delays the one download that waits for it.
    """
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)


def _warm() -> int:
    import generators.entries  # noqa: F401  (import cost paid at start-up, not by a request)

    return os.getpid()


_executors: dict[str, Executor] = {}
_executors_lock = threading.Lock()


def shared_executor(kind: str) -> Executor:
    """One executor of each kind per process, started on first use and kept.

    Process workers are forked from a forkserver that has the generators
    imported already, so starting them is cheap and they share no threads or
    locks with the server (forking the server itself would copy its locks).
    """
    with _executors_lock:
        ex = _executors.get(kind)
        if ex is None:
            if kind == "process":
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["generators.entries", "server.render_pool"])
                ex = ProcessPoolExecutor(WORKERS, mp_context=ctx, initializer=_worker_init)
            else:
                ex = ThreadPoolExecutor(WORKERS, thread_name_prefix="render")
            _executors[kind] = ex
        return ex


def stop_workers() -> None:
    """At exit: join the workers and stop multiprocessing's helpers before this process ends.

    Without it the forkserver outlives us by a moment, and whoever waits for
    this process (a supervisor removing its cgroup) finds a process left.
    """
    with _executors_lock:
        for ex in _executors.values():
            ex.shutdown(wait=True, cancel_futures=True)
        _executors.clear()
    # The forkserver and the resource tracker are helper processes of
    # multiprocessing; both end on their own once we are gone, a moment late.
    for helper in (
        getattr(multiprocessing.forkserver, "_forkserver", None),
        getattr(multiprocessing.resource_tracker, "_resource_tracker", None),
    ):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            with contextlib.suppress(OSError, ChildProcessError):
                stop()


atexit.register(stop_workers)


def pool_kind() -> str:
    kind = os.environ.get("PLANSTREAM_RENDER_POOL", "process")
    if kind not in KINDS:
        raise ValueError(f"PLANSTREAM_RENDER_POOL must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


# -- loop side -----------------------------------------------------------------


@dataclass
class RenderStats:
    jobs: int = 0
    documents: int = 0
    crcs_learned: int = 0
    cache_hits: int = 0
    waiting: int = 0  # jobs waiting for a place in the executor now
    running: int = 0


@dataclass
class RenderPool:
    """The loop's side of the pool: bounded jobs, shared CRC learning, the render cache."""

    kind: str = field(default_factory=pool_kind)
    cache: RenderCache | None = None
    stats: RenderStats = field(default_factory=RenderStats)
    _sem: asyncio.Semaphore | None = None
    _learning: dict[int, tuple[ArchiveLayout, asyncio.Task[None]]] = field(default_factory=dict)

    async def start(self) -> None:
        """Start the workers before the first request, so none pays their start-up."""
        if self.kind != "inline":
            ex = shared_executor(self.kind)
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(ex, _warm) for _ in range(WORKERS)))

    async def _run(
        self, canonical: bytes, sources: list[ProducerSource], want_bytes: bool
    ) -> list[tuple[int, bytes | None]]:
        """One job, in the executor once a place is free (FIFO among waiters)."""
        if self.kind == "inline":
            return _render_local(sources, want_bytes)
        if self._sem is None:
            self._sem = asyncio.Semaphore(MAX_RUNNING)
        loop = asyncio.get_running_loop()
        self.stats.waiting += 1
        try:
            await self._sem.acquire()
        finally:
            self.stats.waiting -= 1
        self.stats.running += 1
        try:
            ex = shared_executor(self.kind)
            if self.kind == "process":
                items = [(s.key, s.size) for s in sources]
                fut = loop.run_in_executor(ex, render_job, canonical, items, want_bytes)
            else:
                fut = loop.run_in_executor(ex, _render_local, sources, want_bytes)
            out = await fut
        finally:
            self.stats.running -= 1
            self._sem.release()
        self.stats.jobs += 1
        self.stats.documents += len(sources)
        return out

    async def _bounded(self, jobs: Iterator[Callable[[], asyncio.Future[None]]]) -> None:
        """Run job thunks at most PER_REQUEST at a time; the first failure propagates."""
        running: set[asyncio.Future[None]] = set()
        try:
            for make in jobs:
                running.add(make())
                if len(running) >= PER_REQUEST:
                    done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for d in done:
                        d.result()
            if running:
                await asyncio.gather(*running)
                running = set()
        finally:
            for r in running:
                r.cancel()

    # -- CRCs ------------------------------------------------------------

    async def learn_crcs(self, layout: ArchiveLayout, canonical: bytes, todo: list[int]) -> None:
        """Make every CRC in ``todo`` known, sharing one learning task per plan."""
        while True:
            todo = [i for i in todo if not layout.crc_known(i)]
            if not todo:
                return
            current = self._learning.get(id(layout))
            if current is None or current[0] is not layout:
                key = id(layout)
                task = asyncio.ensure_future(self._learn(layout, canonical, todo))
                self._learning[key] = (layout, task)
                task.add_done_callback(functools.partial(self._learned, key))
            else:
                task = current[1]
            # Shielded: a requester that leaves does not cancel what others wait for.
            await asyncio.shield(task)

    def _learned(self, key: int, task: asyncio.Task[None]) -> None:
        current = self._learning.get(key)
        if current is not None and current[1] is task:
            del self._learning[key]
        if not task.cancelled():
            task.exception()  # retrieved: the waiters re-raise it

    async def _learn(self, layout: ArchiveLayout, canonical: bytes, todo: list[int]) -> None:
        def job(batch: list[int]) -> Callable[[], asyncio.Future[None]]:
            async def run() -> None:
                if all(layout.crc_known(i) for i in batch):
                    return
                sources = [_producer(layout, i) for i in batch]
                for i, (crc, _) in zip(
                    batch, await self._run(canonical, sources, False), strict=True
                ):
                    layout.learn_crc(i, crc)
                self.stats.crcs_learned += len(batch)

            return lambda: asyncio.ensure_future(run())

        await self._bounded(job(b) for b in _batches(layout, todo, CRC_JOB_BYTES))

    # -- bodies ----------------------------------------------------------

    async def prepare(
        self, layout: ArchiveLayout, canonical: bytes, start: int, end: int
    ) -> dict[int, bytes]:
        """Render (off the loop) what iterating ``[start, end)`` would render; return bodies."""
        want_bodies, want_crcs = layout.needs(start, end)
        bodies: dict[int, bytes] = {}
        todo: list[int] = []
        for i in want_bodies:
            src = _producer(layout, i)
            data = self.cache.peek(src.key) if self.cache is not None else None
            if data is not None and len(data) == src.size:
                self.stats.cache_hits += 1
                bodies[i] = data
                if not layout.crc_known(i):
                    layout.learn_crc(i, crc32(data))
            else:
                todo.append(i)

        def job(batch: list[int]) -> Callable[[], asyncio.Future[None]]:
            async def run() -> None:
                sources = [_producer(layout, i) for i in batch]
                results = await self._run(canonical, sources, True)
                for i, src, (crc, data) in zip(batch, sources, results, strict=True):
                    assert data is not None and len(data) == src.size
                    layout.learn_crc(i, crc)
                    bodies[i] = data
                    if self.cache is not None:
                        self.cache.get_or_render(src.key, lambda d=data: d)  # type: ignore[misc]

            return lambda: asyncio.ensure_future(run())

        await self._bounded(job(b) for b in _batches(layout, todo, JOB_BYTES))
        if want_crcs:
            await self.learn_crcs(layout, canonical, want_crcs)
        return bodies

    async def window(
        self, layout: ArchiveLayout, canonical: bytes, start: int, end: int
    ) -> AsyncIterator[Piece]:
        """The pieces of ``[start, end)``; each segment is rendered while the one before is sent."""
        if self.kind == "inline":  # the old way, on the loop: kept to measure against
            for piece in layout.pieces(start, end):
                yield piece
            return
        segments = iter(segments_of(layout, start, end))
        first = next(segments, None)
        if first is None:
            return
        ahead: asyncio.Task[dict[int, bytes]] | None = asyncio.ensure_future(
            self.prepare(layout, canonical, *first)
        )
        seg = first
        try:
            while ahead is not None:
                bodies = await ahead
                nxt = next(segments, None)
                ahead = (
                    asyncio.ensure_future(self.prepare(layout, canonical, *nxt))
                    if nxt is not None
                    else None
                )
                for piece in layout.pieces(seg[0], seg[1], bodies):
                    yield piece
                if nxt is not None:
                    seg = nxt
        finally:
            if ahead is not None and not ahead.done():
                # Not awaited: this may run while our own task is being cancelled.
                ahead.cancel()
                ahead.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Future[dict[int, bytes]]) -> None:
    if not task.cancelled():
        task.exception()


RENDER_POOL: web.AppKey[RenderPool] = web.AppKey("planstream_render_pool", RenderPool)


def _producer(layout: ArchiveLayout, i: int) -> ProducerSource:
    src = layout.producer(i)
    assert src is not None, f"entry {i} is not generated"
    return src


def _batches(layout: ArchiveLayout, indices: list[int], max_bytes: int) -> Iterator[list[int]]:
    """Indices in jobs of at most JOB_ITEMS documents and about ``max_bytes`` of output."""
    batch: list[int] = []
    size = 0
    for i in indices:
        batch.append(i)
        size += _producer(layout, i).size
        if len(batch) >= JOB_ITEMS or size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def segments_of(layout: ArchiveLayout, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` cut at entry boundaries into parts of about SEGMENT_BYTES of documents.

    The central directory and end records are one last part. Walking the
    entries costs microseconds each, and only as far as the window is sent.
    """
    n = len(layout)
    cd = layout.central_offset
    pos = start
    if pos < cd:
        i = bisect_right(range(n), pos, key=layout.local_header_offset) - 1
        acc = 0
        while i < n and pos < min(end, cd):
            acc += layout.producer_size(i)
            i += 1
            boundary = layout.local_header_offset(i) if i < n else cd
            if acc >= SEGMENT_BYTES or i >= n or boundary >= end:
                cut = min(boundary, end)
                yield pos, cut
                pos, acc = cut, 0
    if pos < end:
        yield pos, end
