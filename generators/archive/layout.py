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

Compact. A layout is kept in memory while its plan is downloaded (and in a
cache between downloads), so it holds no object per entry: offsets, sizes,
times, CRCs and flags live in ``array``s, and names in one blob of base
names plus a small table of distinct folders (a plan repeats a few hundred
folders over thousands of files). Sources are not kept either when the
caller passes ``sources``, a function that makes entry i's source again on
demand (a plan makes its documents from its parameters): then 11,285
entries cost about 1 MiB, against about 1 KiB each as objects. ``nbytes()``
is an upper bound of what the layout holds, for caches bounded in bytes.

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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from . import records as R
from .crc import crc32
from .names import UniqueNames
from .objects import ObjectSource
from .sources import FileSource, MemorySource, Piece, ProducerSource, Source

DEFAULT_CHUNK = 64 * 1024  # largest piece: ~600 central headers, a few ms between yields

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


_PRODUCER, _FILE, _MEMORY = 0, 1, 2  # an entry's kind of source, in its flags
_KIND_MASK, _KNOWN, _DEFLATED = 3, 4, 8  # the CRC is known; the body is DEFLATE
_KIND_FLAGS = {
    ProducerSource: _PRODUCER,
    FileSource: _FILE | _KNOWN,
    ObjectSource: _FILE | _KNOWN,  # laid out like a file; its I/O layer reads the store
    MemorySource: _MEMORY | _KNOWN,
}


_FINGERPRINT_SEED = b"planstream-archive-v1\0"


def _identity_line(name: bytes, mtime: int, mode: int, src: Source) -> bytes:
    """What one entry adds to the fingerprint: everything that decides its bytes."""
    return b"%s\0%d\0%d\0%d\0%s\0" % (name, mtime, mode, src.method, src.identity())


def _narrow(a: array[int]) -> array[int]:
    """The same values in 4-byte items when they all fit, else ``a`` itself."""
    if len(a) == 0 or (min(a) >= 0 and max(a) < 1 << 32):
        return array("I", a)
    return a


def _array_bytes(a: array[int]) -> int:
    # Object header + buffer; the buffer over-allocates at most 1/16 + a few items.
    return 80 + a.buffer_info()[1] * a.itemsize * 17 // 16 + 64


class ArchiveLayout:
    """The archive's geometry, computed once; ``pieces()`` produces any window of it.

    ``sources``, when given, makes entry i's source again (``sources(i)``)
    whenever a body, a CRC or a file check needs it; the entries' own source
    objects are then not kept. It must return a source of the same size,
    method and identity as the entry had.
    """

    def __init__(
        self,
        entries: Iterable[Entry],
        *,
        chunk_size: int = DEFAULT_CHUNK,
        sources: Callable[[int], Source] | None = None,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.chunk_size = chunk_size
        self._resolve = sources
        self._init_arrays()
        kept: list[Source] = []
        # Without kept sources the fingerprint must be taken now; with them,
        # when first asked (a layout used only for its geometry never pays).
        digest = hashlib.sha256(_FINGERPRINT_SEED) if sources is not None else None
        pos, cd_size = self._add_all(entries, kept if sources is None else None, digest)
        self._sources: tuple[Source, ...] = tuple(kept)
        self._fingerprint = digest.hexdigest() if digest is not None else None
        self._finish(pos, cd_size)

    def _init_arrays(self) -> None:
        # local[i]: start of entry i's local header, [n] = start of the central
        # directory; central[i] likewise for its central header, relative to
        # the directory's start.
        self._local = array("Q")
        self._central = array("Q")
        self._size = array("Q")
        self._mtime = array("q")
        self._crcs = array("I")  # 32-bit on every platform CPython runs on (unlike "L")
        self._flags = bytearray()  # per entry: kind (2 bits) | _KNOWN | _DEFLATED
        self._modes: dict[int, int] = {}  # only where it is not 0o644
        self._csize: dict[int, int] = {}  # only where it differs from size (deflated bytes)
        self._dirs: list[bytes] = []  # distinct folders, each ending in "/" (or b"")
        self._dir_of = array("I")
        self._base_off = array("I", [0])
        self._bases = bytearray()

    def _add_all(
        self, entries: Iterable[Entry], kept: list[Source] | None, digest: hashlib._Hash | None
    ) -> tuple[int, int]:
        """Record every entry's fields and feed the fingerprint; return the two sizes.

        One piece, with bound methods in locals: it runs once per entry of
        every new plan (11,285 times for the largest), so call overhead is
        most of its cost.
        """
        unique, dir_index = UniqueNames(), dict[bytes, int]()
        dirs, bases = self._dirs, self._bases
        lhs, chs, ut, z64_len = (
            R.LOCAL_HEADER.size,
            R.CENTRAL_HEADER.size,
            _UT_LEN,
            _LOCAL_ZIP64_LEN,
        )
        add_dir, add_base = self._dir_of.append, self._base_off.append
        add_local, add_central, add_size = (
            self._local.append,
            self._central.append,
            self._size.append,
        )
        add_mtime, add_flags, add_crc = self._mtime.append, self._flags.append, self._crcs.append
        pos = cd_size = 0
        for i, entry in enumerate(entries):
            name = unique.add(entry.name).encode("utf-8")
            cut = name.rfind(b"/") + 1
            folder = name[:cut]
            d = dir_index.get(folder)
            if d is None:
                d = dir_index[folder] = len(dirs)
                dirs.append(folder)
            add_dir(d)
            bases += name[cut:]
            add_base(len(bases))
            src = entry.source
            if kept is not None:
                kept.append(src)
            method, size, csize = src.method, src.size, src.compressed_size
            if digest is not None:
                digest.update(_identity_line(name, entry.mtime, entry.mode, src))
            add_size(size)
            if csize != size:
                self._csize[i] = csize
            add_mtime(entry.mtime)
            if entry.mode != 0o644:
                self._modes[i] = entry.mode
            flags = _KIND_FLAGS[type(src)]
            add_flags(flags | _DEFLATED if method == R.METHOD_DEFLATE else flags)
            # Known ahead for an indexed file or bytes in memory; learnt for a producer.
            add_crc(src.crc if flags & _KNOWN else 0)  # type: ignore[union-attr]
            add_local(pos)
            add_central(cd_size)
            big = size >= R.ZIP32_MAX or csize >= R.ZIP32_MAX or pos >= R.ZIP32_MAX
            z64 = len(_central_zip64_fields(size, csize, pos)) if big else 0
            local_z64 = z64_len if size >= R.ZIP32_MAX or csize >= R.ZIP32_MAX else 0
            pos += lhs + len(name) + ut + local_z64 + csize
            cd_size += chs + len(name) + ut + (R.EXTRA_HEADER.size + 8 * z64 if z64 else 0)
        return pos, cd_size

    def _finish(self, pos: int, cd_size: int) -> None:
        n = len(self._size)
        self._bases = bytes(self._bases)  # type: ignore[assignment]
        self.central_offset = pos
        self.central_size = cd_size
        self._central.append(cd_size)
        self._local.append(pos)
        # 4 bytes an item where the values fit (every archive under 4 GiB).
        self._local = _narrow(self._local)
        self._central = _narrow(self._central)
        self._size = _narrow(self._size)
        self._mtime = _narrow(self._mtime)
        self.zip64_end = n >= R.ZIP32_MAX_ENTRIES or pos >= R.ZIP32_MAX or cd_size >= R.ZIP32_MAX
        tail = R.END_OF_CENTRAL_DIR.size
        if self.zip64_end:
            tail += R.ZIP64_END_OF_CENTRAL_DIR.size + R.ZIP64_LOCATOR.size
        self.total_size = pos + cd_size + tail

    # -- geometry ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self._size)

    def _name(self, i: int) -> bytes:
        return self._dirs[self._dir_of[i]] + self._bases[self._base_off[i] : self._base_off[i + 1]]

    def name(self, i: int) -> str:
        """Entry i's name in the archive (sanitised and made unique)."""
        return self._name(i).decode("utf-8")

    @property
    def names(self) -> list[str]:
        """Every entry's name in the archive (a new list: for tools and tests)."""
        return [self.name(i) for i in range(len(self))]

    @property
    def resolver(self) -> Callable[[int], Source] | None:
        """The ``sources`` function the layout was given (None when it keeps its sources)."""
        return self._resolve

    def source(self, i: int) -> Source:
        """Entry i's source (made again when the layout was given ``sources``)."""
        return self._resolve(i) if self._resolve is not None else self._sources[i]

    @property
    def entries(self) -> tuple[Entry, ...]:
        """Every entry with its archive name (new objects: for tools and tests, O(n))."""
        return tuple(
            Entry(self.name(i), self.source(i), self._mtime[i], self._mode_of(i))
            for i in range(len(self))
        )

    def _mode_of(self, i: int) -> int:
        return self._modes.get(i, 0o644)

    def _method_of(self, i: int) -> int:
        return R.METHOD_DEFLATE if self._flags[i] & _DEFLATED else R.METHOD_STORED

    def _csize_of(self, i: int) -> int:
        return self._csize.get(i, self._size[i])

    def _local_zip64(self, i: int) -> bool:
        return self._size[i] >= R.ZIP32_MAX or self._csize_of(i) >= R.ZIP32_MAX

    def local_header_offset(self, i: int) -> int:
        return self._local[i]

    def central_header_offset(self, j: int) -> int:
        """Archive offset of entry j's central header (j == len(self): the directory's end)."""
        return self.central_offset + self._central[j]

    def _local_header_len(self, i: int) -> int:
        extra = _UT_LEN + (_LOCAL_ZIP64_LEN if self._local_zip64(i) else 0)
        return R.LOCAL_HEADER.size + len(self._name(i)) + extra

    def fingerprint(self) -> str:
        """A digest of everything that decides the bytes: a strong ETag.

        Same names, sizes, times, methods and source identities give the same
        bytes, so equal fingerprints mean equal archives. Computed once.
        """
        if self._fingerprint is None:
            digest = hashlib.sha256(_FINGERPRINT_SEED)
            for i, src in enumerate(self._sources):
                digest.update(_identity_line(self._name(i), self._mtime[i], self._mode_of(i), src))
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def nbytes(self) -> int:
        """An upper bound of the bytes this layout holds (not its sources' shared objects)."""
        arrays = (self._local, self._central, self._size, self._mtime, self._crcs)
        total = sum(_array_bytes(a) for a in (*arrays, self._dir_of, self._base_off))
        total += 57 + len(self._flags) * 17 // 16 + 64
        total += 232 + 100 * len(self._modes)
        total += 33 + len(self._bases)
        total += 56 + 8 * len(self._dirs) + sum(33 + len(d) for d in self._dirs)
        total += 232 + 100 * len(self._csize)  # dict and its int entries
        total += 56 + 8 * len(self._sources)  # references only: the sources are the caller's
        return total + 1024  # the object, its attribute dict, fingerprint and small fields

    # -- bytes ------------------------------------------------------------

    def crc(self, i: int) -> int:
        """Entry i's CRC-32, rendering a producer (and dropping its bytes) if unknown."""
        if not self._flags[i] & _KNOWN:
            self._render(i, self.source(i))
        return self._crcs[i]

    def producer(self, i: int) -> ProducerSource | None:
        """Entry i's producer, or None when its bytes exist already (file or memory)."""
        if self._flags[i] & _KIND_MASK != _PRODUCER:
            return None
        src = self.source(i)
        assert isinstance(src, ProducerSource)
        return src

    def producer_size(self, i: int) -> int:
        """Body size of entry i if a producer makes it, else 0; from the arrays, no source made.

        The render pool walks every entry of a window to cut it into segments;
        making each source again (``producer``) for that costs more than the
        send itself on a fast client.
        """
        return self._size[i] if self._flags[i] & _KIND_MASK == _PRODUCER else 0

    def crc_known(self, i: int) -> bool:
        return bool(self._flags[i] & _KNOWN)

    def learn_crc(self, i: int, crc: int) -> None:
        """Record a CRC computed elsewhere (a render worker), so no window renders for it."""
        self._crcs[i] = crc
        self._flags[i] |= _KNOWN

    def needs(self, start: int, end: int) -> tuple[list[int], list[int]]:
        """Producers the window ``[start, end)`` would render: (bodies, unknown CRCs).

        ``bodies`` are the producers whose body overlaps the window; ``crcs``
        the other producers whose local or central header lies in the window
        and whose CRC is not known yet. Rendering both ahead (off the event
        loop) and passing the bodies to ``pieces`` means iterating the window
        renders nothing.
        """
        bodies: list[int] = []
        crcs: list[int] = []
        n = len(self)
        cd_off = self.central_offset
        flags = self._flags
        if start < min(end, cd_off):
            i = bisect_right(self._local, start, 0, n) - 1
            while i < n and self._local[i] < end:
                if flags[i] & _KIND_MASK == _PRODUCER:
                    body_lo = self._local[i] + self._local_header_len(i)
                    if start < self._local[i + 1] and end > body_lo:
                        bodies.append(i)
                    elif not flags[i] & _KNOWN:
                        crcs.append(i)
                i += 1
        if start < cd_off + self.central_size and end > cd_off:
            j = max(bisect_right(self._central, max(start, cd_off) - cd_off, 0, n) - 1, 0)
            seen = set(bodies)
            while j < n and cd_off + self._central[j] < end:
                if flags[j] & _KIND_MASK == _PRODUCER and not flags[j] & _KNOWN and j not in seen:
                    crcs.append(j)
                j += 1
        return bodies, crcs

    def _render(self, i: int, src: Source) -> bytes:
        assert isinstance(src, ProducerSource)
        data = src.render()
        self._crcs[i] = crc32(data)
        self._flags[i] |= _KNOWN
        return data

    def _local_header(self, i: int, crc: int) -> bytes:
        name = self._name(i)
        mtime = self._mtime[i]
        size, csize = self._size[i], self._csize_of(i)
        dos_time, dos_date = R.dos_datetime(mtime)
        zip64 = self._local_zip64(i)
        extra = b""
        if zip64:
            extra += R.EXTRA_HEADER.pack(R.ZIP64_EXTRA_ID, 16)
            extra += R.ZIP64_FIELD.pack(size) + R.ZIP64_FIELD.pack(csize)
        extra += R.EXTENDED_TIMESTAMP.pack(R.EXTENDED_TIMESTAMP_ID, 5, 1, R.ut_mtime(mtime))
        header = R.LOCAL_HEADER.pack(
            R.LOCAL_HEADER_SIG,
            R.VERSION_ZIP64 if zip64 else R.VERSION_DEFAULT,
            R.FLAG_UTF8,
            self._method_of(i),
            dos_time,
            dos_date,
            crc,
            R.ZIP32_MAX if zip64 else csize,
            R.ZIP32_MAX if zip64 else size,
            len(name),
            len(extra),
        )
        return header + name + extra

    def _central_header(self, i: int) -> bytes:
        name = self._name(i)
        offset = self._local[i]
        mtime = self._mtime[i]
        size, csize = self._size[i], self._csize_of(i)
        dos_time, dos_date = R.dos_datetime(mtime)
        z64 = _central_zip64_fields(size, csize, offset)
        extra = b""
        if z64:
            extra += R.EXTRA_HEADER.pack(R.ZIP64_EXTRA_ID, 8 * len(z64))
            extra += b"".join(R.ZIP64_FIELD.pack(v) for v in z64)
        extra += R.EXTENDED_TIMESTAMP.pack(R.EXTENDED_TIMESTAMP_ID, 5, 1, R.ut_mtime(mtime))
        header = R.CENTRAL_HEADER.pack(
            R.CENTRAL_HEADER_SIG,
            R.VERSION_MADE_BY,
            R.VERSION_ZIP64 if z64 else R.VERSION_DEFAULT,
            R.FLAG_UTF8,
            self._method_of(i),
            dos_time,
            dos_date,
            self.crc(i),
            min(csize, R.ZIP32_MAX),
            min(size, R.ZIP32_MAX),
            len(name),
            len(extra),
            0,
            0,
            0,
            (0o100000 | self._mode_of(i)) << 16,
            min(offset, R.ZIP32_MAX),
        )
        return header + name + extra

    def _tail(self) -> bytes:
        n = len(self)
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

    def pieces(
        self, start: int = 0, end: int | None = None, bodies: Mapping[int, bytes] | None = None
    ) -> Iterator[Piece]:
        """Yield exactly the bytes of the archive window ``[start, end)``.

        ``bodies`` holds producers' bytes rendered ahead (see ``needs``), by
        entry index; a producer found there is not rendered again.

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
        n = len(self)
        cd_off = self.central_offset
        if start < cd_off:
            i = bisect_right(self._local, start, 0, n) - 1
            while i < n and self._local[i] < end:
                yield from self._entry_pieces(i, start, end, bodies)
                i += 1
        cd_end = cd_off + self.central_size
        if start < cd_end and end > cd_off:
            yield from self._central_pieces(start, end)
        if end > cd_end:
            tail = self._tail()
            yield from self._split(tail[max(start, cd_end) - cd_end : end - cd_end])

    def _entry_pieces(
        self, i: int, start: int, end: int, bodies: Mapping[int, bytes] | None = None
    ) -> Iterator[Piece]:
        lo = self._local[i]
        hi = self._local[i + 1]
        body_lo = lo + self._local_header_len(i)
        kind = self._flags[i] & _KIND_MASK
        body_wanted = start < hi and end > body_lo
        data: bytes | None = None
        src: Source | None = None
        if kind == _FILE:
            src = self.source(i)
            assert isinstance(src, FileSource | ObjectSource)
            src.check()
        elif kind == _PRODUCER and (body_wanted or not self._flags[i] & _KNOWN):
            # For its body, or for the header's CRC; a header-only window
            # whose CRC is already known renders nothing.
            data = bodies.get(i) if bodies is not None else None
            if data is None:
                data = self._render(i, self.source(i))
            elif not self._flags[i] & _KNOWN:
                self.learn_crc(i, crc32(data))
        if start < body_lo:
            header = self._local_header(i, self.crc(i))
            yield from self._split(header[max(start - lo, 0) : min(end, body_lo) - lo])
        if not body_wanted:
            return
        s = max(start, body_lo) - body_lo
        e = min(end, hi) - body_lo
        if isinstance(src, FileSource | ObjectSource):
            yield src.slice(s, e - s)
            # Resumed once the consumer has sent the slice: a file replaced or
            # edited during the send is caught before any later byte.
            src.check()
        elif kind == _MEMORY:
            memory = self.source(i)
            assert isinstance(memory, MemorySource)
            yield from self._chunks(memory.payload, s, e)
        else:
            assert data is not None
            yield from self._chunks(data, s, e)

    def _central_pieces(self, start: int, end: int) -> Iterator[bytes]:
        n = len(self)
        cd_off = self.central_offset
        j = bisect_right(self._central, max(start, cd_off) - cd_off, 0, n) - 1
        j = max(j, 0)
        buf = bytearray()
        buf_lo = cd_off + self._central[j]  # archive offset of buf[0]
        limit = self.chunk_size
        while j < n and cd_off + self._central[j] < end:
            buf += self._central_header(j)
            j += 1
            if buf_lo < start:  # the first header may begin before the window
                del buf[: start - buf_lo]
                buf_lo = start
            last = j == n or cd_off + self._central[j] >= end
            if last:
                del buf[end - buf_lo :]
            # Whole chunks only, so no buffer exceeds chunk_size; the rest waits.
            while len(buf) >= limit or (last and buf):
                piece = bytes(buf[:limit])
                del buf[:limit]
                buf_lo += len(piece)
                yield piece
