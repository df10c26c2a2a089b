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
import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Awaitable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from generators.archive import FileSlice, SourceChanged

MSG_MORE = getattr(socket, "MSG_MORE", 0)  # Linux; elsewhere headers go out on their own
SENDFILE_CALL = 8 << 20  # a thread's sendfile call: it holds no GIL, so no share to keep


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

    def close(self) -> None:
        """Drop the registration and the duplicate (the socket itself is the transport's)."""
        self._unregister()
        self.sock.close()


# -- the lane in a thread -------------------------------------------------------

LANE_THREADS = 8  # fast downloads whose lane runs in a thread at once; others stay on the loop
POLL_MS = 250  # a thread's wait for the socket, so a stop is seen within this


class Progress:
    """What a lane thread has sent; written by the thread, read by the loop when it ends."""

    __slots__ = ("express", "stop")

    def __init__(self) -> None:
        self.express = 0
        self.stop = threading.Event()


class Stalled(Exception):
    """The client took no byte for the stall timeout, or read below the minimum rate."""


class LaneThreads:
    """A bounded set of threads for fast downloads' lanes.

    Why: beside 10,000 slow downloads the loop thread is busy, and a fast
    download on it got a socket buffer per loop turn (0.7x of
    ``FileResponse`` in a process of its own). In a thread of its own its
    copying (``sendfile``, which releases the GIL) is scheduled like any
    other thread's, on whichever core is free; what needs the GIL is a few
    microseconds per file. The thread touches no state of the loop: it opens
    each file itself (one descriptor at a time: with the socket's duplicate,
    two per threaded download, at most ``LANE_THREADS``), checks it against
    its index with ``fstat`` before the run ending with its header and after
    its body, and waits for the socket with ``poll``.
    """

    def __init__(self, size: int = LANE_THREADS) -> None:
        self.size = size
        self.busy = 0
        self.runs = 0  # lanes run in a thread since start (tests, /healthz)
        self._pool: ThreadPoolExecutor | None = None

    def try_take(self) -> bool:
        if self.busy >= self.size:
            return False
        self.busy += 1
        return True

    async def run(
        self, sock: socket.socket, spans: Iterator[Any], limits: Any, progress: Progress
    ) -> None:
        """Send ``spans`` from a thread; raises what the thread raised."""
        self.runs += 1
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="planstream-lane")
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._pool, pump, sock, spans, limits, progress)
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            progress.stop.set()  # the thread ends within POLL_MS; it must, before the fd closes
            with contextlib.suppress(BaseException):
                await fut
            raise
        finally:
            self.busy -= 1


def pump(sock: socket.socket, spans: Iterator[Any], limits: Any, progress: Progress) -> None:
    """The thread's side: every span, with its file checks, straight to the socket."""
    sockfd = sock.fileno()
    poller = select.poll()
    poller.register(sockfd, select.POLLOUT)
    clock = _Clock(limits.stall_timeout, limits.min_rate, limits.rate_window)
    held: tuple[FileSlice, int] | None = None
    try:
        for span, ref in spans:
            if held is not None and held[0] is not ref:  # a header, but not its file
                os.close(held[1])
                held = None
            if ref is not None and held is None:
                held = (ref, _open_checked(ref))  # the check before the run with its header
            if isinstance(span, FileSlice):
                assert held is not None and ref is not None
                _sendfile_all(sockfd, held[1], span, poller, clock, progress)
                ref.verify(os.fstat(held[1]))  # edited while it was being sent
                os.close(held[1])
                held = None
            else:
                _send_all(sock, memoryview(span), MSG_MORE if ref else 0, poller, clock, progress)
    finally:
        if held is not None:
            os.close(held[1])


def _open_checked(ref: FileSlice) -> int:
    try:
        fd = os.open(ref.path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise SourceChanged(ref.path, f"cannot open: {exc.strerror}") from exc
    try:
        ref.verify(os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _send_all(
    sock: socket.socket,
    view: memoryview,
    flags: int,
    poller: Any,
    clock: _Clock,
    progress: Progress,
) -> None:
    while view:
        try:
            n = sock.send(view, flags)
        except (BlockingIOError, InterruptedError):
            clock.wait(poller, progress)
            continue
        view = view[n:]
        progress.express += n
        clock.moved(n)


def _sendfile_all(
    sockfd: int, fd: int, span: FileSlice, poller: Any, clock: _Clock, progress: Progress
) -> None:
    offset, count = span.offset, span.length
    while count:
        try:
            n = os.sendfile(sockfd, fd, offset, min(count, SENDFILE_CALL))
        except (BlockingIOError, InterruptedError):
            clock.wait(poller, progress)
            continue
        if n == 0:
            raise SourceChanged(span.path, f"file ended early at byte {offset}")
        offset += n
        count -= n
        progress.express += n
        clock.moved(n)


class _Clock:
    """The thread's stall and minimum-rate checks (the loop's watchdog cannot see it)."""

    __slots__ = ("mark", "mark_sent", "min_rate", "progress_at", "sent", "stall", "window")

    def __init__(self, stall: float, min_rate: int, window: float) -> None:
        self.stall, self.min_rate, self.window = stall, min_rate, window
        self.progress_at = self.mark = time.monotonic()
        self.sent = self.mark_sent = 0

    def moved(self, n: int) -> None:
        self.sent += n
        now = self.progress_at = time.monotonic()
        if now - self.mark >= self.window:
            rate = (self.sent - self.mark_sent) / (now - self.mark)
            if rate < self.min_rate:
                raise Stalled(f"{rate:.0f} B/s over {now - self.mark:.0f} s, below --min-rate")
            self.mark, self.mark_sent = now, self.sent

    def wait(self, poller: Any, progress: Progress) -> None:
        while not poller.poll(POLL_MS):
            if progress.stop.is_set():
                raise ConnectionAbortedError("the download was cancelled")
            if time.monotonic() - self.progress_at >= self.stall:
                raise Stalled(f"write made no progress for {self.stall:g} s")


LANES = LaneThreads()  # this process's lane threads (each server worker has its own)
