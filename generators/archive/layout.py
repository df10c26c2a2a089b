"""Archive layout: every record's offset and the exact total size, then any byte window.

Strategy. A ZIP is a sequence of (local header, body) pairs, a central
directory and an end record. With STORED or pre-compressed bodies and no data
descriptors, every one of those lengths follows from names and sizes alone, so
``ArchiveLayout`` computes all offsets and the total size up front, without
touching a body. ``pieces(start, end)`` then walks only the records that
overlap the window and yields their bytes: headers are packed on demand (a
header needs its entry's CRC, so a producer is rendered when its header is
reached), bodies are handed out as memoryview slices or, for files on disk,
as ``FileSlice`` placeholders the I/O layer can ``sendfile``.

Nothing here does socket I/O or keeps more than one entry's body: a producer's
bytes live only while its entry is being yielded; its CRC is remembered (4
bytes) so the central directory and later windows need not keep the body. A
window that covers the central directory without having passed the producers
renders each once to learn its CRC, and drops the bytes again.

ZIP64 appears only where the format forces it: an entry of 4 GiB or more (in
its local and central headers), a local header offset past 0xFFFFFFFF (central
header only), or 65,535+ entries / a central directory past 4 GiB (the ZIP64
end records). The first entry starts at offset 0, so it never needs the
offset field.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from . import records as R
from .crc import crc32
from .names import UniqueNames
from .sources import FileSource, MemorySource, Piece, ProducerSource, Source

DEFAULT_CHUNK = 256 * 1024

_UT_LEN = R.EXTENDED_TIMESTAMP.size
_LOCAL_ZIP64_LEN = R.EXTRA_HEADER.size + 16  # both sizes, always together in a local header


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of the archive as the caller wants it; the layout sanitises the name."""

    name: str
    source: Source
    mtime: int  # seconds since the Unix epoch, UTC; clamped to what ZIP can hold
    mode: int = 0o644


def _central_zip64_fields(size: int, csize: int, offset: int) -> list[int]:
    """The central ZIP64 extra holds only the fields that overflow, in APPNOTE order."""
    fields = []
    if size >= R.ZIP32_MAX:
        fields.append(size)
    if csize >= R.ZIP32_MAX:
        fields.append(csize)
    if offset >= R.ZIP32_MAX:
        fields.append(offset)
    return fields


class ArchiveLayout:
    """The archive's geometry, computed once; ``pieces()`` produces any window of it."""

    def __init__(self, entries: Sequence[Entry], *, chunk_size: int = DEFAULT_CHUNK) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.chunk_size = chunk_size
        self.entries: tuple[Entry, ...] = tuple(entries)
        unique = UniqueNames()
        self.names: list[str] = [unique.add(e.name) for e in self.entries]
        self._name_bytes: list[bytes] = [n.encode("utf-8") for n in self.names]
        n = len(self.entries)
        # local_offsets[i]: start of entry i's local header; [n] = start of the
        # central directory. central_offsets likewise within the archive.
        self._local = array("Q", bytes(8 * (n + 1)))
        self._central = array("Q", bytes(8 * (n + 1)))
        self._crcs: dict[int, int] = {}
        pos = 0
        cd_size = 0
        for i, (entry, name) in enumerate(zip(self.entries, self._name_bytes, strict=True)):
            src = entry.source
            csize = src.compressed_size
            local_extra = _UT_LEN + (_LOCAL_ZIP64_LEN if self._local_zip64(src) else 0)
            self._local[i] = pos
            self._central[i] = cd_size  # relative for now
            pos += R.LOCAL_HEADER.size + len(name) + local_extra + csize
            z64 = _central_zip64_fields(src.size, csize, self._local[i])
            central_extra = _UT_LEN + (R.EXTRA_HEADER.size + 8 * len(z64) if z64 else 0)
            cd_size += R.CENTRAL_HEADER.size + len(name) + central_extra
            if not isinstance(src, ProducerSource):
                self._crcs[i] = src.crc  # known ahead: indexed file or bytes in memory
        self.central_offset = pos
        self.central_size = cd_size
        for i in range(n + 1):
            self._central[i] = pos + (self._central[i] if i < n else cd_size)
        self.zip64_end = n >= R.ZIP32_MAX_ENTRIES or pos >= R.ZIP32_MAX or cd_size >= R.ZIP32_MAX
        self._local[n] = pos
        tail = R.END_OF_CENTRAL_DIR.size
        if self.zip64_end:
            tail += R.ZIP64_END_OF_CENTRAL_DIR.size + R.ZIP64_LOCATOR.size
        self.total_size = pos + cd_size + tail

    # -- geometry ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    @staticmethod
    def _local_zip64(src: Source) -> bool:
        return src.size >= R.ZIP32_MAX or src.compressed_size >= R.ZIP32_MAX

    def local_header_offset(self, i: int) -> int:
        return self._local[i]

    def _local_header_len(self, i: int) -> int:
        extra = _UT_LEN + (_LOCAL_ZIP64_LEN if self._local_zip64(self.entries[i].source) else 0)
        return R.LOCAL_HEADER.size + len(self._name_bytes[i]) + extra

    def fingerprint(self) -> str:
        """A digest of everything that decides the bytes: a strong ETag.

        Same names, sizes, times, methods and source identities give the same
        bytes, so equal fingerprints mean equal archives.
        """
        h = hashlib.sha256(b"planstream-archive-v1\0")
        for entry, name in zip(self.entries, self._name_bytes, strict=True):
            src = entry.source
            h.update(name)
            h.update(b"\0%d\0%d\0%d\0" % (entry.mtime, entry.mode, src.method))
            h.update(src.identity())
            h.update(b"\0")
        return h.hexdigest()

    # -- bytes ------------------------------------------------------------

    def crc(self, i: int) -> int:
        """Entry i's CRC-32, rendering a producer (and dropping its bytes) if unknown."""
        value = self._crcs.get(i)
        if value is None:
            self._render(i)
            value = self._crcs[i]
        return value

    def _render(self, i: int) -> bytes:
        src = self.entries[i].source
        assert isinstance(src, ProducerSource)
        data = src.render()
        self._crcs[i] = crc32(data)
        return data

    def _local_header(self, i: int, crc: int) -> bytes:
        entry = self.entries[i]
        src = entry.source
        name = self._name_bytes[i]
        dos_time, dos_date = R.dos_datetime(entry.mtime)
        zip64 = self._local_zip64(src)
        extra = b""
        if zip64:
            extra += R.EXTRA_HEADER.pack(R.ZIP64_EXTRA_ID, 16)
            extra += R.ZIP64_FIELD.pack(src.size) + R.ZIP64_FIELD.pack(src.compressed_size)
        extra += R.EXTENDED_TIMESTAMP.pack(R.EXTENDED_TIMESTAMP_ID, 5, 1, R.ut_mtime(entry.mtime))
        header = R.LOCAL_HEADER.pack(
            R.LOCAL_HEADER_SIG,
            R.VERSION_ZIP64 if zip64 else R.VERSION_DEFAULT,
            R.FLAG_UTF8,
            src.method,
            dos_time,
            dos_date,
            crc,
            R.ZIP32_MAX if zip64 else src.compressed_size,
            R.ZIP32_MAX if zip64 else src.size,
            len(name),
            len(extra),
        )
        return header + name + extra

    def _central_header(self, i: int) -> bytes:
        entry = self.entries[i]
        src = entry.source
        name = self._name_bytes[i]
        offset = self._local[i]
        csize = src.compressed_size
        dos_time, dos_date = R.dos_datetime(entry.mtime)
        z64 = _central_zip64_fields(src.size, csize, offset)
        extra = b""
        if z64:
            extra += R.EXTRA_HEADER.pack(R.ZIP64_EXTRA_ID, 8 * len(z64))
            extra += b"".join(R.ZIP64_FIELD.pack(v) for v in z64)
        extra += R.EXTENDED_TIMESTAMP.pack(R.EXTENDED_TIMESTAMP_ID, 5, 1, R.ut_mtime(entry.mtime))
        header = R.CENTRAL_HEADER.pack(
            R.CENTRAL_HEADER_SIG,
            R.VERSION_MADE_BY,
            R.VERSION_ZIP64 if z64 else R.VERSION_DEFAULT,
            R.FLAG_UTF8,
            src.method,
            dos_time,
            dos_date,
            self.crc(i),
            min(csize, R.ZIP32_MAX),
            min(src.size, R.ZIP32_MAX),
            len(name),
            len(extra),
            0,
            0,
            0,
            (0o100000 | entry.mode) << 16,
            min(offset, R.ZIP32_MAX),
        )
        return header + name + extra

    def _tail(self) -> bytes:
        n = len(self.entries)
        cd_off, cd_size = self.central_offset, self.central_size
        out = b""
        if self.zip64_end:
            z64_pos = cd_off + cd_size
            out += R.ZIP64_END_OF_CENTRAL_DIR.pack(
                R.ZIP64_END_OF_CENTRAL_DIR_SIG,
                R.ZIP64_END_OF_CENTRAL_DIR.size - 12,
                R.VERSION_MADE_BY,
                R.VERSION_ZIP64,
                0,
                0,
                n,
                n,
                cd_size,
                cd_off,
            )
            out += R.ZIP64_LOCATOR.pack(R.ZIP64_LOCATOR_SIG, 0, z64_pos, 1)
        out += R.END_OF_CENTRAL_DIR.pack(
            R.END_OF_CENTRAL_DIR_SIG,
            0,
            0,
            min(n, R.ZIP32_MAX_ENTRIES),
            min(n, R.ZIP32_MAX_ENTRIES),
            min(cd_size, R.ZIP32_MAX),
            min(cd_off, R.ZIP32_MAX),
            0,
        )
        return out

    def _split(self, data: bytes) -> Iterator[bytes]:
        """A header or the tail, in pieces of at most chunk_size (one piece, usually)."""
        step = self.chunk_size
        if len(data) <= step:
            yield data
        else:
            for pos in range(0, len(data), step):
                yield data[pos : pos + step]

    def _chunks(self, data: bytes | memoryview, lo: int, hi: int) -> Iterator[memoryview]:
        view = memoryview(data)
        step = self.chunk_size
        for pos in range(lo, hi, step):
            yield view[pos : min(pos + step, hi)]

    def pieces(self, start: int = 0, end: int | None = None) -> Iterator[Piece]:
        """Yield exactly the bytes of the archive window ``[start, end)``.

        Buffers are at most ``chunk_size`` long; file bodies come as one
        ``FileSlice`` per entry (the I/O layer chunks its sendfile calls).
        Raises ``SourceChanged`` before producing any byte of a file entry
        (header or body) whose file no longer matches its index, and again
        after its body slice was consumed if the file changed meanwhile.
        """
        total = self.total_size
        if end is None:
            end = total
        if not 0 <= start <= end <= total:
            raise ValueError(f"window [{start}, {end}) outside archive of {total} bytes")
        if start == end:
            return
        n = len(self.entries)
        cd_off = self.central_offset
        if start < cd_off:
            i = bisect_right(self._local, start, 0, n) - 1
            while i < n and self._local[i] < end:
                yield from self._entry_pieces(i, start, end)
                i += 1
        cd_end = cd_off + self.central_size
        if start < cd_end and end > cd_off:
            yield from self._central_pieces(start, end)
        if end > cd_end:
            tail = self._tail()
            yield from self._split(tail[max(start, cd_end) - cd_end : end - cd_end])

    def _entry_pieces(self, i: int, start: int, end: int) -> Iterator[Piece]:
        lo = self._local[i]
        hi = self._local[i + 1]
        body_lo = lo + self._local_header_len(i)
        src = self.entries[i].source
        body_wanted = start < hi and end > body_lo
        data: bytes | None = None
        if isinstance(src, FileSource):
            src.check()
        elif isinstance(src, ProducerSource) and (body_wanted or i not in self._crcs):
            # For its body, or for the header's CRC; a header-only window
            # whose CRC is already known renders nothing.
            data = self._render(i)
        if start < body_lo:
            header = self._local_header(i, self.crc(i))
            yield from self._split(header[max(start - lo, 0) : min(end, body_lo) - lo])
        if not body_wanted:
            return
        s = max(start, body_lo) - body_lo
        e = min(end, hi) - body_lo
        if isinstance(src, FileSource):
            yield src.slice(s, e - s)
            # Resumed once the consumer has sent the slice: a file replaced or
            # edited during the send is caught before any later byte.
            src.check()
        elif isinstance(src, MemorySource):
            yield from self._chunks(src.payload, s, e)
        else:
            assert data is not None
            yield from self._chunks(data, s, e)

    def _central_pieces(self, start: int, end: int) -> Iterator[bytes]:
        n = len(self.entries)
        j = bisect_right(self._central, max(start, self.central_offset), 0, n) - 1
        j = max(j, 0)
        buf = bytearray()
        buf_lo = self._central[j]  # archive offset of buf[0]
        limit = self.chunk_size
        while j < n and self._central[j] < end:
            buf += self._central_header(j)
            j += 1
            if buf_lo < start:  # the first header may begin before the window
                del buf[: start - buf_lo]
                buf_lo = start
            last = j == n or self._central[j] >= end
            if last:
                del buf[end - buf_lo :]
            # Whole chunks only, so no buffer exceeds chunk_size; the rest waits.
            while len(buf) >= limit or (last and buf):
                piece = bytes(buf[:limit])
                del buf[:limit]
                buf_lo += len(piece)
                yield piece
