"""Fixtures for the download service: a small materials library and app factories.

The library is written by the test into its tmp_path (tests may write; the
server may not). Servers run in-process on 127.0.0.1 through pytest-aiohttp,
which starts them with ``handler_cancellation=True`` like ``python -m server``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from generators.dimensions import DIMENSIONS
from generators.library import Library
from server.app import make_app
from server.config import Config

MATERIAL_SIZE = 256 * 1024


def write_library(root: Path, size: int = MATERIAL_SIZE, per_level: int = 2) -> Path:
    """Deterministic pseudo-random files (incompressible, like real media) in every shelf."""
    for dim in DIMENSIONS:
        for level in range(1, 6):
            folder = root / dim / str(level)
            folder.mkdir(parents=True)
            for n in range(per_level):
                seed = f"{dim}/{level}/{n}".encode()
                block = hashlib.sha256(seed).digest() * (size // 32 + 1)
                (folder / f"材料 {n + 1} {dim}.bin").write_bytes(block[:size])
    return root


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    return write_library(tmp_path / "library")


@pytest.fixture
def library(library_dir: Path) -> Library:
    return Library.load(str(library_dir))


PLAN = {
    "name": "张三",
    "mode": "assessment",
    "age": 8,
    "weeks": 2,
    "lessons_per_week": 2,
    "exercises_per_lesson": 4,
    "scores": {"span": 40, "sustained": 55, "selective": 70},
    "start_date": "2026-09-07",
}


@pytest.fixture
def app_factory(library_dir: Path) -> Callable[..., web.Application]:
    def make(**overrides: object) -> web.Application:
        settings: dict[str, object] = {
            "secrets": ("test-secret-0123456789",),
            "library": str(library_dir),
            "stall_timeout": 2.0,
            "queue_timeout": 1.0,
        }
        settings.update(overrides)
        return make_app(Config(**settings))  # type: ignore[arg-type]

    return make
