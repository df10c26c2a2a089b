"""The sender process: a fast client's replay copied to its socket outside the serving loop.

Why: beside 10,000 held slow downloads, one fast client got 0.5-0.7x of
aiohttp ``FileResponse``'s rate. Its bytes went out of the serving loop's
thread, and that thread was also serving the 10,000 slow clients' wake-ups:
the fast download got its writable event once per loop turn, and each of
its ~170 ``sendfile`` calls (22 ms of kernel copying per 168 MiB) also
lengthened every turn for everyone else. A thread of the same process was
worse (the loop holds the GIL; every syscall's return waits for it). A
process of its own is not: it shares no interpreter lock with the loop.

So a download granted a large send buffer (``server.sendbuf``) whose plan
is warm (``server.replay``) is handed over: the serving process passes a
duplicate of the socket (``SCM_RIGHTS``) and the window, the sender's
thread copies the window with blocking-style ``sendfile``/``send`` calls
(``poll`` on a full socket), and answers how many bytes went out and why it
stopped. The serving process never touches that socket meanwhile (its
transport's buffer is empty and nothing else writes a response body), so
the bytes stay in order.

The sender keeps the layout's file checks: before the run that ends with a
file's local header it opens the file and checks the descriptor
(``fstat``: inode, size, mtime, ctime) against the index, and after the
body it checks it again. It also keeps the grant honest: a client slower
than ``SHRINK_RATE`` over a sample is handed back (``slow``) with the
offset it reached, and the serving process goes on from there on its own
path (where the stall timeout, the minimum rate and the small buffer
apply). A client that resets the connection ends the job (``reset``).

What crosses the pipe: a plan's runs once (a bounded mirror of the
serving process's replay cache; the serving process decides what the
sender holds and tells it what to drop), then per download one small job
message with the descriptor and one answer. Messages are pickled tuples on
a ``SOCK_SEQPACKET`` pair (atomic messages, descriptors attached to them).
Nothing is written to disk; the sender's stderr is the server's.

The serving side is ``Sender`` (started with the app, stopped with it; a
sender that dies fails only the downloads it held, and is started again
for the next one). The child is ``server.sender_child``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import socket
import subprocess
import sys
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from .replay import Runs
from .sender_child import THREADS, Result

log = logging.getLogger("planstream.sender")

PART = 48 * 1024  # a runs message is cut into parts of this size (SOCK_SEQPACKET: one per send)
RESTART_AFTER = 5.0  # seconds before a sender that died is started again
CANCEL_WAIT = 1.0  # seconds a cancelled job's answer is waited for (it comes within a poll)


class SenderGone(Exception):
    """The sender process is not there (exited, or the server is stopping).

    Not the client's doing: a job it held may have written bytes nobody
    counted, so the download fails (the client resumes with a Range)."""


# -- the serving process's side ------------------------------------------------------------


def enabled() -> bool:
    """``PLANSTREAM_SENDER``: ``off`` (default: every download in the loop) or ``process``.

    Off by default because it lost where it was meant to win: in both full
    side-by-side runs of ``bench/scale.py --clients 10000`` a fast client
    beside 10,000 held downloads got less with it (0.34x and 0.05x of
    ``FileResponse``) than without (0.71x and 0.45x), although it won with
    no load (1.05x vs 0.96x) and in some runs of the hold phase alone
    (0.7-1.0x). Kept, tested, as an option to measure on other hosts."""
    kind = os.environ.get("PLANSTREAM_SENDER", "off")
    if kind not in ("process", "off"):
        raise ValueError(f"PLANSTREAM_SENDER must be process or off, not {kind!r}")
    return kind == "process" and hasattr(socket, "send_fds") and hasattr(os, "sendfile")


class Sender:
    """The serving process's handle on the sender: its runs mirror, its jobs, its restarts."""

    def __init__(self, runs_bytes: int, threads: int = THREADS) -> None:
        self.threads = threads
        self.runs_bytes = runs_bytes  # the mirror's bound (counted in the reserve)
        self.proc: subprocess.Popen[bytes] | None = None
        self.jobs = 0  # jobs handed over since start (metrics, tests)
        self.failures = 0  # senders that died with jobs
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held: OrderedDict[str, int] = OrderedDict()  # runs the sender has: key -> bytes
        self._held_bytes = 0
        self._pending: dict[int, asyncio.Future[Result]] = {}
        self._ids = itertools.count(1)
        self._lock: asyncio.Lock | None = None
        self._writable: asyncio.Future[None] | None = None
        self._died_at = -RESTART_AFTER
        self._stopping = False
        self.ready = False  # the child said it is listening

    # life cycle

    async def start(self) -> None:
        """Ready to start the child: it starts at the first fast replay (most servers'
        tests and many small servers never need it), and takes jobs once it says
        it is ready (~70 ms: it imports only the archive's data classes); until
        then fast downloads stay on the loop's own lane."""
        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()

    def _spawn(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            env = dict(os.environ)
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.sender_child", str(child.fileno())],
                pass_fds=(child.fileno(),),
                env=env,
                close_fds=True,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        parent.setblocking(False)
        self._sock = parent
        self._held.clear()
        self._held_bytes = 0
        self.ready = False
        assert self._loop is not None
        self._loop.add_reader(parent.fileno(), self._on_readable)

    async def stop(self) -> None:
        """Close the pipe (the child exits at EOF, ending its jobs) and reap the child."""
        self._stopping = True
        self._drop_sock(SenderGone("server stopping"))
        proc, self.proc = self.proc, None
        if proc is not None:
            for _ in range(100):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.02)
            else:
                proc.kill()
                proc.wait()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def free(self) -> bool:
        """Whether a job can be handed over now (running, a thread free)."""
        if self._stopping or self._loop is None:
            return False
        if self._sock is None:
            if time.monotonic() - self._died_at < RESTART_AFTER:
                return False
            try:
                self._spawn()
            except OSError as exc:
                log.error("sender: cannot start again: %s", exc)
                self._died_at = time.monotonic()
                return False
        return self.ready and len(self._pending) < self.threads

    # jobs

    async def send(
        self,
        sock: socket.socket,
        key: str,
        runs: Runs,
        start: int,
        end: int,
        prefix: bytes,
        grow: int = 0,
        on_cancel: Callable[[Result], None] | None = None,
    ) -> Result:
        """Copy ``prefix`` and then ``[start, end)`` of ``runs`` to ``sock`` in the sender.

        Returns when the sender stopped: done, or the offset a slow client
        reached. ``grow``: the client is not known to be fast yet; the
        sender sets SO_SNDBUF to ``grow`` once it is, and hands a slow one back
        after one sample. Cancelled (aiohttp cancels the handler of a client that
        left), the socket is shut down (the sender's copy would otherwise keep the
        connection open), the job told to stop, and its answer, if it comes within
        ``CANCEL_WAIT``, given to ``on_cancel`` before the cancellation goes on.
        """
        assert self._lock is not None and self._loop is not None
        job = next(self._ids)
        fut: asyncio.Future[Result] = self._loop.create_future()
        async with self._lock:
            if self._sock is None:
                raise SenderGone("sender not running")
            await self._hold(key, runs)
            self._pending[job] = fut
            try:
                message = pickle.dumps(("job", job, key, start, end, prefix, grow))
                await self._put(message, sock.fileno())
            except BaseException:
                self._pending.pop(job, None)
                raise
        self.jobs += 1
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.send(pickle.dumps(("cancel", job)))
            if on_cancel is not None:
                # The job's answer says how many bytes went out (for the log
                # line); it comes within a poll of the cancel.
                with contextlib.suppress(Exception):
                    on_cancel(await asyncio.wait_for(asyncio.shield(fut), CANCEL_WAIT))
            raise

    async def _hold(self, key: str, runs: Runs) -> None:
        """Make sure the sender has ``runs`` under ``key``; drop its oldest beyond the bound."""
        if key in self._held:
            self._held.move_to_end(key)
            return
        size = runs.nbytes
        while self._held and self._held_bytes + size > self.runs_bytes:
            old, n = self._held.popitem(last=False)
            self._held_bytes -= n
            await self._put(pickle.dumps(("drop", old)))
        data = pickle.dumps(runs.ops, protocol=pickle.HIGHEST_PROTOCOL)
        parts = range(0, len(data), PART)
        for i in parts:
            last = i + PART >= len(data)
            await self._put(pickle.dumps(("put", key, last, data[i : i + PART])))
        self._held[key] = size
        self._held_bytes += size

    async def _put(self, message: bytes, fd: int | None = None) -> None:
        """One message (and a descriptor) to the child; waits while the pipe is full."""
        while True:
            sock = self._sock
            if sock is None:
                raise SenderGone("sender exited")
            try:
                if fd is None:
                    sock.send(message)
                else:
                    socket.send_fds(sock, [message], [fd])
                return
            except (BlockingIOError, InterruptedError):
                assert self._loop is not None
                self._writable = self._loop.create_future()
                self._loop.add_writer(sock.fileno(), self._on_writable)
                try:
                    await self._writable
                finally:
                    self._writable = None
                    if self._sock is not None:
                        self._loop.remove_writer(self._sock.fileno())

    def _on_writable(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                data = b""
                log.error("sender: pipe failed: %s", exc)
            if not data:
                self._died()
                return
            message = pickle.loads(data)
            if message[0] == "ready":
                self.ready = True
                continue
            _, job, result = message
            fut = self._pending.pop(job, None)
            if fut is not None and not fut.done():
                fut.set_result(Result(*result))

    def _died(self) -> None:
        code = self.proc.poll() if self.proc is not None else None
        if not self._stopping:
            log.error(
                "sender exited (code %s) with %d jobs; started again when needed",
                code,
                len(self._pending),
            )
            if self._pending:
                self.failures += 1
        self._died_at = time.monotonic()
        self._drop_sock(SenderGone("sender exited"))

    def _drop_sock(self, exc: BaseException) -> None:
        sock, self._sock = self._sock, None
        self.ready = False
        if sock is not None and self._loop is not None:
            self._loop.remove_reader(sock.fileno())
            self._loop.remove_writer(sock.fileno())
            sock.close()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()
        if self._writable is not None and not self._writable.done():
            self._writable.set_exception(exc)
        self._held.clear()
        self._held_bytes = 0


SENDER: web.AppKey[Sender | None] = web.AppKey("planstream_sender", object)  # type: ignore[arg-type]
