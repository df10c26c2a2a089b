"""The server's errors and the one middleware that turns any error into a response.

Every error a client can cause derives from ``generators.errors.PlanstreamError``
and carries its status and code: an unknown or tampered link (404), an
expired one (410), an unsatisfiable range (416), no slot (503 + Retry-After),
invalid input (400, raised by ``generators.request``). ``error_middleware``
renders all of them, and aiohttp's own 404/405/413, in the JSON shape
``{"error": {"code", "message", "field"}}``; a browser asking for a page gets
an HTML page instead (the page module may install its own renderer under
``HTML_ERRORS``). Anything else is a bug: logged with a traceback and a
request id, answered 500 with that id, never disguised as a 4xx.

Errors are only rendered before a response is prepared: once a download's
headers are on the wire the streaming step records an outcome and cuts the
connection instead (see ``server.download``).
"""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from generators.errors import PlanstreamError

log = logging.getLogger("planstream.server")

HtmlErrorRenderer = Callable[[web.Request, PlanstreamError], Awaitable[web.StreamResponse]]
HTML_ERRORS: web.AppKey[HtmlErrorRenderer] = web.AppKey("planstream_html_errors")

_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    414: "uri_too_long",
    431: "headers_too_large",
}


class LinkNotFound(PlanstreamError):
    """Not a link of ours: malformed, tampered with, re-spelled or sealed under another key."""

    status = 404
    code = "not_found"


class LinkExpired(PlanstreamError):
    status = 410
    code = "expired"


class RangeNotSatisfiable(PlanstreamError):
    status = 416
    code = "range_not_satisfiable"


class Busy(PlanstreamError):
    """No capacity within the wait allowed (slots, plan creation): 503 with Retry-After."""

    status = 503
    code = "busy"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


def wants_html(request: web.Request) -> bool:
    """A browser page request (not the API): answer errors with a page."""
    if request.path.startswith("/api/") or request.path in ("/metrics", "/healthz"):
        return False
    return "text/html" in request.headers.get("Accept", "")


def json_error(exc: PlanstreamError, request_id: str | None = None) -> web.Response:
    headers = dict(exc.headers)
    if request_id:
        headers["X-Request-Id"] = request_id
    return web.json_response(exc.as_json(), status=exc.status, headers=headers)


async def _render(
    request: web.Request, exc: PlanstreamError, request_id: str
) -> web.StreamResponse:
    if wants_html(request):
        renderer = request.app.get(HTML_ERRORS)
        if renderer is not None:
            response = await renderer(request, exc)
            response.headers["X-Request-Id"] = request_id
            return response
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{exc.status}</title></head><body><h1>{exc.status}</h1>"
            f"<p>{html.escape(exc.message)}</p></body></html>"
        )
        headers = dict(exc.headers)
        headers["X-Request-Id"] = request_id
        return web.Response(text=page, status=exc.status, content_type="text/html", headers=headers)
    return json_error(exc, request_id)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    request_id = secrets.token_hex(8)
    try:
        return await handler(request)
    except PlanstreamError as exc:
        return await _render(request, exc, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like are answers, not errors
        err = PlanstreamError(
            exc.reason,
            code=_STATUS_CODES.get(exc.status, "http_error"),
            status=exc.status,
            headers={k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")},
        )
        return await _render(request, err, request_id)
    except Exception:
        log.error(
            "internal error answering %s %s (request id %s)",
            request.method,
            request.path,
            request_id,
            exc_info=True,
            extra={"fields": {"event": "internal_error", "request_id": request_id}},
        )
        err = PlanstreamError(
            f"internal error (request id {request_id})", code="internal", status=500
        )
        return await _render(request, err, request_id)
