"""Ceiling: aiohttp ``web.FileResponse`` of the plan's archive, prebuilt on disk.

Run: ``python bench/peer_fileresponse.py --port 8105 --archive FILE``

What it measures, and why. Sending a finished file with ``sendfile`` is the
fastest and leanest a Python server can serve these bytes: no ZIP is made
per request and the kernel copies the file to the socket. planstream makes
the archive while it sends it, so its throughput and memory per download are
judged against this ceiling. The archive is the one planstream's command line
(``python -m generators ... -o FILE``) writes for the reference plan, byte for
byte the body planstream streams, so both send exactly the same bytes.

``POST /api/plans`` accepts any plan request and returns the one prebuilt
archive's URL: this server does no per-request work at all, which is the
point of a ceiling. ``FileResponse`` handles Range and conditional requests.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web
from peer_common import base_parser, download_headers, serve

ARCHIVE: web.AppKey[Path] = web.AppKey("archive")
FILENAME: web.AppKey[str] = web.AppKey("filename")


async def download(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(request.app[ARCHIVE], headers=download_headers(request.app[FILENAME]))


def main() -> int:
    p = base_parser("aiohttp FileResponse of a prebuilt archive (benchmark ceiling)")
    p.add_argument("--archive", type=Path, required=True, help="the prebuilt .zip")
    p.add_argument("--filename", default="张三—4周训练方案.zip", help="download name")
    args = p.parse_args()
    if not args.archive.is_file():
        p.error(f"--archive {args.archive}: no such file")

    async def remember(app: web.Application) -> None:
        app[ARCHIVE] = args.archive.resolve()
        app[FILENAME] = args.filename

    return serve(args, download, on_startup=[remember])


if __name__ == "__main__":
    sys.exit(main())
