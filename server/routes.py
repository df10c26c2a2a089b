"""HTTP routes: create a plan link, health and metrics (downloads: ``server.download``).

Handlers raise ``PlanstreamError``s (bad input, an unknown link, no capacity);
``server.errors.error_middleware`` renders them, so no handler builds an
error response by hand or catches broad exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from generators.errors import PlanstreamError
from generators.request import PlanRequest, ValidationError

from .download import plan_id
from .serve import reset
from .state import STATE

log = logging.getLogger("planstream.download")
routes = web.RouteTableDef()

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_body(request: web.Request) -> tuple[dict[str, object], bool]:
    """The request body as a mapping, and whether it came from an HTML form.

    A body that cannot be parsed (bad JSON, a multipart body without a
    boundary or with a broken part header) is a 400 naming the body, never a
    500. A body that does not arrive within ``--body-timeout`` cuts the
    connection: aiohttp itself would wait for it forever.
    """
    timeout = request.app[STATE].config.body_timeout
    try:
        return await asyncio.wait_for(_parse_body(request), timeout)
    except TimeoutError:
        if request.transport is not None:
            reset(request.transport)
        raise PlanstreamError(
            f"the request body did not arrive within {timeout:g} s",
            code="body_timeout",
            status=408,
        ) from None


async def _parse_body(request: web.Request) -> tuple[dict[str, object], bool]:
    if request.content_type in FORM_TYPES:
        try:
            form = await request.post()
        except (HttpProcessingError, ValueError, LookupError) as exc:
            # aiohttp's multipart reader signals a malformed body with these.
            raise ValidationError(
                None,
                "invalid_body",
                "the form body cannot be read (malformed form or multipart data)",
            ) from exc
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
        data, is_form = await read_body(request)
        plan_req = PlanRequest.from_mapping(data)
    except PlanstreamError:
        state.metrics.bad_requests += 1
        raise
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
                "plan": plan_id(plan_req),
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
            "reserve": state.slot_plan.reserve,
            "binding_limit": state.slot_plan.binding,
            "bytes_in_use": adm.used,
            "fast_buffers": {
                "capacity": state.fast_pool.capacity,
                "used": state.fast_pool.used,
                "granted": state.fast_pool.grants,
            },
            "slots": adm.slots,
            "in_use": adm.in_use,
            "queued": adm.queued,
            "library_files": len(state.library) if state.library is not None else 0,
            "library": state.library_watch.report(),
            "caches": {
                "layouts": {
                    "count": len(state.layouts),
                    "bytes": state.layouts.bytes,
                    "resident": state.layouts.resident,
                    "max_bytes": state.layouts.max_bytes,
                },
                "rendered": {
                    "count": len(state.render_cache),
                    "bytes": state.render_cache.bytes,
                    "max_bytes": state.render_cache.max_bytes,
                },
                "replays": {
                    "count": len(state.runs),
                    "bytes": state.runs.bytes,
                    "resident": state.runs.resident,
                    "max_bytes": state.runs.max_bytes,
                },
            },
            # --workers: this process's id and share of the budget (server.supervisor)
            "worker": state.config.worker_id,
            "workers": state.config.workers,
            "pid": os.getpid(),
            "memory_budget_total": state.config.total_budget or state.config.memory_budget,
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
        layouts=(state.layouts.bytes, state.layouts.resident),
    )
    text += "\n".join(state.loop_monitor.exposition()) + "\n"
    return web.Response(
        text=text,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Prometheus-Format": "0.0.4"},
    )


def setup_routes(app: web.Application) -> None:
    app.add_routes(routes)
