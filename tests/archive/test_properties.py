"""Property tests of the whole archive: random entry sets, every rule checked on the bytes.

Hypothesis draws 0-300 entries (most bodies small, a few up to 1 MiB) from
all four kinds of source - DEFLATE and STORED memory, producers, files
written to a temporary directory - under hostile names, random mtimes and
chunk sizes, plus case-only duplicates. For each archive:

- ``pieces(0, total)`` adds up to exactly ``total_size`` bytes, and random
  windows (and windows straddling record boundaries) equal the same slice of
  the whole archive;
- ``zipfile`` reads every entry back byte-identical and ``testzip()`` finds
  nothing; the names obey every name rule;
- the raw records (parsed by ``rawzip``, not by the code under test) carry
  bit 11, no bit 3, host 3, a 0x5455 extra on every local and central header,
  matching CRCs and sizes, and no ZIP64 anywhere (nothing here is big);
- building the same input again gives the same bytes and fingerprint.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generators.archive import (
    ArchiveLayout,
    Entry,
    FileSlice,
    FileSource,
    MemorySource,
    ProducerSource,
    crc32,
)
from generators.archive.layout import DEFAULT_CHUNK

from . import rawzip
from .support import archive_bytes, assert_unique, assert_valid_path

KINDS = ("deflate", "stored", "producer", "file")
# More examples for a deeper search: ARCHIVE_EXAMPLES=1000 pytest tests/archive
EXAMPLES = int(os.environ.get("ARCHIVE_EXAMPLES", "60"))
DOS_EPOCH, UT_MAX = 315532800, 0x7FFFFFFF


@dataclass(frozen=True)
class Spec:
    """One entry as drawn; ``build`` turns it into a fresh Entry each time."""

    name: str
    kind: str
    size: int
    seed: int
    compressible: bool
    mtime: int

    def body(self) -> bytes:
        if self.compressible:
            line = f"第{self.seed}行 注意力训练 line {self.seed}\n".encode()
            return (line * (self.size // len(line) + 1))[: self.size]
        return random.Random(self.seed).randbytes(self.size)


def build(specs: list[Spec], folder: Path, chunk_size: int) -> ArchiveLayout:
    """A layout over fresh source objects; files are written (once) into ``folder``."""
    entries = []
    for i, spec in enumerate(specs):
        data = spec.body()
        if spec.kind == "file":
            path = folder / f"{i}.bin"
            if not path.exists():
                path.write_bytes(data)
            source: FileSource | MemorySource | ProducerSource = FileSource.index(str(path))
        elif spec.kind == "producer":
            source = ProducerSource(len(data), _constant(data), f"p{i}")
        else:
            source = MemorySource(data, compress=spec.kind == "deflate")
        entries.append(Entry(spec.name, source, spec.mtime))
    return ArchiveLayout(entries, chunk_size=chunk_size)


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


# -- strategies -------------------------------------------------------------------

_FRAGMENTS = [
    "张三—4周训练方案",
    "第01周",
    "第01课",
    "01_舒尔特方格.svg",
    "答案 📚.pdf",
    "😀🎯",
    "with space .txt",
    "..",
    ".",
    "",
    "con.txt",
    "COM1",
    "lpt9.pdf",
    "Nul",
    'bad:*?"<>|\\name.txt',
    "trailing. . ",
    "e\u0301t\u00e9.html",
    "ß",
    "x" * 200,
    "长" * 100,
]
_COMPONENT = st.sampled_from(_FRAGMENTS) | st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12
)
_NAME = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "", "", "/", "../", "./"]),
    st.lists(_COMPONENT, min_size=1, max_size=4),
)
_MTIME = st.integers(-(2**31), 2**34) | st.sampled_from(
    [0, DOS_EPOCH - 1, DOS_EPOCH, UT_MAX, UT_MAX + 1, 4354819198, 4354819200, 1788739200]
)


def _spec(size: st.SearchStrategy[int]) -> st.SearchStrategy[Spec]:
    return st.builds(
        Spec,
        name=_NAME,
        kind=st.sampled_from(KINDS),
        size=size,
        seed=st.integers(0, 2**16),
        compressible=st.booleans(),
        mtime=_MTIME,
    )


def _bulk(count: int, seed: int) -> list[Spec]:
    """Many plain entries from a seed: Hypothesis lists stay short, plans do not."""
    rng = random.Random(seed)
    chars = "训练方案注意力周课答案 😀📚abcXYZ-_."
    specs = []
    for i in range(count):
        parts = [rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 2))]
        parts.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 12))) + f"{i}.svg")
        size = rng.choice([0, rng.randint(0, 300), rng.randint(0, 4096)])
        mtime = rng.randint(-(2**31), 2**34)
        kind = rng.choice(KINDS)
        specs.append(
            Spec("/".join(parts), kind, size, rng.randint(0, 2**16), rng.random() < 0.5, mtime)
        )
    return specs


@st.composite
def entry_sets(draw: st.DrawFn) -> list[Spec]:
    """0-300 entries: a few drawn one by one (hostile names), the rest from a seed."""
    drawn = draw(st.lists(_spec(st.integers(0, 2048)), max_size=12))
    bulk = _bulk(
        draw(st.integers(0, 20) | st.integers(0, 285), label="bulk"), draw(st.integers(0, 2**16))
    )
    big = draw(st.lists(_spec(st.integers(64 * 1024, 1 << 20)), max_size=2))
    specs = drawn + bulk + big
    random.Random(draw(st.integers(0, 2**16))).shuffle(specs)
    # Duplicates differing only in case (and in content), anywhere in the order.
    if specs:
        dups = draw(st.lists(st.sampled_from(specs), max_size=5))
        for dup in dups:
            at = draw(st.integers(0, len(specs)))
            specs.insert(at, Spec(dup.name.swapcase(), dup.kind, 17, dup.seed + 1, False, 0))
    return specs[:300]


# -- the property ----------------------------------------------------------------


def _piece_len(piece: object) -> int:
    return piece.length if isinstance(piece, FileSlice) else len(piece)  # type: ignore[arg-type]


def _windows(data: st.DataObject, layout: ArchiveLayout) -> list[tuple[int, int]]:
    total = layout.total_size
    windows = [(0, total), (0, 0), (total, total)]
    for _ in range(6):
        start = data.draw(st.integers(0, total), label="start")
        windows.append((start, data.draw(st.integers(start, total), label="end")))
    # Windows straddling record boundaries: a header's first byte, a body's first byte.
    n = len(layout)
    for _ in range(min(n, 4)):
        i = data.draw(st.integers(0, n - 1), label="entry")
        off = layout.local_header_offset(i)
        windows += [(max(0, off - 1), min(total, off + 3)), (off, min(total, off + 31))]
    windows.append((layout.central_offset, total))
    windows.append((max(0, layout.central_offset - 5), min(total, layout.central_offset + 50)))
    return windows


def _check_names(layout: ArchiveLayout) -> None:
    for name in layout.names:
        assert_valid_path(name)
    assert_unique(layout.names)


def _check_raw_records(data: bytes, layout: ArchiveLayout, bodies: list[bytes]) -> None:
    walked = rawzip.walk(data)
    assert len(walked.locals) == len(bodies)
    for i, (local, central) in enumerate(zip(walked.locals, walked.centrals, strict=True)):
        entry = layout.entries[i]
        expected_crc = crc32(bodies[i])
        assert local.flags == central.flags == 0x0800  # bit 11 set, bit 3 (descriptor) clear
        assert central.version_made_by >> 8 == 3  # Unix
        assert local.name == central.name == layout.names[i].encode("utf-8")
        assert local.crc == central.crc == expected_crc
        assert local.usize == central.usize == len(bodies[i])
        assert local.csize == central.csize == entry.source.compressed_size
        assert local.method == central.method == entry.source.method
        assert (local.dos_time, local.dos_date) == (central.dos_time, central.dos_date)
        clamped = min(max(entry.mtime, DOS_EPOCH), UT_MAX)
        assert set(local.extras) == set(central.extras) == {0x5455}  # and never ZIP64
        assert rawzip.extended_timestamp(local.extras[0x5455]) == clamped
        assert rawzip.extended_timestamp(central.extras[0x5455]) == clamped
        assert central.external_attr >> 16 == 0o100644
        body = data[local.body_offset : local.body_offset + local.csize]
        if local.method == 8:
            assert zlib.decompress(body, -15) == bodies[i]
        else:
            assert local.method == 0 and body == bodies[i]
        if i + 1 < len(bodies):  # no data descriptor between body and next header
            assert data[local.body_offset + local.csize :][:4] == rawzip.LOCAL_SIG
    end = walked.end
    assert end.zip64 is None
    assert end.total_entries == end.disk_entries == len(bodies)
    assert end.cd_offset == layout.central_offset and end.cd_size == layout.central_size
    assert end.comment_len == 0 and end.eocd_offset + 22 == len(data)


def _check_zipfile(data: bytes, layout: ArchiveLayout, bodies: list[bytes]) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
        assert [info.filename for info in infos] == layout.names
        for info, body, entry in zip(infos, bodies, layout.entries, strict=True):
            assert zf.read(info) == body
            assert info.flag_bits & 0x0800 and not info.flag_bits & 0x0008
            assert info.create_system == 3
            assert info.compress_type == entry.source.method
            clamped = min(max(entry.mtime, DOS_EPOCH), 4354819198)
            assert info.date_time == _dos_rounded(clamped)


def _dos_rounded(mtime: int) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(mtime)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec // 2 * 2)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    specs=entry_sets(),
    chunk_size=st.sampled_from([7, 4096, DEFAULT_CHUNK]),
    data=st.data(),
)
def test_any_entry_set_makes_a_valid_deterministic_archive(
    specs: list[Spec],
    chunk_size: int,
    data: st.DataObject,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    layout = build(specs, folder, chunk_size)
    bodies = [spec.body() for spec in specs]
    total = layout.total_size

    # The whole archive, piece by piece: exact length, no empty or oversized buffer.
    pieces = list(layout.pieces())
    assert sum(_piece_len(p) for p in pieces) == total
    for piece in pieces:
        if not isinstance(piece, FileSlice):
            assert 0 < len(piece) <= chunk_size
    whole = archive_bytes(layout)
    assert len(whole) == total

    for start, end in _windows(data, layout):
        assert archive_bytes(layout, start, end) == whole[start:end], (start, end)

    _check_names(layout)
    _check_raw_records(whole, layout, bodies)
    _check_zipfile(whole, layout, bodies)

    # Same input, new source objects: same bytes, same fingerprint.
    again = build(specs, folder, DEFAULT_CHUNK)
    assert again.total_size == total
    assert again.fingerprint() == layout.fingerprint()
    assert archive_bytes(again) == whole


def test_empty_archive_is_a_bare_end_record() -> None:
    layout = ArchiveLayout([])
    data = archive_bytes(layout)
    assert data == b"PK\x05\x06" + bytes(18)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == []


def test_windows_outside_the_archive_are_refused() -> None:
    layout = ArchiveLayout([Entry("a.txt", MemorySource(b"abc"), 0)])
    for start, end in [(-1, 3), (0, layout.total_size + 1), (5, 4)]:
        with pytest.raises(ValueError):
            list(layout.pieces(start, end))


def test_fingerprint_changes_with_any_byte_deciding_input() -> None:
    def fp(*entries: Entry) -> str:
        return ArchiveLayout(entries).fingerprint()

    base = Entry("a.txt", MemorySource(b"hello"), 1_700_000_000)
    variants = [
        Entry("b.txt", MemorySource(b"hello"), 1_700_000_000),
        Entry("a.txt", MemorySource(b"hellO"), 1_700_000_000),
        Entry("a.txt", MemorySource(b"hello"), 1_700_000_002),
        Entry("a.txt", MemorySource(b"hello"), 1_700_000_000, mode=0o600),
        Entry("a.txt", ProducerSource(5, lambda: b"hello", "k"), 1_700_000_000),
    ]
    prints = {fp(base)} | {fp(v) for v in variants}
    assert len(prints) == 1 + len(variants)
    assert fp(base, base) != fp(base)
    assert len({fp(*order) for order in itertools.permutations([base, variants[0]])}) == 2


def test_equal_fingerprints_mean_equal_bytes_across_compression_levels() -> None:
    text = b"".join(f"<p>注意广度练习 {i}</p>".encode() for i in range(500))
    fast = ArchiveLayout([Entry("a.html", MemorySource(text, level=1), 0)])
    best = ArchiveLayout([Entry("a.html", MemorySource(text, level=9), 0)])
    assert archive_bytes(fast) != archive_bytes(best)
    assert fast.fingerprint() != best.fingerprint()
    same = ArchiveLayout([Entry("a.html", MemorySource(text, level=9), 0)])
    assert same.fingerprint() == best.fingerprint()
