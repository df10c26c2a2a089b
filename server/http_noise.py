"""Malformed HTTP is the client's fault: one short INFO line, no ERROR traceback, no flood.

aiohttp answers a request it cannot parse (a URL over 8 KiB, 1,000 headers,
TLS bytes on the plain HTTP port) with 400 itself, but logs it on
``aiohttp.server`` as "Error handling request" at ERROR with a traceback.
That reads as a server fault and lets any client write tracebacks into the
log at will. This filter rewrites such records (their exception is an
``HttpProcessingError``) into one INFO line naming the reason, at most one
a second, with the count of the ones it left out; every other record of that
logger passes unchanged.
"""

from __future__ import annotations

import logging
import time

from aiohttp.http_exceptions import HttpProcessingError

EVERY = 1.0  # seconds between two bad-request lines


class BadRequestFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._last = -1e18
        self.suppressed = 0
        self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        self.seen += 1
        now = time.monotonic()
        if now - self._last < EVERY:
            self.suppressed += 1
            return False
        self._last = now
        more = f" ({self.suppressed} more since the last line)" if self.suppressed else ""
        self.suppressed = 0
        reason = " ".join(str(exc.message).split())[:200]
        record.msg = "malformed request answered with %d: %s%s"
        record.args = (exc.code, reason, more)
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info = record.exc_text = None
        return True


def install() -> BadRequestFilter:
    """Attach the filter to aiohttp's server logger once per process; return it."""
    logger = logging.getLogger("aiohttp.server")
    for f in logger.filters:
        if isinstance(f, BadRequestFilter):
            return f
    f = BadRequestFilter()
    logger.addFilter(f)
    return f
