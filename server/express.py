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
import collections
import contextlib
import os
import socket
import time
import weakref
from collections.abc import Awaitable, Generator
from typing import Any

TURN_BUDGET = 0.003  # seconds the lane's sends may take of one loop turn, all downloads together
COPY_RATE = 4_000_000_000  # bytes/s sendfile is first assumed to copy (3.5-6 GB/s on an idle host)
RATE_MIN, RATE_MAX = 200_000_000, 16_000_000_000  # what a measured copy rate is clamped to
RATE_WEIGHT = 0.1  # of each new call in the running copy rate
RATE_CALL_MIN = 64 * 1024  # calls smaller than this time the syscall, not the copy
# New downloads whose set-up (link, layout lookup, headers, first writes: 0.2-0.5 ms
# each) may run in one loop turn; 100 arriving at once made 10-24 ms turns.
STARTS_PER_TURN = 8


class Turn:
    """The lane's time in one loop turn, shared by every fast download on the loop.

    Each download's share of a turn (the budget over the fast downloads)
    bounds its own sends, but a share is a prediction: a ``sendfile`` call
    on a busy two-core host took 1.2-9 ms where an idle one took 0.5, and
    ten fast downloads' overshoots made 20 ms turns (35-45 ms of loop lag).
    So the lane's time is also counted per turn, and once the turn's budget
    is spent a download whose socket becomes writable waits in line for the
    next turn (first come, first served: epoll reports ready sockets in the
    same order every turn, so skipping would starve the last ones). The line
    runs first in the next turn, before that turn's ready sockets.

    It also keeps the copy rate that sizes each call (``rate``), measured
    from the calls themselves rather than assumed, and lets at most
    ``STARTS_PER_TURN`` new downloads start their set-up in a turn
    (``start``), counted apart from the lane's time so that busy lanes never
    keep a new download from starting.
    """

    __slots__ = (
        "_armed",
        "_gates",
        "_line",
        "budget",
        "deferred",
        "loop",
        "rate",
        "serial",
        "spent",
        "starts",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, budget: float = TURN_BUDGET) -> None:
        self.loop = loop
        self.budget = budget
        self.spent = 0.0
        self.rate = float(COPY_RATE)
        self.deferred = 0  # for tests: wake-ups moved to a later turn
        self.serial = 0  # for tests: turns that had lane time (all charges of one are in one turn)
        self.starts = 0  # downloads started in this turn
        self._armed = False
        self._line: collections.deque[Express] = collections.deque()
        self._gates: collections.deque[asyncio.Future[None]] = collections.deque()

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> Turn:
        turn = _TURNS.get(loop)
        if turn is None:
            turn = _TURNS[loop] = cls(loop)
        return turn

    def over(self) -> bool:
        """Whether this turn's lane budget is spent."""
        return self.spent >= self.budget

    def charge(self, seconds: float) -> None:
        """Count lane time against this turn (the count restarts on the next turn)."""
        self.spent += seconds
        self._arm()

    async def start(self) -> None:
        """A new download's turn to set up: this one, or the first with room (in order).

        Waiters sleep on a future each (one per request aiohttp already
        holds, so bounded by the connection cap) and ``_next`` wakes a
        turn's worth: a waiter that re-checked every turn would cost a task
        step per waiter per turn.
        """
        if self.starts < STARTS_PER_TURN and not self._gates:
            self.starts += 1
            self._arm()
            return
        self.deferred += 1
        gate = self.loop.create_future()
        self._gates.append(gate)
        self._arm()
        await gate  # woken, and counted in that turn's starts, by _next

    def _arm(self) -> None:
        if not self._armed:
            self._armed = True
            # Runs first in the next turn: handles queued now precede its I/O callbacks.
            self.loop.call_soon(self._next)

    def copied(self, nbytes: int, seconds: float) -> None:
        """One sendfile call's size and duration, into the running copy rate."""
        if nbytes >= RATE_CALL_MIN and seconds > 0:
            rate = min(RATE_MAX, max(RATE_MIN, nbytes / seconds))
            self.rate += RATE_WEIGHT * (rate - self.rate)

    def wait(self, express: Express) -> None:
        """Put ``express``'s next sends off to the next turn with lane time left."""
        self.deferred += 1
        self._line.append(express)
        self._arm()

    def _next(self) -> None:
        self._armed = False
        self.spent = 0.0
        self.starts = 0
        self.serial += 1
        line = self._line
        while line and not self.over():
            line.popleft()._go()
        gates = self._gates
        while gates and self.starts < STARTS_PER_TURN:
            gate = gates.popleft()
            if not gate.done():  # a cancelled request left the line
                gate.set_result(None)
                self.starts += 1
        if line or gates:
            self._arm()


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Turn] = weakref.WeakKeyDictionary()


class Express:
    """Direct sends on one download's socket, and a writable wait through its duplicate."""

    __slots__ = (
        "_corked",
        "_job",
        "_queued",
        "_registered",
        "_value",
        "_waiter",
        "loop",
        "sock",
        "turn",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, fileno: int) -> None:
        self.loop = loop
        self.turn = Turn.of(loop)
        self._queued = False  # waiting in the turn's line...
        self._value: Any = None  # ...to send the steps this (an awaitable's result)
        self.sock = socket.socket(fileno=os.dup(fileno))
        self.sock.setblocking(False)
        self._waiter: asyncio.Future[None] | None = None
        self._job: tuple[Generator[Any, Any, None], asyncio.Future[Any]] | None = None
        self._registered = False
        self._corked = False

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
        self._cork(True)
        try:
            while True:
                fut = self.loop.create_future()
                self._job = (steps, fut)
                if self.turn.over() and not self._queued:  # a first step waits its turn too
                    self._queued, self._value = True, value
                    self.turn.wait(self)
                else:
                    self._advance(value)
                awaitable = await fut
                if awaitable is None:
                    return
                self._job = None
                self._cork(False)  # a wait of its own (a descriptor): send what is corked
                value = await awaitable
                self._cork(True)
        finally:
            self._job = None
            steps.close()  # its finally blocks give back what it holds
            self._cork(False)

    def cork(self, on: bool) -> None:
        """Cork (or uncork, sending what is held) outside ``drive``: a cold plan's file."""
        self._cork(on)

    def push(self) -> None:
        """Send the corked partial segment now and stay corked (the lane yields its turn)."""
        if self._corked:
            self._cork(False)
            self._cork(True)

    def _cork(self, on: bool) -> None:
        """``TCP_CORK`` on the socket while the lane drives it: only full segments leave.

        aiohttp sets ``TCP_NODELAY``, so the tail of every call (each file's
        last bytes, each run of headers) left as a segment of its own, and
        on loopback, where a segment is up to 64 KiB, so did every partial
        window. A 177 MB replay took 4,484 data segments (``FileResponse``:
        4,201); corked 2,728, and the server's system CPU per download fell
        from 42 to 33 ms. Uncorking sends the partial last segment at once,
        so nothing waits for the kernel's 200 ms cork limit at the end.
        """
        self._corked = on
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(on))

    def _advance(self, value: Any) -> None:
        job = self._job
        assert job is not None
        steps, fut = job
        started = time.perf_counter()
        try:
            out = steps.send(value)
        except StopIteration:
            fut.set_result(None)
            return
        except BaseException as exc:
            fut.set_exception(exc)
            return
        finally:
            self.turn.charge(time.perf_counter() - started)
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
        if self._queued:  # in the turn's line already: it runs first next turn
            return
        job = self._job
        if job is not None and not job[1].done():
            if self.turn.over():
                self._queued = True
                self.turn.wait(self)
                return
            self._advance(None)
            return
        fut = self._waiter
        if fut is None:  # nobody waits: the download is busy elsewhere, stop the wake-ups
            self._unregister()
        elif not fut.done():
            # A task's sends run a turn after this, so a budget check here would
            # be a turn early: the writer checks when the task runs.
            fut.set_result(None)

    def _go(self) -> None:
        """Its turn in the line: what ``_ready`` put off (unless it ended meanwhile)."""
        self._queued = False
        value, self._value = self._value, None
        job = self._job
        if job is not None and not job[1].done():
            self._advance(value)

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
