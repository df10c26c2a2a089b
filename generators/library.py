"""The centre's own materials: indexed once at start-up, drawn into plans deterministically.

A centre drops files (PDF, images, audio, video) into
``DIR/<dimension>/<level 1-5>/``. At start-up every file is stat'ed and its
CRC-32 computed once (zlib-ng / ISA-L run at many GB/s, so a few GB of
materials index in seconds; progress is logged for large libraries). A plan
then refers to files by their index entry: the archive core re-checks size
and mtime before sending one, so a file replaced after start-up aborts that
download instead of shipping a wrong CRC.

A missing or empty library is a start-up error, not a download-time surprise.
Hidden files (``.DS_Store``, ``._*``) and unknown folders are skipped, the
latter with a warning, so a typo in a folder name is visible in the log.
"""

from __future__ import annotations

import logging
import os
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from .archive import FileSource
from .worksheets.base import DIMENSIONS

log = logging.getLogger("planstream.library")

LEVELS = (1, 2, 3, 4, 5)
PROGRESS_EVERY = 2.0  # seconds between progress lines while indexing


class LibraryError(ValueError):
    """The library folder cannot be used; the message says which path and why."""


@dataclass(frozen=True, slots=True)
class Material:
    """One indexed file: where it sits in the library and how to ship it."""

    dimension: str
    level: int
    name: str  # file name, NFC
    source: FileSource

    @property
    def mtime(self) -> int:
        return self.source.mtime_ns // 1_000_000_000


class Library:
    """Materials by (dimension, level), each list sorted by name for determinism."""

    def __init__(self, root: str, shelves: dict[tuple[str, int], tuple[Material, ...]]) -> None:
        self.root = root
        self._shelves = shelves

    def __len__(self) -> int:
        return sum(len(v) for v in self._shelves.values())

    def __iter__(self) -> Iterator[Material]:
        for key in sorted(self._shelves):
            yield from self._shelves[key]

    def shelf(self, dimension: str, level: int) -> tuple[Material, ...]:
        return self._shelves.get((dimension, level), ())

    def pick(self, dimension: str, level: int, seed: int) -> Material | None:
        """A material for this dimension near this level (1-5), chosen by ``seed``.

        Falls back to the nearest level that has files (lower first: an easier
        sheet is a safer substitute than a harder one); None if the dimension
        has no files at all.
        """
        for candidate in sorted(LEVELS, key=lambda lv: (abs(lv - level), lv > level)):
            shelf = self._shelves.get((dimension, candidate))
            if shelf:
                return shelf[seed % len(shelf)]
        return None

    @classmethod
    def load(cls, root: str) -> Library:
        """Index every file under ``root``; raises LibraryError if none can be used."""
        if not os.path.isdir(root):
            raise LibraryError(f"library folder {root!r} does not exist or is not a folder")
        shelves: dict[tuple[str, int], list[Material]] = {}
        started = last_report = time.monotonic()
        count = total_bytes = 0
        for dim_entry in sorted(os.scandir(root), key=lambda e: e.name):
            if dim_entry.name.startswith("."):
                continue
            if not dim_entry.is_dir() or dim_entry.name not in DIMENSIONS:
                log.warning(
                    "library: ignoring %s (expected one of: %s)",
                    dim_entry.path,
                    ", ".join(DIMENSIONS),
                )
                continue
            for level_entry in sorted(os.scandir(dim_entry.path), key=lambda e: e.name):
                if level_entry.name.startswith("."):
                    continue
                if not level_entry.is_dir() or level_entry.name not in {str(v) for v in LEVELS}:
                    log.warning("library: ignoring %s (expected levels 1-5)", level_entry.path)
                    continue
                level = int(level_entry.name)
                for file_entry in sorted(os.scandir(level_entry.path), key=lambda e: e.name):
                    if file_entry.name.startswith(".") or not file_entry.is_file():
                        continue
                    source = FileSource.index(file_entry.path)
                    name = unicodedata.normalize("NFC", file_entry.name)
                    shelves.setdefault((dim_entry.name, level), []).append(
                        Material(dim_entry.name, level, name, source)
                    )
                    count += 1
                    total_bytes += source.size
                    now = time.monotonic()
                    if now - last_report >= PROGRESS_EVERY:
                        log.info(
                            "library: indexed %d files, %d MiB so far", count, total_bytes >> 20
                        )
                        last_report = now
        if count == 0:
            raise LibraryError(
                f"library folder {root!r} has no files in <dimension>/<level 1-5>/ folders"
            )
        log.info(
            "library: %d files, %d MiB indexed in %.1f s from %s",
            count,
            total_bytes >> 20,
            time.monotonic() - started,
            root,
        )
        return cls(root, {k: tuple(v) for k, v in shelves.items()})
