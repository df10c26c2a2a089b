"""Helpers shared by the archive tests: materialising windows, tools, pipes.

- ``archive_bytes`` turns a layout window into bytes the way the CLI does
  (``resolve`` reads file slices from disk).
- ``LayoutReader`` is a read-only, seekable file object whose reads are served
  by ``layout.pieces(start, end)``: ``zipfile`` can then open an archive that
  never exists as a whole, and every seek it makes is a window test.
- ``require_tool`` finds an external reader; a missing one fails the test on CI
  (``CI=true``) and skips it elsewhere.
- ``assert_valid_path`` / ``assert_unique`` check the name rules of DESIGN.md
  independently of ``generators.archive.names``.
- ``pipe_archive`` streams an archive into a process's stdin from a thread,
  so a reader that prints while it reads cannot deadlock the test.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import subprocess
import tempfile
import threading
import unicodedata
from collections.abc import Sequence

from generators.archive import ArchiveLayout, resolve
from tests.tools import require_tool

__all__ = ["require_tool"]  # re-exported for the archive tests

UTF8_ENV = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def archive_bytes(layout: ArchiveLayout, start: int = 0, end: int | None = None) -> bytes:
    """The bytes of a window of the archive, file slices read from disk."""
    return b"".join(resolve(layout.pieces(start, end)))


class LayoutReader(io.RawIOBase):
    """A seekable, read-only view of an archive that is produced window by window."""

    def __init__(self, layout: ArchiveLayout) -> None:
        super().__init__()
        self._layout = layout
        self._pos = 0
        self.windows: list[tuple[int, int]] = []  # every window read, for assertions

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._layout.total_size}
        self._pos = base[whence] + offset
        if self._pos < 0:
            raise OSError("negative seek position")
        return self._pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        start = min(self._pos, self._layout.total_size)
        end = min(start + len(buffer), self._layout.total_size)
        if start == end:
            return 0
        self.windows.append((start, end))
        view = memoryview(buffer).cast("B")
        filled = 0
        for piece in resolve(self._layout.pieces(start, end)):
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
        assert filled == end - start, f"window [{start}, {end}) gave {filled} bytes"
        self._pos = end
        return filled


def run_tool(cmd: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a reader in a UTF-8 locale; fail the test with its output on a non-zero exit."""
    proc = subprocess.run(
        list(cmd), capture_output=True, text=True, encoding="utf-8", env=UTF8_ENV, **kwargs
    )
    assert proc.returncode == 0, f"{cmd[0]} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def pipe_archive(cmd: Sequence[str], layout: ArchiveLayout) -> subprocess.CompletedProcess[str]:
    """Stream the whole archive into ``cmd``'s stdin (from a thread) and collect its output."""
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err_file,
            env=UTF8_ENV,
        )
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None
        # A 1 MiB pipe (Linux) instead of 64 KiB: ten times fewer wake-ups for 4 GiB.
        with contextlib.suppress(AttributeError, OSError):
            fcntl.fcntl(stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        sent = 0
        errors: list[BaseException] = []

        def feed() -> None:
            nonlocal sent
            try:
                for buf in resolve(layout.pieces()):
                    stdin.write(buf)
                    sent += len(buf)
                stdin.close()
            except BrokenPipeError:
                pass  # the reader gave up; its exit status and stderr say why
            except BaseException as exc:  # reported in the test's thread below
                errors.append(exc)

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        out = stdout.read()
        stdout.close()
        returncode = proc.wait()
        writer.join()
        if not stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
        err_file.seek(0)
        err = err_file.read().decode("utf-8", "replace")
    if errors:
        raise errors[0]
    text = out.decode("utf-8")
    assert returncode == 0, f"{cmd[0]} exited {returncode}:\n{text[-2000:]}\n{err}"
    assert sent == layout.total_size, f"reader stopped after {sent} of {layout.total_size} bytes"
    return subprocess.CompletedProcess(list(cmd), returncode, text, err)


# -- name rules (DESIGN.md, "ZIP rules": Names) --------------------------------

FORBIDDEN = set('\\:*?"<>|') | {chr(c) for c in range(32)} | {"\x7f"}
RESERVED = (
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
    | {"COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"}
)


def assert_valid_path(path: str) -> None:
    """Every per-path rule of DESIGN.md, checked on a sanitised path."""
    assert path, "empty path"
    assert len(path) < 260, f"{len(path)} characters"
    assert unicodedata.is_normalized("NFC", path), f"not NFC: {path!r}"
    path.encode("utf-8")  # no lone surrogates
    assert not path.startswith("/")
    for part in path.split("/"):
        assert part not in ("", ".", ".."), f"bad component {part!r} in {path!r}"
        assert not FORBIDDEN & set(part), f"forbidden character in {part!r}"
        assert part[-1] not in ". ", f"trailing dot or space in {part!r}"
        assert part.split(".")[0].upper() not in RESERVED, f"reserved name {part!r}"
        assert len(part.encode("utf-8")) <= 255, f"component of {len(part.encode())} bytes"


def assert_unique(paths: list[str]) -> None:
    """Case-insensitively unique, and no file is also a folder of another file."""
    files = {unicodedata.normalize("NFC", p.casefold()) for p in paths}
    assert len(files) == len(paths), "case-insensitive duplicate"
    for p in paths:
        parts = p.split("/")
        for i in range(1, len(parts)):
            folder = unicodedata.normalize("NFC", "/".join(parts[:i]).casefold())
            assert folder not in files, f"{'/'.join(parts[:i])!r} is a file and a folder"
