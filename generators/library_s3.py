"""A materials library in an S3-compatible bucket: indexed at start, CRCs kept in the bucket.

``s3://bucket/prefix`` holds the same layout as a folder library
(``<dimension>/<level 1-5>/<file>``). Indexing lists the prefix
(ListObjectsV2: key, size, ETag, LastModified) and finds each object's CRC-32
in the cheapest place that is trustworthy:

1. the **index object** ``<prefix>/.planstream-crc32.json``, written by an
   earlier start or another node, when its entry has the object's ETag and size
   (an ETag that changed means the object was replaced: it is indexed again);
2. the object's **stored checksum** (HeadObject with checksum mode), only when
   it is a full-object CRC32. A composite multipart value (``...-N``) or one
   typed ``COMPOSITE`` is a CRC of part CRCs, not of the bytes; a CRC32 with no
   type and no ``-N`` is whole-object, as older APIs and moto report it;
3. otherwise the object is **read once** and its CRC computed, a few objects
   at a time.

What was learned is written back to the index object with a conditional put
(``If-None-Match: *`` to create it, ``If-Match`` on the ETag that was read to
replace it), so two nodes starting together never lose each other's work: on
412 the index is read again, merged and retried. Nothing touches local disk.

The bucket is reached through ``Store``, a small protocol with the five calls
indexing needs; ``BotoStore`` implements it with aiobotocore. Credentials
come only from the standard AWS chain (environment, shared config, instance
role): no flag takes them, so none shows in ``ps``.

``python -m generators.library index s3://bucket/prefix`` runs the same
indexing as an admin step and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import sys
import threading
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .archive import ObjectSource, crc32
from .library import LEVELS, PROGRESS_EVERY, Change, Library, LibraryError, Material
from .worksheets.base import DIMENSIONS

log = logging.getLogger("planstream.library")

INDEX_NAME = ".planstream-crc32.json"
INDEX_FORMAT = "planstream-crc32-index/1"
CRC_PARALLEL = 4  # objects read at once to compute CRCs (network bound, not CPU)
READ_CHUNK = 1 << 20  # bytes per read while computing a CRC
PUT_TRIES = 5  # conditional puts of the index object before giving up (logged, not fatal)


@dataclass(frozen=True, slots=True)
class S3Location:
    """A bucket and a key prefix ("" or ending in "/")."""

    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def index_key(self) -> str:
        return self.prefix + INDEX_NAME


def is_s3_url(text: str | None) -> bool:
    return bool(text) and str(text).startswith("s3://")


def parse_url(url: str) -> S3Location:
    """``s3://bucket/some/prefix`` -> S3Location; LibraryError naming the URL otherwise."""
    if not url.startswith("s3://"):
        raise LibraryError(f"library {url!r} is not an s3:// URL")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket or "/" in bucket:
        raise LibraryError(f"library {url!r}: no bucket name (use s3://bucket/prefix)")
    prefix = prefix.strip("/")
    return S3Location(bucket, prefix + "/" if prefix else "")


@dataclass(frozen=True, slots=True)
class Listed:
    """One object as ListObjectsV2 reports it."""

    key: str
    size: int
    etag: str
    mtime: int  # LastModified, whole seconds (what every node's listing agrees on)


@dataclass(frozen=True, slots=True)
class Indexed:
    listed: Listed
    crc: int
    how: str  # "index", "checksum" or "computed"


class Store(Protocol):
    """The bucket calls indexing needs; errors are raised as LibraryError with the reason."""

    def list(self, prefix: str) -> AsyncIterator[Listed]: ...

    async def head_checksum(self, key: str, etag: str) -> tuple[str | None, str | None]: ...

    def read(self, key: str, etag: str) -> AsyncIterator[bytes]: ...

    async def get_index(self, key: str) -> tuple[bytes, str] | None: ...

    async def put_index(self, key: str, body: bytes, if_match: str | None) -> bool: ...


def _multipart(etag: str) -> bool:
    """An ETag of the form "<hex>-N" belongs to a multipart upload."""
    tail = etag.strip('"').rpartition("-")[2]
    return "-" in etag and tail.isdigit()


def full_object_crc32(value: str | None, checksum_type: str | None, etag: str = "") -> int | None:
    """The CRC-32 of the object's bytes from a stored checksum, or None if it is not one.

    ``value`` is base64 of the big-endian CRC. Not one: ``...-N`` (a composite
    of N part checksums), anything typed COMPOSITE, and an untyped value on a
    multipart object (ETag ``...-N``): before S3 had full-object multipart
    checksums every multipart checksum was composite, and moto's HeadObject
    reports a composite value with neither ``-N`` nor a type (seen with moto
    5.2), so only an explicit FULL_OBJECT is trusted there.
    """
    kind = (checksum_type or "").upper()
    if not value or "-" in value or kind == "COMPOSITE":
        return None
    if _multipart(etag) and kind != "FULL_OBJECT":
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big") if len(raw) == 4 else None


@dataclass
class Summary:
    """What one indexing run did, for the log line and the admin command."""

    location: str
    objects: int = 0
    bytes: int = 0
    from_index: int = 0
    from_checksum: int = 0
    computed: int = 0
    computed_bytes: int = 0
    reindexed: int = 0  # entries of the index object whose ETag no longer matched
    index_written: bool = False
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.objects} objects, {self.bytes >> 20} MiB in {self.location}: "
            f"CRC-32 from the index object {self.from_index}, from stored checksums "
            f"{self.from_checksum}, computed {self.computed} "
            f"({self.computed_bytes >> 20} MiB read), "
            f"changed since indexed {self.reindexed}; index object "
            f"{'written' if self.index_written else 'unchanged'}; {self.seconds:.1f} s"
        )


def _shelf_of(rel: str) -> tuple[str, int, str] | None:
    """(dimension, level, name) of a key below the prefix, or None if it is not a material."""
    parts = rel.split("/")
    if len(parts) != 3 or any(p.startswith(".") or not p for p in parts):
        return None
    dim, level, name = parts
    if dim not in DIMENSIONS or level not in {str(v) for v in LEVELS}:
        return None
    return dim, int(level), unicodedata.normalize("NFC", name)


def _parse_index(raw: bytes | None) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    try:
        doc = json.loads(raw)
        if doc.get("format") != INDEX_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}")
        return {k: v for k, v in doc["objects"].items() if isinstance(v, dict)}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("library: ignoring an unreadable index object (%s); rebuilding it", exc)
        return {}


def _index_body(entries: dict[str, dict[str, Any]]) -> bytes:
    doc = {"format": INDEX_FORMAT, "objects": dict(sorted(entries.items()))}
    return json.dumps(doc, ensure_ascii=False, indent=0, sort_keys=True).encode("utf-8")


def _entry(item: Indexed) -> dict[str, Any]:
    return {"etag": item.listed.etag, "size": item.listed.size, "crc32": f"{item.crc:08x}"}


def _known(entry: dict[str, Any] | None, obj: Listed) -> int | None:
    if not entry or entry.get("etag") != obj.etag or entry.get("size") != obj.size:
        return None
    try:
        return int(str(entry["crc32"]), 16)
    except (KeyError, ValueError):
        return None


async def _compute(store: Store, obj: Listed) -> int:
    value = 0
    seen = 0
    async for data in store.read(obj.key, obj.etag):
        value = crc32(data, value)
        seen += len(data)
    if seen != obj.size:
        raise LibraryError(f"s3 object {obj.key!r}: read {seen} bytes, listed {obj.size}")
    return value


class _Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.last = time.monotonic()

    def tick(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            log.info("library: %d of %d objects indexed", self.done, self.total)
            self.last = now


async def _crc_of(
    store: Store, obj: Listed, known: int | None, gate: asyncio.Semaphore, summary: Summary
) -> Indexed:
    if known is not None:
        summary.from_index += 1
        return Indexed(obj, known, "index")
    async with gate:
        value, kind = await store.head_checksum(obj.key, obj.etag)
        stored = full_object_crc32(value, kind, obj.etag)
        if stored is not None:
            summary.from_checksum += 1
            return Indexed(obj, stored, "checksum")
        crc = await _compute(store, obj)
    summary.computed += 1
    summary.computed_bytes += obj.size
    return Indexed(obj, crc, "computed")


async def index_objects(
    store: Store, loc: S3Location, parallel: int = CRC_PARALLEL
) -> tuple[list[tuple[tuple[str, int, str], Indexed]], Summary]:
    """List the prefix and find every material's CRC-32; write back what was learned."""
    started = time.monotonic()
    summary = Summary(loc.url)
    wanted: list[tuple[tuple[str, int, str], Listed]] = []
    async for obj in store.list(loc.prefix):
        rel = obj.key[len(loc.prefix) :]
        shelf = _shelf_of(rel)
        if shelf is None:
            if not rel.split("/")[-1].startswith(".") and not rel.endswith("/"):
                summary.skipped.append(obj.key)  # hidden files and folder markers silently
            continue
        wanted.append((shelf, obj))
    if summary.skipped:
        log.warning(
            "library: ignoring %d objects outside <dimension>/<level 1-5>/<file>, e.g. %s "
            "(dimensions: %s)",
            len(summary.skipped),
            summary.skipped[0],
            ", ".join(DIMENSIONS),
        )
    if not wanted:
        raise LibraryError(f"library {loc.url} has no objects in <dimension>/<level 1-5>/ folders")
    got = await store.get_index(loc.index_key)
    entries = _parse_index(got[0] if got else None)
    gate = asyncio.Semaphore(parallel)
    progress = _Progress(len(wanted))

    async def one(obj: Listed) -> Indexed:
        known = _known(entries.get(obj.key), obj)
        if known is None and obj.key in entries:
            summary.reindexed += 1
        item = await _crc_of(store, obj, known, gate, summary)
        progress.tick()
        return item

    items = await asyncio.gather(*(one(obj) for _, obj in wanted))
    summary.objects = len(items)
    summary.bytes = sum(i.listed.size for i in items)
    learned = {i.listed.key: _entry(i) for i in items if i.how != "index"}
    listed = {i.listed.key for i in items}
    if learned or set(entries) - listed:
        summary.index_written = await _write_index(store, loc, got, learned, listed)
    summary.seconds = time.monotonic() - started
    return [(shelf, item) for (shelf, _), item in zip(wanted, items, strict=True)], summary


async def _write_index(
    store: Store,
    loc: S3Location,
    got: tuple[bytes, str] | None,
    learned: dict[str, dict[str, Any]],
    listed: set[str],
) -> bool:
    """Merge what this run learned into the index object, with conditional puts.

    Entries of objects that are no longer listed are dropped; an entry another
    node wrote meanwhile is kept unless this run has one for the same key.
    """
    for _ in range(PUT_TRIES):
        entries = _parse_index(got[0] if got else None)
        merged = {k: v for k, v in entries.items() if k in listed}
        merged.update(learned)
        if got is not None and merged == entries:
            return False
        if await store.put_index(loc.index_key, _index_body(merged), got[1] if got else None):
            return True
        got = await store.get_index(loc.index_key)  # someone else wrote it: merge again
    log.warning("library: index object %s kept changing; not updated this time", loc.index_key)
    return False


async def refresh_object(store: Store, loc: S3Location, key: str) -> ObjectSource | None:
    """Index one object again (after a read found it changed); None if it is gone.

    The listing, not HeadObject, gives size, ETag and LastModified, so the
    new entry is the same one another node's start-up listing would make.
    """
    obj = None
    async for listed in store.list(key):
        if listed.key == key:
            obj = listed
    if obj is None:
        return None
    got = await store.get_index(loc.index_key)
    entries = _parse_index(got[0] if got else None)
    summary = Summary(loc.url)
    item = await _crc_of(store, obj, _known(entries.get(key), obj), asyncio.Semaphore(1), summary)
    if item.how != "index":
        listed_keys = set(entries) | {key}
        await _write_index(store, loc, got, {key: _entry(item)}, listed_keys)
    return ObjectSource(obj.key, obj.size, item.crc, obj.etag, obj.mtime * 1_000_000_000)


def objects_of(library: Library) -> dict[str, ObjectSource]:
    """Key -> source of every material that is an object (Material is typed for files)."""
    out: dict[str, ObjectSource] = {}
    for m in library:
        src: object = m.source
        if isinstance(src, ObjectSource):
            out[src.key] = src
    return out


class S3Library(Library):
    """A Library whose materials are objects: an immutable snapshot, like a folder's.

    ``scan()`` finds nothing (an object has no cheap stat: a changed one is
    found by the ETag-conditioned read, which re-indexes it); ``replaced``
    makes the next snapshot with one object re-indexed.
    """

    def __init__(
        self,
        location: S3Location,
        shelves: dict[tuple[str, int], tuple[Material, ...]],
        endpoint: str | None,
        generation: int = 0,
    ) -> None:
        super().__init__(location.url, shelves, generation)
        self.location = location
        self.endpoint = endpoint

    def scan(self) -> list[Change]:
        return []

    @classmethod
    def load(cls, root: str, previous: Library | None = None) -> S3Library:
        """Index the bucket again (SIGHUP): the index object spares every unchanged object."""
        endpoint = previous.endpoint if isinstance(previous, S3Library) else None
        fresh = load_bucket(root, endpoint)
        generation = previous.generation + 1 if previous is not None else 0
        return cls(fresh.location, fresh._shelves, fresh.endpoint, generation)

    def diff(self, new: Library) -> list[Change]:
        old, now = objects_of(self), objects_of(new)
        changes = [Change(k, "vanished") for k in old if k not in now]
        changes += [Change(k, "added") for k in now if k not in old]
        changes += [
            Change(k, "changed") for k, src in now.items() if k in old and old[k].etag != src.etag
        ]
        return sorted(changes, key=lambda c: c.path)

    def replaced(self, key: str, source: ObjectSource | None) -> S3Library | None:
        """The next snapshot with ``key``'s material swapped (None drops it); None if absent."""
        shelves: dict[tuple[str, int], tuple[Material, ...]] = {}
        found = False
        for shelf_key, shelf in self._shelves.items():
            kept: list[Material] = []
            for m in shelf:
                src: object = m.source
                if isinstance(src, ObjectSource) and src.key == key:
                    found = True
                    if source is not None:
                        new = Material(m.dimension, m.level, m.name, source)  # type: ignore[arg-type]
                        kept.append(new)
                else:
                    kept.append(m)
            if kept:
                shelves[shelf_key] = tuple(kept)
        if not found:
            return None
        return S3Library(self.location, shelves, self.endpoint, self.generation + 1)


def library_from(
    loc: S3Location, found: Iterable[tuple[tuple[str, int, str], Indexed]], endpoint: str | None
) -> S3Library:
    shelves: dict[tuple[str, int], list[Material]] = {}
    for (dim, level, name), item in found:
        obj = item.listed
        source = ObjectSource(obj.key, obj.size, item.crc, obj.etag, obj.mtime * 1_000_000_000)
        # Material is typed for files; S3Library overrides every method that needs a path.
        material = Material(dim, level, name, source)  # type: ignore[arg-type]
        shelves.setdefault((dim, level), []).append(material)
    ordered = {k: tuple(sorted(v, key=lambda m: m.name)) for k, v in shelves.items()}
    return S3Library(loc, ordered, endpoint)


# -- aiobotocore ------------------------------------------------------------


def client_config(pool: int, read_timeout: float, attempts: int = 3, **connector: Any) -> Any:
    """AioConfig: a bounded pool, timeouts, checksums only where the API requires them.

    botocore adds a CRC32 to every upload and validates checksums of whole
    GETs by default; ranged reads carry none, and the index computes its own,
    so both are turned off here (``when_required``).
    """
    from aiobotocore.config import AioConfig

    return AioConfig(
        max_pool_connections=pool,
        connect_timeout=10,
        read_timeout=read_timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connector_args=connector or None,
    )


@contextlib.asynccontextmanager
async def s3_client(
    endpoint: str | None,
    pool: int = 8,
    read_timeout: float = 60.0,
    attempts: int = 3,
    **connector: Any,
) -> AsyncIterator[Any]:
    """An S3 client from the standard credential chain; ``endpoint`` None = AWS_ENDPOINT_URL."""
    from aiobotocore.session import get_session

    session = get_session()
    region = session.get_config_variable("region") or "us-east-1"
    config = client_config(pool, read_timeout, attempts, **connector)
    async with session.create_client(
        "s3", endpoint_url=endpoint or None, region_name=region, config=config
    ) as client:
        yield client


def explain(exc: BaseException, loc: S3Location, endpoint: str | None) -> LibraryError:
    """A start-up error an operator can act on, from a botocore exception."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    where = f"{loc.url} (endpoint {endpoint or os.environ.get('AWS_ENDPOINT_URL') or 'AWS'})"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return LibraryError(
            f"library {where}: no AWS credentials found (set AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY, a shared config profile, or an instance role)"
        )
    if isinstance(exc, EndpointConnectionError):
        return LibraryError(f"library {where}: cannot reach the endpoint: {exc}")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchBucket", "404"):
            return LibraryError(f"library {where}: bucket {loc.bucket!r} does not exist")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            return LibraryError(f"library {where}: the credentials were refused ({code})")
        return LibraryError(f"library {where}: {code or 'error'}: {exc}")
    return LibraryError(f"library {where}: {type(exc).__name__}: {exc}")


class BotoStore:
    """``Store`` over an aiobotocore S3 client."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def list(self, prefix: str) -> AsyncIterator[Listed]:
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                mtime = int(item["LastModified"].timestamp())
                yield Listed(item["Key"], int(item["Size"]), item["ETag"], mtime)

    async def head_checksum(self, key: str, etag: str) -> tuple[str | None, str | None]:
        head = await self.client.head_object(
            Bucket=self.bucket, Key=key, IfMatch=etag, ChecksumMode="ENABLED"
        )
        return head.get("ChecksumCRC32"), head.get("ChecksumType")

    async def read(self, key: str, etag: str) -> AsyncIterator[bytes]:
        resp = await self.client.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)
        async with resp["Body"] as body:
            while data := await body.read(READ_CHUNK):
                yield data

    async def get_index(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        try:
            resp = await self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        async with resp["Body"] as body:
            return await body.read(), resp["ETag"]

    async def put_index(self, key: str, body: bytes, if_match: str | None) -> bool:
        from botocore.exceptions import ClientError

        cond = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
        try:
            await self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **cond
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False
            raise
        return True


async def index_bucket(
    url: str, endpoint: str | None = None, parallel: int = CRC_PARALLEL
) -> tuple[S3Library, Summary]:
    """Index ``s3://bucket/prefix``; LibraryError with the reason if it cannot be used."""
    from botocore.exceptions import BotoCoreError, ClientError

    loc = parse_url(url)
    try:
        async with s3_client(endpoint, pool=max(parallel, 2) + 2) as client:
            found, summary = await index_objects(BotoStore(client, loc.bucket), loc, parallel)
    except (BotoCoreError, ClientError) as exc:
        raise explain(exc, loc, endpoint) from exc
    return library_from(loc, found, endpoint), summary


def run_off_loop(fn: Callable[[], Any]) -> Any:
    """Run a coroutine factory to completion in a thread of its own, returning its result.

    Start-up code (``build_state``) is synchronous and may be called while an
    event loop already runs (``python -m server`` builds the app inside
    ``asyncio.run``); a fresh loop in a thread serves both cases.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="s3-index")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def open_library(root: str, endpoint: str | None = None) -> Library:
    """The library at ``root``: an s3:// URL or a folder."""
    return load_bucket(root, endpoint) if is_s3_url(root) else Library.load(root)


def load_bucket(url: str, endpoint: str | None = None) -> S3Library:
    """Index the bucket at start-up (synchronously); logs the summary."""
    log.info("library: indexing %s", url)
    library, summary = run_off_loop(lambda: index_bucket(url, endpoint))
    log.info("library: %s", summary.line())
    return library


def main(argv: list[str] | None = None) -> int:
    """``python -m generators.library index s3://bucket/prefix [--s3-endpoint URL]``."""
    parser = argparse.ArgumentParser(
        prog="python -m generators.library",
        description="Index a materials library in an S3-compatible bucket ahead of a start: "
        "CRC-32s are computed where needed and kept in the bucket's index object. "
        "Credentials come from the standard AWS chain (environment, shared config, role).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    idx = sub.add_parser("index", help="index s3://bucket/prefix and print a summary")
    idx.add_argument("url", help="s3://bucket/prefix")
    idx.add_argument("--s3-endpoint", help="S3-compatible endpoint (default: AWS_ENDPOINT_URL)")
    idx.add_argument("--parallel", type=int, default=CRC_PARALLEL, help="objects read at once")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    endpoint = args.s3_endpoint or os.environ.get("PLANSTREAM_S3_ENDPOINT")
    try:
        _, summary = asyncio.run(index_bucket(args.url, endpoint, max(1, args.parallel)))
    except LibraryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
