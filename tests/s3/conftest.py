"""Fixtures for the S3 library: a moto server, buckets filled the ways real uploads fill them.

Materials are uploaded four ways, because each leaves a different stored
checksum and the index must treat each correctly:

- ``plain``: PutObject with no checksum at all (computed by streaming);
- ``crc32``: PutObject with a CRC32 (a whole-object value, no type: trusted);
- ``composite``: multipart upload with CRC32 parts (``...-N``, COMPOSITE: not trusted);
- ``full``: multipart upload typed FULL_OBJECT CRC32 (trusted).

The same bytes are written to a folder too, so a test can compare an
S3-backed plan with a folder-backed one.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from generators.worksheets.base import DIMENSIONS

from .moto_s3 import CREDENTIALS, MotoS3

PART = 5 << 20  # S3's smallest multipart part (all but the last)
KINDS = ("plain", "crc32", "composite", "full")
_buckets = itertools.count(1)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoS3]:
    server = MotoS3()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials through the standard chain (environment), never a flag."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def s3(moto: MotoS3) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=BotoConfig(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def new_bucket(moto: MotoS3) -> str:
    name = f"materials-{next(_buckets)}-{id(moto) % 10000}"
    s3(moto).create_bucket(Bucket=name)
    return name


def material(seed: str, size: int) -> bytes:
    """Deterministic incompressible bytes (like real media)."""
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (size // 32 + 1))[:size]


def upload(client: Any, bucket: str, key: str, data: bytes, kind: str) -> None:
    """Upload ``data`` the way ``kind`` names (see the module docstring)."""
    if kind == "plain":
        client.put_object(Bucket=bucket, Key=key, Body=data)
    elif kind == "crc32":
        client.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="CRC32")
    else:
        extra = {"ChecksumType": "FULL_OBJECT"} if kind == "full" else {}
        up = client.create_multipart_upload(
            Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", **extra
        )
        parts = []
        chunks = [data[i : i + PART] for i in range(0, len(data), PART)] or [b""]
        for n, chunk in enumerate(chunks, 1):
            r = client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=up["UploadId"],
                PartNumber=n,
                Body=chunk,
                ChecksumAlgorithm="CRC32",
            )
            parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=up["UploadId"],
            MultipartUpload={"Parts": parts},
            **extra,
        )


def fill(
    moto: MotoS3,
    bucket: str,
    prefix: str,
    folder: Path | None = None,
    size: int = 96 * 1024,
    big: int = PART + 64 * 1024,
    per_level: int = 1,
) -> dict[str, str]:
    """``per_level`` materials per shelf of every dimension, uploaded in rotating kinds.

    The first eight objects rotate through all four kinds (multipart ones get
    ``big`` bytes: two parts); the rest alternate plain / crc32 of ``size``
    bytes, to keep the bucket small. Returns key -> kind; with ``folder`` the
    same files are written there as well.
    """
    client = s3(moto)
    counter = itertools.count()
    out: dict[str, str] = {}
    for dim in DIMENSIONS:
        for level in range(1, 6):
            for n in range(per_level):
                i = next(counter)
                kind = KINDS[i % 4] if i < 8 else KINDS[i % 2]
                rel = f"{dim}/{level}/材料 {n + 1} {dim}.bin"
                data = material(rel, big if kind in ("composite", "full") else size)
                upload(client, bucket, prefix + rel, data, kind)
                out[prefix + rel] = kind
                if folder is not None:
                    path = folder / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
    return out
