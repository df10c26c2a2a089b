"""Material bodies from object storage: ranged GETs, read only as fast as the client drains.

Strategy:

- An ``ObjectSlice`` (the archive core's placeholder for an object's bytes)
  is read with ranged GETs of at most ``SEGMENT`` bytes, each conditioned on
  the ETag that was indexed (``If-Match``). The body is pulled ``chunk`` bytes
  at a time and each chunk is written, and drained, by the ``BodyWriter``
  before the next is read: aiohttp's client stops reading its socket once its
  buffer passes its high-water mark, so a slow client slows the GET instead
  of filling memory. Per download that is one chunk, the HTTP client's buffer
  (2 x 64 KiB and one socket read) and the S3 socket's receive buffer (capped
  with SO_RCVBUF): ``STREAM_COST``, which admission adds to every download of
  an S3 library.
- Segments keep one GET from being held open for hours by a slow client.
- A transient failure (connection error, timeout, 5xx, throttling) before the
  first byte of the slice is retried with exponential backoff. After the first
  byte nothing is retried: the download is cut (the client sees truncation)
  and the log names the object. A 412 (the object was replaced) or a 404 (it
  was deleted) cuts the download too, and the object is indexed again in the
  background so the next plan that uses it has a new CRC and a new ETag.
- One client, one connection pool, sized from the slots: a running download
  streams at most one object at a time, so no download waits for a connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from generators.archive import ObjectSlice
from generators.library import Library
from generators.library_s3 import BotoStore, S3Library, refresh_object, s3_client

from .outcomes import Outcome
from .writer import DownloadError

log = logging.getLogger("planstream.objects")

KiB, MiB = 1 << 10, 1 << 20
SEGMENT = 8 * MiB  # bytes per ranged GET
RCVBUF = 64 * KiB  # SO_RCVBUF of an object-store socket (Linux doubles it)
CHUNK = 64 * KiB  # the largest chunk read and held while it is written
# aiohttp's client pauses its socket once its buffer passes 2 x 64 KiB; one
# more recv (at most the kernel's 2 x RCVBUF) may land before it does.
CLIENT_BUFFER = 2 * 64 * KiB + 2 * RCVBUF
# botocore request/response and aiohttp connection objects, and the allocator's
# slack around buffers freed and made again: what the measurements below add.
CLIENT_OBJECTS = 256 * KiB
STREAM_COST = CHUNK + CLIENT_BUFFER + 2 * RCVBUF + CLIENT_OBJECTS
"""What an S3 download adds to the admission cost (704 KiB; 816 KiB with the base).
Measured RSS per slow download, base included: ~580 KiB with 16 at once
(tests/s3/test_memory.py), ~685 KiB with 100 at once (bench/s3.py)."""
RETRIES = 3  # attempts after the first, before the first byte only
BACKOFF = 0.2  # seconds before the first retry; doubled each time
_CHANGED = {"PreconditionFailed", "412", "NoSuchKey", "404"}
_TRANSIENT = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}


class ObjectFailed(DownloadError):
    """An object could not be read; the download is cut and ``key`` is logged."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(Outcome.FAILED, f"object {key!r}: {reason}")
        self.key = key


def _small_rcvbuf_socket(addr_info: Any) -> socket.socket:
    """aiohttp socket factory: a capped receive buffer bounds what the kernel holds per GET."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    return sock


class ObjectReader:
    """Reads object slices for the writer; one bounded client for the whole process."""

    def __init__(
        self,
        library: S3Library,
        pool: int,
        stall_timeout: float,
        swap: Callable[[Library], None] | None = None,
    ) -> None:
        self.library = library  # the snapshot this reader last indexed into
        self.bucket = library.location.bucket
        self.pool = max(1, pool)
        self.stall_timeout = stall_timeout
        self.swap = swap  # State.swap_library: new plans use the re-indexed snapshot
        self.client: Any = None
        self.gets = self.retries = self.cut = 0
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def running(self, _app: Any = None) -> AsyncIterator[None]:
        """aiohttp ``cleanup_ctx``: the client lives as long as the app."""
        async with s3_client(
            self.library.endpoint,
            pool=self.pool,
            read_timeout=self.stall_timeout,
            attempts=1,  # retries are ours: only before the first byte
            socket_factory=_small_rcvbuf_socket,
        ) as client:
            self.client = client
            log.info(
                "object store: s3://%s via %s, pool of %d connections, %d KiB per download",
                self.bucket,
                self.library.endpoint or "the AWS chain's endpoint",
                self.pool,
                STREAM_COST >> 10,
            )
            try:
                yield
            finally:
                for task in list(self._tasks):
                    task.cancel()
                self.client = None

    async def chunks(self, piece: ObjectSlice, chunk: int) -> AsyncIterator[bytes]:
        """The slice's bytes, ``chunk`` at a time; raises ObjectFailed on any fault."""
        offset, end = piece.offset, piece.offset + piece.length
        while offset < end:
            stop = min(end, offset + SEGMENT)
            body = await self._open(piece, offset, stop, retry=offset == piece.offset)
            try:
                while offset < stop:
                    data = await self._read(piece, body, min(chunk, stop - offset), offset)
                    offset += len(data)
                    yield data
            finally:
                body.close()

    async def _read(self, piece: ObjectSlice, body: Any, n: int, offset: int) -> bytes:
        try:
            async with asyncio.timeout(self.stall_timeout):
                data: bytes = await body.read(n)
        except (BotoCoreError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise self._cut(piece, f"read failed at byte {offset}: {type(exc).__name__}") from exc
        if not data:
            raise self._cut(piece, f"body ended early at byte {offset}")
        return data

    async def _open(self, piece: ObjectSlice, start: int, stop: int, retry: bool) -> Any:
        """A ranged, ETag-conditioned GET; retried with backoff only when ``retry``."""
        if self.client is None:
            raise self._cut(piece, "no object-store client (server not started)")
        delay = BACKOFF
        for attempt in range(RETRIES + 1):
            self.gets += 1
            try:
                async with asyncio.timeout(self.stall_timeout):
                    resp = await self.client.get_object(
                        Bucket=self.bucket,
                        Key=piece.key,
                        Range=f"bytes={start}-{stop - 1}",
                        IfMatch=piece.etag,
                    )
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code in _CHANGED or status in (404, 412):
                    self._changed(piece.key)
                    raise self._cut(piece, f"changed since it was indexed ({code})") from exc
                if not (code in _TRANSIENT or status >= 500) or not retry or attempt == RETRIES:
                    raise self._cut(piece, f"GET failed: {code or status}") from exc
            except (BotoCoreError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                if not retry or attempt == RETRIES:
                    raise self._cut(piece, f"GET failed: {type(exc).__name__}: {exc}") from exc
            else:
                if int(resp.get("ContentLength", -1)) != stop - start:
                    resp["Body"].close()
                    raise self._cut(piece, f"GET returned {resp.get('ContentLength')} bytes")
                return resp["Body"]
            self.retries += 1
            log.info("object %r: GET failed, retry %d in %.1f s", piece.key, attempt + 1, delay)
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _cut(self, piece: ObjectSlice, reason: str) -> ObjectFailed:
        self.cut += 1
        log.warning("object %r: %s; cutting the download", piece.key, reason)
        return ObjectFailed(piece.key, reason)

    # -- re-indexing -----------------------------------------------------

    def _changed(self, key: str) -> None:
        if key in self._refreshing:
            return
        self._refreshing.add(key)
        task = asyncio.ensure_future(self._refresh(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, key: str) -> None:
        """Index ``key`` again and swap it into the library; later plans get the new ETag."""
        if self.client is None:  # shutting down
            self._refreshing.discard(key)
            return
        try:
            store = BotoStore(self.client, self.bucket)
            source = await refresh_object(store, self.library.location, key)
            new = self.library.replaced(key, source)
            if new is not None:
                self.library = new
                log.info("object %r re-indexed: %s", key, "gone" if source is None else source.etag)
                if self.swap is not None:
                    self.swap(new)
        except (BotoCoreError, ClientError, aiohttp.ClientError, OSError, ValueError) as exc:
            log.warning("object %r: re-index failed: %s", key, exc)
        finally:
            self._refreshing.discard(key)
