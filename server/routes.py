"""HTTP routes: create a plan link, download it (whole, ranged, conditional), health, metrics.

All decisions about a response (404/410, 304, 206/416, 503) are taken before
``prepare()``; after it, failures can only cut the connection (see
``_abort``), because an HTTPException raised then would write a second
response into the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import socket
import struct
import time
from datetime import UTC, datetime

from aiohttp import web

from generators.entries import PlanArchive
from generators.request import PlanRequest, ValidationError

from .admission import QueueFull
from .app import STATE, State
from .http_headers import (
    ByteRange,
    Unsatisfiable,
    content_disposition,
    etag_matches,
    http_date,
    parse_http_date,
    parse_range,
)
from .links import TokenExpired, TokenInvalid
from .writer import BodyWriter, DownloadError

log = logging.getLogger("planstream.download")
routes = web.RouteTableDef()


def _error(
    status: int, code: str, message: str, field: str | None = None, **headers: str
) -> web.Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return web.json_response(body, status=status, headers=headers or None)


def _plan_id(req: PlanRequest) -> str:
    """A short, non-reversible id for logs: no name or score ever reaches a log line."""
    return hashlib.blake2b(req.canonical_bytes(), digest_size=6).hexdigest()


# -- create ----------------------------------------------------------------


async def _read_body(request: web.Request) -> tuple[dict[str, object], bool]:
    """The request body as a mapping, and whether it came from an HTML form."""
    ctype = request.content_type
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        data: dict[str, object] = {}
        for key in form:
            values = form.getall(key)
            data[key] = values[0] if len(values) == 1 else values
        return data, True
    try:
        data = await request.json()
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
        raise ValidationError(None, "invalid_json", "body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ValidationError(None, "invalid_json", "body must be a JSON object")
    return data, False


@routes.post("/api/plans")
async def create_plan(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        data, is_form = await _read_body(request)
        plan_req = PlanRequest.from_mapping(data)
    except ValidationError as exc:
        state.metrics.bad_requests += 1
        return _error(400, exc.code, exc.message, exc.field)
    archive = await state.archive_for_request(plan_req)
    expires_at = int(time.time() + state.config.link_ttl)
    token = state.sealer.seal(plan_req.canonical_bytes(), expires_at)
    url = f"/api/plans/{token}.zip"
    state.metrics.plans_created += 1
    log.info(
        "plan created",
        extra={
            "fields": {
                "event": "plan_created",
                "plan": _plan_id(plan_req),
                "mode": plan_req.mode,
                "weeks": plan_req.weeks,
                "entries": len(archive.layout),
                "size": archive.layout.total_size,
            }
        },
    )
    if is_form and "text/html" in request.headers.get("Accept", ""):
        raise web.HTTPSeeOther(location=url)
    body = {
        "download_url": url,
        "filename": archive.filename,
        "size": archive.layout.total_size,
        "etag": archive.etag,
        "expires_at": datetime.fromtimestamp(expires_at, UTC).isoformat().replace("+00:00", "Z"),
        "entries": len(archive.layout),
        "mode": plan_req.mode,
        "weeks": plan_req.weeks,
        "lessons": plan_req.weeks * plan_req.lessons_per_week,
    }
    return web.json_response(body, status=201, headers={"Location": url})


# -- download --------------------------------------------------------------


@routes.get("/api/plans/{token}.zip")
async def download(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        payload, _expires = state.sealer.open(request.match_info["token"])
        plan_req = PlanRequest.from_canonical(json.loads(payload))
    except TokenExpired:
        return _error(410, "expired", "this download link has expired; create the plan again")
    except (TokenInvalid, ValidationError, ValueError, KeyError, TypeError):
        return _error(404, "not_found", "unknown download link")
    archive = await state.archive_for_request(plan_req)
    size = archive.layout.total_size
    # A plan dated in the future must not claim a Last-Modified after Date.
    last_modified = min(archive.last_modified, int(time.time()))
    headers = {
        "ETag": archive.etag,
        "Last-Modified": http_date(last_modified),
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(archive.filename),
        "Content-Type": "application/zip",
        "Cache-Control": "private, no-transform",
    }
    if _not_modified(request, archive.etag, last_modified):
        return web.Response(status=304, headers=headers)
    window = ByteRange(0, size)
    status = 200
    if _range_applies(request, archive.etag):
        try:
            wanted = parse_range(request.headers.get("Range"), size)
        except Unsatisfiable:
            headers["Content-Range"] = f"bytes */{size}"
            return web.Response(status=416, headers=headers)
        if wanted is not None:
            window, status = wanted, 206
            headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end - 1}/{size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = window.end - window.start
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    return await _send(request, response, state, archive, window, _plan_id(plan_req))


def _not_modified(request: web.Request, etag: str, last_modified: float) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = request.headers.get("If-Modified-Since")
    if ims is not None:
        ts = parse_http_date(ims)
        return ts is not None and int(last_modified) <= ts
    return False


def _range_applies(request: web.Request, etag: str) -> bool:
    """If-Range: honour Range only if the client's copy is still this archive.

    Only the strong ETag proves that. A date does not: replacing a library file
    with an older-dated one changes the bytes but not Last-Modified, and a
    resume spliced onto the old bytes would be a corrupt ZIP. So a date (or a
    weak or stale tag) gets the whole archive with 200, as RFC 9110 allows.
    """
    if_range = request.headers.get("If-Range")
    if if_range is None:
        return True
    return if_range.strip() == etag


async def _send(
    request: web.Request,
    response: web.StreamResponse,
    state: State,
    archive: PlanArchive,
    window: ByteRange,
    plan_id: str,
) -> web.StreamResponse:
    admission, metrics = state.admission, state.metrics
    t0 = time.monotonic()
    fields = {
        "event": "download",
        "plan": plan_id,
        "range": f"{window.start}-{window.end}",
        "size": archive.layout.total_size,
    }
    sent = 0
    try:
        async with admission.slot():
            waited = time.monotonic() - t0
            _cap_send_buffer(request, state.config.sndbuf)
            await response.prepare(request)
            metrics.started += 1
            writer = BodyWriter(request, response, state.limits)
            try:
                await writer.send(
                    archive.layout.pieces(window.start, window.end), window.end - window.start
                )
                await response.write_eof()
            except DownloadError as exc:
                _abort(request, response)
                _outcome(state, exc.outcome, fields, writer.sent, t0, reason=exc.reason)
                return response
            except Exception as exc:
                # Headers are on the wire: whatever went wrong, only cutting
                # the connection is left (never an HTTP error response now).
                _abort(request, response)
                if isinstance(exc, ConnectionError):
                    _outcome(state, "aborted", fields, writer.sent, t0, reason=type(exc).__name__)
                else:
                    log.error("download failed", exc_info=True, extra={"fields": fields})
                    _outcome(state, "failed", fields, writer.sent, t0, reason=type(exc).__name__)
                return response
            finally:
                sent = writer.sent
            fields["queued_ms"] = round(waited * 1000)
            _outcome(state, "completed", fields, writer.sent, t0)
            return response
    except QueueFull as exc:
        _outcome(state, "rejected", fields, 0, t0, reason=str(exc))
        return _error(
            503,
            "busy",
            "the server is at its memory budget; retry shortly",
            None,
            **{"Retry-After": str(admission.retry_after())},
        )
    except asyncio.CancelledError:
        # The client left (handler cancellation), while queued or mid-body.
        _outcome(state, "aborted", fields, sent, t0, reason="client disconnected")
        raise


def _outcome(
    state: State, outcome: str, fields: dict[str, object], sent: int, t0: float, reason: str = ""
) -> None:
    state.metrics.outcomes[outcome] += 1
    state.metrics.bytes_sent += sent
    out = dict(
        fields, outcome=outcome, bytes=sent, duration_ms=round((time.monotonic() - t0) * 1e3)
    )
    if reason:
        out["reason"] = reason
    level = logging.INFO if outcome in ("completed", "aborted", "rejected") else logging.WARNING
    log.log(level, "download %s", outcome, extra={"fields": out})


def _cap_send_buffer(request: web.Request, sndbuf: int) -> None:
    """Cap the kernel send buffer: it is memory too, and admission counts it."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sndbuf > 0:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)


def _abort(request: web.Request, response: web.StreamResponse) -> None:
    """End a started download so the client sees a truncated body, never a clean end.

    SO_LINGER (on, 0) turns the close into a reset: without it the kernel keeps
    the orphaned socket and its queued send buffer (~0.5 MiB) until a stalled
    client finally reads or times out, after admission has given the slot away.
    """
    response.force_close()
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


# -- health and metrics ----------------------------------------------------


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    adm = state.admission
    return web.json_response(
        {
            "status": "ok",
            "memory_budget": state.config.memory_budget,
            "budget_source": state.config.budget_source,
            "download_cost": state.slot_plan.cost,
            "slots": adm.slots,
            "in_use": adm.in_use,
            "queued": adm.queued,
            "library_files": len(state.library) if state.library is not None else 0,
        }
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    adm = state.admission
    text = state.metrics.render(
        active=adm.in_use,
        queued=adm.queued,
        slots=adm.slots,
        budget=state.config.memory_budget,
        library=state.config.library,
        cache=(state.render_cache.hits, state.render_cache.misses, state.render_cache.bytes),
    )
    return web.Response(
        text=text,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Prometheus-Format": "0.0.4"},
    )


def setup_routes(app: web.Application) -> None:
    app.add_routes(routes)
