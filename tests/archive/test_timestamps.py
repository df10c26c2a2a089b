"""Timestamps: MS-DOS date/time in UTC, clamped to 1980..2107; extended timestamp to 2038.

Expected values are written out by hand from the MS-DOS bit layout (hour
<< 11 | minute << 5 | second / 2; year - 1980 << 9 | month << 5 | day), so
the test does not share a formula with the code. The archive bytes must not
depend on the server's time zone: the same layout built under three TZ
settings in subprocesses must give identical bytes.
"""

from __future__ import annotations

import calendar
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from generators.archive import ArchiveLayout, Entry, MemorySource
from generators.archive.records import dos_datetime, ut_mtime

from . import rawzip
from .support import archive_bytes


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


@pytest.mark.parametrize(
    ("mtime", "dos_time", "dos_date"),
    [
        # 2026-09-07 13:07:09 UTC: seconds are stored halved (9 -> 4).
        (utc(2026, 9, 7, 13, 7, 9), (13 << 11) | (7 << 5) | 4, (46 << 9) | (9 << 5) | 7),
        # The first representable instant.
        (utc(1980, 1, 1, 0, 0, 0), 0, (0 << 9) | (1 << 5) | 1),
        # Leap day, last second of the day.
        (utc(2024, 2, 29, 23, 59, 59), (23 << 11) | (59 << 5) | 29, (44 << 9) | (2 << 5) | 29),
        # Before 1980: clamped to 1980-01-01 00:00:00.
        (utc(1979, 12, 31, 23, 59, 59), 0, (1 << 5) | 1),
        (0, 0, (1 << 5) | 1),
        (-(2**31), 0, (1 << 5) | 1),
        # After 2107: clamped to 2107-12-31 23:59:58.
        (utc(2107, 12, 31, 23, 59, 59), (23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31),
        (utc(2108, 1, 1, 0, 0, 0), (23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31),
        (2**40, (23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31),
    ],
)
def test_dos_datetime_is_utc_and_clamped(mtime: int, dos_time: int, dos_date: int) -> None:
    assert dos_datetime(mtime) == (dos_time, dos_date)


@pytest.mark.parametrize(
    ("mtime", "stored"),
    [
        (utc(2026, 9, 7, 0, 0, 0), utc(2026, 9, 7, 0, 0, 0)),
        (0x7FFFFFFF, 0x7FFFFFFF),  # 2038-01-19 03:14:07, the last signed 32-bit second
        (0x80000000, 0x7FFFFFFF),
        (utc(2107, 6, 1, 0, 0, 0), 0x7FFFFFFF),
        (2**40, 0x7FFFFFFF),
        (utc(1979, 1, 1, 0, 0, 0), utc(1980, 1, 1, 0, 0, 0)),  # agrees with the DOS clamp
        (-5, utc(1980, 1, 1, 0, 0, 0)),
    ],
)
def test_extended_timestamp_is_clamped_at_2038(mtime: int, stored: int) -> None:
    assert ut_mtime(mtime) == stored
    layout = ArchiveLayout([Entry("a.txt", MemorySource(b"a"), mtime)])
    walked = rawzip.walk(archive_bytes(layout))
    assert rawzip.extended_timestamp(walked.locals[0].extras[0x5455]) == stored
    assert rawzip.extended_timestamp(walked.centrals[0].extras[0x5455]) == stored


def test_zipfile_sees_the_utc_wall_clock() -> None:
    mtime = utc(2026, 9, 7, 13, 7, 9)
    layout = ArchiveLayout([Entry("a.txt", MemorySource(b"a"), mtime)])
    with zipfile.ZipFile(io.BytesIO(archive_bytes(layout))) as zf:
        assert zf.getinfo("a.txt").date_time == (2026, 9, 7, 13, 7, 8)


_IN_ZONE = """
import sys, time
from generators.archive import ArchiveLayout, Entry, MemorySource
mtime = int(sys.argv[1])
layout = ArchiveLayout([Entry("a.txt", MemorySource(b"a"), mtime)])
sys.stdout.write(time.strftime("%H", time.localtime(mtime)) + " ")
sys.stdout.write(b"".join(layout.pieces()).hex())
"""


def test_bytes_do_not_depend_on_the_time_zone() -> None:
    mtime = utc(2026, 9, 7, 13, 7, 9)
    expected = archive_bytes(ArchiveLayout([Entry("a.txt", MemorySource(b"a"), mtime)])).hex()
    hours = set()
    for zone in ["UTC", "Asia/Shanghai", "America/Los_Angeles"]:
        proc = subprocess.run(
            [sys.executable, "-c", _IN_ZONE, str(mtime)],
            capture_output=True,
            text=True,
            env={**os.environ, "TZ": zone},
            cwd=Path(__file__).resolve().parents[2],
            check=True,
        )
        hour, hexed = proc.stdout.split()
        hours.add(hour)
        assert hexed == expected, zone
    assert hours == {"13", "21", "06"}  # the zones really differed
