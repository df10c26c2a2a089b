"""Peer: the plan streamed by stream-zip (``stream_zip.stream_zip``) through aiohttp.

Run: ``python bench/peer_streamzip.py --port 8103 --library DIR --mode loop|thread``

What it measures, and why. stream-zip is the other common choice for
streaming ZIPs in Python (memory-efficient, Zip32/Zip64, an async interface).
It is used the way its documentation describes:

- member files are tuples ``(name, modified_at, mode, method, chunks)``
  produced by a generator, so a generated document is rendered only when
  the archive reaches it;
- method ``NO_COMPRESSION_32(size, crc_32)``: STORED like planstream, and
  streamed rather than buffered (the plain ``NO_COMPRESSION_32`` keeps a
  whole member in memory to learn its size and CRC). The sizes and CRCs come
  from the library index (materials) and from the rendered bytes (documents);
- a library file's chunks are 64 KiB reads from disk;
- stream-zip does not compute the archive's total size, so the response
  has no Content-Length: aiohttp sends it chunked (and it cannot be resumed
  with Range).

Two modes:

- ``loop``: iterate ``stream_zip(...)`` on the event loop and
  ``await response.write(chunk)`` each chunk;
- ``thread``: ``async_stream_zip`` with async member files, stream-zip's own
  async interface, which runs the synchronous generator in the default
  thread pool one chunk at a time. The async member iterables run on the
  event loop (stream-zip calls back into it); they read files directly,
  because awaiting another pool job from inside them can deadlock once
  every pool thread is waiting on the loop.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

from aiohttp import web
from peer_common import (
    LIBRARY,
    Member,
    base_parser,
    download_headers,
    plan_content,
    plan_request,
    serve,
)
from stream_zip import NO_COMPRESSION_32, MemberFile, async_stream_zip, stream_zip

READ_SIZE = 64 * 1024
MODE = 0o644


def file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(READ_SIZE):
            yield chunk


async def file_chunks_async(path: str) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(READ_SIZE):
            yield chunk


async def bytes_async(data: bytes) -> AsyncIterator[bytes]:
    yield data


def modified(m: Member) -> datetime:
    return datetime.fromtimestamp(m.mtime, UTC)


def member_files(members: tuple[Member, ...]) -> Iterator[MemberFile]:
    for m in members:
        if m.path is not None:
            assert m.crc is not None
            yield m.name, modified(m), MODE, NO_COMPRESSION_32(m.size, m.crc), file_chunks(m.path)
        else:
            data = m.render()
            yield m.name, modified(m), MODE, NO_COMPRESSION_32(len(data), zlib.crc32(data)), (data,)


async def member_files_async(members: tuple[Member, ...]) -> AsyncIterator[tuple]:
    for m in members:
        if m.path is not None:
            assert m.crc is not None
            method = NO_COMPRESSION_32(m.size, m.crc)
            yield m.name, modified(m), MODE, method, file_chunks_async(m.path)
        else:
            data = m.render()
            method = NO_COMPRESSION_32(len(data), zlib.crc32(data))
            yield m.name, modified(m), MODE, method, bytes_async(data)


async def download_loop(request: web.Request) -> web.StreamResponse:
    content = plan_content(plan_request(request), request.app[LIBRARY])
    response = web.StreamResponse(headers=download_headers(content.filename))
    await response.prepare(request)
    for chunk in stream_zip(member_files(content.members)):
        await response.write(chunk)
    await response.write_eof()
    return response


async def download_thread(request: web.Request) -> web.StreamResponse:
    content = plan_content(plan_request(request), request.app[LIBRARY])
    response = web.StreamResponse(headers=download_headers(content.filename))
    await response.prepare(request)
    async for chunk in async_stream_zip(member_files_async(content.members)):
        await response.write(chunk)
    await response.write_eof()
    return response


def main() -> int:
    p = base_parser("stream-zip behind aiohttp (benchmark peer)")
    p.add_argument("--mode", choices=["loop", "thread"], default="loop")
    args = p.parse_args()
    return serve(args, download_loop if args.mode == "loop" else download_thread)


if __name__ == "__main__":
    sys.exit(main())
