"""A small, independent parser of ZIP records for the archive tests.

The tests must check header fields that no ZIP reader exposes (general-purpose
flags, "version made by", the extra blocks of the *local* header, the end
records), so they read raw bytes here. Deliberately written from APPNOTE 6.3
with plain ``struct.unpack_from`` format strings, not with the structs of
``generators.archive.records``: a mistake shared by writer and checker would
otherwise go unnoticed.

Every parser takes a buffer and the offset of the record inside it, so the
same code reads a whole archive in memory or a window fetched from a layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
EOCD_SIG = b"PK\x05\x06"
ZIP64_EOCD_SIG = b"PK\x06\x06"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"
DATA_DESCRIPTOR_SIG = b"PK\x07\x08"

LOCAL_FIXED = 30
CENTRAL_FIXED = 46
EOCD_LEN = 22
ZIP64_EOCD_LEN = 56
ZIP64_LOCATOR_LEN = 20


def parse_extras(blob: bytes) -> dict[int, bytes]:
    """Extra blocks by header id; fails on a truncated block or a repeated id."""
    out: dict[int, bytes] = {}
    pos = 0
    while pos < len(blob):
        assert pos + 4 <= len(blob), f"truncated extra header at {pos}"
        header_id, size = struct.unpack_from("<HH", blob, pos)
        pos += 4
        assert pos + size <= len(blob), f"extra 0x{header_id:04x} overruns its field"
        assert header_id not in out, f"extra 0x{header_id:04x} appears twice"
        out[header_id] = blob[pos : pos + size]
        pos += size
    return out


@dataclass(frozen=True)
class LocalHeader:
    offset: int  # where the header starts in the archive
    version_needed: int
    flags: int
    method: int
    dos_time: int
    dos_date: int
    crc: int
    csize: int
    usize: int
    name: bytes
    extras: dict[int, bytes]
    length: int  # fixed part + name + extra

    @property
    def body_offset(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True)
class CentralHeader:
    version_made_by: int
    version_needed: int
    flags: int
    method: int
    dos_time: int
    dos_date: int
    crc: int
    csize: int
    usize: int
    name: bytes
    extras: dict[int, bytes]
    disk_start: int
    internal_attr: int
    external_attr: int
    local_offset: int
    length: int


@dataclass(frozen=True)
class EndRecords:
    """The end of central directory record and, when present, its ZIP64 pair."""

    disk_entries: int
    total_entries: int
    cd_size: int
    cd_offset: int
    comment_len: int
    zip64: tuple[int, int, int, int] | None  # entries on disk, total, cd size, cd offset
    zip64_record_offset: int | None  # as given by the locator
    eocd_offset: int


def parse_local(buf: bytes, pos: int, archive_offset: int | None = None) -> LocalHeader:
    """The local header at ``buf[pos:]`` (``archive_offset`` defaults to ``pos``)."""
    assert buf[pos : pos + 4] == LOCAL_SIG, f"no local header signature at {pos}"
    (ver, flags, method, dtime, ddate, crc, csize, usize, nlen, xlen) = struct.unpack_from(
        "<HHHHHIIIHH", buf, pos + 4
    )
    name_at = pos + LOCAL_FIXED
    name = bytes(buf[name_at : name_at + nlen])
    extras = parse_extras(bytes(buf[name_at + nlen : name_at + nlen + xlen]))
    return LocalHeader(
        offset=pos if archive_offset is None else archive_offset,
        version_needed=ver,
        flags=flags,
        method=method,
        dos_time=dtime,
        dos_date=ddate,
        crc=crc,
        csize=csize,
        usize=usize,
        name=name,
        extras=extras,
        length=LOCAL_FIXED + nlen + xlen,
    )


def parse_central(buf: bytes, pos: int) -> CentralHeader:
    """The central directory header at ``buf[pos:]``."""
    assert buf[pos : pos + 4] == CENTRAL_SIG, f"no central header signature at {pos}"
    fields = struct.unpack_from("<HHHHHHIIIHHHHHII", buf, pos + 4)
    (made_by, ver, flags, method, dtime, ddate, crc, csize, usize, nlen, xlen, clen) = fields[:12]
    disk, iattr, eattr, offset = fields[12:]
    name_at = pos + CENTRAL_FIXED
    return CentralHeader(
        version_made_by=made_by,
        version_needed=ver,
        flags=flags,
        method=method,
        dos_time=dtime,
        dos_date=ddate,
        crc=crc,
        csize=csize,
        usize=usize,
        name=bytes(buf[name_at : name_at + nlen]),
        extras=parse_extras(bytes(buf[name_at + nlen : name_at + nlen + xlen])),
        disk_start=disk,
        internal_attr=iattr,
        external_attr=eattr,
        local_offset=offset,
        length=CENTRAL_FIXED + nlen + xlen + clen,
    )


def parse_central_directory(buf: bytes, count: int, pos: int = 0) -> list[CentralHeader]:
    """``count`` consecutive central headers from ``buf[pos:]``; the buffer must end there."""
    out = []
    for _ in range(count):
        header = parse_central(buf, pos)
        out.append(header)
        pos += header.length
    assert pos == len(buf), f"central directory has {len(buf) - pos} stray bytes"
    return out


def parse_end(tail: bytes, tail_offset: int) -> EndRecords:
    """The end records from the last bytes of an archive (no archive comment).

    ``tail`` holds at least the last 98 bytes (or the whole archive when
    shorter); ``tail_offset`` is the archive offset of ``tail[0]``.
    """
    eocd_at = len(tail) - EOCD_LEN
    assert tail[eocd_at : eocd_at + 4] == EOCD_SIG, "archive does not end with an EOCD"
    disk, cd_disk, n_disk, n_total, cd_size, cd_offset, clen = struct.unpack_from(
        "<HHHHIIH", tail, eocd_at + 4
    )
    assert (disk, cd_disk) == (0, 0)
    zip64 = None
    z64_offset = None
    loc_at = eocd_at - ZIP64_LOCATOR_LEN
    if loc_at >= 0 and tail[loc_at : loc_at + 4] == ZIP64_LOCATOR_SIG:
        loc_disk, z64_offset, disks = struct.unpack_from("<IQI", tail, loc_at + 4)
        assert (loc_disk, disks) == (0, 1)
        rec_at = z64_offset - tail_offset
        assert rec_at == loc_at - ZIP64_EOCD_LEN, "ZIP64 end record not right before locator"
        assert tail[rec_at : rec_at + 4] == ZIP64_EOCD_SIG
        (rest, _made_by, needed, disk64, cd_disk64, n_disk64, n_total64, size64, off64) = (
            struct.unpack_from("<QHHIIQQQQ", tail, rec_at + 4)
        )
        assert rest == ZIP64_EOCD_LEN - 12
        assert needed >= 45
        assert (disk64, cd_disk64) == (0, 0)
        zip64 = (n_disk64, n_total64, size64, off64)
    return EndRecords(
        disk_entries=n_disk,
        total_entries=n_total,
        cd_size=cd_size,
        cd_offset=cd_offset,
        comment_len=clen,
        zip64=zip64,
        zip64_record_offset=z64_offset,
        eocd_offset=tail_offset + eocd_at,
    )


def zip64_values(extra: bytes) -> list[int]:
    """The 8-byte values of a ZIP64 extended-information block, in order."""
    assert len(extra) % 8 == 0, f"ZIP64 extra of {len(extra)} bytes"
    return list(struct.unpack(f"<{len(extra) // 8}Q", extra))


def central_local_offset(header: CentralHeader) -> int:
    """The local header offset of a central header, read from its ZIP64 extra if needed."""
    if header.local_offset != 0xFFFFFFFF:
        return header.local_offset
    values = zip64_values(header.extras[0x0001])
    skip = (header.usize == 0xFFFFFFFF) + (header.csize == 0xFFFFFFFF)
    return values[skip]


def extended_timestamp(extra: bytes) -> int:
    """The modification time of an Info-ZIP 0x5455 block (flags bit 0 must be set)."""
    assert len(extra) == 5, f"UT extra of {len(extra)} bytes (mtime only expected)"
    flags, mtime = struct.unpack("<BI", extra)
    assert flags & 1, "UT extra without a modification time"
    return mtime


@dataclass(frozen=True)
class Walk:
    """Every record of an in-memory archive, found by walking it front to back."""

    locals: list[LocalHeader]
    centrals: list[CentralHeader]
    end: EndRecords


def walk(data: bytes) -> Walk:
    """Parse a whole archive sequentially, as a streaming reader would, then its directory.

    Checks that local records are contiguous (no data descriptors, no gaps)
    and that the central directory starts exactly where the last body ends.
    """
    tail_len = EOCD_LEN + ZIP64_LOCATOR_LEN + ZIP64_EOCD_LEN
    end = parse_end(data[-tail_len:], max(0, len(data) - tail_len))
    count = end.zip64[1] if end.zip64 else end.total_entries
    cd_offset = end.zip64[3] if end.zip64 else end.cd_offset
    cd_size = end.zip64[2] if end.zip64 else end.cd_size
    centrals = parse_central_directory(data[cd_offset : cd_offset + cd_size], count)
    locals_: list[LocalHeader] = []
    pos = 0
    for _ in centrals:
        header = parse_local(data, pos)
        size = header.csize
        if size == 0xFFFFFFFF:
            size = zip64_values(header.extras[0x0001])[1]
        locals_.append(header)
        pos = header.body_offset + size
    assert pos == cd_offset, f"bodies end at {pos}, central directory starts at {cd_offset}"
    assert len(locals_) == len(centrals)
    for central, local in zip(centrals, locals_, strict=True):
        assert central.name == local.name
        assert central_local_offset(central) == local.offset
    return Walk(locals_, centrals, end)
