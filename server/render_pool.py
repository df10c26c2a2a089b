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
import pickle
import select
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import web

from generators.archive import ArchiveLayout, Piece, ProducerSource, crc32
from generators.bounded_cache import BoundedCache
from generators.entries import PlanArchive
from generators.library import Library
from generators.render_cache import RenderCache

from .replay import Recorder, Runs

WORKERS = max(1, min(2, os.cpu_count() or 1))  # CPU bound: more than the cores adds nothing
MAX_RUNNING = 2 * WORKERS  # jobs handed to the executor at once (one running, one queued each)
PER_REQUEST = 2  # jobs one download keeps going at once
JOB_BYTES = 256 * 1024  # declared output of one body job
JOB_ITEMS = 64  # documents in one job
CRC_JOB_BYTES = 1 << 62  # a CRC job returns 4 bytes a document: only JOB_ITEMS bounds it
SEGMENT_BYTES = 1 << 20  # producer bytes per prepared segment of a window
CD_ENTRIES = 1024  # central headers per prepared segment of the directory
WORKER_PLANS = 2  # plans whose producers a worker keeps
KINDS = ("process", "thread", "inline")


class RenderMismatch(Exception):
    """A worker's rebuilt plan has no producer of this key and size (code changed under us?)."""


# -- worker side ---------------------------------------------------------------

_plans: OrderedDict[tuple[bytes, str], dict[int, ProducerSource]] = OrderedDict()


def _producers(canonical: bytes, centre: str) -> dict[int, ProducerSource]:
    """A plan's producers by entry ref (``PlanSources.ref``), rebuilt and kept (LRU).

    Rebuilt without the library: materials are files, never rendered, and a
    producer's ref names its place in the plan, not in the archive, so it is
    the same with or without material entries between.
    """
    found = _plans.get((canonical, centre))
    if found is not None:
        _plans.move_to_end((canonical, centre))
        return found
    # Imported here: the worker needs the generators, the server's loop side does not.
    from generators.entries import PlanSources
    from generators.plan import build_plan
    from generators.request import PlanRequest

    sources = PlanSources(build_plan(PlanRequest.from_canonical(canonical)), centre=centre)
    found = {}
    for k, entry in enumerate(sources.entries(None)):
        if isinstance(entry.source, ProducerSource):
            found[sources.ref(k)] = entry.source
    _plans[(canonical, centre)] = found
    while len(_plans) > WORKER_PLANS:
        _plans.popitem(last=False)
    return found


def render_job(
    canonical: bytes, centre: str, items: list[tuple[int, int]], want_bytes: bool
) -> list[tuple[int, bytes | None]]:
    """In a worker process: render documents by ref, return (crc, bytes or None) each."""
    producers = _producers(canonical, centre)
    out: list[tuple[int, bytes | None]] = []
    for ref, size in items:
        src = producers.get(ref)
        if src is None or src.size != size:
            raise RenderMismatch(f"no producer of ref {ref} and {size} bytes in the rebuilt plan")
        data = src.render()
        out.append((crc32(data), data if want_bytes else None))
    return out


_library: tuple[str, Library | None] | None = None  # a build worker's last library, by its id


def build_job(
    canonical: bytes, library_id: str, library_blob: bytes | None, centre: str
) -> PlanArchive:
    """In a worker process: a plan's archive layout, built off the server's GIL.

    A 52-week plan takes about 0.9 s of pure Python to lay out. In a thread
    of the server it held the GIL the event loop needs after every syscall,
    and 5 such builds pushed the loop's lag past 100 ms. The library comes
    pickled (once per generation, ``State.library_blob``) and is unpickled
    here only when it is not the one this worker has already. The result
    carries no plan object and no cache (``PlanSources.__getstate__``).
    """
    global _library
    if _library is None or _library[0] != library_id:
        library = pickle.loads(library_blob) if library_blob is not None else None
        _library = (library_id, library)
    from generators.entries import build_archive
    from generators.request import PlanRequest

    return build_archive(PlanRequest.from_canonical(canonical), _library[1], None, centre)


def _render_local(
    sources: list[ProducerSource], want_bytes: bool
) -> list[tuple[int, bytes | None]]:
    out: list[tuple[int, bytes | None]] = []
    for src in sources:
        data = src.render()
        out.append((crc32(data), data if want_bytes else None))
    return out


WORKER_NICE = 10  # rendering is background work: the serving process gets the CPU first


def _worker_init(server_pid: int) -> None:
    """In each worker: lower its priority, and end when the server ends, however it ends.

    Priority: the loop's latency is what every client sees; a document
    rendered 10 ms later only delays the one download that waits for it.

    Ending with the server: a worker forked by the forkserver is not the
    server's child, and it holds both ends of its own call queue and a copy
    of the forkserver's "alive" pipe, so when the server is SIGKILLed (an
    OOM kill, the supervisor's restart test) it never sees an EOF: it, the
    forkserver and the resource tracker (with the pool's semaphores in
    /dev/shm) would live on, re-parented to init, outside any budget.
    """
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    _watch_server(server_pid)


def _watch_server(pid: int) -> None:
    """Exit this process as soon as process ``pid`` has ended (a pidfd turns readable).

    A pidfd, not polling ``os.getppid()``: our parent is the forkserver,
    which outlives the server by design. Opened at once, so a reused pid
    cannot be mistaken for the server; already gone means exit now.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(0)
    except (OSError, AttributeError):  # no pidfds (old kernel): the queue's EOF is all we have
        return

    def wait() -> None:
        select.select([fd], [], [])
        os._exit(0)

    threading.Thread(target=wait, name="server-watch", daemon=True).start()


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
                ex = ProcessPoolExecutor(
                    WORKERS, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
                )
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
    replays: int = 0  # windows served from a warm plan's runs
    waiting: int = 0  # jobs waiting for a place in the executor now
    running: int = 0


@dataclass
class RenderPool:
    """The loop's side of the pool: bounded jobs, shared CRC learning, the render cache."""

    kind: str = field(default_factory=pool_kind)
    cache: RenderCache | None = None
    runs: BoundedCache[str, Runs] | None = None  # replays of warm plans (server.replay)
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
        self, layout: ArchiveLayout, canonical: bytes, batch: list[int], want_bytes: bool
    ) -> list[tuple[int, bytes | None]]:
        """One job, in the executor once a place is free (FIFO among waiters).

        A process job is sent keys and sizes only; the worker makes the
        sources itself, so the loop never builds a document's source.
        """
        if self.kind == "inline":
            return _render_local([_producer(layout, i) for i in batch], want_bytes)
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
                refs, centre = _refs(layout)
                items = [(refs(i), layout.producer_size(i)) for i in batch]
                fut = loop.run_in_executor(ex, render_job, canonical, centre, items, want_bytes)
            else:
                sources = [_producer(layout, i) for i in batch]
                fut = loop.run_in_executor(ex, _render_local, sources, want_bytes)
            out = await fut
        finally:
            self.stats.running -= 1
            self._sem.release()
        self.stats.jobs += 1
        self.stats.documents += len(batch)
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
                for i, (crc, _) in zip(
                    batch, await self._run(layout, canonical, batch, False), strict=True
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
            data = self.cache.peek(_key(layout, i)) if self.cache is not None else None
            if data is not None and len(data) == layout.producer_size(i):
                self.stats.cache_hits += 1
                bodies[i] = data
                if not layout.crc_known(i):
                    layout.learn_crc(i, crc32(data))
            else:
                todo.append(i)

        def job(batch: list[int]) -> Callable[[], asyncio.Future[None]]:
            async def run() -> None:
                results = await self._run(layout, canonical, batch, True)
                for i, (crc, data) in zip(batch, results, strict=True):
                    assert data is not None and len(data) == layout.producer_size(i)
                    layout.learn_crc(i, crc)
                    bodies[i] = data
                    if self.cache is not None:
                        self.cache.get_or_render(_key(layout, i), lambda d=data: d)  # type: ignore[misc]

            return lambda: asyncio.ensure_future(run())

        await self._bounded(job(b) for b in _batches(layout, todo, JOB_BYTES))
        if want_crcs:
            await self.learn_crcs(layout, canonical, want_crcs)
        return bodies

    def replay(self, layout: ArchiveLayout) -> Runs | None:
        """The runs of a plan sent whole before (``server.replay``), counted; None if cold."""
        if self.kind == "inline" or self.runs is None:
            return None
        runs = self.runs.get(layout.fingerprint())
        if runs is not None:
            self.stats.replays += 1
        return runs

    async def window(
        self, layout: ArchiveLayout, canonical: bytes, start: int, end: int
    ) -> AsyncIterator[Piece]:
        """The pieces of ``[start, end)``; each segment is rendered while the one before is sent."""
        if self.kind == "inline":  # the old way, on the loop: kept to measure against
            for piece in layout.pieces(start, end):
                yield piece
            return
        key = layout.fingerprint()
        segments = iter(segments_of(layout, start, end))
        first = next(segments, None)
        if first is None:
            return
        # A whole archive sent is recorded, so the next download replays it.
        record = (
            Recorder()
            if self.runs is not None and start == 0 and end == layout.total_size
            else None
        )
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
                    if record is not None:
                        record.add(piece)
                    yield piece
                if nxt is not None:
                    seg = nxt
            if record is not None:
                done = record.finish(layout.total_size)
                if done is not None and self.runs is not None:
                    self.runs.put(key, done, done.nbytes)
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


def _key(layout: ArchiveLayout, i: int) -> str:
    """Render-cache key of entry i: the archive's fingerprint names its bytes, i the entry.

    Made from two values the layout holds, so a lookup needs neither the
    entry's source nor the plan (which the server no longer keeps).
    """
    return f"{layout.fingerprint()}|{i}"


def _refs(layout: ArchiveLayout) -> tuple[Callable[[int], int], str]:
    """The layout's entry refs and centre name, which a worker rebuilds sources from."""
    resolver = layout.resolver
    ref = getattr(resolver, "ref", None)
    if ref is None:
        raise RenderMismatch("not a plan's layout: its entries have no refs to render from")
    return ref, getattr(resolver, "centre", "")


def _batches(layout: ArchiveLayout, indices: list[int], max_bytes: int) -> Iterator[list[int]]:
    """Indices in jobs of at most JOB_ITEMS documents and about ``max_bytes`` of output."""
    batch: list[int] = []
    size = 0
    for i in indices:
        batch.append(i)
        size += layout.producer_size(i)
        if len(batch) >= JOB_ITEMS or size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def segments_of(layout: ArchiveLayout, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` cut at entry boundaries into parts of about SEGMENT_BYTES of documents.

    The central directory is cut every ``CD_ENTRIES`` headers, the end
    records go with its last part: preparing a part walks its headers on the
    loop (``layout.needs``), 12,741 of them for the largest plan, 15 ms at once.
    Walking the entries costs microseconds each, and only as far as the window is sent.
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
        j = bisect_right(range(n), pos, key=layout.central_header_offset) - 1 if n else 0
        j = max(j, 0)
        while pos < end:
            j = min(j + CD_ENTRIES, n)
            cut = layout.central_header_offset(j) if j < n else end
            cut = min(max(cut, pos), end)
            if cut <= pos:
                cut = end
            yield pos, cut
            pos = cut
