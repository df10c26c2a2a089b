"""Adaptive send buffers: small for every download, large only for clients that drain them.

Most clients are slow (a phone, a school's shared line): a 256 KiB kernel
send buffer gains them nothing and costs 512 KiB of kernel memory each,
which is what bounded how many downloads a server could hold. A fast client
on a LAN needs that buffer to reach line rate. So every download starts
with ``BASE_SNDBUF`` (16 KiB asked, 32 KiB held by Linux) and a transport
high-water mark of ``SLOW_CHUNK``; the writer reports the rate at which the
client drains it, and a client above ``GROW_RATE`` is granted the large
buffer from a bounded pool (``admission.BytePool``), never waiting for it.
A grown client that falls below ``SHRINK_RATE`` gives it back. Admission thus
counts what is granted: the small buffer in every download's cost, the large
ones in the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from .admission import BASE_SNDBUF, FAST_CHUNK, SLOW_CHUNK, BytePool, CostModel

MiB = 1 << 20
KiB = 1 << 10
# A client draining the small buffer this fast is held back by it. It must be
# below what a small buffer can show at all: on loopback (MSS 64 KiB, more
# than the 32 KiB the kernel holds) a small buffer caps a reader at about
# 1.5 MB/s, so a threshold of 4 MiB/s was never reached and a fast client
# stayed at 1.5 MB/s for its whole download (measured: 100 s for 154 MB).
# A slow client (16 KiB/s) is 32 times below it.
GROW_RATE = 512 * KiB
SHRINK_RATE = 128 * KiB  # bytes/s: a grown client slower than this gives the buffer back


def _base_sndbuf(sock: socket.socket | None) -> int:
    """The small buffer, but never below two segments (TCP_MAXSEG) of this connection.

    On loopback (nginx on the same host, tests) segments are up to 64 KiB
    (TCP_MAXSEG reads 32,768): a send buffer the kernel holds as 32 KiB,
    and sendfile stalled on zero-window probes with exponential backoff; a
    168 MiB download hung at a fixed offset 3 times in 5 (asked 64 KiB: 6 of
    6 complete). Over the Internet (MSS ~1,460) the small buffer is unchanged.
    """
    if sock is None:
        return BASE_SNDBUF
    try:
        mss = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    except OSError:
        return BASE_SNDBUF
    return max(BASE_SNDBUF, 2 * mss)


class SendBuffer:
    """The kernel send buffer and transport mark of one download, sized by its client's rate."""

    def __init__(
        self,
        transport: asyncio.Transport | None,
        pool: BytePool | None,
        model: CostModel,
    ) -> None:
        self.transport = transport
        self.pool = pool
        self.model = model
        self.granted = False
        self.grows = 0
        self._sock: socket.socket | None = (
            transport.get_extra_info("socket") if transport is not None else None
        )
        self.base = _base_sndbuf(self._sock)
        self._apply(self.base, SLOW_CHUNK)

    @property
    def size(self) -> int:
        """SO_SNDBUF asked of the kernel now (it holds up to twice as much)."""
        return self.model.fast_sndbuf if self.granted else self.base

    @property
    def chunk(self) -> int:
        """Largest write slice now; also the transport's high-water mark."""
        return FAST_CHUNK if self.granted else SLOW_CHUNK

    def observe(self, rate: float) -> None:
        """The client drained ``rate`` bytes/s over the last window: grow or shrink."""
        if self.pool is None:
            return
        if not self.granted and rate >= GROW_RATE:
            if self.pool.try_take(self.model.fast_extra):
                self.granted = True
                self.grows += 1
                self._apply(self.model.fast_sndbuf, FAST_CHUNK)
        elif self.granted and rate < SHRINK_RATE:
            self.release()
            self._apply(self.base, SLOW_CHUNK)

    def reserve(self) -> bool:
        """Take a large buffer from the pool without applying it: the sender process
        (``server.sender``) applies it once the client shows it is fast, or the
        download hands it back. Counted as granted meanwhile, so the pool's
        accounting never lags what the kernel may be asked to hold."""
        if self.granted or self.pool is None:
            return False
        if not self.pool.try_take(self.model.fast_extra):
            return False
        self.granted = True
        self.grows += 1
        return True

    def shrink(self) -> None:
        """Back to the small buffer (a sender may have grown the socket's)."""
        self.release()
        self._apply(self.base, SLOW_CHUNK)

    def release(self) -> None:
        """Give the large buffer back to the pool (at the end of the download, or on shrinking)."""
        if self.granted and self.pool is not None:
            self.pool.give(self.model.fast_extra)
        self.granted = False

    def _apply(self, sndbuf: int, chunk: int) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if self.transport is not None and not self.transport.is_closing():
            with contextlib.suppress(RuntimeError, AttributeError):
                self.transport.set_write_buffer_limits(high=chunk)
