"""Step one of a download: what to answer, decided from the request headers alone.

Like aiohttp's ``FileResponse``, every decision about a response (304, 206,
416 or a plain 200, and which byte window) is taken before anything is sent,
by a pure function of the request's method and headers and the archive's
validators and size. No server is needed to test it, and once it has
decided, nothing that follows can turn into a second response.

Rules (RFC 9110, sections 13 and 14):

- ``If-None-Match`` (weak comparison) wins over ``If-Modified-Since``; a
  match is 304 for GET and HEAD.
- ``If-Range`` is honoured with the strong ETag only. A date cannot prove the
  bytes are the same: a library file replaced by an older-dated one keeps
  Last-Modified, and a resume spliced onto the old bytes would be a corrupt
  ZIP. Anything else gets the whole archive with 200.
- One byte range; malformed, multi-range or other-unit headers are ignored
  (200 with the whole body, which every client handles); a valid range with
  no byte inside the archive is 416 with ``Content-Range: bytes */size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .http_headers import ByteRange, Unsatisfiable, etag_matches, parse_http_date, parse_range


@dataclass(frozen=True, slots=True)
class Decision:
    """The status to answer, the byte window to send and the headers that go with them."""

    status: int  # 200, 206, 304 or 416
    window: ByteRange
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def has_body(self) -> bool:
        return self.status in (200, 206)


def not_modified(headers: Mapping[str, str], etag: str, last_modified: float) -> bool:
    inm = headers.get("If-None-Match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = headers.get("If-Modified-Since")
    if ims is not None:
        ts = parse_http_date(ims)
        return ts is not None and int(last_modified) <= ts
    return False


def range_applies(headers: Mapping[str, str], etag: str) -> bool:
    """If-Range: honour Range only while the client's copy is still this archive."""
    if_range = headers.get("If-Range")
    return if_range is None or if_range.strip() == etag


def decide(headers: Mapping[str, str], *, etag: str, last_modified: float, size: int) -> Decision:
    """The answer to a GET or HEAD of a representation with these validators and size."""
    whole = ByteRange(0, size)
    if not_modified(headers, etag, last_modified):
        return Decision(304, ByteRange(0, 0))
    if not range_applies(headers, etag):
        return Decision(200, whole)
    try:
        wanted = parse_range(headers.get("Range"), size)
    except Unsatisfiable:
        return Decision(416, ByteRange(0, 0), {"Content-Range": f"bytes */{size}"})
    if wanted is None:
        return Decision(200, whole)
    return Decision(206, wanted, {"Content-Range": f"bytes {wanted.start}-{wanted.end - 1}/{size}"})
