"""ZIP64, only where forced: more than 65,535 entries, and an archive past 4 GiB.

(a) 65,600 tiny entries: the end record says 0xFFFF and a ZIP64 end record
and locator carry the real count; zipfile lists every name, Java's
ZipInputStream counts every entry from a pipe; no entry header carries a
ZIP64 extra (no size or offset overflows).

(b) A small entry, a sparse 4 GiB + 1 MiB file, then small entries whose
offsets pass 4 GiB. The archive is never written to disk: zipfile reads it
through ``LayoutReader`` (every read a ``pieces(start, end)`` window), the raw
records are parsed from windows, and Java's ZipInputStream reads the whole
stream from a pipe. The first entry has no ZIP64 extra; the big entry's local
header has one with both sizes; central ZIP64 extras hold only the fields
that overflow.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from generators.archive import (
    ArchiveLayout,
    Entry,
    FileSource,
    MemorySource,
    ProducerSource,
    crc32,
)

from . import rawzip
from .conftest import JavaCheck
from .support import LayoutReader, archive_bytes, pipe_archive

MTIME = 1788739200
ZIP64_EXTRA = 0x0001
FOUR_GIB = 1 << 32

# -- (a) more than 65,535 entries ---------------------------------------------------

MANY = 65_600


def _many_name(i: int) -> str:
    return f"第{i // 1000:02d}组/练习 {i:05d}.txt"


@pytest.fixture(scope="module")
def many_entries() -> tuple[ArchiveLayout, bytes]:
    entries = [
        Entry(_many_name(i), MemorySource(b"%d" % i, compress=False), MTIME) for i in range(MANY)
    ]
    layout = ArchiveLayout(entries)
    return layout, archive_bytes(layout)


def test_many_entries_use_zip64_end_records(many_entries: tuple[ArchiveLayout, bytes]) -> None:
    layout, data = many_entries
    assert len(data) == layout.total_size
    assert layout.names == [_many_name(i) for i in range(MANY)]
    walked = rawzip.walk(data)
    end = walked.end
    assert (end.disk_entries, end.total_entries) == (0xFFFF, 0xFFFF)
    assert end.zip64 == (MANY, MANY, layout.central_size, layout.central_offset)
    # The ZIP64 end record sits right after the central directory.
    assert end.zip64_record_offset == layout.central_offset + layout.central_size
    # Nothing else overflows: no entry carries a ZIP64 extra.
    for local, central in zip(walked.locals, walked.centrals, strict=True):
        assert ZIP64_EXTRA not in local.extras and ZIP64_EXTRA not in central.extras
        assert local.version_needed == central.version_needed == 20


def test_many_entries_windows_across_the_end_records(
    many_entries: tuple[ArchiveLayout, bytes],
) -> None:
    layout, data = many_entries
    cd_end = layout.central_offset + layout.central_size
    marks = [layout.central_offset, cd_end, cd_end + 56, cd_end + 76, layout.total_size]
    for mark in marks:
        for start, end in [(mark - 3, mark + 3), (mark - 100, mark), (mark, mark + 60)]:
            start, end = max(0, start), min(layout.total_size, end)
            assert archive_bytes(layout, start, end) == data[start:end], (start, end)


def test_many_entries_read_by_zipfile(many_entries: tuple[ArchiveLayout, bytes]) -> None:
    layout, data = many_entries
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == layout.names
        for i in [0, 1, 999, 65_534, 65_535, 65_536, MANY - 1]:
            assert zf.read(_many_name(i)) == b"%d" % i


def test_many_entries_read_by_java_from_a_pipe(
    many_entries: tuple[ArchiveLayout, bytes], java_check: JavaCheck
) -> None:
    layout, _ = many_entries
    proc = pipe_archive(java_check.command("stream", "--count"), layout)
    assert proc.stdout.strip() == f"entries {MANY}"


# -- (b) past 4 GiB -----------------------------------------------------------------

BIG_SIZE = FOUR_GIB + (1 << 20)
FIRST = b"first entry, before the big one\n" * 4
AFTER = ("训练记录 " * 2000).encode()  # compressible: DEFLATE past 4 GiB
LAST = b"<svg>last</svg>" * 10


def _zeros_crc(size: int) -> int:
    """CRC-32 of ``size`` zero bytes (the sparse file's content) without reading it."""
    block = memoryview(bytes(1 << 24))
    value = 0
    while size:
        n = min(size, len(block))
        value = crc32(block[:n], value)
        size -= n
    return value


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveLayout:
    path = tmp_path_factory.mktemp("zip64") / "零.bin"
    with path.open("wb") as f:
        f.truncate(BIG_SIZE)  # sparse: no disk space used
    st = path.stat()
    big = FileSource(str(path), st.st_size, _zeros_crc(BIG_SIZE), st.st_mtime_ns)
    entries = [
        Entry("方案/第一.txt", MemorySource(FIRST, compress=False), MTIME),
        Entry("方案/材料/零.bin", big, MTIME),
        Entry("方案/记录.txt", MemorySource(AFTER), MTIME),
        Entry("方案/最后.svg", ProducerSource(len(LAST), lambda: LAST, "last"), MTIME),
    ]
    return ArchiveLayout(entries)


def _window(layout: ArchiveLayout, start: int, length: int) -> bytes:
    return archive_bytes(layout, start, min(start + length, layout.total_size))


def _local(layout: ArchiveLayout, i: int) -> rawzip.LocalHeader:
    at = layout.local_header_offset(i)
    return rawzip.parse_local(_window(layout, at, 2048), 0, archive_offset=at)


def test_big_archive_geometry(big_archive: ArchiveLayout) -> None:
    layout = big_archive
    assert layout.central_offset > FOUR_GIB
    assert layout.local_header_offset(2) > FOUR_GIB
    assert (
        layout.local_header_offset(2)
        == layout.local_header_offset(1) + _local(layout, 1).length + BIG_SIZE
    )


def test_big_archive_local_headers(big_archive: ArchiveLayout) -> None:
    layout = big_archive
    first, big, after, last = (_local(layout, i) for i in range(4))
    # The first entry never carries ZIP64, nor do entries whose sizes fit.
    for header in (first, after, last):
        assert set(header.extras) == {0x5455}
        assert header.version_needed == 20
    assert (first.usize, first.csize, first.crc) == (len(FIRST), len(FIRST), crc32(FIRST))
    assert after.method == 8 and after.usize == len(AFTER) and after.csize < len(AFTER)
    # The big entry: both sizes in the local ZIP64 extra, 0xFFFFFFFF in the fields.
    assert big.version_needed == 45
    assert (big.usize, big.csize) == (0xFFFFFFFF, 0xFFFFFFFF)
    assert set(big.extras) == {ZIP64_EXTRA, 0x5455}
    assert rawzip.zip64_values(big.extras[ZIP64_EXTRA]) == [BIG_SIZE, BIG_SIZE]
    assert big.crc == _zeros_crc(BIG_SIZE)


def test_big_archive_central_directory_and_end(big_archive: ArchiveLayout) -> None:
    layout = big_archive
    cd = _window(layout, layout.central_offset, layout.central_size)
    first, big, after, last = rawzip.parse_central_directory(cd, 4)
    assert ZIP64_EXTRA not in first.extras and first.local_offset == 0
    assert first.version_made_by >> 8 == 3
    # Big entry: both sizes overflow, its offset does not -> two values.
    assert (big.usize, big.csize) == (0xFFFFFFFF, 0xFFFFFFFF)
    assert big.local_offset == layout.local_header_offset(1) < 0xFFFFFFFF
    assert rawzip.zip64_values(big.extras[ZIP64_EXTRA]) == [BIG_SIZE, BIG_SIZE]
    assert big.version_needed == 45
    # Entries after it: only the offset overflows -> one value, real sizes.
    for i, header, body in [(2, after, AFTER), (3, last, LAST)]:
        assert header.local_offset == 0xFFFFFFFF
        assert header.usize == len(body) and header.csize < 0xFFFFFFFF
        assert rawzip.zip64_values(header.extras[ZIP64_EXTRA]) == [layout.local_header_offset(i)]
        assert rawzip.central_local_offset(header) == layout.local_header_offset(i)
    tail_at = layout.central_offset + layout.central_size
    end = rawzip.parse_end(archive_bytes(layout, tail_at), tail_at)
    assert end.cd_offset == 0xFFFFFFFF
    assert (end.disk_entries, end.total_entries) == (4, 4)
    assert end.zip64 == (4, 4, layout.central_size, layout.central_offset)
    assert end.zip64_record_offset == tail_at


def test_big_archive_read_by_zipfile_through_windows(big_archive: ArchiveLayout) -> None:
    layout = big_archive
    reader = LayoutReader(layout)
    with zipfile.ZipFile(io.BufferedReader(reader, 64 * 1024)) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == layout.names
        assert [i.header_offset for i in infos] == [layout.local_header_offset(i) for i in range(4)]
        assert infos[1].file_size == infos[1].compress_size == BIG_SIZE
        assert _zeros_crc(BIG_SIZE) == infos[1].CRC
        assert zf.read("方案/第一.txt") == FIRST
        assert zf.read("方案/记录.txt") == AFTER  # local header past 4 GiB
        assert zf.read("方案/最后.svg") == LAST
        with zf.open("方案/材料/零.bin") as f:
            assert f.read(1 << 20) == bytes(1 << 20)
    # Only windows were read, never the 4 GiB body in full.
    assert sum(end - start for start, end in reader.windows) < 8 << 20


@pytest.mark.slow
def test_big_archive_read_by_java_from_a_pipe(
    big_archive: ArchiveLayout, java_check: JavaCheck
) -> None:
    proc = pipe_archive(java_check.command("stream"), big_archive)
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert rows == [
        ["方案/第一.txt", str(len(FIRST)), f"{crc32(FIRST):08x}"],
        ["方案/材料/零.bin", str(BIG_SIZE), f"{_zeros_crc(BIG_SIZE):08x}"],
        ["方案/记录.txt", str(len(AFTER)), f"{crc32(AFTER):08x}"],
        ["方案/最后.svg", str(len(LAST)), f"{crc32(LAST):08x}"],
        ["entries 4"],
    ]
