"""``GET|HEAD /api/plans/{token}.zip``: decide, admit, stream.

Three steps, each with one job:

1. **decide** (``server.decide``): the link is opened (404/410 raised as
   errors the middleware renders), the archive's layout is found, and a pure
   function picks 200/206/304/416 and the byte window from the headers.
2. **admit** (``server.admission``): a slot within the queue timeout, or 503
   with Retry-After. A slot is taken around the body only.
3. **stream** (``server.writer``): headers, then the window's pieces. From
   ``prepare()`` on, a failure can only cut the connection (``abort``): an
   HTTPException now would write a second response into the body.

Every request that reaches step 2 records exactly one ``Outcome``, with its
queue wait, whether it ends in the queue, before the headers, or during a
write or a sendfile. A client that leaves is ``aborted`` at INFO wherever it
leaves (``ConnectionError``, ``RuntimeError("Transport is closing")`` from
``loop.sendfile``, or cancellation of the handler); only the server's own
faults are ``failed`` with a traceback.
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
from collections.abc import Iterator

from aiohttp import web

from generators.archive import SourceChanged
from generators.entries import PlanArchive
from generators.errors import PlanstreamError
from generators.request import PlanRequest

from .admission import QueueFull
from .decide import decide
from .errors import Busy, LinkNotFound
from .express import Turn
from .handles import FILE_POOL
from .http_headers import ByteRange, content_disposition, http_date
from .outcomes import Outcome
from .render_pool import RENDER_POOL
from .sendbuf import SendBuffer
from .sender import SENDER
from .state import STATE, State
from .writer import BodyWriter, DownloadError

log = logging.getLogger("planstream.download")


def plan_id(req: PlanRequest) -> str:
    """A short, non-reversible id for logs: no name or score ever reaches a log line."""
    return hashlib.blake2b(req.canonical_bytes(), digest_size=6).hexdigest()


def open_link(state: State, token: str) -> tuple[PlanRequest, int]:
    """The plan request sealed in ``token`` and its expiry; LinkNotFound/LinkExpired otherwise."""
    payload, expires_at = state.sealer.open(token)  # TokenInvalid / TokenExpired
    try:
        return PlanRequest.from_canonical(json.loads(payload)), expires_at
    except (PlanstreamError, ValueError) as exc:
        # Sealed by us, but no longer a valid request (e.g. a rule changed since).
        raise LinkNotFound("unknown download link") from exc


def base_headers(archive: PlanArchive, now: float) -> dict[str, str]:
    # A plan dated in the future must not claim a Last-Modified after Date.
    last_modified = min(archive.last_modified, int(now))
    return {
        "ETag": archive.etag,
        "Last-Modified": http_date(last_modified),
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(archive.filename),
        "Content-Type": "application/zip",
        "Cache-Control": "private, no-transform",
        "X-Accel-Buffering": "no",  # a proxy must pass it through, never spool it to disk
    }


async def download(request: web.Request) -> web.StreamResponse:
    arrived = time.monotonic()  # time to first byte counts the link and layout too
    await Turn.of(asyncio.get_running_loop()).start()  # a burst of arrivals spreads over turns
    state = request.app[STATE]
    plan_req, _expires = open_link(state, request.match_info["token"])
    archive = await state.archive_for_request(plan_req)
    now = time.time()
    headers = base_headers(archive, now)
    decision = decide(
        request.headers,
        etag=archive.etag,
        last_modified=min(archive.last_modified, int(now)),
        size=archive.layout.total_size,
    )
    headers.update(decision.headers)
    if not decision.has_body:
        return web.Response(status=decision.status, headers=headers)
    response = web.StreamResponse(status=decision.status, headers=headers)
    response.content_length = decision.window.end - decision.window.start
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    return await admit_and_stream(
        request, response, state, archive, decision.window, plan_req, arrived=arrived
    )


class _Record:
    """The one log line and metric update of a download; ``finish`` may run only once."""

    def __init__(self, state: State, fields: dict[str, object], t0: float | None = None) -> None:
        self.state = state
        self.fields = fields
        self.t0 = time.monotonic() if t0 is None else t0
        self.waited: float | None = None
        self.done = False

    def admitted(self) -> None:
        self.waited = time.monotonic() - self.t0

    def finish(self, outcome: Outcome, sent: int, reason: str = "", *, trace: bool = False) -> None:
        if self.done:
            return
        self.done = True
        now = time.monotonic()
        waited = self.waited if self.waited is not None else now - self.t0
        self.state.metrics.record_outcome(outcome, sent, now - self.t0)
        out = dict(
            self.fields,
            outcome=str(outcome),
            bytes=sent,
            duration_ms=round((now - self.t0) * 1e3),
            queued_ms=round(waited * 1e3),
        )
        if reason:
            out["reason"] = reason
        level = logging.WARNING if outcome.log_level_is_warning else logging.INFO
        log.log(level, "download %s", outcome, exc_info=trace, extra={"fields": out})


async def admit_and_stream(
    request: web.Request,
    response: web.StreamResponse,
    state: State,
    archive: PlanArchive,
    window: ByteRange,
    plan_req: PlanRequest,
    arrived: float | None = None,
) -> web.StreamResponse:
    record = _Record(
        state,
        {
            "event": "download",
            "plan": plan_id(plan_req),
            "range": f"{window.start}-{window.end}",
            "size": archive.layout.total_size,
        },
        arrived,
    )
    try:
        with per_client(state, client_address(request, state.config.trusted_proxies)):
            cost = state.cost_model.download(archive.largest_document)
            async with state.admission.slot(cost):
                record.admitted()
                await _stream(request, response, state, archive, window, record, plan_req)
    except (QueueFull, TooManyFromClient) as exc:
        record.finish(Outcome.REJECTED, 0, reason=exc.message)
        raise  # rendered as 503 + Retry-After by the middleware
    except asyncio.CancelledError:
        if state.draining:  # cut in the queue by the drain (server.serve), not by the client
            record.finish(Outcome.CUT_BY_SHUTDOWN, 0, reason="drain timeout")
        else:
            record.finish(Outcome.ABORTED, 0, reason="client disconnected")
        raise
    return response


class TooManyFromClient(Busy):
    """One address already has ``--max-per-client`` downloads running or queued."""

    code = "too_many_per_client"


def client_address(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """The client's address; behind a trusted proxy, the last hop it reports."""
    remote = request.remote or "?"
    if remote in trusted_proxies:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return remote


@contextlib.contextmanager
def per_client(state: State, address: str) -> Iterator[None]:
    """Count this download against its address; 503 past ``--max-per-client``.

    Without it, a few addresses that never read could hold every slot for
    the stall timeout and turn everyone else away. The dict holds only
    addresses with a download now, so it is bounded by the slots and queue.
    """
    counts = state.per_client
    if counts.get(address, 0) >= state.config.max_per_client:
        state.metrics.per_client_rejected += 1
        raise TooManyFromClient(
            f"too many downloads at once from one address (at most "
            f"{state.config.max_per_client}); retry when one has finished",
            retry_after=state.admission.retry_after(),
        )
    counts[address] = counts.get(address, 0) + 1
    try:
        yield
    finally:
        left = counts[address] - 1
        if left:
            counts[address] = left
        else:
            del counts[address]


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def classify(exc: BaseException, client_gone: bool, draining: bool) -> tuple[Outcome, bool]:
    """The outcome of a download that raised ``exc``, and whether it deserves a traceback."""
    if isinstance(exc, DownloadError):
        return exc.outcome, False
    if draining:
        return Outcome.CUT_BY_SHUTDOWN, False
    if isinstance(exc, asyncio.CancelledError | ConnectionError):
        return Outcome.ABORTED, False
    if client_gone and isinstance(exc, RuntimeError | OSError):
        # loop.sendfile on a closing transport: "Transport is closing".
        return Outcome.ABORTED, False
    return Outcome.FAILED, True


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    state: State,
    archive: PlanArchive,
    window: ByteRange,
    record: _Record,
    plan_req: PlanRequest,
) -> None:
    buffer = SendBuffer(request.transport, state.fast_pool, state.cost_model)
    writer = BodyWriter(
        request,
        response,
        state.limits,
        buffer,
        request.app[FILE_POOL],
        state.objects,
        request.app.get(SENDER),
    )
    try:
        await response.prepare(request)
        state.metrics.started += 1
        state.metrics.ttfb.observe(time.monotonic() - record.t0)
        render = request.app[RENDER_POOL]
        runs = render.replay(archive.layout)
        if runs is not None:
            key = archive.layout.fingerprint()
            await writer.send_runs(runs, window.start, window.end, key)
        else:
            pieces = render.window(
                archive.layout, plan_req.canonical_bytes(), window.start, window.end
            )
            await writer.send(pieces, len(window))
        await response.write_eof()
        await writer.acknowledged(len(window))
    except BaseException as exc:
        _settle(buffer, writer, record)
        outcome, trace = classify(exc, _client_gone(request), state.draining)
        if outcome is Outcome.ABORTED and writer.delivered(len(window)):
            outcome = Outcome.COMPLETED  # the client closed after its last byte
        writer.close()
        if isinstance(exc.__cause__, SourceChanged) and state.library_watch is not None:
            state.library_watch.suspect()  # re-index now, so the next request gets the new file
        abort(request, response)
        reason = exc.reason if isinstance(exc, DownloadError) else type(exc).__name__
        if outcome is Outcome.COMPLETED:
            reason = ""
        record.finish(outcome, writer.sent, reason=reason, trace=trace)
        if isinstance(exc, asyncio.CancelledError):
            raise
        return
    writer.close()
    _settle(buffer, writer, record)
    record.finish(Outcome.COMPLETED, writer.sent)


def _settle(buffer: SendBuffer, writer: BodyWriter, record: _Record) -> None:
    """Give the large buffer back; put how it grew, and what took the lane, in the log line."""
    buffer.release()
    record.fields.update(
        grown=buffer.grows,
        express=writer.express_sent,
        sender=writer.sender_sent,
        handbacks=writer.handbacks,
    )


def abort(request: web.Request, response: web.StreamResponse) -> None:
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


def setup_download_routes(app: web.Application) -> None:
    app.router.add_get("/api/plans/{token}.zip", download)  # HEAD too (aiohttp adds it)
