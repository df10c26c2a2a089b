"""``python -m generators``: write one plan's ZIP to a file or stdout, as the server would send it.

Same code path as a download (plan -> entries -> layout -> pieces), so an
archive made here is byte-identical to the one the server streams for the
same request and library. Bad arguments print the field's error and exit 2.
The archive is written to a temporary file beside the output and renamed
into place at the end, so an interrupted run (Ctrl-C, a full disk, a library
file changed mid-write) leaves no partial archive and keeps an older one.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Sequence

from .archive import SourceChanged, resolve
from .branding import check_centre
from .entries import PlanArchive, build_archive
from .library import Library, LibraryError
from .request import PlanRequest, ValidationError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m generators",
        description="Generate an attention-training plan (专注力训练方案) as a ZIP archive.",
    )
    p.add_argument("--name", required=True, help="student (or class) name, 1-40 characters")
    p.add_argument("--mode", required=True, choices=["assessment", "focus"])
    p.add_argument("--age", required=True, help="4-14")
    p.add_argument("--weeks", help="1-52 (default 1)")
    p.add_argument("--lessons-per-week", help="1-7 (default 3)")
    p.add_argument("--exercises-per-lesson", help="3-10 (default 7)")
    p.add_argument("--scores", help="assessment scores, e.g. span=40,sustained=55,selective=70")
    p.add_argument("--lang", choices=["zh", "en"], help="language of the plan (default zh)")
    p.add_argument("--start-date", help="first lesson's date, YYYY-MM-DD")
    p.add_argument("--library", help="materials folder <dimension>/<level 1-5>/")
    p.add_argument("--centre-name", help="centre's name for every footer (default: none, no brand)")
    p.add_argument("-o", "--output", required=True, help="output .zip path, or - for stdout")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    args = _parser().parse_args(argv)
    fields = {
        "name": args.name,
        "mode": args.mode,
        "age": args.age,
        "weeks": args.weeks,
        "lessons_per_week": args.lessons_per_week,
        "exercises_per_lesson": args.exercises_per_lesson,
        "scores": args.scores,
        "lang": args.lang,
        "start_date": args.start_date,
    }
    try:
        req = PlanRequest.from_mapping({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        print(f"error: {exc.field or 'request'}: {exc.message}", file=sys.stderr)
        return 2
    try:
        library = Library.load(args.library) if args.library else None
    except LibraryError as exc:
        print(f"error: library: {exc}", file=sys.stderr)
        return 2
    try:
        centre = check_centre(args.centre_name or "")
    except ValueError as exc:
        print(f"error: centre-name: {exc}", file=sys.stderr)
        return 2
    archive = build_archive(req, library, centre=centre)
    if args.output == "-":
        return _write_stdout(archive)
    status = _write_file(archive, args.output)
    if status:
        return status
    print(
        f"{args.output}: {archive.layout.total_size} bytes, {len(archive.layout)} files "
        f"({archive.filename})",
        file=sys.stderr,
    )
    return 0


def _write_stdout(archive: PlanArchive) -> int:
    """Stream the archive to standard output; 1 when the reader goes away early."""
    try:
        out = sys.stdout.buffer
        for buf in resolve(archive.layout.pieces()):
            out.write(buf)
        out.flush()
    except BrokenPipeError:  # e.g. | head: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def _write_file(archive: PlanArchive, path: str) -> int:
    """Write the archive to ``path``; 0 on success, 1 (with a message) on failure."""
    # Write beside the target and rename on success, so an interrupted or
    # failed run leaves neither a partial archive nor a clobbered old one.
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        with tempfile.NamedTemporaryFile(
            "wb", dir=folder, prefix=".planstream-", suffix=".zip.part", delete=False
        ) as f:
            tmp = f.name
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)  # as open() would, not mkstemp's 0600
            for buf in resolve(archive.layout.pieces()):
                f.write(buf)
        os.replace(tmp, path)
        tmp = None
    except (OSError, SourceChanged) as exc:
        print(f"error: output: {exc}", file=sys.stderr)
        return 1
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
