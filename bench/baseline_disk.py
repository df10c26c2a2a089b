"""The replaced design, rebuilt faithfully as an aiohttp server, so it can be measured.

Run: ``python bench/baseline_disk.py --port 8100 --library DIR --workdir /tmp/x``

What it measures, and why. The system planstream replaces (its write-up is
``shared/reference/000_5ccd0f05c84c3f59.txt``) answered a download like this:

1. generate every file of the plan into a folder on disk (documents written,
   the centre's materials copied in);
2. ``zipfile.ZipFile(BytesIO(), "w", ZIP_DEFLATED)``, walking the folder
   with ``os.walk`` and ``zipf.write(path, arcname)`` with the arcname
   relative to the parent folder (so names start with the plan's folder);
3. ``shutil.rmtree`` the folder (the "storage optimisation" of its write-up);
4. send the ``BytesIO`` (Flask ``send_file``).

Its write-up claims ~30 MB peak memory per download and 66 concurrent
downloads on a 2 GB server; planstream's design notes measured 5.9 s before
the first byte and about 180 MiB per download. This server reproduces steps
1-4 with the same plan content as every other server in the comparison
(names, document bytes and material files from planstream's generators), so
``compare.py`` can put its measured time to first byte and memory per
download next to those claims.

Only the framework differs: Flask ran the work in a request thread; here the
blocking work (steps 1-3) runs in the default thread pool with
``asyncio.to_thread`` and the ``BytesIO`` is sent as the response body
(aiohttp streams it in chunks, as Flask's ``send_file`` does). The work folder
is under ``--workdir`` (a temporary folder; never the repository), one
uniquely named subfolder per request, removed before the bytes are sent and
also when anything fails.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from aiohttp import web
from peer_common import (
    LIBRARY,
    base_parser,
    download_headers,
    plan_content,
    plan_request,
    serve,
)

from generators.library import Library
from generators.request import PlanRequest

WORKDIR: web.AppKey[Path] = web.AppKey("workdir")


def create_zip_from_folder(folder: str, base: str) -> io.BytesIO:
    """Deflate every file under ``folder`` into a BytesIO, arcnames relative to ``base``."""
    memory_file = io.BytesIO()
    with zipfile.ZipFile(memory_file, "w", zipfile.ZIP_DEFLATED) as zipf:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                zipf.write(path, os.path.relpath(path, base))
    memory_file.seek(0)
    return memory_file


def build_download(
    req: PlanRequest, library: Library | None, workdir: Path
) -> tuple[str, io.BytesIO]:
    """Steps 1-3: plan folder on disk, zipped into memory, folder deleted."""
    content = plan_content(req, library)
    base = tempfile.mkdtemp(prefix="plan-", dir=workdir)  # unique per request
    try:
        for m in content.members:
            dest = os.path.join(base, m.name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if m.path is not None:
                shutil.copyfile(m.path, dest)
            else:
                with open(dest, "wb") as f:
                    f.write(m.render())
            os.utime(dest, (m.mtime, m.mtime))
        top = content.members[0].name.split("/", 1)[0]
        memory_file = create_zip_from_folder(os.path.join(base, top), base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return content.filename, memory_file


async def download(request: web.Request) -> web.StreamResponse:
    req = plan_request(request)
    filename, memory_file = await asyncio.to_thread(
        build_download, req, request.app[LIBRARY], request.app[WORKDIR]
    )
    return web.Response(body=memory_file, headers=download_headers(filename))


def main() -> int:
    p = base_parser("the replaced disk + BytesIO design (benchmark baseline)")
    p.add_argument("--workdir", type=Path, required=True, help="folder for per-request plans")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    async def remember(app: web.Application) -> None:
        app[WORKDIR] = args.workdir

    return serve(args, download, on_startup=[remember])


if __name__ == "__main__":
    sys.exit(main())
