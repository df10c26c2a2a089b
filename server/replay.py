"""Replay of a warm plan: its archive as a few long runs, not five steps per entry.

A fast client on a LAN was held back by Python, not the kernel: the
reference plan (313 entries, 84 material files) is 628 pieces, each walked
by the layout (``ArchiveLayout.pieces``) and then put by the writer, about
13 ms per download on top of the 20 ms the kernel takes to copy 168 MiB
(``FileResponse`` pays only the kernel). Once a plan has been sent whole,
what it sends is known: everything between two material files (their local
headers, the small documents, the central directory) is one run of bytes,
and each file one ``FileSlice``. ``Runs`` keeps that, 169 steps for the
reference plan, and serves any window of it (a whole download or a
download manager's ranges).

The file checks stay what the layout does: a material file is checked
against its index (``stat``) before any byte of the run that ends with its
local header, and again after its body was sent; the writer's descriptor
pool verifies the open file as well. Only plans of local files are recorded
(an object store's check is a request of its own, so its plans keep the
layout's path).

The runs are held in a byte-bounded cache with ``track_alive`` (a run being
replayed stays counted after eviction), inside the memory reserve.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import replace

from generators.archive import FileSlice, ObjectSlice, Piece, SourceChanged
from generators.bounded_cache import ENTRY_OVERHEAD, BoundedCache

RUNS_CACHE_BYTES = 32 << 20  # runs of warm plans, in the reserve...
RUNS_SHARE = 64  # ...and at most this fraction of the budget (4 MiB of 256 MiB)
RUNS_PLAN_MAX = 8 << 20  # a plan with more bytes between its files is not recorded
OP_OVERHEAD = 256  # a FileSlice or a bytes header, and its offset

Span = bytes | memoryview | FileSlice


def check_file(piece: FileSlice) -> None:
    """Raise SourceChanged unless the path still names the file ``piece`` was cut from."""
    try:
        st = os.stat(piece.path)
    except OSError as exc:
        raise SourceChanged(piece.path, f"cannot stat: {exc.strerror}") from exc
    piece.verify(st)


class Runs:
    """A whole archive as alternating byte runs and file slices, by archive offset."""

    __slots__ = ("__weakref__", "nbytes", "offsets", "ops", "total")

    def __init__(self, ops: list[bytes | FileSlice]) -> None:
        offsets = array("q")
        pos = 0
        for op in ops:
            offsets.append(pos)
            pos += op.length if isinstance(op, FileSlice) else len(op)
        self.offsets = offsets
        self.ops = tuple(ops)
        self.total = pos
        self.nbytes = ENTRY_OVERHEAD + sum(
            OP_OVERHEAD + (0 if isinstance(op, FileSlice) else len(op)) for op in ops
        )

    def spans(self, start: int, end: int) -> Iterator[tuple[Span, FileSlice | None]]:
        """The ops of ``[start, end)``, clipped to it, each with the file it concerns.

        A file's span comes with the whole ``FileSlice`` (what is checked); a
        run's with the file whose local header it ends with, or None. The
        checks are the writer's (``BodyWriter.send_runs``): a run's file
        before the run, each file again after its body.
        """
        if not 0 <= start <= end <= self.total:
            raise ValueError(f"window [{start}, {end}) outside archive of {self.total} bytes")
        ops, offsets = self.ops, self.offsets
        n = len(ops)
        k = bisect_right(offsets, start) - 1
        while k < n and offsets[k] < end:
            op, lo = ops[k], offsets[k]
            if isinstance(op, FileSlice):
                s, e = max(start, lo) - lo, min(end, lo + op.length) - lo
                whole = s == 0 and e == op.length
                yield (op if whole else replace(op, offset=op.offset + s, length=e - s)), op
            else:
                s, e = max(start, lo) - lo, min(end, lo + len(op)) - lo
                nxt = ops[k + 1] if k + 1 < n else None
                follows = nxt if isinstance(nxt, FileSlice) else None
                yield (op if s == 0 and e == len(op) else memoryview(op)[s:e]), follows
            k += 1


class Recorder:
    """Gathers the pieces of a whole-archive window into ``Runs``; gives up past a bound."""

    __slots__ = ("buf", "held", "ok", "ops")

    def __init__(self) -> None:
        self.ops: list[bytes | FileSlice] = []
        self.buf = bytearray()
        self.held = 0
        self.ok = True

    def add(self, piece: Piece) -> None:
        if not self.ok:
            return
        if isinstance(piece, FileSlice):
            if self.buf:
                self.ops.append(bytes(self.buf))
                self.buf.clear()
            self.ops.append(piece)
        elif isinstance(piece, ObjectSlice):
            self.drop()
        else:
            self.buf += piece
            self.held += len(piece)
            if self.held > RUNS_PLAN_MAX:
                self.drop()

    def drop(self) -> None:
        self.ok = False
        self.ops.clear()
        self.buf = bytearray()

    def finish(self, total: int) -> Runs | None:
        """The runs, or None when recording gave up or the bytes do not add up."""
        if not self.ok:
            return None
        if self.buf:
            self.ops.append(bytes(self.buf))
            self.buf = bytearray()
        runs = Runs(self.ops)
        return runs if runs.total == total else None


def runs_cache(max_bytes: int) -> BoundedCache[str, Runs]:
    """The cache of replays; one plan may take at most half of it."""
    return BoundedCache(
        max_bytes, max_item=min(RUNS_PLAN_MAX + (1 << 20), max_bytes // 2), track_alive=True
    )
