"""Write a deterministic synthetic materials library for the benchmarks.

Run: ``python bench/make_library.py --out /tmp/lib --file-size 2MiB --files-per-level 3``

What it makes, and why:

- ``DIR/<dimension>/<level 1-5>/`` for the eight dimensions, the layout the
  server indexes at start-up, with ``--files-per-level`` files per folder.
- Every file holds incompressible bytes (SHAKE-256 of its relative path), like
  the PDFs, pictures, audio and video a centre really drops there: DEFLATE
  cannot shrink them, so the disk baseline's compression costs what it costs
  in production, and no server can win by accident on compressible test data.
- Names are Chinese with spaces (``注意广度 练习 03.pdf``), so every server
  under test handles UTF-8 names with spaces on disk and in the archive.
- Contents and mtimes are fixed: the same command gives byte-identical files,
  so planstream's ETag (which covers file size, CRC and mtime) stays the same
  across runs and machines, and results can be compared.

The reference plan (4 weeks x 3 lessons x 7 exercises) draws one material per
exercise: 84 x 2 MiB = 168 MiB of materials, whatever the number of files per
level (a plan may draw one file twice). Three files per level (120 files,
240 MiB) make most draws distinct. The library is written under a folder the
caller chooses (a temporary folder, never the repository).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DIMENSIONS: dict[str, str] = {
    "span": "注意广度",
    "sustained": "注意稳定性",
    "selective": "注意选择性",
    "shifting": "注意转移",
    "divided": "注意分配",
    "auditory": "听觉注意",
    "working_memory": "工作记忆",
    "visual_tracking": "视觉追踪",
}
LEVELS = (1, 2, 3, 4, 5)
KINDS = (
    "练习 {n:02d}.pdf",
    "示范 图片 {n:02d}.png",
    "听力 音频 {n:02d}.mp3",
    "讲解 视频 {n:02d}.mp4",
)
MTIME = 1_788_739_200  # 2026-09-07T00:00:00Z: fixed, so the library (and every ETag) is stable
BLOCK = 1 << 20  # bytes of SHAKE output generated per call

_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|K|M|G)?\s*$", re.IGNORECASE)
_UNIT = {"b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20}
_UNIT |= {"g": 1 << 30, "gib": 1 << 30}


def parse_size(text: str) -> int:
    """Bytes from ``2MiB``, ``512KiB`` or a plain number (binary units)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2MiB)")
    return int(m.group(1)) * _UNIT[(m.group(2) or "b").lower()]


def file_name(dimension: str, index: int) -> str:
    """``<维度> <kind> NN.ext``: Chinese, with spaces, extension by position."""
    kind = KINDS[(index - 1) % len(KINDS)]
    return f"{DIMENSIONS[dimension]} {kind.format(n=index)}"


def file_bytes(relpath: str, size: int) -> bytes:
    """``size`` incompressible bytes that depend only on ``relpath`` (and ``size``)."""
    out = bytearray()
    block = 0
    while len(out) < size:
        seed = f"planstream-bench|{relpath}|{size}|{block}".encode()
        out += hashlib.shake_256(seed).digest(min(BLOCK, size - len(out)))
        block += 1
    return bytes(out)


def write_library(out: Path, file_size: int, files_per_level: int) -> tuple[int, int]:
    """Write the library (overwriting files of the same names); returns (files, bytes)."""
    files = total = 0
    for dimension in DIMENSIONS:
        for level in LEVELS:
            folder = out / dimension / str(level)
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(1, files_per_level + 1):
                rel = f"{dimension}/{level}/{file_name(dimension, index)}"
                path = out / rel
                path.write_bytes(file_bytes(rel, file_size))
                os.utime(path, (MTIME, MTIME))
                files += 1
                total += file_size
    return files, total


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="library folder to write")
    p.add_argument("--file-size", type=parse_size, default=2 << 20, help="bytes per file (2MiB)")
    p.add_argument("--files-per-level", type=int, default=3, help="files per level folder (3)")
    args = p.parse_args(argv)
    if args.files_per_level < 1 or args.file_size < 1:
        p.error("--file-size and --files-per-level must be positive")
    started = time.monotonic()
    files, total = write_library(args.out, args.file_size, args.files_per_level)
    print(
        f"{args.out}: {files} files, {total / (1 << 20):.0f} MiB "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
