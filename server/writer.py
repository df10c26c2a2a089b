"""The backpressure-aware body writer: archive pieces onto a socket, bounded in time.

Strategy:

- Buffers are written in slices of at most ``chunk_size`` and every write is
  awaited, so aiohttp drains the transport once its buffer passes 64 KiB: the
  process never holds more than one slice and the transport's mark per
  download, however slow the client. Small pieces (local headers, small
  documents) are coalesced first, so a plan of many small files does not cost
  a send() per header.
- ``FileSlice`` pieces (a centre's material files) go out with
  ``loop.sendfile``: zero-copy on plain TCP. The file comes from the shared
  descriptor pool (``server.handles``, re-checked against its index), so a
  download holds a file descriptor only while it sends that file and shares
  it with everyone sending the same file; a short send (the file shrank) is
  an error. Where sendfile is unavailable (TLS, uvloop) the file is read in
  slices and written like any buffer.
- Every write and every sendfile call is bounded by ``stall_timeout``; over
  each ``rate_window`` the download must average ``min_rate`` bytes/s. A client
  that stops reading is cut, it cannot pin a slot forever. A sendfile call is
  sized from the client's measured rate (about a quarter of ``stall_timeout``
  worth of bytes, 16 KiB to 2 MiB straight into an empty socket, up to 8 MiB
  through ``loop.sendfile`` once it is full), so a slow client that is still
  reading is never mistaken for a stalled one, and a fast one pays few calls.
- A download granted a large send buffer (a fast client, ``server.sendbuf``)
  takes the express lane (``server.express``): bytes and files go straight
  to its socket with single non-blocking syscalls, and a full socket is one
  writable wait, not a ``loop.sendfile`` set-up per file.
- A download whose first rate window says it is slow waits for its full
  socket in the paced lane (``server.pacer``): tried from a shared timer
  callback, not woken through epoll for every few KiB its client takes.
- ``ObjectSlice`` pieces (materials in object storage) are read through the
  ``objects`` reader (``server.objects``) chunk by chunk, each chunk written
  and drained like any buffer before the next is read.
- Bytes sent are counted and must equal the window's length.

Errors are raised as ``DownloadError`` with an outcome (``stalled``: no
progress or below the minimum rate; ``failed``: a material file changed, or a
byte count is off) and a reason; the caller aborts the connection. This module never
raises an HTTPException: headers are already on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import itertools
import os
import socket
import termios
import time
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from aiohttp import web

from generators.archive import FileSlice, ObjectSlice, Piece, SourceChanged, read_slice

from .express import TURN_BUDGET, Express, Turn
from .handles import FilePool, Handle
from .outcomes import Outcome
from .pacer import PACE_MIN, Pacer, PaceStalled
from .replay import Runs, Span, check_file
from .sendbuf import SendBuffer
from .sender import Sender, SenderGone
from .sender_child import Result

T = TypeVar("T")

SENDFILE_MIN = 16 * 1024  # smallest sendfile call (a slow client: ~1 s of its reading)
SENDFILE_MAX = 2 << 20  # largest direct sendfile call (~0.6 ms of copying: one step of a turn)
SENDFILE_WAIT_MAX = 8 << 20  # largest loop.sendfile (one syscall per turn, each what fits)
COALESCE_BELOW = 16 * 1024  # pieces smaller than this are gathered into one write
RATE_SAMPLE = 0.25  # seconds over which the client's drain rate is measured for its buffer
RATE_EARLY_BYTES = 512 * 1024  # ...or this many bytes, whichever comes first...
RATE_EARLY_MIN = 0.0002  # ...but not over less than this (a rate needs a duration)
# A grown client is judged for shrinking over a longer window. Over 0.25 s a
# fast client behind a busy machine was judged slow: the window began at a
# send, the next send came after a wait for the socket (the loop or the client
# descheduled), and the bytes it drained meanwhile had been counted in the
# window before. Beside 10,000 held downloads one 177 MB download lost and
# regained its buffer 4 times and took 21-28 s instead of 0.2-0.4 s.
SHRINK_SAMPLE = 2.0
ACK_POLL_MIN, ACK_POLL_MAX = 0.001, 0.05  # seconds between reads of a finished body's acks
TCP_CLOSE = 7  # tcpi_state of a connection that was reset (linux/tcp_states.h)
# Seconds one fast download may keep a loop turn (the turn's lane budget is
# server.express.TURN_BUDGET); one fast client beside 10,000 slow at 0.5 ms: 0.40x.
SHARE_MAX = 0.006
SHARE_MIN = 0.00005  # ...and at least this: one syscall and its bookkeeping
MSG_MORE = getattr(socket, "MSG_MORE", 0)  # Linux; elsewhere headers go out on their own
STEP_MIN = 256 * 1024  # ...so a call is the share's worth, but never smaller than this


async def _aiter(pieces: AsyncIterable[Piece] | Iterable[Piece]) -> AsyncGenerator[Piece, None]:
    if isinstance(pieces, AsyncIterable):
        async for piece in pieces:
            yield piece
    else:
        for piece in pieces:
            yield piece


class _Private:
    """A descriptor of this download's own, checked against the index once open."""

    __slots__ = ("file", "piece")

    def __init__(self, piece: FileSlice) -> None:
        self.piece = piece
        self.file: BinaryIO | None = None

    async def __aenter__(self) -> BinaryIO:
        f = open(self.piece.path, "rb")  # noqa: SIM115 - closed in __aexit__
        try:
            self.piece.verify(os.fstat(f.fileno()))
        except BaseException:
            f.close()
            raise
        self.file = f
        return f

    async def __aexit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


class DownloadError(Exception):
    """A started download that cannot finish; ``outcome`` names why, for logs and metrics."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def _tcp_info(sock: socket.socket) -> tuple[int, int] | None:
    """``tcpi_state`` and ``tcpi_bytes_acked`` of ``TCP_INFO`` (Linux 4.1+)."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 192)
    except OSError:
        return None
    if len(info) < 128:
        return None
    return info[0], int.from_bytes(info[120:128], "little")


def _outq(sock: socket.socket) -> int | None:
    """``SIOCOUTQ``: bytes the kernel still holds for the peer (unsent or unacknowledged)."""
    try:
        buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return None
    return int.from_bytes(buf, "little", signed=True)


def _bytes_acked(sock: socket.socket) -> int | None:
    """``tcpi_bytes_acked``: bytes the peer acknowledged (a reset does not clear it)."""
    info = _tcp_info(sock)
    return info[1] if info is not None else None


@dataclass(slots=True)
class WriterLimits:
    chunk_size: int = 64 * 1024
    stall_timeout: float = 30.0
    min_rate: int = 4096
    rate_window: float = 60.0
    sndbuf: int = 256 * 1024  # what the socket was capped to; see _sendfile_size
    use_sendfile: bool = True


class BodyWriter:
    """Writes one response body from archive pieces; counts what it sent."""

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        limits: WriterLimits,
        buffer: SendBuffer | None = None,
        files: FilePool | None = None,
        objects: Any = None,  # server.objects.ObjectReader, for an S3 library
        sender: Sender | None = None,
    ) -> None:
        self.request = request
        self.files = files
        self.objects = objects
        self.response = response
        self.limits = limits
        self.buffer = buffer
        self.sent = 0
        self.express_sent = 0  # of which through the express lane (logged: "express")
        self.sender_sent = 0  # of which by the sender process (logged: "sender")
        self.handbacks = 0  # times the sender gave a (slow) client back (logged: "handbacks")
        self.sender = sender
        self._probed = False  # the start was offered to the sender once
        self._started = self._mark_time = self._window_time = self._shared = time.monotonic()
        self._mark_sent = self._window_sent = 0
        self._pending = bytearray()
        self._express: Express | None = None
        self._lane_share = SHARE_MAX  # this download's share of a turn, in the lane
        self._progress = 0.0  # when a byte last moved (the lane's watchdog reads it)
        self._watch: asyncio.TimerHandle | None = None
        self._acked_seen, self._acked_time = 0, 0.0  # the watchdog's last look at the kernel
        self._parked: Express | None = None  # the lane's duplicate, kept for ``delivered``
        self._handed: int | None = None  # bytes on the connection before this body (see there)
        self._pace: float | None = None  # seconds between tries once judged slow, else None
        transport = request.transport
        self._sendfile = (
            limits.use_sendfile
            and transport is not None
            and transport.get_extra_info("sslcontext") is None
            and transport.get_extra_info("socket") is not None
        )

    async def send(self, pieces: AsyncIterable[Piece] | Iterable[Piece], expected: int) -> None:
        """Send every piece; ``pieces`` is usually ``RenderPool.window`` (rendered off the loop)."""
        try:
            stream = pieces if isinstance(pieces, AsyncGenerator) else _aiter(pieces)
            async with contextlib.aclosing(stream):
                async for piece in stream:
                    if self._lane_open(piece):
                        await self._express_put(piece)
                    else:
                        await self._put(piece)
                        await self._share_loop()
            await self._flush()
        except SourceChanged as exc:
            raise DownloadError(Outcome.FAILED, f"source changed: {exc}") from exc
        finally:
            self._close_lane(keep=True)
        if self.sent != expected:
            raise DownloadError(Outcome.FAILED, f"sent {self.sent} bytes, declared {expected}")

    async def send_runs(self, runs: Runs, start: int, end: int, key: str | None = None) -> None:
        """A warm plan's window (``server.replay``), with the layout's file checks.

        With ``key`` (the plan's fingerprint) and a sender (``server.sender``),
        a grown download's rest is copied by the sender process, off this loop.

        A material file is checked against its index before the run that
        ends with its local header, and again after its body. In the express
        lane the first check is the pool's acquire (the descriptor is taken
        before the header goes out, and the header rides with the body,
        MSG_MORE) and the second an ``fstat`` of that descriptor: one path
        lookup per file instead of three.
        """
        try:
            checked: FileSlice | None = None
            spans = runs.spans(start, end)
            while True:
                span_ref = next(spans, None)
                if span_ref is None:
                    break
                span, ref = span_ref
                grow = self._offload_ready() if key is not None else None
                if grow is not None:
                    assert key is not None
                    pos = start + self.sent + len(self._pending)
                    if not await self._offload(runs, key, pos, end, grow):
                        break  # the sender sent the rest
                    # handed back (a slow client): on from where the sender stopped
                    spans, checked = runs.spans(start + self.sent, end), None
                    continue
                if self.files is not None and self._lane_open(span):
                    assert self._express is not None
                    rest = itertools.chain([(span, ref)], spans)
                    await self._express.drive(self._lane_steps(self.files, rest))
                    break
                if isinstance(span, FileSlice):
                    assert ref is not None
                    if ref is not checked:
                        check_file(ref)
                    await self._put(span)
                    check_file(ref)  # after the send: a file edited meanwhile is caught here
                elif ref is not None:
                    check_file(ref)  # the run ends with this file's local header
                    checked = ref
                    await self._put(span)
                else:
                    await self._put(span)
                await self._share_loop()
            await self._flush()
        except SourceChanged as exc:
            raise DownloadError(Outcome.FAILED, f"source changed: {exc}") from exc
        finally:
            self._close_lane(keep=True)
        if self.sent != end - start:
            raise DownloadError(Outcome.FAILED, f"sent {self.sent} bytes, declared {end - start}")

    def _offload_ready(self) -> int | None:
        """Whether the rest may go to the sender (None if not): plain TCP, a free sender
        thread, nothing queued in the transport (the bytes stay in order), and either
        a grown buffer (0) or the download's very start, probed (the SO_SNDBUF the
        sender may grow it to; the large buffer is reserved from the pool meanwhile).

        The probe is why the handover is at the start: beside 10,000 held
        downloads a loop turn is ~15 ms, and growing on the loop first took
        two or three of them, a fifth of a fast client's 130 ms download.
        """
        buffer, sender = self.buffer, self.sender
        if sender is None or buffer is None or not self._sendfile:
            return None
        transport = self.request.transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size():
            return None
        if buffer.granted:
            return 0 if sender.free() else None
        if self._probed or self.sent or not sender.free():
            return None
        self._probed = True
        return buffer.model.fast_sndbuf if buffer.reserve() else None

    async def _offload(self, runs: Runs, key: str, pos: int, end: int, grow: int) -> bool:
        """The sender copies ``[pos, end)`` (after what is pending); True if it handed back."""
        assert self.sender is not None and self.request.transport is not None
        sock = self.request.transport.get_extra_info("socket")
        self._keep_for_delivery()
        prefix = self._take_pending()
        try:
            result = await self.sender.send(
                sock, key, runs, pos, end, prefix, grow, on_cancel=self._sender_moved
            )
        except SenderGone as exc:  # its bytes are uncounted: fail, the client resumes
            raise DownloadError(Outcome.FAILED, f"sender: {exc}") from exc
        self._sender_moved(result)
        if result.status == "done":
            return False
        if result.status == "slow":
            self.handbacks += 1
            if self.buffer is not None:
                self.buffer.shrink()  # probed and not fast, or below SHRINK_RATE
            return True
        if result.status in ("reset", "cancelled"):
            raise ConnectionResetError(f"client went away ({result.reason})")
        if result.status == "changed":
            raise SourceChanged(result.path, result.reason)
        raise DownloadError(Outcome.FAILED, f"sender: {result.reason}")

    def _keep_for_delivery(self) -> None:
        """Keep a duplicate of the socket, as the lane does, so that ``delivered`` and
        ``acknowledged`` can read a sender job's acknowledgments too.

        Without it a client that read everything the sender sent and closed
        before the loop read the child's answer was logged ``aborted`` with
        the whole size sent (seen in the bench's logs since the fifth pass).
        """
        if self._parked is not None or self._express is not None:
            return
        holder = Express.of(self.request.transport)
        if holder is None:
            return
        acked, queued = _bytes_acked(holder.sock), _outq(holder.sock)
        if acked is not None and queued is not None:
            # the transport's buffer is empty here (``_offload_ready``)
            self._handed = acked + queued - self.sent
        holder.park()
        self._parked = holder

    def _sender_moved(self, result: Result) -> None:
        """Count what the sender sent (also for a job cut short by a cancel)."""
        now = time.monotonic()
        self.sent += result.sent
        self.sender_sent += result.sent
        self._window_time, self._window_sent = now, self.sent
        if result.sent:
            self._progress = now

    def _lane_steps(
        self, files: FilePool, spans: Iterator[tuple[Span, FileSlice | None]]
    ) -> Generator[Awaitable[Any] | None, Any, None]:
        """The rest of ``send_runs`` in the lane, run by ``Express.drive``.

        Yields None to wait for the socket (or the next turn), or an
        awaitable for the task (a descriptor from a full pool). A file's
        descriptor is taken before the run that ends with its header (the
        pool's ``stat`` is the check before), the header rides with the body
        (MSG_MORE), and an ``fstat`` of the descriptor is the check after.
        """
        held: tuple[FileSlice, Handle] | None = None
        try:
            if self._pending:
                yield from self._lane_send(memoryview(self._take_pending()), 0)
            for span, ref in spans:
                if held is not None and held[0] is not ref:  # a header, but not its file
                    files.release(*held)
                    held = None
                if ref is not None and held is None:
                    handle = files.try_acquire(ref)
                    if handle is None:
                        handle = yield files.acquire(ref)
                    held = (ref, handle)
                if not isinstance(span, FileSlice):
                    yield from self._lane_send(memoryview(span), MSG_MORE if ref else 0)
                    continue
                assert held is not None and ref is not None
                fileno = held[1].file.fileno()
                yield from self._lane_sendfile(span, fileno)
                ref.verify(os.fstat(fileno))  # edited while it was being sent
                files.release(*held)
                held = None
        finally:
            if held is not None:
                files.release(*held)

    def _lane_send(self, view: memoryview, flags: int) -> Generator[None, Any, None]:
        assert self._express is not None
        send = self._express.send
        while view:
            n = send(view if len(view) <= SENDFILE_MAX else view[:SENDFILE_MAX], flags)
            if n is not None:
                view = view[n:]
                self.express_sent += n
                self._count(n)
                if time.monotonic() - self._shared < self._lane_share:
                    continue
                self._express.push()  # its share is spent, the socket not full: send the tail
            yield None
            self._resumed()

    def _lane_sendfile(self, span: FileSlice, fileno: int) -> Generator[None, Any, None]:
        assert self._express is not None
        sendfile, turn = self._express.sendfile, self._express.turn
        offset, count = span.offset, span.length
        step = max(STEP_MIN, min(SENDFILE_MAX, int(self._lane_share * turn.rate)))
        while count:
            began = time.monotonic()
            n = sendfile(fileno, offset, min(step, count))
            if n is not None:
                turn.copied(n, time.monotonic() - began)
                if n == 0:
                    raise SourceChanged(span.path, f"file ended early at byte {offset}")
                offset += n
                count -= n
                self.express_sent += n
                self._count(n)
                if time.monotonic() - self._shared < self._lane_share:
                    continue
                self._express.push()  # its share is spent, the socket not full: send the tail
            yield None
            self._resumed()

    def _resumed(self) -> None:
        """Back from a wait: a new share of the turn, unless the client went away."""
        self._shared = time.monotonic()
        self._lane_share = self._share()
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client went away")

    def _take_pending(self) -> bytes:
        data = bytes(self._pending)
        self._pending.clear()
        return data

    async def _put(self, piece: Piece) -> None:
        if isinstance(piece, FileSlice):
            await self._flush()
            await self._send_file(piece)
        elif isinstance(piece, ObjectSlice):
            await self._flush()
            await self._send_object(piece)
        elif len(piece) < COALESCE_BELOW:
            self._pending += piece
            if len(self._pending) >= self._chunk():
                await self._flush()
        else:
            await self._flush()
            await self._write(piece)

    # -- buffers ---------------------------------------------------------

    async def _flush(self) -> None:
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            if self._lane_open(data):
                await self._express_bytes(data)
            else:
                await self._write(data)

    def _chunk(self) -> int:
        return self.buffer.chunk if self.buffer is not None else self.limits.chunk_size

    async def _write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        pos = 0
        transport = self.request.transport
        while pos < len(view):
            chunk = self._chunk()
            part = view[pos : pos + chunk]
            if transport is not None and not transport.get_write_buffer_size():
                # Cannot wait: an empty buffer means the protocol is not paused,
                # and one slice cannot pass the high-water mark (the chunk), so
                # drain returns at once: no timer to arm and cancel.
                await self.response.write(part)
            else:
                await self._bounded(self._write_drained(part), "write")
            pos += len(part)
            self._count(len(part))

    async def _write_drained(self, part: memoryview) -> None:
        """Write one slice and wait while the transport is above its high-water mark.

        aiohttp drains only after 64 KiB of writes; waiting after each slice
        keeps a slow client's user-space buffer at one mark plus one slice.
        """
        await self.response.write(part)
        await self.request.writer.drain()

    # -- the express lane (server.express) ------------------------------

    def _lane_open(self, piece: Piece) -> bool:
        """Whether this piece may go straight to the socket: a grown buffer, plain TCP,
        nothing queued in the transport (the bytes must follow aiohttp's in order)."""
        buffer = self.buffer
        if buffer is None or not buffer.granted or not self._sendfile:
            if self._express is not None:  # shrunk: give the duplicate back
                self._close_lane()
            return False
        if isinstance(piece, ObjectSlice):
            return False
        transport = self.request.transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size():
            return False
        if self._express is None:
            self._express = Express.of(transport)
            if self._express is None:
                return False
            if self._handed is None:
                # What the connection carried before this body's next byte
                # (headers, earlier responses): acknowledged plus still queued.
                # The body's own acknowledged bytes are sent less queued (``_acked``).
                conn, body = _bytes_acked(self._express.sock), self._acked()
                if conn is not None and body is not None:
                    self._handed = conn - body
            self._lane_share = self._share()
            self._progress = self._acked_time = time.monotonic()
            self._acked_seen = self._acked() or 0
            self._watch = asyncio.get_running_loop().call_later(
                min(self.limits.stall_timeout, SHRINK_SAMPLE), self._watchdog
            )
        return True

    def _watchdog(self) -> None:
        """Fail the lane's wait once the client has read nothing for ``stall_timeout``;
        and judge a grown buffer by what the client reads while the lane waits.

        Sends alone cannot tell: with 4 MiB in the kernel, a client that slows
        to 32 KiB/s lets the socket take more only after 40 s, so it was failed
        as stalled while reading, still holding the large buffer. The kernel's
        unsent-and-unacknowledged count tells what the client took meanwhile.
        """
        if self._express is None:
            return
        now, stall = time.monotonic(), self.limits.stall_timeout
        acked = self._acked()
        if acked is not None:
            if acked > self._acked_seen:
                self._progress = max(self._progress, now)  # the client read: not stalled
            window = now - self._acked_time
            if window >= SHRINK_SAMPLE:
                buffer = self.buffer
                if buffer is not None and buffer.granted:
                    buffer.observe((acked - self._acked_seen) / window)
                self._acked_seen, self._acked_time = acked, now
        if now - self._progress >= stall:
            self._express.fail(
                DownloadError(Outcome.STALLED, f"write made no progress for {stall:g} s")
            )
            return
        loop = asyncio.get_running_loop()
        wake = min(self._progress + stall - now, SHRINK_SAMPLE)
        self._watch = loop.call_at(loop.time() + wake, self._watchdog)

    def _acked(self) -> int | None:
        """Bytes the client has acknowledged on this connection's socket, if the kernel says.

        ``sent`` counts what the kernel took; ``SIOCOUTQ`` what it still holds
        (unsent or unacknowledged): the difference reached the client.
        """
        assert self._express is not None
        queued = _outq(self._express.sock)
        return self.sent - queued if queued is not None else None

    def _close_lane(self, *, keep: bool = False) -> None:
        """Stop the lane; with ``keep``, hold its duplicate until ``close`` (see ``delivered``)."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._express is not None:
            if keep:
                self._express.park()
                if self._parked is not None:  # kept from a sender job before the lane
                    self._parked.close()
                self._parked = self._express
            else:
                self._express.close()
            self._express = None

    def delivered(self, expected: int) -> bool:
        """Whether every byte was sent and the client acknowledged them all.

        A fast client reads the last byte and closes while the loop is still
        finishing the handler; the handler is then cancelled, though nothing
        was lost. Bytes still in the kernel's queue are not delivered, and
        only the queue tells: asyncio has closed the transport's descriptor
        by then, so it is read through the lane's duplicate, kept open until
        ``close`` for this (a download that never took the lane has none;
        it is the fast ones that finish inside a loop turn).
        """
        parked = self._parked
        if parked is None or self._handed is None or self.sent != expected:
            return False
        # Not SIOCOUTQ: a reset empties the queue, delivered or not. The
        # count of bytes the client acknowledged outlives it.
        acked = _bytes_acked(parked.sock)
        return acked is not None and acked == self._handed + self.sent

    async def acknowledged(self, expected: int) -> None:
        """After the last send: wait until the client's TCP acknowledged the whole body.

        A grown download ends with up to 4 MiB still in the kernel (8 MiB
        held), more than a small plan: a client that read 1.5 MB of a 4.5 MB
        plan and reset was logged ``completed`` because every byte had been
        handed to the kernel before it left, and its slot was given back
        while the kernel still held its buffer. So the handler ends when the
        client has acknowledged everything (fast clients: within a few ms),
        fails as ``aborted`` when the connection is reset first (or the
        client leaves, which cancels this wait), and as ``stalled`` when the
        client acknowledges nothing for ``stall_timeout``. Only lane
        downloads wait: the others' kernel queue is the small buffer.
        """
        parked = self._parked
        if parked is None or self._handed is None or self.sent != expected:
            return
        want = self._handed + self.sent
        pause, seen, progress = ACK_POLL_MIN, -1, time.monotonic()
        while True:
            info = _tcp_info(parked.sock)
            if info is None:
                return  # the kernel does not say: as before, trust the sends
            state, acked = info
            if acked >= want:
                return
            if state == TCP_CLOSE:
                raise ConnectionResetError("client went away before acknowledging the body")
            now = time.monotonic()
            if acked > seen:
                seen, progress = acked, now
            elif now - progress >= self.limits.stall_timeout:
                raise DownloadError(
                    Outcome.STALLED,
                    f"{want - acked} bytes unacknowledged for {self.limits.stall_timeout:g} s",
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, ACK_POLL_MAX)

    def close(self) -> None:
        """Release what the download still held (the lane's kept duplicate)."""
        if self._parked is not None:
            self._parked.close()
            self._parked = None

    async def _express_put(self, piece: Piece) -> None:
        if isinstance(piece, FileSlice):
            if self._pending:  # a file's local header, usually: it rides with the body
                data = bytes(self._pending)
                self._pending.clear()
                await self._express_bytes(data, more=True)
            await self._express_file(piece)
        elif isinstance(piece, ObjectSlice):  # _lane_open keeps these out
            await self._put(piece)
        elif len(piece) < COALESCE_BELOW:
            self._pending += piece
            if len(self._pending) >= self._chunk():
                await self._flush()
        else:
            await self._flush()
            await self._express_bytes(piece)

    async def _express_bytes(self, data: bytes | memoryview, more: bool = False) -> None:
        """``more``: a file follows at once, so the kernel may hold these bytes for it
        (MSG_MORE): a local header then goes out in the body's first segment."""
        assert self._express is not None
        send = self._express.send
        flags = MSG_MORE if more else 0
        view = memoryview(data)
        while view:
            n = send(view if len(view) <= SENDFILE_MAX else view[:SENDFILE_MAX], flags)
            if n is None:
                await self._express_wait()
                continue
            view = view[n:]
            self.express_sent += n
            self._count(n)
            if time.monotonic() - self._shared >= self._lane_share:
                await self._express_wait()

    async def _express_file(self, piece: FileSlice) -> None:
        async with self._open(piece) as f:
            await self._express_range(piece, f.fileno(), piece.offset, piece.length)

    async def _express_range(self, piece: FileSlice, fileno: int, offset: int, count: int) -> None:
        """``count`` bytes of the open file from ``offset``, straight to the socket."""
        express = self._express
        assert express is not None
        sendfile, turn = express.sendfile, express.turn
        step = max(STEP_MIN, min(SENDFILE_MAX, int(self._lane_share * turn.rate)))
        # Corked for the file, as a replay is for its whole window (Express._cork):
        # the file's own segments leave full, its tail when it is done.
        express.cork(True)
        try:
            while count:
                began = time.monotonic()
                n = sendfile(fileno, offset, min(step, count))
                if n is None:
                    await self._express_wait()
                    continue
                turn.copied(n, time.monotonic() - began)
                if n == 0:
                    raise SourceChanged(piece.path, f"file ended early at byte {offset}")
                offset += n
                count -= n
                self.express_sent += n
                self._count(n)
                if time.monotonic() - self._shared >= self._lane_share:
                    express.push()  # the share is spent, the socket not full
                    await self._express_wait()
        finally:
            express.cork(False)

    async def _express_wait(self) -> None:
        """Until the socket takes more; also the end of this download's share of the turn."""
        assert self._express is not None
        # No timer per wait (asyncio.timeout was a tenth of the lane's time):
        # the lane's watchdog fails the wait once nothing moved for stall_timeout.
        turn = self._express.turn
        turn.charge(time.monotonic() - self._shared)
        await self._express.wait()
        if turn.over():
            # Woken by a socket that took more, but this turn's lane time is
            # spent (the check in Express is a turn early for a task): first
            # in the next turn instead, in the order put off.
            turn.deferred += 1
            await asyncio.sleep(0)
        self._shared = time.monotonic()
        self._lane_share = self._share()  # once a turn: the fast downloads change rarely
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client went away")

    # -- objects ---------------------------------------------------------

    async def _send_object(self, piece: ObjectSlice) -> None:
        """Read an object slice one chunk at a time, writing each before the next read."""
        if self.objects is None:
            raise DownloadError(Outcome.FAILED, f"object {piece.key!r}: no object-store reader")
        async with contextlib.aclosing(self.objects.chunks(piece, self._chunk())) as chunks:
            async for data in chunks:
                await self._write(data)

    # -- files -----------------------------------------------------------

    async def _send_file(self, piece: FileSlice) -> None:
        if not self._sendfile:
            for data in read_slice(piece, self.limits.chunk_size):
                await self._write(data)
            return
        loop = asyncio.get_running_loop()
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client went away")
        async with self._open(piece) as f:
            offset, remaining = piece.offset, piece.length
            while remaining:
                # A direct call cannot block (the socket takes what it has room
                # for), so it needs no sizing by the client's rate: sized by
                # rate, a fast client's first file went out 16 KiB a call,
                # 1.5 ms of its 28 ms download, before its buffer was granted.
                n = self._sendfile_now(f, offset, min(self._step(SENDFILE_MAX), remaining))
                if n is None and self._pace is not None:  # full, and a slow client
                    left = await self._paced(transport, piece.path, f.fileno(), offset, remaining)
                    offset, remaining = offset + remaining - left, left
                    granted = self.buffer is not None and self.buffer.granted
                    if remaining and granted and self._lane_open(piece):
                        await self._express_range(piece, f.fileno(), offset, remaining)
                        return
                    continue
                if n is None:  # the socket is full: wait for it in the loop
                    # In the loop, each time the socket can take more, one
                    # syscall sends what it takes, until ``count``: for a fast
                    # client on a busy loop that is one socket buffer per turn
                    # (as FileResponse gets), not one call of SENDFILE_MAX.
                    count = min(self._sendfile_size(self._step(SENDFILE_WAIT_MAX)), remaining)
                    try:
                        # No fallback: asyncio's would seek and read the shared file object.
                        n = await self._bounded(
                            loop.sendfile(transport, f, offset, count, fallback=False), "sendfile"
                        )
                    except (NotImplementedError, asyncio.SendfileNotAvailableError):
                        self._sendfile = False
                        tail = dataclasses.replace(piece, offset=offset, length=remaining)
                        for data in read_slice(tail, self.limits.chunk_size):
                            await self._write(data)
                        return
                    if n != count:
                        raise SourceChanged(piece.path, f"file ended early: {n} of {count} bytes")
                elif n == 0:
                    raise SourceChanged(piece.path, f"file ended early at byte {offset}")
                offset += n
                remaining -= n
                self._count(n)
                granted = self.buffer is not None and self.buffer.granted
                if remaining and granted and self._lane_open(piece):
                    # Grown mid-file (the first one, usually): the rest goes by the lane.
                    await self._express_range(piece, f.fileno(), offset, remaining)
                    return
                await self._share_loop()

    async def _paced(self, transport: Any, path: str, fileno: int, offset: int, count: int) -> int:
        """Send through the paced lane (``server.pacer``) until done, granted or failed.

        Returns the bytes left (0 unless granted the large buffer meanwhile).
        """
        assert self._pace is not None and self.buffer is not None

        def sent(n: int) -> bool:
            self._count(n)  # may grant the large buffer (then _pace is None), or raise
            return self._pace is not None

        try:
            left, interval = await Pacer.of(asyncio.get_running_loop()).send(
                transport,
                fileno,
                offset,
                count,
                interval=self._pace,
                half=self.buffer.base,
                stall=self.limits.stall_timeout,
                since=max(self._progress, self._started),
                on_sent=sent,
            )
        except PaceStalled:
            raise DownloadError(
                Outcome.STALLED, f"sendfile made no progress for {self.limits.stall_timeout:g} s"
            ) from None
        except EOFError as exc:
            raise SourceChanged(path, str(exc)) from None
        if self._pace is not None:
            self._pace = interval
        return left

    def _sendfile_now(self, f: BinaryIO, offset: int, count: int) -> int | None:
        """One ``sendfile`` straight to the socket, or None when it would have to wait.

        ``loop.sendfile`` costs a dozen loop callbacks per call (pause
        reading, wait for an empty buffer, a future, add and remove a
        writer), which on a fast client were a third of the loop's time for
        84 files. When nothing is queued in the transport the syscall itself
        is safe (the bytes go out in order) and, with a grown buffer, usually
        moves the whole file; only a full socket goes through the loop.
        """
        transport = self.request.transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size():
            return None
        sock = transport.get_extra_info("socket")
        try:
            return os.sendfile(sock.fileno(), f.fileno(), offset, count)
        except (BlockingIOError, InterruptedError):
            return None
        except ConnectionError:
            raise
        except OSError:
            return None  # let loop.sendfile decide (and say) what is wrong

    async def _share_loop(self) -> None:
        """Give the loop to everyone else once this download has held it for its share.

        A write the socket takes at once, and a direct sendfile, return
        without suspending: a client that reads at memory speed would
        otherwise keep the loop for its whole download. Every ready download
        runs once per loop turn, so a turn lasts the sum of their steps: the
        share is ``TURN_BUDGET`` divided among the fast downloads (those
        granted a large buffer: only they can keep the loop; 18 of them at
        2 ms each made 50 ms of lag), at most ``SHARE_MAX``. Slow ones wait
        on their socket and are not counted: divided by all 10,000 held
        downloads, the share of the one fast client fell to one write per
        turn (0.16x of FileResponse).
        """
        now = time.monotonic()
        if now - self._shared >= self._share():
            await asyncio.sleep(0)
            self._shared = time.monotonic()

    def _open(self, piece: FileSlice) -> contextlib.AbstractAsyncContextManager[BinaryIO]:
        """The file through the shared pool (``server.handles``), or a private descriptor."""
        return self.files.open(piece) if self.files is not None else _Private(piece)

    def _share(self) -> float:
        """Seconds of a loop turn this download may use: the budget over the fast ones."""
        pool = self.buffer.pool if self.buffer is not None else None
        fast = pool.grants if pool is not None else 1
        return max(SHARE_MIN, min(SHARE_MAX, TURN_BUDGET / max(1, fast)))

    def _step(self, cap: int) -> int:
        """The largest sendfile call that fits this download's share of a turn.

        One call is one step the loop cannot cut: 30 fast downloads each
        copying 2 MiB (0.6 ms) in one turn would be 18 ms of lag however
        small their shares, so a call is the share's worth of copying.
        """
        rate = Turn.of(asyncio.get_running_loop()).rate
        return max(STEP_MIN, min(cap, int(self._share() * rate)))

    def _sendfile_size(self, cap: int = SENDFILE_MAX) -> int:
        """Bytes for the next sendfile call: what the client reads in stall_timeout / 4."""
        elapsed = time.monotonic() - self._started
        # Bytes the kernel accepted are not bytes the client read: up to both
        # socket buffers' worth sit in between, so leave them out of the rate.
        sndbuf = self.buffer.size if self.buffer is not None else self.limits.sndbuf
        delivered = self.sent - 2 * sndbuf - 256 * 1024
        if delivered <= 0 or elapsed <= 0:
            return SENDFILE_MIN
        rate = delivered / elapsed
        want = int(rate * self.limits.stall_timeout / 4)
        return max(SENDFILE_MIN, min(cap, want))

    # -- limits ----------------------------------------------------------

    async def _bounded(self, aw: Awaitable[T], what: str) -> T:
        try:
            # asyncio.timeout, not wait_for: wait_for wraps every write in a new Task.
            async with asyncio.timeout(self.limits.stall_timeout):
                return await aw
        except TimeoutError:
            raise DownloadError(
                Outcome.STALLED, f"{what} made no progress for {self.limits.stall_timeout:g} s"
            ) from None

    def _count(self, n: int) -> None:
        self.sent += n
        self._progress = now = time.monotonic()
        window = now - self._window_time
        moved = self.sent - self._window_sent
        # Judge after a quarter second, or sooner once more has moved than the
        # small kernel buffer and a client's receive buffer can hold: only a
        # client that reads it fast can have taken that much.
        if self.buffer is not None and (
            window >= SHRINK_SAMPLE
            if self.buffer.granted
            else window >= RATE_SAMPLE or (moved >= RATE_EARLY_BYTES and window > RATE_EARLY_MIN)
        ):
            self.buffer.observe(moved / window)
            self._window_time, self._window_sent = now, self.sent
            if self.buffer.granted:
                self._pace = None
            elif self._pace is None:
                self._pace = PACE_MIN
        elapsed = now - self._mark_time
        if elapsed >= self.limits.rate_window:
            rate = (self.sent - self._mark_sent) / elapsed
            if rate < self.limits.min_rate:
                raise DownloadError(
                    Outcome.STALLED,
                    f"{rate:.0f} B/s over {elapsed:.0f} s, below --min-rate {self.limits.min_rate}",
                )
            self._mark_time, self._mark_sent = now, self.sent
