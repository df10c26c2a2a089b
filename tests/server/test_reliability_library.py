"""A library file changed while serving: detected, re-indexed, reported, never shipped wrong.

Each test starts a download, changes one material of its plan behind the
server's back (an atomic replacement of another size, or an edit in place
of the same size with the mtime put back, which only the ctime reveals),
and checks: the started download is cut (truncated, never a clean end), a
new link gets a new size and ETag and downloads a valid ZIP (``zipfile``
and Info-ZIP ``unzip -t``) with the new bytes, a resume of the old download
with ``If-Range`` of the old ETag gets 200 and the new archive, and
``/healthz`` and ``/metrics`` report the change. No restart in between.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import zipfile
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from generators.archive import FileSource
from generators.request import PlanRequest
from server.state import STATE

from ..tools import require_tool
from .conftest import PLAN
from .test_failures import _outcomes, _raw_get, _wait_for


def _first_material(app) -> tuple[str, str]:
    """(path on disk, name in the archive) of the plan's first library file."""
    layout = app[STATE].archive_for(PlanRequest.from_mapping(PLAN)).layout
    for name, entry in zip(layout.names, layout.entries, strict=True):
        if isinstance(entry.source, FileSource):
            return entry.source.path, name
    raise AssertionError("the plan has no library file")


def _replace_other_size(path: str) -> bytes:
    new = os.urandom(100_000)
    tmp = path + ".new"
    Path(tmp).write_bytes(new)
    os.replace(tmp, path)  # atomic rename, as a sync tool or an editor does
    return new


def _edit_same_size_keep_mtime(path: str) -> bytes:
    st = os.stat(path)
    data = bytearray(Path(path).read_bytes())
    data[:4096] = os.urandom(4096)
    with open(path, "r+b") as f:
        f.write(data[:4096])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as before
    assert os.stat(path).st_size == st.st_size
    return bytes(data)


CHANGES = {
    "other-size": _replace_other_size,
    "same-size-mtime-restored": _edit_same_size_keep_mtime,
}


async def _read_to_end(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Body bytes read until the server closed, and whether it was a reset."""
    got = 0
    while True:
        try:
            data = await asyncio.wait_for(reader.read(65536), 10)
        except ConnectionError:
            return got, True
        if not data:
            return got, False
        got += len(data)


def _check_zip(data: bytes, tmp_path: Path, member: str, content: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert zf.read(member) == content
    path = tmp_path / "new.zip"
    path.write_bytes(data)
    unzip = require_tool("unzip")
    result = subprocess.run([unzip, "-t", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


async def _health(client: TestClient) -> dict:
    return await (await client.get("/healthz")).json()


@pytest.mark.parametrize("change", list(CHANGES))
async def test_changed_file_is_reindexed_without_restart(
    aiohttp_client, app_factory, tmp_path, change
):
    app = app_factory(library_scan=0.1)
    client = await aiohttp_client(app)
    old = await (await client.post("/api/plans", json=PLAN)).json()
    path, member = _first_material(app)

    # A download over the old file: headers and a little body, then the change.
    reader, writer, head = await _raw_get(client, old["download_url"], rcvbuf=4096)
    assert head.startswith(b"HTTP/1.1 200") and f"{old['size']}".encode() in head
    await reader.readexactly(2000)
    content = CHANGES[change](path)

    async def reindexed() -> bool:
        return (await _health(client))["library"]["changed"] == 1

    await _wait_for(reindexed, 5.0)  # the periodic scan, no restart, no request needed
    got, _reset = await _read_to_end(reader)
    assert 2000 + got < old["size"], "the started download must be cut, not completed"
    writer.close()
    await _wait_for(lambda: _counted(client, "failed", 1), 3.0)

    # A new link: the new size and CRC, hence a new ETag; a valid ZIP with the new bytes.
    new = await (await client.post("/api/plans", json=PLAN)).json()
    assert new["etag"] != old["etag"]
    if change == "other-size":
        assert new["size"] != old["size"]
    resp = await client.get(new["download_url"])
    data = await resp.read()
    assert resp.status == 200 and resp.headers["ETag"] == new["etag"]
    assert len(data) == new["size"]
    _check_zip(data, tmp_path, member, content)

    # The old link resumed with If-Range of the old ETag: 200, the whole new archive.
    resp = await client.get(
        old["download_url"], headers={"Range": "bytes=2000-", "If-Range": old["etag"]}
    )
    assert resp.status == 200 and resp.headers["ETag"] == new["etag"]
    assert await resp.read() == data

    health = await _health(client)
    assert health["status"] == "ok"
    lib = health["library"]
    assert lib["changed"] == 1 and lib["vanished"] == 0 and lib["generation"] == 1
    rel = os.path.relpath(path, app[STATE].library.root)
    assert lib["recent"][-1]["path"] == rel and lib["recent"][-1]["change"] == "changed"
    metrics = await (await client.get("/metrics")).text()
    assert 'planstream_library_file_changes_total{change="changed"} 1' in metrics


async def _counted(client: TestClient, outcome: str, n: int) -> bool:
    return (await _outcomes(client)).get(outcome, 0) == n


async def test_a_cut_download_triggers_a_reindex_at_once(aiohttp_client, app_factory, tmp_path):
    """With the periodic scan off, the download that finds the change asks for the re-index."""
    app = app_factory(library_scan=0)
    client = await aiohttp_client(app)
    old = await (await client.post("/api/plans", json=PLAN)).json()
    path, member = _first_material(app)
    content = _replace_other_size(path)
    resp = await client.get(old["download_url"])
    with pytest.raises(Exception):  # noqa: B017 - aiohttp's payload error: truncated
        await resp.read()
    await _wait_for(lambda: _generation_is(client, 1), 3.0)
    new = await (await client.post("/api/plans", json=PLAN)).json()
    data = await (await client.get(new["download_url"])).read()
    _check_zip(data, tmp_path, member, content)


async def _generation_is(client: TestClient, n: int) -> bool:
    return (await _health(client))["library"]["generation"] == n


async def test_vanished_file_is_reported_and_plans_use_the_rest(
    aiohttp_client, app_factory, tmp_path
):
    app = app_factory(library_scan=0.1)
    client = await aiohttp_client(app)
    old = await (await client.post("/api/plans", json=PLAN)).json()
    path, _member = _first_material(app)
    os.unlink(path)
    await _wait_for(lambda: _generation_is(client, 1), 5.0)
    lib = (await _health(client))["library"]
    assert lib["vanished"] == 1 and lib["recent"][-1]["change"] == "vanished"
    new = await (await client.post("/api/plans", json=PLAN)).json()
    assert new["etag"] != old["etag"]
    data = await (await client.get(new["download_url"])).read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert os.path.basename(path) not in " ".join(zf.namelist())
    metrics = await (await client.get("/metrics")).text()
    assert 'planstream_library_file_changes_total{change="vanished"} 1' in metrics


async def test_sighup_reindexes_the_whole_library_in_the_background(
    aiohttp_client, app_factory, library_dir
):
    app = app_factory(library_scan=0)
    client = await aiohttp_client(app)
    state = app[STATE]
    assert state.library_watch.hup_installed, "SIGHUP handler missing: the signal would kill us"
    before = len(state.library)
    added = library_dir / "span" / "1" / "新材料.bin"
    added.write_bytes(os.urandom(5000))
    path, _member = _first_material(app)
    _edit_same_size_keep_mtime(path)
    old_library = state.library
    os.kill(os.getpid(), signal.SIGHUP)
    await _wait_for(lambda: _generation_is(client, 1), 5.0)
    assert state.library is not old_library and len(state.library) == before + 1
    lib = (await _health(client))["library"]
    assert (lib["added"], lib["changed"], lib["vanished"]) == (1, 1, 0)
    # Unchanged files kept their index entry (no second read of their bytes).
    kept = {m.source.path: m.source for m in old_library}
    same = [m for m in state.library if m.source.path in kept and m.source.path != path]
    assert same and all(m.source is kept[m.source.path] for m in same)
