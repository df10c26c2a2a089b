"""What every handler shares, built once per process: ``State``, its ``AppKey`` and ``build_state``.

State holds the link sealer, the admission semaphore (sized from the memory
budget), the materials library (indexed at start-up, so a broken library
fails the start, not a download), metrics, and a cache of built archive
layouts. The layout cache is keyed by the library generation and the
normalised request, so a resumed download, its range requests and many
clients of one plan share one layout instead of rebuilding it; rendered
documents are kept in a ``RenderCache`` for the same reason. Both are
``BoundedCache``s bounded in bytes and live inside the memory reserve that
admission sets aside. The layout cache also counts layouts that were
evicted but are still being sent: when those alone fill its bound, a new
plan is turned away (503) instead of growing memory past the reserve.

It has a module of its own so that ``app`` (wiring) and the route modules
(handlers) both import it and never each other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from generators.bounded_cache import BoundedCache, key_cost
from generators.entries import PlanArchive, PlanSources, build_archive
from generators.library import Library
from generators.library_s3 import S3Library, open_library
from generators.render_cache import RenderCache
from generators.request import PlanRequest

from .admission import (
    FDS_PER_DOWNLOAD,
    SENDER_BASE,
    Admission,
    BudgetPlan,
    BytePool,
    CostModel,
    fast_sndbuf_for,
    plan_budget,
    raise_nofile_limit,
    reserve_for,
)
from .config import Config
from .errors import Busy
from .library_watch import LibraryWatch
from .links import LinkSealer
from .looplag import LoopMonitor
from .metrics import Metrics
from .objects import STREAM_COST, ObjectReader
from .render_pool import build_job, pool_kind, shared_executor
from .replay import RUNS_CACHE_BYTES, RUNS_SHARE, Runs, runs_cache
from .sender import enabled as sender_enabled
from .writer import WriterLimits

log = logging.getLogger("planstream.server")

LAYOUT_CACHE_BYTES = 32 << 20  # layouts cached or being sent (a 52-week plan: < 2 MiB)
RENDER_CACHE_BYTES = 32 << 20  # bound of the rendered-document cache, likewise
BUILD_WORKERS = 2
BUILD_QUEUE = 16  # plan builds that may wait for a worker before 503
"""Plan layouts built at once (CPU bound: more than the cores only adds memory)."""


@dataclass
class State:
    config: Config
    sealer: LinkSealer
    admission: Admission
    slot_plan: BudgetPlan
    fast_pool: BytePool
    library: Library | None
    limits: WriterLimits
    metrics: Metrics = field(default_factory=Metrics)
    cost_model: CostModel = field(default_factory=CostModel)
    loop_monitor: LoopMonitor = field(default_factory=LoopMonitor)
    render_cache: RenderCache = field(default_factory=lambda: RenderCache(RENDER_CACHE_BYTES))
    runs: BoundedCache[str, Runs] = field(
        default_factory=lambda: runs_cache(RUNS_CACHE_BYTES)
    )  # warm plans' replays
    layouts: BoundedCache[tuple[int, bytes], PlanArchive] = field(
        default_factory=lambda: BoundedCache(LAYOUT_CACHE_BYTES, track_alive=True)
    )
    connections: Any = None  # the ConnectionGuard once a socket is served (server.serve)
    per_client: dict[str, int] = field(default_factory=dict)  # downloads by address now
    draining: bool = False  # set on SIGTERM: running downloads cut later are "cut_by_shutdown"
    objects: Any = None  # server.objects.ObjectReader when the library is in a bucket
    sender: bool = False  # fast replays are copied by the sender process (server.sender)

    builds: Admission = field(default_factory=lambda: Admission(BUILD_WORKERS, 5.0, BUILD_QUEUE))
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(BUILD_WORKERS, thread_name_prefix="build")
    )
    _inflight: dict[tuple[int, bytes], asyncio.Task[PlanArchive]] = field(default_factory=dict)

    library_watch: Any = None  # the LibraryWatch (server.library_watch), set by build_state
    _blob: tuple[Library, str, bytes] | None = None  # the library pickled for build workers

    def _key(self, req: PlanRequest) -> tuple[int, bytes]:
        """Cache key: the library snapshot's generation and the normalised request.

        A library change starts a new generation, so no layout built over the
        old files is found again (its sizes, CRCs and ETag are stale).
        """
        generation = self.library.generation if self.library is not None else 0
        return generation, req.canonical_bytes()

    def swap_library(self, library: Library) -> None:
        """Make ``library`` the one new plans and links use; drop layouts of the old one.

        Called on the event loop; the assignment is atomic, so a build running
        in a worker thread sees either snapshot whole, never a mix.
        """
        self.library = library
        self.layouts.clear()
        self.runs.clear()

    def __post_init__(self) -> None:
        # Loop lag also feeds the prometheus-client histogram (summed across workers).
        self.loop_monitor.sink = self.metrics.loop_lag.observe

    async def archive_for_request(self, req: PlanRequest) -> PlanArchive:
        """Like ``archive_for``, building a new layout off the event loop, admitted.

        A 52-week plan takes a few hundred ms of CPU to lay out. Builds are
        admitted like downloads: at most ``BUILD_WORKERS`` run at once, a
        bounded queue waits up to the queue timeout, then 503 (Busy), so no
        burst of POSTs can pile up work or memory. Concurrent requests for
        the same new plan (a download manager's 8 ranges) share one build.
        A cached layout costs no thread hop.
        """
        key = self._key(req)
        hit = self._cached(key)
        if hit is not None:
            return hit
        task = self._inflight.get(key)
        if task is None:
            # A task of its own: a requester that leaves does not cancel the
            # build the others wait for (its result is cached either way).
            task = asyncio.ensure_future(self._build(req))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._build_done(key, t))
        return await asyncio.shield(task)

    async def _build(self, req: PlanRequest) -> PlanArchive:
        async with self.builds.slot():
            loop = asyncio.get_running_loop()
            if pool_kind() != "process":
                return await loop.run_in_executor(self._executor, self.archive_for, req)
            library = self.library  # one snapshot for the whole build
            key = self._key(req)
            hit = self._cached(key)
            if hit is not None:
                return hit
            library_id, blob = self._library_blob(library)
            archive = await loop.run_in_executor(
                shared_executor("process"),
                build_job,
                req.canonical_bytes(),
                library_id,
                blob,
                self.config.centre_name,
            )
            resolver = archive.layout.resolver
            if isinstance(resolver, PlanSources):
                resolver.cache = self.render_cache  # for the thread and inline render modes
            return self._keep(key, library, archive)

    def _library_blob(self, library: Library | None) -> tuple[str, bytes | None]:
        """The library as a build worker receives it: pickled once per snapshot, kept.

        A worker unpickles it only when its id (a digest of the pickle) is new to it.
        """
        if library is None:
            return "", None
        if self._blob is None or self._blob[0] is not library:
            blob = pickle.dumps(library, protocol=pickle.HIGHEST_PROTOCOL)
            # Its id is its content: two servers (or apps) in one process may
            # both have a generation 0 of the same root with different files.
            digest = hashlib.blake2b(blob, digest_size=16).hexdigest()
            self._blob = (library, digest, blob)
        return self._blob[1], self._blob[2]

    def _build_done(self, key: tuple[int, bytes], task: asyncio.Task[PlanArchive]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here: a build nobody waits for any more is no error

    def _cached(self, key: tuple[int, bytes]) -> PlanArchive | None:
        return self.layouts.get(key)

    def archive_for(self, req: PlanRequest) -> PlanArchive:
        """The plan's archive layout, built once and kept in the byte-bounded layout cache.

        Raises Busy when the layouts still being sent leave no room for it.
        """
        library = self.library  # one snapshot for the whole build
        key = (library.generation if library is not None else 0, req.canonical_bytes())
        hit = self._cached(key)
        if hit is not None:
            return hit
        archive = build_archive(req, library, self.render_cache, self.config.centre_name)
        return self._keep(key, library, archive)

    def _keep(
        self, key: tuple[int, bytes], library: Library | None, archive: PlanArchive
    ) -> PlanArchive:
        """Cache a new layout; Busy when the layouts still being sent leave no room for it."""
        if library is not self.library:
            return archive  # the library changed during the build: do not keep it
        if not self.layouts.put(key, archive, archive.nbytes + key_cost(key)):
            raise Busy(
                "too many different plans are being downloaded at once; retry shortly",
                retry_after=max(1, round(self.config.queue_timeout)),
            )
        return archive


STATE: web.AppKey[State] = web.AppKey("planstream_state", State)


def _runs_bytes(config: Config) -> int:
    """The replays' cache: a speed-up, not a need, so a small budget keeps it small."""
    return min(RUNS_CACHE_BYTES, config.memory_budget // RUNS_SHARE)


def _log_budget(config: Config, plan: BudgetPlan, nofile: int, sender: bool) -> None:
    """One start-up line an operator reads to see where the budget went and why."""
    log.info(
        "memory budget %d MiB (from %s): reserve %d MiB, fast send buffers %d MiB, "
        "downloads %d MiB at %d KiB each -> %d slots (memory allows %d, descriptors %d "
        "with RLIMIT_NOFILE %d; %s binds); sender process %s",
        config.memory_budget >> 20,
        config.budget_source,
        plan.reserve >> 20,
        plan.fast_pool >> 20,
        plan.downloads >> 20,
        plan.cost >> 10,
        plan.slots,
        plan.by_memory,
        plan.by_fds,
        nofile,
        plan.binding,
        "on" if sender else "off",
    )


def build_state(config: Config, library: Library | None = None) -> State:
    """Everything the handlers share; logs the budget, its parts and the slots."""
    if library is None and config.library:
        library = open_library(config.library, config.s3_endpoint)
    s3 = isinstance(library, S3Library)
    # An S3 download also holds the object's buffers and one pooled connection.
    model = CostModel(object_stream=STREAM_COST, fds=FDS_PER_DOWNLOAD + 1) if s3 else CostModel()
    model = dataclasses.replace(model, fast_sndbuf=fast_sndbuf_for(config.memory_budget, model))
    nofile = raise_nofile_limit()
    reserve = config.reserve
    runs = _runs_bytes(config)
    # The sender process (server.sender) is a speed-up for fast clients beside
    # many slow ones: worth its memory only where that is a small part of the
    # budget (not in a 256 MiB container), and only for files on disk (it
    # sends with sendfile; a bucket's objects stream through the loop).
    sender = sender_enabled() and not s3 and SENDER_BASE + runs <= config.memory_budget // 16
    if reserve is None:
        files = len(library) if library is not None else 0
        reserve = reserve_for(
            LAYOUT_CACHE_BYTES + RENDER_CACHE_BYTES + runs,
            files,
            BUILD_WORKERS,
            runs if sender else None,
        )
    plan = plan_budget(config.memory_budget, reserve, nofile, model, cap=config.max_slots)
    sealer = LinkSealer(config.secrets)
    if sealer.ephemeral:
        log.warning(
            "no --secret given: download links are sealed with a random key and stop "
            "working when this process restarts (set PLANSTREAM_SECRET on every node)"
        )
    _log_budget(config, plan, nofile, sender)
    limits = WriterLimits(
        chunk_size=config.chunk_size,
        stall_timeout=config.stall_timeout,
        min_rate=config.min_rate,
        rate_window=config.rate_window,
        sndbuf=config.sndbuf,
    )
    state = State(
        config=config,
        sealer=sealer,
        admission=Admission(plan.slots, config.queue_timeout, capacity=plan.downloads),
        fast_pool=BytePool(plan.fast_pool),
        slot_plan=plan,
        library=library,
        limits=limits,
        builds=Admission(BUILD_WORKERS, config.queue_timeout, BUILD_QUEUE),
        cost_model=model,
        runs=runs_cache(runs),
        sender=sender,
    )
    state.library_watch = LibraryWatch(lambda: state.library, state.swap_library, state.metrics)
    if isinstance(library, S3Library):
        state.objects = ObjectReader(library, plan.slots, limits.stall_timeout, state.swap_library)
    return state
