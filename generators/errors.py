"""The one error family of planstream: every error a client can cause says its HTTP status.

Following h11's ``error_status_hint``, an error raised anywhere (validating a
request in ``generators``, opening a link, waiting for a slot, reading a
Range header in ``server``) carries the status and a short stable ``code``
with it, so a single middleware can turn any of them into the same JSON shape
``{"error": {"code", "message", "field"}}`` (or an HTML page for a browser)
without a handler catching broad exceptions. Anything that is not a
``PlanstreamError`` is a bug: a 500 with a log line, never a 4xx in disguise.

It lives in ``generators`` because validation errors are raised there and
``generators`` never imports ``server``; the server's errors derive from it.
"""

from __future__ import annotations

from collections.abc import Mapping


class PlanstreamError(Exception):
    """An error with an HTTP status, a stable code, a message and maybe a field.

    ``headers`` are added to the error response (``Retry-After`` on a 503,
    ``Content-Range`` on a 416).
    """

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})

    def as_json(self) -> dict[str, dict[str, str | None]]:
        """The API's error body."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}
