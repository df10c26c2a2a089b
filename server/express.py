"""The fast client's socket: bytes and files sent straight to it, one wait per full buffer.

Why: a fast client on a LAN was held to 0.8x of ``FileResponse`` by Python,
not by the kernel. Each material file whose socket filled went through
``loop.sendfile``, which per call pauses reading, unregisters the
transport, waits for an empty buffer, adds and removes a writer and resumes
(a dozen callbacks, 84 times a plan), and every header run went through
aiohttp's writer and the transport. ``FileResponse`` pays that set-up once.

``Express`` does what ``loop.sendfile`` does inside, for a whole download:
``send`` and ``sendfile`` are single non-blocking syscalls on the socket
(``None`` when it is full), and ``wait`` parks the download until the
socket can take more. The wait registers a duplicate of the socket's
descriptor, because the loop refuses a writer on a descriptor its transport
owns; the registration stays while the socket keeps filling (a full socket
costs one ``epoll_wait`` wake-up, no ``epoll_ctl``) and is dropped the first
time it fires with nobody waiting, so a download busy elsewhere (rendering
its next segment) never makes the loop spin.

Only downloads granted a large send buffer use it (``server.sendbuf``):
they are bounded by the fast pool, so the duplicates are too
(``admission.plan_budget`` keeps a descriptor for each). Bytes go to the
socket only while the transport's own buffer is empty, so they stay in
order with aiohttp's writes.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Generator
from typing import Any


class Express:
    """Direct sends on one download's socket, and a writable wait through its duplicate."""

    __slots__ = ("_job", "_registered", "_waiter", "loop", "sock")

    def __init__(self, loop: asyncio.AbstractEventLoop, fileno: int) -> None:
        self.loop = loop
        self.sock = socket.socket(fileno=os.dup(fileno))
        self.sock.setblocking(False)
        self._waiter: asyncio.Future[None] | None = None
        self._job: tuple[Generator[Any, Any, None], asyncio.Future[Any]] | None = None
        self._registered = False

    @classmethod
    def of(cls, transport: Any) -> Express | None:
        """An Express on the transport's plain TCP socket, or None (TLS, no socket, closing)."""
        if transport is None or transport.is_closing():
            return None
        if transport.get_extra_info("sslcontext") is not None:
            return None
        sock = transport.get_extra_info("socket")
        if sock is None or sock.type != socket.SOCK_STREAM:
            return None
        return cls(asyncio.get_running_loop(), sock.fileno())

    def send(self, data: memoryview, flags: int = 0) -> int | None:
        """Bytes the socket took now, or None when it is full."""
        try:
            return self.sock.send(data, flags)
        except (BlockingIOError, InterruptedError):
            return None

    def sendfile(self, fileno: int, offset: int, count: int) -> int | None:
        """Bytes of the file the socket took now (0: the file ended), or None when it is full."""
        try:
            return os.sendfile(self.sock.fileno(), fileno, offset, count)
        except (BlockingIOError, InterruptedError):
            return None

    async def wait(self) -> None:
        """Until the socket can take more (a loop turn if it already can)."""
        fut = self.loop.create_future()
        self._waiter = fut
        if not self._registered:
            self.loop.add_writer(self.sock.fileno(), self._ready)
            self._registered = True
        try:
            await fut
        finally:
            self._waiter = None

    async def drive(self, steps: Generator[Awaitable[Any] | None, Any, None]) -> None:
        """Run ``steps``: its sends in the socket's writable callback, its awaits here.

        ``steps`` yields None to wait until the socket takes more (or for the
        next loop turn, once its share is used), or an awaitable the task
        must wait for (a descriptor from a full pool), whose result it gets
        back. Resuming it from the callback itself, not by waking the task,
        is what ``loop.sendfile`` does: a wait costs one loop turn, where a
        future's wake-up costs two (the task runs only on the turn after the
        callback), and beside 10,000 slow downloads a turn is long.
        """
        value: Any = None
        try:
            while True:
                fut = self.loop.create_future()
                self._job = (steps, fut)
                self._advance(value)
                awaitable = await fut
                if awaitable is None:
                    return
                self._job = None
                value = await awaitable
        finally:
            self._job = None
            steps.close()  # its finally blocks give back what it holds

    def _advance(self, value: Any) -> None:
        job = self._job
        assert job is not None
        steps, fut = job
        try:
            out = steps.send(value)
        except StopIteration:
            fut.set_result(None)
            return
        except BaseException as exc:
            fut.set_exception(exc)
            return
        if out is None:
            if not self._registered:
                self.loop.add_writer(self.sock.fileno(), self._ready)
                self._registered = True
        else:
            fut.set_result(out)

    def fail(self, exc: BaseException) -> None:
        """End the current wait with ``exc`` (the writer's watchdog: a stalled client)."""
        job = self._job
        fut = job[1] if job is not None else self._waiter
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def _ready(self) -> None:
        job = self._job
        if job is not None and not job[1].done():
            self._advance(None)
            return
        fut = self._waiter
        if fut is None:  # nobody waits: the download is busy elsewhere, stop the wake-ups
            self._unregister()
        elif not fut.done():
            fut.set_result(None)

    def _unregister(self) -> None:
        if self._registered:
            self.loop.remove_writer(self.sock.fileno())
            self._registered = False

    def park(self) -> None:
        """Drop the registration, keep the duplicate (its queue can still be read)."""
        self._unregister()

    def close(self) -> None:
        """Drop the registration and the duplicate (the socket itself is the transport's)."""
        self._unregister()
        self.sock.close()
