"""Indexing an S3 library against moto: which CRC-32 is trusted, the index object, errors."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from generators import library_s3
from generators.archive import ObjectSource
from generators.library import LibraryError
from generators.library_s3 import INDEX_NAME, BotoStore, full_object_crc32, index_bucket, s3_client

from .conftest import KINDS, fill, material, new_bucket, s3, upload
from .moto_s3 import CREDENTIALS, MotoS3

REPO = Path(__file__).resolve().parents[2]


def _b64(crc: int) -> str:
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


def test_only_full_object_crc32_values_are_trusted() -> None:
    crc = 0xA5C3_1F00
    assert full_object_crc32(_b64(crc), None, '"ab12"') == crc  # single part, untyped
    assert full_object_crc32(_b64(crc), "FULL_OBJECT", '"ab12"') == crc
    assert full_object_crc32(_b64(crc), "FULL_OBJECT", '"ab12-3"') == crc  # multipart, typed
    assert full_object_crc32(_b64(crc) + "-3", None, '"ab12-3"') is None  # composite value
    assert full_object_crc32(_b64(crc), "COMPOSITE", '"ab12"') is None
    assert full_object_crc32(_b64(crc), None, '"ab12-3"') is None  # untyped on multipart
    assert full_object_crc32(None, None, '"ab12"') is None
    assert full_object_crc32("not base64!", None, '"ab12"') is None
    assert full_object_crc32(base64.b64encode(b"12345678").decode(), None, "") is None


def test_index_trusts_stored_crcs_reads_the_rest_once_and_every_crc_is_right(
    moto: MotoS3,
) -> None:
    bucket = new_bucket(moto)
    kinds = fill(moto, bucket, "centre/lib/")
    before = len(moto.seen(bucket))
    library, summary = asyncio.run(index_bucket(f"s3://{bucket}/centre/lib", moto.endpoint))
    counts = Counter(kinds.values())
    assert set(counts) == set(KINDS)
    assert summary.objects == len(library) == len(kinds)
    assert summary.from_checksum == counts["crc32"] + counts["full"]
    assert summary.computed == counts["plain"] + counts["composite"]
    assert summary.index_written
    # Every CRC equals zlib's over the uploaded bytes, whatever its origin.
    for m in library:
        assert isinstance(m.source, ObjectSource)
        rel = m.source.key.removeprefix("centre/lib/")
        data = material(rel, m.source.size)
        assert m.source.crc == zlib.crc32(data), (m.source.key, kinds[m.source.key])
    # Bodies were read exactly for the objects without a trustworthy stored CRC.
    new = moto.seen(bucket)[before:]
    read = {r.path.removeprefix(f"/{bucket}/") for r in new if r.method == "GET" and not r.query}
    computed = {k for k, kind in kinds.items() if kind in ("plain", "composite")}
    assert read - {"centre/lib/" + INDEX_NAME} == computed


def test_second_start_reads_only_the_listing_and_the_index_object(moto: MotoS3) -> None:
    bucket = new_bucket(moto)
    kinds = fill(moto, bucket, "")
    first, _ = asyncio.run(index_bucket(f"s3://{bucket}", moto.endpoint))
    mark = len(moto.seen(bucket))
    second, summary = asyncio.run(index_bucket(f"s3://{bucket}/", moto.endpoint))
    assert summary.from_index == len(kinds) and summary.computed == summary.from_checksum == 0
    assert not summary.index_written
    calls = [(r.method, r.path, r.query.split("&")[0]) for r in moto.seen(bucket)[mark:]]
    assert calls == [("GET", f"/{bucket}", "list-type=2"), ("GET", f"/{bucket}/{INDEX_NAME}", "")]
    assert [m.source.identity() for m in first] == [m.source.identity() for m in second]


def test_a_replaced_object_is_indexed_again(moto: MotoS3) -> None:
    bucket = new_bucket(moto)
    kinds = fill(moto, bucket, "p/")
    asyncio.run(index_bucket(f"s3://{bucket}/p", moto.endpoint))
    key = next(k for k, kind in kinds.items() if kind == "plain")
    data = b"replaced " * 5000
    upload(s3(moto), bucket, key, data, "plain")
    library, summary = asyncio.run(index_bucket(f"s3://{bucket}/p", moto.endpoint))
    assert summary.reindexed == 1 and summary.computed == 1 and summary.index_written
    source = next(m.source for m in library if m.source.key == key)
    assert source.crc == zlib.crc32(data) and source.size == len(data)
    doc = json.loads(s3(moto).get_object(Bucket=bucket, Key="p/" + INDEX_NAME)["Body"].read())
    assert doc["objects"][key] == {
        "etag": source.etag,
        "size": len(data),
        "crc32": f"{zlib.crc32(data):08x}",
    }


def test_index_object_puts_are_conditional(moto: MotoS3) -> None:
    """moto honours If-None-Match: * and If-Match on PutObject, as S3 does since 2024."""
    bucket = new_bucket(moto)

    async def run() -> list[bool]:
        async with s3_client(moto.endpoint) as client:
            store = BotoStore(client, bucket)
            created = await store.put_index("i.json", b"{}", None)
            again = await store.put_index("i.json", b"{}", None)  # exists: refused
            got = await store.get_index("i.json")
            assert got is not None
            stale = await store.put_index("i.json", b"{}", '"0000"')
            fresh = await store.put_index("i.json", b'{"a":1}', got[1])
            return [created, again, stale, fresh]

    assert asyncio.run(run()) == [True, False, False, True]


def test_two_nodes_indexing_at_once_keep_each_others_entries(moto: MotoS3) -> None:
    bucket = new_bucket(moto)
    kinds = fill(moto, bucket, "")

    async def both() -> None:
        await asyncio.gather(
            index_bucket(f"s3://{bucket}", moto.endpoint),
            index_bucket(f"s3://{bucket}", moto.endpoint),
        )

    asyncio.run(both())
    doc = json.loads(s3(moto).get_object(Bucket=bucket, Key=INDEX_NAME)["Body"].read())
    assert set(doc["objects"]) == set(kinds)


def test_empty_prefix_and_missing_bucket_are_clear_errors(moto: MotoS3) -> None:
    bucket = new_bucket(moto)
    fill(moto, bucket, "lib/")
    with pytest.raises(LibraryError, match=r"has no objects in <dimension>/<level 1-5>/"):
        asyncio.run(index_bucket(f"s3://{bucket}/elsewhere", moto.endpoint))
    with pytest.raises(LibraryError, match=r"bucket 'no-such-bucket-x' does not exist"):
        asyncio.run(index_bucket("s3://no-such-bucket-x/lib", moto.endpoint))
    with pytest.raises(LibraryError, match="no bucket name"):
        library_s3.parse_url("s3:///lib")


def test_no_credentials_is_a_clear_error(moto: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(LibraryError, match="no AWS credentials found"):
        asyncio.run(index_bucket("s3://any-bucket/lib", moto.endpoint))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto_with_auth() -> Iterator[str]:
    """A second moto server, in its own process, that checks access keys (IAM auth on)."""
    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_refused_credentials_are_a_clear_error(moto_with_auth: str) -> None:
    with pytest.raises(LibraryError, match=r"credentials were refused \(InvalidAccessKeyId\)"):
        asyncio.run(index_bucket("s3://any-bucket/lib", moto_with_auth))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **CREDENTIALS}
    return subprocess.run(
        [sys.executable, "-m", "generators.library", "index", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def test_admin_index_command_prints_a_summary(moto: MotoS3) -> None:
    bucket = new_bucket(moto)
    kinds = fill(moto, bucket, "lib/")
    first = _cli(f"s3://{bucket}/lib", "--s3-endpoint", moto.endpoint)
    assert first.returncode == 0, first.stderr
    computed = sum(1 for k in kinds.values() if k in ("plain", "composite"))
    assert f"{len(kinds)} objects" in first.stdout
    assert f"computed {computed} " in first.stdout and "index object written" in first.stdout
    second = _cli(f"s3://{bucket}/lib", "--s3-endpoint", moto.endpoint)
    assert f"from the index object {len(kinds)}," in second.stdout
    assert "index object unchanged" in second.stdout
    missing = _cli("s3://no-such-bucket-y/lib", "--s3-endpoint", moto.endpoint)
    assert missing.returncode == 2
    assert "bucket 'no-such-bucket-y' does not exist" in missing.stderr
