"""Where an entry's bytes come from, and the file-slice placeholder.

Three sources, one per way a planstream file exists:

- ``MemorySource``: bytes already in memory (the overview page). Its CRC is
  taken at construction and, when it saves space, it is DEFLATE-compressed
  ahead, so both sizes and the CRC are known before the first byte.
- ``FileSource``: a centre's material file, indexed once (CRC-32 and its
  identity: inode, size, mtime and ctime). Its body is never read by the
  archive core: it is handed to the I/O layer as a ``FileSlice`` so the
  server can ``sendfile`` it. The identity is re-checked (``check()``)
  before any byte of its entry and again after its last byte; a changed
  file raises ``SourceChanged`` rather than ship a wrong CRC. The inode
  catches a replacement by rename; the ctime catches an edit in place whose
  size and mtime were put back (a user can set the mtime, never the ctime).
- ``ProducerSource``: a generated document whose exact size is known from its
  parameters; its bytes are made only when the archive reaches it, and its
  CRC is computed then.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .crc import crc32, crc32_file
from .objects import ObjectSlice, ObjectSource
from .records import METHOD_DEFLATE, METHOD_STORED


class SourceChanged(Exception):
    """A file changed since it was indexed; its CRC in the archive would be wrong."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ProducerSizeMismatch(Exception):
    """A producer made a different number of bytes than it declared."""


@dataclass(frozen=True, slots=True)
class FileSlice:
    """Placeholder for ``length`` bytes of ``path`` starting at ``offset``.

    The expected identity lets the I/O layer re-check the open file
    (``os.fstat``, ``verify``) before sending, closing the gap between check
    and send. ``None`` inode/ctime (a source built by hand) are not compared.
    """

    path: str
    offset: int
    length: int
    expect_size: int
    expect_mtime_ns: int
    expect_ino: int | None = None
    expect_ctime_ns: int | None = None

    def verify(self, st: os.stat_result) -> None:
        """Raise SourceChanged unless ``st`` (of the opened file) is the indexed file."""
        reason = _mismatch(
            st, self.expect_size, self.expect_mtime_ns, self.expect_ino, self.expect_ctime_ns
        )
        if reason:
            raise SourceChanged(self.path, reason)


Piece = bytes | memoryview | FileSlice | ObjectSlice


def _mismatch(
    st: os.stat_result, size: int, mtime_ns: int, ino: int | None, ctime_ns: int | None
) -> str:
    """Why ``st`` is not the indexed file, or "" when it is."""
    if ino is not None and st.st_ino != ino:
        return "replaced (another inode) since it was indexed"
    if st.st_size != size:
        return f"size {st.st_size} != indexed {size}"
    if st.st_mtime_ns != mtime_ns:
        return "modified since it was indexed (mtime)"
    if ctime_ns is not None and st.st_ctime_ns != ctime_ns:
        return "modified since it was indexed (ctime)"
    return ""


class MemorySource:
    """Bytes in memory; DEFLATE-compressed ahead when that saves at least 5 %."""

    __slots__ = ("crc", "data", "method", "payload", "size")

    def __init__(self, data: bytes, *, compress: bool = True, level: int = 6) -> None:
        self.data = bytes(data)
        self.size = len(self.data)
        self.crc = crc32(self.data)
        self.method = METHOD_STORED
        self.payload = self.data
        if compress and self.size >= 64:
            co = zlib.compressobj(level, zlib.DEFLATED, -15)
            packed = co.compress(self.data) + co.flush()
            if len(packed) <= self.size * 0.95:
                self.method, self.payload = METHOD_DEFLATE, packed

    @property
    def compressed_size(self) -> int:
        return len(self.payload)

    def identity(self) -> bytes:
        if self.method == METHOD_STORED:
            return b"m%d:%08x" % (self.size, self.crc)
        # Deflated bytes depend on the level (and zlib build), not only on the data.
        return b"m%d:%08x:z%d:%08x" % (self.size, self.crc, len(self.payload), crc32(self.payload))


class FileSource:
    """A file on disk with its indexed CRC-32 and identity (inode, size, mtime, ctime)."""

    __slots__ = ("crc", "ctime_ns", "ino", "mtime_ns", "path", "size")
    method = METHOD_STORED

    def __init__(
        self,
        path: str,
        size: int,
        crc: int,
        mtime_ns: int,
        ino: int | None = None,
        ctime_ns: int | None = None,
    ) -> None:
        self.path = path
        self.size = size
        self.crc = crc
        self.mtime_ns = mtime_ns
        self.ino = ino
        self.ctime_ns = ctime_ns

    @classmethod
    def index(cls, path: str, previous: FileSource | None = None) -> FileSource:
        """Stat and CRC a file now (start-up or re-index work, never per request).

        With ``previous`` (the same path's earlier index) whose identity still
        matches, its CRC is reused instead of reading the file again.
        """
        st = os.stat(path)
        if previous is not None and previous.path == path and not previous.mismatch(st):
            return previous
        crc = crc32_file(path, st.st_size)
        after = os.stat(path)
        if _mismatch(after, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns):
            raise SourceChanged(path, "changed while it was being indexed")
        return cls(path, st.st_size, crc, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)

    @property
    def compressed_size(self) -> int:
        return self.size

    def mismatch(self, st: os.stat_result) -> str:
        """Why ``st`` is not this indexed file, or "" when it is."""
        return _mismatch(st, self.size, self.mtime_ns, self.ino, self.ctime_ns)

    def check(self) -> None:
        """Raise SourceChanged unless the path still names the indexed file, unchanged."""
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise SourceChanged(self.path, f"cannot stat: {exc.strerror}") from exc
        reason = self.mismatch(st)
        if reason:
            raise SourceChanged(self.path, reason)

    def slice(self, offset: int, length: int) -> FileSlice:
        return FileSlice(
            self.path, offset, length, self.size, self.mtime_ns, self.ino, self.ctime_ns
        )

    def identity(self) -> bytes:
        # What decides the bytes, the same on every node: inode and ctime differ
        # between copies of one library, so they stay out of the ETag.
        return b"f%d:%08x:%d" % (self.size, self.crc, self.mtime_ns)


class ProducerSource:
    """A deterministic producer of exactly ``size`` bytes, run when the entry is reached.

    ``key`` names the output for the archive's fingerprint (ETag): two
    producers with the same key must produce the same bytes.
    """

    __slots__ = ("key", "produce", "size")
    method = METHOD_STORED

    def __init__(self, size: int, produce: Callable[[], bytes], key: str) -> None:
        self.size = size
        self.produce = produce
        self.key = key

    @property
    def compressed_size(self) -> int:
        return self.size

    def render(self) -> bytes:
        data = self.produce()
        if len(data) != self.size:
            raise ProducerSizeMismatch(
                f"producer {self.key!r} made {len(data)} bytes, declared {self.size}"
            )
        return data

    def identity(self) -> bytes:
        return b"p%d:" % self.size + self.key.encode("utf-8")


Source = MemorySource | FileSource | ProducerSource | ObjectSource


def read_slice(piece: FileSlice, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Read a FileSlice in chunks, checking the file is unchanged and long enough.

    Used where ``sendfile`` is not available (the CLI, tests, TLS).
    """
    with open(piece.path, "rb") as f:
        piece.verify(os.fstat(f.fileno()))
        f.seek(piece.offset)
        remaining = piece.length
        while remaining:
            data = f.read(min(chunk, remaining))
            if not data:
                raise SourceChanged(piece.path, "file ended early (truncated?)")
            remaining -= len(data)
            yield data


def resolve(pieces: Iterable[Piece]) -> Iterator[bytes | memoryview]:
    """Turn pieces into plain buffers, reading file slices from disk.

    Object slices need a store client, which the archive core does not have:
    they are refused here and sent by the server's object reader.
    """
    for piece in pieces:
        if isinstance(piece, FileSlice):
            yield from read_slice(piece)
        elif isinstance(piece, ObjectSlice):
            raise TypeError(f"object {piece.key!r} needs an object-store reader")
        else:
            yield piece
