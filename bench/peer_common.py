"""What every comparison server in ``bench/`` shares: the plan's content, links, start-up.

The peers (zipstream-ng, stream-zip, ``FileResponse``) and the disk baseline
must serve the *same* archive content as planstream, or the comparison means
nothing. So they all take it from planstream's public generator API:
``build_archive(request, library)`` gives the entry list with the sanitised
archive names, each entry's mtime and its source, either a generated
document (rendered here with ``ProducerSource.render()``, the same bytes
planstream streams) or a material file of the library (by path). Only the
ZIP writing differs, and that is what is measured.

The HTTP surface is planstream's, reduced to what ``bench/load.py`` uses:
``POST /api/plans`` (JSON plan request) -> 201 ``{"download_url": ...}``,
``GET /api/plans/<id>.zip`` and ``GET /healthz``. A peer keeps the
validated request in memory under a counter id (a benchmark has no need for
sealed links), and does all the per-download work (plan, entries, rendering)
when the download is requested, as a real service built on that library would.

Every server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from generators.archive import FileSource, ProducerSource
from generators.entries import build_archive
from generators.library import Library
from generators.request import PlanRequest, ValidationError

LOCALHOST = "127.0.0.1"
MAX_PLANS = 4096  # remembered plan requests (oldest forgotten first)

PLANS: web.AppKey[OrderedDict[str, PlanRequest]] = web.AppKey("plans", OrderedDict)
LIBRARY: web.AppKey[Library | None] = web.AppKey("library")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Member:
    """One file of the plan's archive, as every server under test receives it."""

    name: str  # archive path, already sanitised by planstream's layout
    mtime: int  # Unix seconds
    size: int
    path: str | None = None  # a library material: read it from here
    doc: ProducerSource | None = None  # a generated document: render() it
    crc: int | None = None  # known for library files (indexed at start-up)

    def render(self) -> bytes:
        assert self.doc is not None
        return self.doc.render()


@dataclass(frozen=True, slots=True)
class PlanContent:
    filename: str  # download name, e.g. 张三—4周训练方案.zip
    members: tuple[Member, ...]


def plan_content(req: PlanRequest, library: Library | None) -> PlanContent:
    """The plan's files in archive order: names, mtimes and where each one's bytes come from."""
    archive = build_archive(req, library)
    layout = archive.layout
    members = []
    for name, entry in zip(layout.names, layout.entries, strict=True):
        src = entry.source
        if isinstance(src, FileSource):
            members.append(Member(name, entry.mtime, src.size, path=src.path, crc=src.crc))
        elif isinstance(src, ProducerSource):
            members.append(Member(name, entry.mtime, src.size, doc=src))
        else:  # MemorySource: not produced by plan_entries today
            raise TypeError(f"unexpected source {type(src).__name__} for {name}")
    return PlanContent(archive.filename, tuple(members))


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(filename)}"


def download_headers(filename: str) -> dict[str, str]:
    return {"Content-Type": "application/zip", "Content-Disposition": content_disposition(filename)}


async def create_plan(request: web.Request) -> web.Response:
    try:
        data = await request.json()
        req = PlanRequest.from_mapping(data)
    except (ValueError, ValidationError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    plans = request.app[PLANS]
    plan_id = str(len(plans) + 1) if not plans else str(int(next(reversed(plans))) + 1)
    plans[plan_id] = req
    while len(plans) > MAX_PLANS:
        plans.popitem(last=False)
    url = f"/api/plans/{plan_id}.zip"
    return web.json_response({"download_url": url}, status=201, headers={"Location": url})


def plan_request(request: web.Request) -> PlanRequest:
    """The stored plan request a download URL names; 404 if unknown."""
    req = request.app[PLANS].get(request.match_info["plan_id"])
    if req is None:
        raise web.HTTPNotFound(text="unknown plan")
    return req


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default=LOCALHOST, help="must be 127.0.0.1 (benchmarks stay local)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--library", help="materials folder <dimension>/<level 1-5>/")
    return p


def serve(
    args: argparse.Namespace,
    download: Handler,
    *,
    on_startup: Sequence[Callable[[web.Application], Awaitable[None]]] = (),
) -> int:
    """Build the app around ``download`` and run it until SIGTERM / SIGINT."""
    if args.host != LOCALHOST:
        print(f"refusing to listen on {args.host}: benchmarks use 127.0.0.1 only", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    app = web.Application()
    app[PLANS] = OrderedDict()
    app[LIBRARY] = Library.load(args.library) if args.library else None
    app.router.add_post("/api/plans", create_plan)
    app.router.add_get("/api/plans/{plan_id}.zip", download)
    app.router.add_get("/healthz", healthz)
    app.on_startup.extend(on_startup)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)
    return 0
