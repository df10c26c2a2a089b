"""Entries whose bodies live in object storage: the source and its slice placeholder.

Strategy: the archive core stays sans-I/O and knows nothing of S3. An
``ObjectSource`` carries what an index of the bucket recorded (key, size,
CRC-32, ETag, last-modified) and is laid out like a file: its header needs
only the indexed CRC, and its body is handed out as an ``ObjectSlice``
placeholder. The I/O layer turns a slice into ranged reads conditioned on the
ETag, so an object replaced after indexing can never be shipped under the old
CRC: the store refuses the read (412) and the download is cut.

The ETag is part of the source's identity (and so of the archive's ETag): an
object replaced between two downloads gives the next plan a different ETag,
and a resumed download whose If-Range names the old one starts over.
"""

from __future__ import annotations

from dataclasses import dataclass

from .records import METHOD_STORED


@dataclass(frozen=True, slots=True)
class ObjectSlice:
    """Placeholder for ``length`` bytes of object ``key`` from ``offset``, if its ETag holds."""

    key: str
    etag: str  # as the store reports it, quotes included
    offset: int
    length: int
    size: int  # the whole object's indexed size


class ObjectSource:
    """An object in a bucket with its indexed size, CRC-32, ETag and mtime (nanoseconds)."""

    __slots__ = ("crc", "etag", "key", "mtime_ns", "size")
    method = METHOD_STORED

    def __init__(self, key: str, size: int, crc: int, etag: str, mtime_ns: int) -> None:
        self.key = key
        self.size = size
        self.crc = crc
        self.etag = etag
        self.mtime_ns = mtime_ns

    @property
    def compressed_size(self) -> int:
        return self.size

    def check(self) -> None:
        """Nothing to check without I/O: the ranged read is conditioned on the ETag instead."""

    def slice(self, offset: int, length: int) -> ObjectSlice:
        return ObjectSlice(self.key, self.etag, offset, length, self.size)

    def identity(self) -> bytes:
        # Key and ETag: the same bytes under another key or version are another source.
        return b"o%d:%08x:%d:" % (self.size, self.crc, self.mtime_ns) + (
            self.key + "\0" + self.etag
        ).encode("utf-8")
