"""Sources under stress: files that change behind the index, producers that lie or cost.

A changed library file must abort the download before any byte of its entry
(local header or body) is produced, whatever window is asked for, and a
``FileSlice`` read after the file was truncated must raise rather than send
short. A producer that makes the wrong number of bytes must raise; producers
run only when a window needs them, and a CRC learnt for the central
directory is kept.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from generators.archive import (
    ArchiveLayout,
    Entry,
    FileSlice,
    FileSource,
    MemorySource,
    Piece,
    ProducerSizeMismatch,
    ProducerSource,
    SourceChanged,
    crc32,
    read_slice,
    resolve,
)

from . import rawzip
from .support import LayoutReader, archive_bytes

MTIME = 1788739200
MATERIAL = bytes(range(256)) * 1024  # 256 KiB


def _file_layout(tmp_path: Path) -> tuple[ArchiveLayout, Path]:
    path = tmp_path / "材料.bin"
    path.write_bytes(MATERIAL)
    entries = [
        Entry("a.txt", MemorySource(b"a" * 100, compress=False), MTIME),
        Entry("材料/材料.bin", FileSource.index(str(path)), MTIME),
        Entry("z.txt", MemorySource(b"z" * 100, compress=False), MTIME),
    ]
    return ArchiveLayout(entries), path


def _grow(path: Path) -> None:
    with path.open("ab") as f:
        f.write(b"!")


def _shrink(path: Path) -> None:
    os.truncate(path, len(MATERIAL) - 1)


def _touch(path: Path) -> None:
    st = path.stat()  # same size, later mtime: an edited copy of the same length
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _shrink_keep_mtime(path: Path) -> None:
    st = path.stat()
    _shrink(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _delete(path: Path) -> None:
    path.unlink()


def _edit_same_size_keep_mtime(path: Path) -> None:
    """Other bytes, same length, mtime put back: only the ctime tells."""
    st = path.stat()
    with path.open("r+b") as f:
        f.write(b"\xff" * 16)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _replace_by_rename(path: Path) -> None:
    """An atomic replacement with the same size and mtime: only the inode tells."""
    st = path.stat()
    tmp = path.with_name("new.tmp")
    tmp.write_bytes(MATERIAL[::-1])
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, path)


CHANGES: dict[str, Callable[[Path], None]] = {
    "grown": _grow,
    "shrunk": _shrink,
    "touched": _touch,
    "shrunk-same-mtime": _shrink_keep_mtime,
    "deleted": _delete,
    "same-size-mtime-restored": _edit_same_size_keep_mtime,
    "renamed-over": _replace_by_rename,
}


def _produce_until_error(pieces: object) -> tuple[int, Exception | None]:
    """Bytes produced (file slices counted by length) before the iterator raised."""
    produced = 0
    try:
        for piece in pieces:  # type: ignore[attr-defined]
            produced += piece.length if isinstance(piece, FileSlice) else len(piece)
    except (SourceChanged, ProducerSizeMismatch) as exc:
        return produced, exc
    return produced, None


@pytest.mark.parametrize("change", list(CHANGES))
def test_changed_file_raises_before_any_byte_of_its_entry(tmp_path: Path, change: str) -> None:
    layout, path = _file_layout(tmp_path)
    before = archive_bytes(layout)
    header_at = layout.local_header_offset(1)
    body_at = rawzip.parse_local(before, header_at).body_offset
    body_end = layout.local_header_offset(2)
    CHANGES[change](path)

    # A window starting at its header, one starting at its body, one inside it.
    for start, end in [(header_at, header_at + 1), (body_at, body_end), (body_at + 7, body_at + 9)]:
        with pytest.raises(SourceChanged) as info:
            next(iter(layout.pieces(start, end)))
        assert info.value.path == str(path)

    # A stream from the start gets exactly the entries before it, then the error.
    produced, error = _produce_until_error(layout.pieces())
    assert isinstance(error, SourceChanged)
    assert produced == header_at
    produced, error = _produce_until_error(layout.pieces(5, layout.total_size))
    assert isinstance(error, SourceChanged) and produced == header_at - 5

    # Windows that do not touch the entry are unaffected.
    assert archive_bytes(layout, 0, header_at) == before[:header_at]
    assert archive_bytes(layout, body_end, layout.total_size) == before[body_end:]


@pytest.mark.parametrize("change", ["same-size-mtime-restored", "renamed-over", "grown"])
def test_file_changed_while_its_body_is_sent_raises_after_its_last_byte(
    tmp_path: Path, change: str
) -> None:
    """The check after the body: the consumer sent the slice, the file changed meanwhile."""
    layout, path = _file_layout(tmp_path)
    pieces = layout.pieces()
    for piece in pieces:
        if isinstance(piece, FileSlice):
            break
    CHANGES[change](path)  # while "sending" the slice
    with pytest.raises(SourceChanged):
        next(pieces)


def test_same_size_edit_with_mtime_restored_is_caught_by_the_ctime(tmp_path: Path) -> None:
    layout, path = _file_layout(tmp_path)
    _edit_same_size_keep_mtime(path)
    with pytest.raises(SourceChanged, match="ctime"):
        list(layout.pieces())
    source = FileSource.index(str(path))
    piece = source.slice(0, 10)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))  # a ctime change only
    with pytest.raises(SourceChanged, match="ctime"):
        list(read_slice(piece))


def test_reindex_reuses_the_crc_only_while_the_identity_holds(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(MATERIAL)
    first = FileSource.index(str(path))
    assert FileSource.index(str(path), first) is first  # unchanged: no read
    _edit_same_size_keep_mtime(path)
    second = FileSource.index(str(path), first)
    assert second is not first and second.size == first.size
    assert second.crc == crc32(path.read_bytes()) != first.crc
    assert second.identity() != first.identity()  # so the ETag changes


def test_changed_size_is_named_in_the_error(tmp_path: Path) -> None:
    layout, path = _file_layout(tmp_path)
    _grow(path)
    with pytest.raises(SourceChanged, match=f"size {len(MATERIAL) + 1} != indexed {len(MATERIAL)}"):
        list(layout.pieces())


def _file_slice(layout: ArchiveLayout) -> FileSlice:
    slices = [p for p in layout.pieces() if isinstance(p, FileSlice)]
    assert len(slices) == 1
    return slices[0]


def test_file_slice_describes_the_indexed_file(tmp_path: Path) -> None:
    layout, path = _file_layout(tmp_path)
    piece = _file_slice(layout)
    st = path.stat()
    assert piece == FileSlice(
        str(path), 0, len(MATERIAL), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns
    )
    assert b"".join(read_slice(piece, chunk=1000)) == MATERIAL
    # A window inside the body gives a slice at the right file offset.
    body_at = layout.local_header_offset(2) - len(MATERIAL)
    (inner,) = layout.pieces(body_at + 1000, body_at + 3000)
    assert isinstance(inner, FileSlice) and (inner.offset, inner.length) == (1000, 2000)
    assert b"".join(read_slice(inner)) == MATERIAL[1000:3000]


@pytest.mark.parametrize("change", ["shrunk", "shrunk-same-mtime", "grown", "touched"])
def test_read_slice_raises_when_the_file_changed_after_the_slice_was_yielded(
    tmp_path: Path, change: str
) -> None:
    layout, path = _file_layout(tmp_path)
    piece = _file_slice(layout)
    CHANGES[change](path)
    with pytest.raises(SourceChanged):
        list(read_slice(piece))
    with pytest.raises(SourceChanged):
        list(resolve([piece]))


def test_read_slice_raises_when_the_file_is_truncated_mid_read(tmp_path: Path) -> None:
    layout, path = _file_layout(tmp_path)
    piece = _file_slice(layout)
    reader = read_slice(piece, chunk=64 * 1024)
    assert next(reader) == MATERIAL[: 64 * 1024]
    os.truncate(path, 100 * 1024)  # after the open-time check: only EOF can tell
    with pytest.raises(SourceChanged, match="ended early"):
        list(reader)


def test_read_slice_raises_on_a_slice_past_the_end(tmp_path: Path) -> None:
    _layout, path = _file_layout(tmp_path)
    source = FileSource.index(str(path))
    with pytest.raises(SourceChanged, match="ended early"):
        list(read_slice(source.slice(len(MATERIAL) - 10, 20)))


def test_index_records_size_crc_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(MATERIAL)
    source = FileSource.index(str(path))
    assert (source.size, source.crc, source.mtime_ns) == (
        len(MATERIAL),
        crc32(MATERIAL),
        path.stat().st_mtime_ns,
    )
    source.check()  # unchanged: no error
    path.unlink()
    with pytest.raises(SourceChanged, match="cannot stat"):
        source.check()


# -- producers ---------------------------------------------------------------------


class Counted:
    """A producer that counts its calls."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.data


@pytest.mark.parametrize("made", [99, 101, 0])
def test_producer_of_the_wrong_length_raises(made: int) -> None:
    entries = [
        Entry("a.txt", MemorySource(b"a" * 10), MTIME),
        Entry("p.svg", ProducerSource(100, lambda: b"x" * made, "p"), MTIME),
    ]
    layout = ArchiveLayout(entries)
    produced, error = _produce_until_error(layout.pieces())
    assert isinstance(error, ProducerSizeMismatch)
    assert produced == layout.local_header_offset(1)  # nothing of the entry went out
    assert f"made {made} bytes, declared 100" in str(error)
    with pytest.raises(ProducerSizeMismatch):  # the central directory needs its CRC too
        list(layout.pieces(layout.central_offset, layout.total_size))


def _producer_layout() -> tuple[ArchiveLayout, Counted, Counted, list[bytes]]:
    first, second = Counted(b"<svg>1</svg>" * 50), Counted(b"<svg>2</svg>" * 70)
    bodies = [b"m" * 300, first.data, b"n" * 200, second.data]
    entries = [
        Entry("m.txt", MemorySource(bodies[0], compress=False), MTIME),
        Entry("p1.svg", ProducerSource(len(first.data), first, "p1"), MTIME),
        Entry("n.txt", MemorySource(bodies[2], compress=False), MTIME),
        Entry("p2.svg", ProducerSource(len(second.data), second, "p2"), MTIME),
    ]
    return ArchiveLayout(entries), first, second, bodies


def test_layout_and_size_need_no_producer() -> None:
    layout, first, second, bodies = _producer_layout()
    size = layout.total_size
    layout.fingerprint()
    assert (first.calls, second.calls) == (0, 0)
    assert len(archive_bytes(layout)) == size > sum(map(len, bodies))


def test_windows_before_an_entry_never_call_its_producer() -> None:
    layout, first, second, _ = _producer_layout()
    archive_bytes(layout, 0, layout.local_header_offset(1))
    assert (first.calls, second.calls) == (0, 0)
    archive_bytes(layout, 0, layout.local_header_offset(3))
    assert (first.calls, second.calls) == (1, 0)


def test_central_directory_window_computes_crcs_once() -> None:
    layout, first, second, bodies = _producer_layout()
    central = archive_bytes(layout, layout.central_offset, layout.total_size)
    assert (first.calls, second.calls) == (1, 1)
    headers = rawzip.parse_central_directory(central[: layout.central_size], 4)
    assert [h.crc for h in headers] == [crc32(b) for b in bodies]
    # Cached: the directory again, or any part of it, renders nothing more.
    assert archive_bytes(layout, layout.central_offset, layout.total_size) == central
    archive_bytes(layout, layout.total_size - 30, layout.total_size)
    assert (first.calls, second.calls) == (1, 1)


def test_header_only_windows_render_only_for_an_unknown_crc() -> None:
    layout, first, _second, bodies = _producer_layout()
    header_at = layout.local_header_offset(1)
    body_at = layout.local_header_offset(2) - len(bodies[1])
    header = archive_bytes(layout, header_at, body_at)
    assert first.calls == 1  # the header needs the CRC: rendered once
    assert rawzip.parse_local(header, 0).crc == crc32(bodies[1])
    for _ in range(3):
        assert archive_bytes(layout, header_at, body_at) == header
        assert archive_bytes(layout, header_at + 10, header_at + 20) == header[10:20]
    assert first.calls == 1  # CRC known: header windows render nothing more
    assert archive_bytes(layout, body_at, body_at + 5) == bodies[1][:5]
    assert first.calls == 2  # a body window needs the bytes


def test_zipfile_opening_the_archive_renders_each_producer_once() -> None:
    layout, first, second, bodies = _producer_layout()
    reader = LayoutReader(layout)
    with zipfile.ZipFile(reader) as zf:
        assert (first.calls, second.calls) == (1, 1)  # the directory's CRCs
        assert zf.read("p2.svg") == bodies[3]
        assert (first.calls, second.calls) == (1, 2)  # its body, nothing else
        assert zf.testzip() is None
    assert all(end <= layout.total_size for _, end in reader.windows)


def _pieces_types(pieces: list[Piece]) -> set[type]:
    return {type(p) for p in pieces}


def test_producer_body_comes_as_buffers() -> None:
    layout, _first, _second, bodies = _producer_layout()
    at = layout.local_header_offset(2) - len(bodies[1])
    pieces = list(layout.pieces(at, layout.local_header_offset(2)))
    assert _pieces_types(pieces) <= {bytes, memoryview}
    assert b"".join(pieces) == bodies[1]
