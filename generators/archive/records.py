"""ZIP on-disk records, one named ``struct.Struct`` per record.

The layout needs every record's exact length before any byte is produced, so
each record here is a fixed-size struct followed by variable parts whose
lengths are known up front (name, extras). Field comments follow APPNOTE 6.3.
All integers are little-endian.
"""

from __future__ import annotations

import functools
import struct
import time

# Local file header, APPNOTE 4.3.7 (30 bytes + name + extra).
LOCAL_HEADER = struct.Struct(
    "<"
    "I"  # local file header signature 0x04034b50
    "H"  # version needed to extract
    "H"  # general purpose bit flag (bit 11: UTF-8 names; bit 3 never set)
    "H"  # compression method (0 stored, 8 deflate)
    "H"  # last mod file time (MS-DOS)
    "H"  # last mod file date (MS-DOS)
    "I"  # crc-32 of the uncompressed data
    "I"  # compressed size (0xFFFFFFFF: see ZIP64 extra)
    "I"  # uncompressed size (0xFFFFFFFF: see ZIP64 extra)
    "H"  # file name length
    "H"  # extra field length
)
LOCAL_HEADER_SIG = 0x04034B50

# Central directory file header, APPNOTE 4.3.12 (46 bytes + name + extra + comment).
CENTRAL_HEADER = struct.Struct(
    "<"
    "I"  # central file header signature 0x02014b50
    "H"  # version made by (high byte: host system, 3 = Unix; low byte: spec version)
    "H"  # version needed to extract
    "H"  # general purpose bit flag
    "H"  # compression method
    "H"  # last mod file time
    "H"  # last mod file date
    "I"  # crc-32
    "I"  # compressed size (0xFFFFFFFF: see ZIP64 extra)
    "I"  # uncompressed size (0xFFFFFFFF: see ZIP64 extra)
    "H"  # file name length
    "H"  # extra field length
    "H"  # file comment length (always 0)
    "H"  # disk number start (always 0)
    "H"  # internal file attributes (0: binary)
    "I"  # external file attributes (Unix mode << 16)
    "I"  # relative offset of local header (0xFFFFFFFF: see ZIP64 extra)
)
CENTRAL_HEADER_SIG = 0x02014B50

# End of central directory record, APPNOTE 4.3.16 (22 bytes, no comment).
END_OF_CENTRAL_DIR = struct.Struct(
    "<"
    "I"  # end of central dir signature 0x06054b50
    "H"  # number of this disk
    "H"  # disk where central directory starts
    "H"  # number of central directory records on this disk (0xFFFF: ZIP64)
    "H"  # total number of central directory records (0xFFFF: ZIP64)
    "I"  # size of central directory (0xFFFFFFFF: ZIP64)
    "I"  # offset of start of central directory (0xFFFFFFFF: ZIP64)
    "H"  # comment length
)
END_OF_CENTRAL_DIR_SIG = 0x06054B50

# ZIP64 end of central directory record, APPNOTE 4.3.14 (56 bytes, version 1).
ZIP64_END_OF_CENTRAL_DIR = struct.Struct(
    "<"
    "I"  # zip64 end of central dir signature 0x06064b50
    "Q"  # size of the rest of this record (44)
    "H"  # version made by
    "H"  # version needed to extract (45)
    "I"  # number of this disk
    "I"  # disk where central directory starts
    "Q"  # number of central directory records on this disk
    "Q"  # total number of central directory records
    "Q"  # size of central directory
    "Q"  # offset of start of central directory
)
ZIP64_END_OF_CENTRAL_DIR_SIG = 0x06064B50

# ZIP64 end of central directory locator, APPNOTE 4.3.15 (20 bytes).
ZIP64_LOCATOR = struct.Struct(
    "<"
    "I"  # zip64 end of central dir locator signature 0x07064b50
    "I"  # disk with the zip64 end of central directory record
    "Q"  # relative offset of the zip64 end of central directory record
    "I"  # total number of disks
)
ZIP64_LOCATOR_SIG = 0x07064B50

# Extra field header shared by every extra block, APPNOTE 4.5.1.
EXTRA_HEADER = struct.Struct(
    "<"
    "H"  # header id
    "H"  # size of the data that follows
)
ZIP64_EXTRA_ID = 0x0001
ZIP64_FIELD = struct.Struct("<Q")  # one 8-byte ZIP64 value (usize, csize or offset)

# Info-ZIP extended timestamp, APPNOTE 4.6.4 / Info-ZIP extrafld.txt (9 bytes).
# Carries the modification time only, in both local and central headers.
# Info-ZIP unzip 6.0 honours bit 11 (UTF-8 names) only when an extra is present.
EXTENDED_TIMESTAMP = struct.Struct(
    "<"
    "H"  # header id 0x5455 ("UT")
    "H"  # data size (5)
    "B"  # flags: bit 0 = modification time present
    "I"  # modification time, seconds since the Unix epoch, UTC
)
EXTENDED_TIMESTAMP_ID = 0x5455

ZIP32_MAX = 0xFFFFFFFF  # a 4-byte field holding this value means "see ZIP64"
ZIP32_MAX_ENTRIES = 0xFFFF

VERSION_DEFAULT = 20  # 2.0: deflate, folders
VERSION_ZIP64 = 45  # 4.5: ZIP64
VERSION_MADE_BY = (3 << 8) | 63  # Unix host, APPNOTE 6.3 (UTF-8 names)
FLAG_UTF8 = 0x0800
METHOD_STORED = 0
METHOD_DEFLATE = 8

# Range the two timestamp encodings can hold: MS-DOS dates run 1980..2107; the
# extended timestamp is read as signed 32-bit by Info-ZIP, so it stops at 2038.
DOS_EPOCH = 315532800  # 1980-01-01T00:00:00Z
DOS_MAX = 4354819198  # 2107-12-31T23:59:58Z
UT_MAX = 0x7FFFFFFF  # 2038-01-19T03:14:07Z


@functools.lru_cache(maxsize=1024)
def dos_datetime(mtime: int) -> tuple[int, int]:
    """(time, date) in MS-DOS format for a UTC Unix time, clamped to 1980..2107.

    UTC, not local time, so the same plan gives the same bytes on any server.
    Cached: every header of an entry asks, and a plan's entries share a few
    dozen times (one per lesson), so a download converts each once.
    """
    t = time.gmtime(min(max(mtime, DOS_EPOCH), DOS_MAX))
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    dos_date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    return dos_time, dos_date


def ut_mtime(mtime: int) -> int:
    """The extended-timestamp value: the mtime clamped to what readers accept."""
    return min(max(mtime, DOS_EPOCH), UT_MAX)
