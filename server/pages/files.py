"""``GET|HEAD /api/plans/{token}/files/{path}``: one entry of a plan, without the ZIP.

A teacher opens and prints one sheet without downloading the archive. The
path is the entry's name inside the ZIP below its top folder, looked up
exactly among the plan's entry names: anything else, ``..`` or an encoded
form of it included, is a 404, so no path ever reaches the file system.

Only that entry is produced: a generated document is rendered alone
(through the render cache, like a download), a library file is sent from the
window ``decide`` picks, read in bounded chunks. The bytes are the entry's
bytes in the ZIP. Generated documents get a CSP without scripts, every entry
``nosniff``; a library file a browser could run scripts in (HTML, SVG) is
sandboxed. Responses are validated and ranged like a download (``decide``).
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import time
import weakref

from aiohttp import web

from generators.archive import FileSource, ProducerSource, Source, read_slice
from generators.entries import PlanArchive

from ..decide import decide
from ..download import open_link
from ..errors import LinkNotFound
from ..http_headers import http_date
from ..serve import reset
from ..state import STATE

DOC_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
"""Generated documents: inline styles and images only, no script of any kind."""

SANDBOX_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
_SCRIPTABLE = ("text/html", "image/svg+xml", "application/xhtml+xml", "text/xml")
_KIND_TYPES = {"svg": "image/svg+xml", "html": "text/html; charset=utf-8"}


def find_entry(archive: PlanArchive, path: str) -> int:
    """The index of the entry named ``path`` below the top folder; LinkNotFound otherwise."""
    parts = path.split("/")
    if not path or not len(archive.layout) or any(p in ("", ".", "..") for p in parts):
        raise LinkNotFound("no such file in this plan")
    index = _index_of(archive)
    found = index.get(path)
    if found is None:
        raise LinkNotFound("no such file in this plan")
    return found


_INDEXES: weakref.WeakKeyDictionary[PlanArchive, dict[str, int]] = weakref.WeakKeyDictionary()
_MAX_INDEXES = 4


def _index_of(archive: PlanArchive) -> dict[str, int]:
    """Entry path below the top folder -> index, for a few recently viewed plans.

    The layout keeps names packed, so scanning them for one lookup costs about
    13 ms at 8,373 entries (a 52-week plan). Building this index costs about
    40 ms once; then a lookup is microseconds, as a teacher opens sheet after
    sheet of one plan. It is held weakly (it leaves with its archive when the
    layout cache drops it) and for at most four plans: about 1.5 MB each for
    the largest (tracemalloc).
    """
    index = _INDEXES.get(archive)
    if index is None:
        layout = archive.layout
        index = {layout.name(i).split("/", 1)[1]: i for i in range(len(layout))}
        if len(_INDEXES) >= _MAX_INDEXES:
            _INDEXES.clear()
        _INDEXES[archive] = index
    return index


def content_type(name: str, source: object) -> str:
    """By kind for generated documents, by extension for a centre's materials."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if isinstance(source, ProducerSource) and ext in _KIND_TYPES:
        return _KIND_TYPES[ext]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is None:
        return "application/octet-stream"
    return guessed + ("; charset=utf-8" if guessed.startswith("text/") else "")


def last_modified(archive: PlanArchive, source: Source, now: float) -> int:
    """A material's own mtime; for a generated document the plan's (its newest entry)."""
    stamp = source.mtime_ns // 1_000_000_000 if isinstance(source, FileSource) else None
    return min(stamp if stamp is not None else archive.last_modified, int(now))


def entry_headers(name: str, source: Source, modified: int) -> dict[str, str]:
    digest = hashlib.blake2b(name.encode() + b"\0" + source.identity(), digest_size=16)
    ctype = content_type(name, source)
    headers = {
        "ETag": f'"{digest.hexdigest()}"',
        "Last-Modified": http_date(modified),
        "Accept-Ranges": "bytes",
        "Content-Type": ctype,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "private, no-transform",
    }
    if isinstance(source, ProducerSource):
        headers["Content-Security-Policy"] = DOC_CSP
    elif ctype.split(";")[0] in _SCRIPTABLE:
        headers["Content-Security-Policy"] = SANDBOX_CSP
    return headers


async def plan_file(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    req, _ = open_link(state, request.match_info["token"])
    archive = await state.archive_for_request(req)
    i = find_entry(archive, request.match_info["path"])
    source = archive.layout.source(i)  # this entry's source only
    modified = last_modified(archive, source, time.time())
    headers = entry_headers(archive.layout.name(i), source, modified)
    decision = decide(
        request.headers, etag=headers["ETag"], last_modified=modified, size=source.size
    )
    headers.update(decision.headers)
    if not decision.has_body:
        return web.Response(status=decision.status, headers=headers)
    start, end = decision.window.start, decision.window.end
    if request.method == "HEAD":
        head = web.StreamResponse(status=decision.status, headers=headers)
        head.content_length = end - start
        await head.prepare(request)
        return head
    if isinstance(source, ProducerSource):
        body = source.render()[start:end]  # this entry only, through the render cache
        return web.Response(status=decision.status, body=body, headers=headers)
    return await _send_file(request, decision.status, headers, source, start, end)


async def _send_file(
    request: web.Request,
    status: int,
    headers: dict[str, str],
    source: object,
    start: int,
    end: int,
) -> web.StreamResponse:
    """A window of a library file, in bounded chunks, within an admission slot.

    Each write is bounded by ``--stall-timeout`` like a download's: a client
    that stops reading has its connection cut and frees the slot.
    """
    if not isinstance(source, FileSource):
        raise LinkNotFound("no such file in this plan")
    state = request.app[STATE]
    source.check()
    stall = state.config.stall_timeout
    async with state.admission.slot(state.cost_model.download(0)):
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = end - start
        await response.prepare(request)
        try:
            for chunk in read_slice(source.slice(start, end - start), 256 * 1024):
                await asyncio.wait_for(response.write(chunk), stall)
            await response.write_eof()
        except TimeoutError:
            if request.transport is not None:
                reset(request.transport)  # a truncated body, never a clean end
    return response
