"""Material files opened through one shared, bounded pool of descriptors.

Why: every running download holds a socket, and the ``nofile`` limit (here
20,000 hard, 16,384 on many hosts) must hold 10,000 of them. A download that
opened its own descriptor for the material it is sending would need two at
times, and a slot would have to reserve both. Instead a material file is
open only while some download is sending it, and one descriptor serves every
download sending that file at once: ``sendfile`` is given explicit offsets,
so the file position is never shared state. At most ``max_open`` files are
open in all (``admission.FD_POOL``, counted once in the descriptor budget);
an idle descriptor is kept for reuse until the room is needed, and a
download that finds the pool full of busy files waits for one (FIFO).

A descriptor is reused only for the same file: the path is re-``stat``-ed on
every acquire and must still be the open inode and the indexed file
(``FileSlice.verify``: inode, size, mtime, ctime), so a replaced or changed
file is never sent from a stale descriptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import BinaryIO

from aiohttp import web

from generators.archive import FileSlice, SourceChanged

from .admission import FD_POOL


@dataclass
class Handle:
    file: BinaryIO
    ino: tuple[int, int]  # (st_dev, st_ino) of the open file
    users: int = 0


class FilePool:
    """Shared descriptors for material files: at most ``max_open`` open at once."""

    def __init__(self, max_open: int = FD_POOL) -> None:
        if max_open < 1:
            raise ValueError("max_open must be at least 1")
        self.max_open = max_open
        self.opened = 0  # descriptors opened since start (a reuse opens none)
        self.peak = 0
        self._busy: dict[str, list[Handle]] = {}
        self._idle: OrderedDict[str, Handle] = OrderedDict()
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def open_now(self) -> int:
        return len(self._idle) + sum(len(v) for v in self._busy.values())

    def open(self, piece: FileSlice) -> _Lease:
        """The open file of ``piece``, shared (``async with``); SourceChanged if it is not
        the indexed file. A plain class, not a generator: a fast download opens 130 a plan."""
        return _Lease(self, piece)

    async def acquire(self, piece: FileSlice) -> Handle:
        """The shared handle of ``piece``'s file, checked (``stat``) against its index;
        give it back with ``release``. For a caller that holds it across awaits of
        its own (``BodyWriter.send_runs``); others use ``open``."""
        return await self._acquire(piece)

    def release(self, piece: FileSlice, handle: Handle) -> None:
        self._release(piece.path, handle)

    def try_acquire(self, piece: FileSlice) -> Handle | None:
        """``acquire`` without waiting: None when the pool is full of busy files."""
        st = _stat(piece)
        return self._take(piece, (st.st_dev, st.st_ino))

    async def _acquire(self, piece: FileSlice) -> Handle:
        while True:
            st = _stat(piece)
            handle = self._take(piece, (st.st_dev, st.st_ino))
            if handle is not None:
                return handle
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)

    def _take(self, piece: FileSlice, ino: tuple[int, int]) -> Handle | None:
        """A handle of the open file ``ino`` (shared, idle or newly opened), or None if full."""
        for handle in self._busy.get(piece.path, ()):
            if handle.ino == ino:
                handle.users += 1
                return handle
        idle = self._idle.pop(piece.path, None)
        if idle is not None:
            if idle.ino == ino:
                idle.users = 1
                self._busy.setdefault(piece.path, []).append(idle)
                return idle
            idle.file.close()  # the path is another file now
        if self.open_now < self.max_open or self._close_idle():
            return self._open(piece, ino)
        return None

    def _open(self, piece: FileSlice, ino: tuple[int, int]) -> Handle:
        f = open(piece.path, "rb")  # noqa: SIM115 - closed by _release / _close_idle
        st = os.fstat(f.fileno())
        try:
            piece.verify(st)
            if (st.st_dev, st.st_ino) != ino:
                raise SourceChanged(piece.path, "replaced while it was being opened")
        except SourceChanged:
            f.close()
            raise
        handle = Handle(f, ino, users=1)
        self._busy.setdefault(piece.path, []).append(handle)
        self.opened += 1
        self.peak = max(self.peak, self.open_now)
        return handle

    def _close_idle(self) -> bool:
        """Close the least recently used idle descriptor to make room; False if none is idle."""
        if not self._idle:
            return False
        _, handle = self._idle.popitem(last=False)
        handle.file.close()
        return True

    def _release(self, path: str, handle: Handle) -> None:
        handle.users -= 1
        if handle.users:
            return
        busy = self._busy[path]
        busy.remove(handle)
        if not busy:
            del self._busy[path]
        if self._waiters or path in self._idle:
            handle.file.close()  # someone needs the room (or a newer one is idle already)
        else:
            self._idle[path] = handle
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                break

    def close(self) -> None:
        while self._close_idle():
            pass


class _Lease:
    """One use of a pooled descriptor: acquired on enter, released on exit."""

    __slots__ = ("handle", "piece", "pool")

    def __init__(self, pool: FilePool, piece: FileSlice) -> None:
        self.pool = pool
        self.piece = piece
        self.handle: Handle | None = None

    async def __aenter__(self) -> BinaryIO:
        self.handle = await self.pool._acquire(self.piece)
        return self.handle.file

    async def __aexit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.pool._release(self.piece.path, self.handle)
            self.handle = None


def _stat(piece: FileSlice) -> os.stat_result:
    try:
        st = os.stat(piece.path)
    except OSError as exc:
        raise SourceChanged(piece.path, f"cannot stat: {exc.strerror}") from exc
    piece.verify(st)  # inode, size, mtime and ctime of the index
    return st


FILE_POOL: web.AppKey[FilePool] = web.AppKey("planstream_file_pool", FilePool)
