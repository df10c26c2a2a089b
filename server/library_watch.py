"""Library changes picked up without a restart: periodic scans, suspects, and SIGHUP.

The library is an immutable snapshot (``generators.library.Library``). This
module builds the next snapshot off the event loop and swaps it in on the
loop (``State.swap_library``), so a plan is always built from one snapshot
and a new plan after a change gets the new sizes, CRCs and ETag:

- every ``--library-scan`` seconds (default 10 s; 0 turns it off) the
  indexed files are stat'ed in a worker thread, and the ones whose identity
  (inode, size, mtime, ctime) changed are re-indexed (new size and CRC) and
  the ones that vanished dropped;
- a download cut because its file changed (``suspect()``) asks for a scan
  at once, so the next request already sees the new file;
- SIGHUP re-indexes the whole tree in a worker thread (new files too),
  reusing the CRC of every file whose identity held, and swaps it in whole.

Only one scan or re-index runs at a time. What changed is counted for
``/metrics`` and the latest changes are listed in ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from generators.library import Change, Library, LibraryError

from .metrics import Metrics

log = logging.getLogger("planstream.library")

RECENT = 20  # changes listed in /healthz


class LibraryWatch:
    """Scans, re-indexes and swaps one server's library; counts what changed.

    ``current`` returns the library in use and ``swap`` puts a new one in
    (``State.library`` and ``State.swap_library``): passed as functions, so
    this module needs nothing of ``server.state``, which builds it.
    """

    def __init__(
        self,
        current: Callable[[], Library | None],
        swap: Callable[[Library], None],
        metrics: Metrics,
    ) -> None:
        self.current = current
        self.swap = swap
        self.metrics = metrics
        self.recent: deque[dict[str, object]] = deque(maxlen=RECENT)
        self.scans = 0
        self.last_scan: float | None = None  # wall clock of the last finished scan
        self._lock = asyncio.Lock()
        self._suspect_task: asyncio.Task[list[Change]] | None = None
        self.hup_installed = False  # whether SIGHUP re-indexes (the loop runs in the main thread)

    async def _in_thread(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    async def scan(self) -> list[Change]:
        """Stat every indexed file; re-index what changed, drop what vanished; swap."""
        async with self._lock:
            library = self.current()
            if library is None:
                return []
            changes: list[Change] = await self._in_thread(library.scan)
            if changes:
                new = await self._in_thread(lambda: library.with_changes(changes))
                self._swap(new, changes)
            self.scans += 1
            self.last_scan = time.time()
            return changes

    async def reindex(self) -> list[Change]:
        """Index the whole tree again (SIGHUP), reusing unchanged files' CRCs; swap."""
        async with self._lock:
            old = self.current()
            if old is None:
                return []
            try:
                new: Library = await self._in_thread(lambda: type(old).load(old.root, old))
            except (OSError, LibraryError) as exc:
                log.error("library: re-index failed, keeping the current index: %s", exc)
                return []
            changes = old.diff(new)
            self._swap(new, changes)
            self.last_scan = time.time()
            return changes

    def suspect(self) -> None:
        """A download found a changed file: scan now (once, however many downloads ask)."""
        if self._suspect_task is None or self._suspect_task.done():
            self._suspect_task = asyncio.ensure_future(self.scan())

    def _swap(self, new: Library, changes: list[Change]) -> None:
        self.swap(new)
        now = round(time.time(), 3)
        for c in changes:
            self.metrics.library_changes[c.change] += 1
            self.recent.append({"path": c.path, "change": c.change, "reason": c.reason, "at": now})
            log.warning("library: %s %s%s", c.path, c.change, f" ({c.reason})" if c.reason else "")
        log.info(
            "library: generation %d in use: %d files (%d changed)",
            new.generation,
            len(new),
            len(changes),
        )

    def report(self) -> dict[str, object]:
        """For /healthz: totals by kind of change and the latest changes."""
        counts = self.metrics.library_changes
        library = self.current()
        return {
            "generation": library.generation if library is not None else 0,
            "changed": counts["changed"],
            "vanished": counts["vanished"],
            "added": counts["added"],
            "recent": list(self.recent),
            "last_scan": self.last_scan,
        }

    async def _periodic(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.scan()
            except Exception:  # a scan must never stop the watch
                log.exception("library: scan failed")


@contextlib.asynccontextmanager
async def watching(watch: LibraryWatch, every: float) -> AsyncIterator[None]:
    """Run the periodic scan and the SIGHUP handler for as long as the app runs."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()
    periodic = asyncio.ensure_future(watch._periodic(every)) if every > 0 else None

    def on_hup() -> None:
        log.info("library: SIGHUP, re-indexing in the background")
        task = asyncio.ensure_future(watch.reindex())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, on_hup)
        watch.hup_installed = True
    try:
        yield
    finally:
        if watch.hup_installed:
            loop.remove_signal_handler(signal.SIGHUP)
            watch.hup_installed = False
        for task in [periodic, *tasks]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [periodic, *tasks] if t), return_exceptions=True)
