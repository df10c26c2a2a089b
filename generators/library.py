"""The centre's own materials: indexed once at start-up, drawn into plans deterministically.

A centre drops files (PDF, images, audio, video) into
``DIR/<dimension>/<level 1-5>/``. At start-up every file is stat'ed and its
CRC-32 computed once (zlib-ng / ISA-L run at many GB/s, so a few GB of
materials index in seconds; progress is logged for large libraries). A plan
then refers to files by their index entry: the archive core re-checks each
file's identity (inode, size, mtime, ctime) before and after sending it, so a
file replaced after start-up cuts that download instead of shipping a wrong
CRC.

A library is an immutable snapshot with a ``generation``. Changes are picked
up without a restart by building the next snapshot and swapping it in
(``server.library_watch`` does that off the event loop): ``scan()`` stats
every indexed file and reports the ones that changed or vanished,
``with_changes()`` re-indexes just those, and ``load(root, previous=...)``
(SIGHUP) indexes the whole tree again, reusing the CRC of every file whose
identity did not change. Plans built from the new snapshot get the new sizes
and CRCs, hence new ETags.

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

from .archive import FileSource, SourceChanged
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
    source: FileSource  # an S3 library (library_s3) puts ObjectSource here instead

    @property
    def mtime(self) -> int:
        return self.source.mtime_ns // 1_000_000_000


@dataclass(frozen=True, slots=True)
class Change:
    """One library file that is no longer what the index says (for /healthz and logs)."""

    path: str  # relative to the library root
    change: str  # "changed", "vanished" or "added"
    reason: str = ""


class Library:
    """Materials by (dimension, level), each list sorted by name for determinism; immutable."""

    def __init__(
        self,
        root: str,
        shelves: dict[tuple[str, int], tuple[Material, ...]],
        generation: int = 0,
    ) -> None:
        self.root = root
        self._shelves = shelves
        self.generation = generation

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

    def relative(self, path: str) -> str:
        return os.path.relpath(path, self.root)

    # -- changes ----------------------------------------------------------

    def scan(self) -> list[Change]:
        """Stat every indexed file; those that changed or vanished (blocking: run off the loop)."""
        changes = []
        for material in self:
            try:
                st = os.stat(material.source.path)
            except OSError as exc:
                rel = self.relative(material.source.path)
                changes.append(Change(rel, "vanished", exc.strerror or str(exc)))
                continue
            reason = material.source.mismatch(st)
            if reason:
                changes.append(Change(self.relative(material.source.path), "changed", reason))
        return changes

    def with_changes(self, changes: list[Change]) -> Library:
        """The next snapshot: changed files re-indexed (new size and CRC), vanished ones dropped.

        A file that changes again while it is re-indexed, or vanishes, is
        dropped from this snapshot; the next scan sees it again.
        """
        touched = {os.path.join(self.root, c.path) for c in changes}
        shelves: dict[tuple[str, int], tuple[Material, ...]] = {}
        for key, shelf in self._shelves.items():
            kept = []
            for m in shelf:
                if m.source.path not in touched:
                    kept.append(m)
                    continue
                try:
                    source = FileSource.index(m.source.path)
                except (OSError, SourceChanged) as exc:
                    log.warning("library: %s left out: %s", self.relative(m.source.path), exc)
                    continue
                kept.append(Material(m.dimension, m.level, m.name, source))
            if kept:
                shelves[key] = tuple(kept)
        return Library(self.root, shelves, self.generation + 1)

    def diff(self, new: Library) -> list[Change]:
        """What a full re-index changed: files changed, vanished and added, by path."""
        old = {m.source.path: m.source for m in self}
        now = {m.source.path: m.source for m in new}
        changes = [Change(self.relative(p), "vanished") for p in old if p not in now]
        changes += [Change(self.relative(p), "added") for p in now if p not in old]
        changes += [
            Change(self.relative(p), "changed")
            for p, src in now.items()
            if p in old and old[p] is not src
        ]
        return sorted(changes, key=lambda c: c.path)

    # -- indexing -----------------------------------------------------------

    @classmethod
    def load(cls, root: str, previous: Library | None = None) -> Library:
        """Index every file under ``root``; raises LibraryError if none can be used.

        With ``previous``, a file whose identity is unchanged keeps its CRC
        (no read), and the result is that library's next generation.
        """
        if not os.path.isdir(root):
            raise LibraryError(f"library folder {root!r} does not exist or is not a folder")
        known = {m.source.path: m.source for m in previous} if previous is not None else {}
        shelves: dict[tuple[str, int], list[Material]] = {}
        progress = _Progress()
        for dimension, level, file_entry in _walk(root):
            source = FileSource.index(file_entry.path, known.get(file_entry.path))
            name = unicodedata.normalize("NFC", file_entry.name)
            shelves.setdefault((dimension, level), []).append(
                Material(dimension, level, name, source)
            )
            progress.add(source.size)
        if progress.count == 0:
            raise LibraryError(
                f"library folder {root!r} has no files in <dimension>/<level 1-5>/ folders"
            )
        log.info(
            "library: %d files, %d MiB indexed in %.1f s from %s",
            progress.count,
            progress.total_bytes >> 20,
            time.monotonic() - progress.started,
            root,
        )
        generation = previous.generation + 1 if previous is not None else 0
        return cls(root, {k: tuple(v) for k, v in shelves.items()}, generation)


class _Progress:
    """Counts indexed files and logs a progress line every PROGRESS_EVERY seconds."""

    def __init__(self) -> None:
        self.started = self._last = time.monotonic()
        self.count = self.total_bytes = 0

    def add(self, size: int) -> None:
        self.count += 1
        self.total_bytes += size
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY:
            log.info("library: indexed %d files, %d MiB so far", self.count, self.total_bytes >> 20)
            self._last = now


def _walk(root: str) -> Iterator[tuple[str, int, os.DirEntry[str]]]:
    """(dimension, level, file) for every usable file, in sorted order; warns on strays."""
    for dim_entry in sorted(os.scandir(root), key=lambda e: e.name):
        if dim_entry.name.startswith("."):
            continue
        if not dim_entry.is_dir() or dim_entry.name not in DIMENSIONS:
            log.warning(
                "library: ignoring %s (expected one of: %s)", dim_entry.path, ", ".join(DIMENSIONS)
            )
            continue
        for level_entry in sorted(os.scandir(dim_entry.path), key=lambda e: e.name):
            if level_entry.name.startswith("."):
                continue
            if not level_entry.is_dir() or level_entry.name not in {str(v) for v in LEVELS}:
                log.warning("library: ignoring %s (expected levels 1-5)", level_entry.path)
                continue
            for file_entry in sorted(os.scandir(level_entry.path), key=lambda e: e.name):
                if file_entry.name.startswith(".") or not file_entry.is_file():
                    continue
                yield dim_entry.name, int(level_entry.name), file_entry


if __name__ == "__main__":  # ``python -m generators.library index s3://bucket/prefix``
    # The admin command lives in library_s3 (which imports this module); run it
    # as the script instead of importing it, so this module depends on nothing
    # of it when imported.
    import runpy

    runpy.run_module("generators.library_s3", run_name="__main__", alter_sys=True)
