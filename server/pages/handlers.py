"""The teacher page: the form (``GET /``, ``POST /plans``), the plan page and its checks.

Everything is rendered on the server with Jinja2 (autoescape on), so the page
works with JavaScript off: the form posts, a valid plan answers 303 to its
plan page, an invalid one the same form again with every message beside its
field. ``page.js`` only adds checks while typing (``POST /plans/check``,
the same rules) and the copy button.

Links carry tokens, so pages are sent with ``Referrer-Policy: no-referrer``,
a CSP without inline scripts, and are never framed.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from generators.dimensions import DIMENSIONS
from generators.entries import PlanArchive
from generators.errors import PlanstreamError
from generators.plan import Plan, build_plan
from generators.request import PlanRequest
from generators.worksheets import REGISTRY

from ..download import open_link
from ..routes import read_body
from ..state import STATE
from . import form
from .static import static_url
from .texts import catalogue, dimension_label, pick_lang

routes = web.RouteTableDef()

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",  # a page may show a child's name and scores
}


PAGE_LANG = web.RequestKey("planstream_page_lang", str)  # the language a form was sent in


def page_lang(request: web.Request) -> str:
    """The form's own language once it is read (so its error pages match), else negotiated."""
    chosen = request.get(PAGE_LANG)
    if isinstance(chosen, str):
        return chosen
    return pick_lang(request.query.get("lang"), request.headers.get("Accept-Language", ""))


def render(
    name: str, request: web.Request, lang: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A page with the shared context (texts, language switch, assets) and headers."""
    other = "en" if lang == "zh" else "zh"
    query = dict(request.query, lang=other)
    base = {
        "t": catalogue(lang),
        "lang": lang,
        "html_lang": "zh-CN" if lang == "zh" else "en",
        "other_lang": other,
        "other_url": request.path + "?" + "&".join(f"{k}={quote(v)}" for k, v in query.items()),
        "css": static_url("page.css"),
        "js": static_url("page.js"),
    }
    response = aiohttp_jinja2.render_template(name, request, base | context, status=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _form_context(values: dict[str, str], errors: dict[str, str], lang: str) -> dict[str, Any]:
    t = catalogue(lang)
    hints = {k: t[f"hint_{k}"].format(lo=lo, hi=hi) for k, (lo, hi) in form.NUMBER_FIELDS.items()}
    return {
        "values": values,
        "errors": errors,
        "summary": [(k, form.label(k, lang), v) for k, v in errors.items()],
        "hints": hints,
        "number_fields": list(form.NUMBER_FIELDS.items()),
        "dimensions": [(f"scores.{d}", d, dimension_label(d, lang)) for d in DIMENSIONS],
        "scores_hint": t["hint_scores"].format(lo=0, hi=100, min=3),
    }


@routes.get("/")
async def form_page(request: web.Request) -> web.Response:
    """The empty form, or one filled from an earlier plan (``?from=<token>``)."""
    lang = page_lang(request)
    values = form.defaults(lang, date.today())
    token = request.query.get("from")
    if token:
        req, _ = open_link(request.app[STATE], token)  # 404/410 page if it is not ours
        values.update(_values_of(req))
    return render("form.html", request, lang, _form_context(values, {}, lang))


def _values_of(req: PlanRequest) -> dict[str, str]:
    values = {
        "name": req.name,
        "mode": req.mode,
        "age": str(req.age),
        "weeks": str(req.weeks),
        "lessons_per_week": str(req.lessons_per_week),
        "exercises_per_lesson": str(req.exercises_per_lesson),
        "start_date": req.start_date.isoformat() if req.start_date else "",
        "lang": req.lang,
    }
    values.update({f"scores.{k}": str(v) for k, v in req.scores.items()})
    return values


async def _submission(request: web.Request) -> tuple[dict[str, str], str]:
    data, _ = await read_body(request)
    ui = data.get("ui")
    lang = ui if ui in ("zh", "en") else page_lang(request)
    request[PAGE_LANG] = lang
    return form.values_from(data), lang


@routes.post("/plans")
async def create(request: web.Request) -> web.Response:
    """The form's submission: 303 to the plan page, or the form again with its errors."""
    state = request.app[STATE]
    values, lang = await _submission(request)
    checked = form.validate(values, lang)
    if checked.request is None:
        state.metrics.bad_requests += 1
        return render("form.html", request, lang, _form_context(values, checked.errors, lang), 400)
    req = checked.request
    await state.archive_for_request(req)  # built now: the plan page shows its size
    expires_at = int(time.time() + state.config.link_ttl)
    token = state.sealer.seal(req.canonical_bytes(), expires_at)
    state.metrics.plans_created += 1
    raise web.HTTPSeeOther(location=f"/plans/{token}?lang={lang}")


@routes.post("/plans/check")
async def check(request: web.Request) -> web.Response:
    """Checks while typing: the page's messages by field, and the plan's size when valid."""
    state = request.app[STATE]
    values, lang = await _submission(request)
    checked = form.validate(values, lang)
    body: dict[str, Any] = {"errors": checked.errors}
    if checked.request is not None:
        archive = await state.archive_for_request(checked.request)
        body["estimate"] = catalogue(lang)["estimate"].format(
            size=_mb(archive.layout.total_size), files=len(archive.layout)
        )
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f}"


@routes.get("/plans/{token}")
async def plan_page(request: web.Request) -> web.Response:
    state = request.app[STATE]
    lang = page_lang(request)
    token = request.match_info["token"]
    req, expires_at = open_link(state, token)
    archive = await state.archive_for_request(req)
    plan = await asyncio.get_running_loop().run_in_executor(None, build_plan, req)
    t = catalogue(lang)
    download_url = f"/api/plans/{token}.zip"
    context = {
        "req": req,
        "title": t["plan_title"].format(name=req.name),
        "mode_text": t[f"mode_{req.mode}"],
        "size_text": t["plan_size_value"].format(
            size=_mb(archive.layout.total_size), files=len(archive.layout)
        ),
        "expires": datetime.fromtimestamp(expires_at, UTC).date().isoformat(),
        "download_url": download_url,
        "absolute_url": f"{request.scheme}://{request.host}{download_url}",
        "filename": archive.filename,
        "another_url": f"/?from={token}&lang={lang}",
        "schedule": _schedule(plan),
        "previews": _previews(archive, token, lang),
    }
    return render("plan.html", request, lang, context)


def _schedule(plan: Plan) -> list[tuple[int, list[tuple[int, str, list[str]]]]]:
    """Week -> lessons -> exercise titles, in the plan's language (as in its overview).

    Titles come from ``title_for``, as the overview's do, so a variant (e.g. a
    reversed Stroop sheet) is named the same on the page and in the ZIP.
    """
    weeks = []
    for week, lessons in plan.by_week():
        rows = [
            (
                lesson.number_in_week,
                lesson.date.isoformat() if lesson.date else "",
                [REGISTRY[ex.kind].title_for(ex.spec) for ex in lesson.exercises],
            )
            for lesson in lessons
        ]
        weeks.append((week, rows))
    return weeks


def _previews(archive: PlanArchive, token: str, lang: str) -> list[dict[str, str]]:
    """The overview and the first lesson's worksheets, as links into the single-file route.

    Only the first lesson's entries are read (they follow the overview), not
    every name of the plan.
    """
    layout = archive.layout
    first = layout.name(0)
    root = first.split("/", 1)[0] + "/"
    t = catalogue(lang)
    items = [{"path": first[len(root) :], "title": t["preview_overview"], "kind": "html"}]
    if len(layout) > 1:
        folder = layout.name(1).rsplit("/", 1)[0] + "/"
        for i in range(2, len(layout)):
            name = layout.name(i)
            if not name.startswith(folder):
                break  # past the first lesson
            rest = name[len(folder) :]
            if "/" not in rest and rest.endswith(".svg"):
                title = t["preview_sheet"].format(title=rest.removesuffix(".svg"))
                items.append({"path": name[len(root) :], "title": title, "kind": "svg"})
    for item in items:
        item["url"] = f"/api/plans/{token}/files/{quote(item['path'])}"
    return items


async def html_error(request: web.Request, exc: PlanstreamError) -> web.StreamResponse:
    """Any error of a browser request as a page in its language: never a trace or raw JSON."""
    lang = page_lang(request)
    t = catalogue(lang)
    key = {
        404: "error_not_found",
        405: "error_not_found",
        410: "error_expired",
        503: "error_busy",
        500: "error_internal",
    }.get(exc.status, "error_other")
    request_id = exc.message.rpartition("request id ")[2].rstrip(")") if exc.status == 500 else ""
    text = t[key].format(status=exc.status, request_id=request_id)
    context = {"message": text, "status": exc.status}
    response = render("error.html", request, lang, context, status=exc.status)
    response.headers.update(exc.headers)
    return response
