"""HTTP header helpers: Content-Disposition (RFC 6266), dates, ranges, entity tags.

Kept apart from the routes so the rules for conditional and range requests
(RFC 9110 sections 13 and 14) are in one place and testable without a server.
"""

from __future__ import annotations

import email.utils
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from .errors import RangeNotSatisfiable

_TOKEN_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\%;]')


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266, 8187).

    aiohttp's helper does not produce ``filename*``, which is what makes a
    browser save ``张三—4周训练方案.zip`` under its real name.
    """
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    stem = _TOKEN_UNSAFE.sub("_", ascii_name).removesuffix(".zip").strip(" ._-")
    if sum(c.isalpha() for c in stem) < 2:
        # Little survives of a Chinese name: say what the file is instead.
        stem = f"training-plan-{stem}" if stem else "training-plan"
    ascii_name = stem + ".zip"
    encoded = quote(filename, safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def parse_http_date(value: str) -> float | None:
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    return dt.timestamp()


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match: weak comparison against a list of tags or ``*``."""
    header = header.strip()
    if header == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # exclusive

    def __len__(self) -> int:
        return self.end - self.start


class Unsatisfiable(RangeNotSatisfiable):
    """The Range header is valid but no byte of it exists: 416."""

    def __init__(self) -> None:
        super().__init__("no byte of the requested range exists")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One byte range from a Range header; None means "send the whole body".

    Malformed headers, other units and multi-range requests are ignored (RFC
    9110 allows a server to ignore Range): the client gets a 200 with the full
    body, which every client handles. A syntactically valid range that lies
    wholly past the end raises ``Unsatisfiable``.
    """
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header, re.IGNORECASE)
    if not m:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise Unsatisfiable()
        return ByteRange(max(0, size - n), size)
    start = int(first)
    end = size if not last else int(last) + 1
    if last and end <= start:
        return None
    if start >= size:
        raise Unsatisfiable()
    return ByteRange(start, min(end, size))
