"""CRC-32 (the ZIP polynomial) from the fastest implementation installed.

Library files are CRC'd once at indexing and every generated file once as it
is sent, so CRC speed bounds both start-up and throughput. Measured on this
project's 2-core machine over 64 MiB (``bench/archive_speed.py`` repeats it):
stdlib zlib 2.3 GB/s, zlib-ng 18.7 GB/s, ISA-L 24.5 GB/s. zlib-ng is a runtime
dependency; ISA-L (``isal``) is used when present; stdlib zlib is the fallback.
All three compute the same standard CRC-32 and accept a running value.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

CrcFunc = Callable[[Any, int], int]


def _pick() -> tuple[str, CrcFunc]:
    try:
        from isal import isal_zlib

        return "isal", isal_zlib.crc32
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng

        return "zlib-ng", zlib_ng.crc32
    except ImportError:
        return "zlib", zlib.crc32


IMPLEMENTATION, _crc32 = _pick()

CHUNK = 1 << 20  # file reads for CRC: 1 MiB keeps memory flat and the loop cheap


def crc32(data: Any, value: int = 0) -> int:
    """CRC-32 of a bytes-like object, continuing from ``value``."""
    return _crc32(data, value)


def crc32_file(path: str, size: int | None = None) -> int:
    """CRC-32 of a file's first ``size`` bytes (all of it when None), read in chunks."""
    value = 0
    remaining = size
    with open(path, "rb") as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while remaining is None or remaining > 0:
            want = CHUNK if remaining is None else min(CHUNK, remaining)
            n = f.readinto(view[:want])
            if not n:
                break
            value = _crc32(view[:n], value)
            if remaining is not None:
                remaining -= n
    return value
