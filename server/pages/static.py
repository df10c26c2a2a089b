"""``GET /static/{name}``: the page's one stylesheet and one script, from memory.

Both files are read once at import and served with a strong ETag; their URLs
carry a digest (``/static/page.css?v=…``), so a browser may keep them for a
year and a changed file is a new URL. Reading them per request from disk is
not needed, and nothing is ever written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aiohttp import web

from ..http_headers import etag_matches

STATIC_DIR = Path(__file__).parent / "static"
_TYPES = {".css": "text/css", ".js": "text/javascript"}


def _load() -> dict[str, tuple[bytes, str, str]]:
    files = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.suffix in _TYPES:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()[:16]
            files[path.name] = (data, f'"{digest}"', _TYPES[path.suffix])
    return files


_FILES = _load()


def static_url(name: str) -> str:
    """The versioned URL of a static file (its digest changes with its bytes)."""
    return f"/static/{name}?v={_FILES[name][1].strip(chr(34))}"


async def static_file(request: web.Request) -> web.Response:
    found = _FILES.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    data, etag, content_type = found
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    inm = request.headers.get("If-None-Match")
    if inm is not None and etag_matches(inm, etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=data, content_type=content_type, charset="utf-8", headers=headers)
