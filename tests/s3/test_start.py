"""Starting ``python -m server`` on an S3 library: clear refusals, the endpoint from the env."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generators.library_s3 import index_bucket

from .conftest import fill, new_bucket
from .moto_s3 import CREDENTIALS, MotoS3

REPO = Path(__file__).resolve().parents[2]


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PLANSTREAM_")}
    full.update(CREDENTIALS, PLANSTREAM_SECRET="test-secret-0123456789", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "server", "--port", "1", *args],  # never reaches listen
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full,
        timeout=120,
    )


def test_server_refuses_to_start_on_a_missing_bucket_or_empty_prefix(moto: MotoS3) -> None:
    missing = _start("--library", "s3://no-such-bucket-z/x", "--s3-endpoint", moto.endpoint)
    assert missing.returncode == 2
    assert "cannot start" in missing.stderr and "bucket 'no-such-bucket-z' does not exist" in (
        missing.stderr
    )
    bucket = new_bucket(moto)
    empty = _start("--library", f"s3://{bucket}/nothing-here", "--s3-endpoint", moto.endpoint)
    assert empty.returncode == 2
    assert "has no objects in <dimension>/<level 1-5>/" in empty.stderr


def test_no_flag_takes_credentials() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "server", "--help"], capture_output=True, text=True, cwd=REPO
    ).stdout
    help_text = " ".join(help_text.split())  # argparse wraps lines
    assert "--s3-endpoint" in help_text and "standard AWS chain" in help_text
    for word in ("access-key", "secret-key", "aws-secret", "credential"):
        assert f"--{word}" not in help_text


def test_endpoint_from_aws_endpoint_url(moto: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = new_bucket(moto)
    kinds = fill(moto, bucket, "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    library, summary = asyncio.run(index_bucket(f"s3://{bucket}"))  # no endpoint given
    assert len(library) == summary.objects == len(kinds)
