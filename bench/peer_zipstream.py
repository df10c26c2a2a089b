"""Peer: the plan streamed by zipstream-ng (``zipstream.ZipStream``) through aiohttp.

Run: ``python bench/peer_zipstream.py --port 8101 --library DIR --mode loop|thread``

What it measures, and why. zipstream-ng is the library a Python team would
most likely pick to stream a ZIP with a Content-Length, so it is the first
yardstick for planstream's throughput, time to first byte and memory per
download. It is used the way its README shows for web back ends:

- ``ZipStream(sized=True)``, so ``len(zs)`` gives the Content-Length before
  generation (which needs STORED, like planstream);
- generated documents added as bytes (``zs.add(data, arcname)``), rendered
  when the download is requested; library files added by path
  (``zs.add_path(path, arcname)``), read in the library's 64 KiB chunks;
- the ZipStream iterated and every chunk written to an aiohttp
  ``StreamResponse`` with ``await response.write(chunk)`` (aiohttp drains
  the transport once its buffer passes 64 KiB, so a slow client applies
  backpressure).

Two modes, because ZipStream is a synchronous iterator that reads files:

- ``loop``: iterate it on the event loop (file reads block the loop briefly;
  the plan's files sit in the page cache, as they would on a busy server);
- ``thread``: build the stream and take each chunk in the default thread
  pool (``loop.run_in_executor(None, next, it, ...)``), the usual way to keep
  blocking iteration off the loop.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

from aiohttp import web
from peer_common import (
    LIBRARY,
    PlanContent,
    base_parser,
    download_headers,
    plan_content,
    plan_request,
    serve,
)
from zipstream import ZipStream

from generators.library import Library
from generators.request import PlanRequest

_END = object()


def build_stream(req: PlanRequest, library: Library | None) -> tuple[PlanContent, ZipStream]:
    """The plan's content and its sized ZipStream (documents rendered now, files by path)."""
    content = plan_content(req, library)
    zs = ZipStream(sized=True)
    for m in content.members:
        if m.path is not None:
            zs.add_path(m.path, m.name)
        else:
            zs.add(m.render(), m.name)
    return content, zs


async def download_loop(request: web.Request) -> web.StreamResponse:
    content, zs = build_stream(plan_request(request), request.app[LIBRARY])
    response = web.StreamResponse(headers=download_headers(content.filename))
    response.content_length = len(zs)
    await response.prepare(request)
    for chunk in zs:
        await response.write(chunk)
    await response.write_eof()
    return response


async def download_thread(request: web.Request) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    req = plan_request(request)
    content, zs = await loop.run_in_executor(None, build_stream, req, request.app[LIBRARY])
    response = web.StreamResponse(headers=download_headers(content.filename))
    response.content_length = len(zs)
    await response.prepare(request)
    chunks: Iterator[bytes] = iter(zs)
    while True:
        chunk = await loop.run_in_executor(None, next, chunks, _END)
        if chunk is _END:
            break
        await response.write(chunk)
    await response.write_eof()
    return response


def main() -> int:
    p = base_parser("zipstream-ng behind aiohttp (benchmark peer)")
    p.add_argument("--mode", choices=["loop", "thread"], default="loop")
    args = p.parse_args()
    return serve(args, download_loop if args.mode == "loop" else download_thread)


if __name__ == "__main__":
    sys.exit(main())
