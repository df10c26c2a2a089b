"""Entry-name rules every reader accepts: sanitising and de-duplication.

Names come from people (a child's name, a centre's material files), so they
may hold anything. The archive must unpack on Windows, macOS and Linux with
every common tool, so each path is cut to what all of them accept:

- Unicode NFC (macOS Archive Utility and Windows Explorer compare names in
  NFC; decomposed names show as duplicates), stored as UTF-8 with bit 11;
- "/" separators only, no leading "/", no empty, "." or ".." components
  (zip-slip), none of ``\\:*?"<>|`` or control characters (Windows rejects
  them), no trailing dots or spaces (Windows drops them silently), no reserved
  device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with any extension);
- whole path under 260 characters (Windows MAX_PATH), each component at most
  255 UTF-8 bytes (ext4 and APFS limits);
- unique case-insensitively (Windows and macOS file systems are), by adding
  " (2)", " (3)"… before the extension.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MAX_PATH = 259  # characters; Windows MAX_PATH is 260 including the terminator
MAX_COMPONENT_BYTES = 255

_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f\\:*?"<>|]')
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)


def _split_ext(component: str) -> tuple[str, str]:
    dot = component.rfind(".")
    if dot <= 0 or len(component) - dot > 10:
        return component, ""
    return component[:dot], component[dot:]


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")[:max_bytes]
    return data.decode("utf-8", errors="ignore")


@lru_cache(maxsize=4096)
def sanitize_component(component: str) -> str:
    """One path component made safe; never empty. Cached: folder names repeat."""
    name = _FORBIDDEN.sub("_", unicodedata.normalize("NFC", component))
    name = name.strip(" ").rstrip(". ")
    if name in ("", ".", ".."):
        name = "_"
    stem, ext = _split_ext(name)
    if stem.split(".")[0].upper() in _RESERVED:
        name = "_" + name
        stem, ext = _split_ext(name)
    if len(name.encode("utf-8")) > MAX_COMPONENT_BYTES:
        stem = _truncate_utf8(stem, MAX_COMPONENT_BYTES - len(ext.encode("utf-8")))
        name = stem.rstrip(". ") + ext
    return name


def sanitize_path(path: str) -> str:
    """A whole entry path made safe: components sanitised, joined by "/", < 260 chars."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    clean = [sanitize_component(p) for p in parts] or ["_"]
    joined = "/".join(clean)
    if len(joined) > MAX_PATH:
        # Shorten the file name (last component), keeping its extension and
        # the folders: the folders carry the plan's structure.
        head = "/".join(clean[:-1])
        room = MAX_PATH - (len(head) + 1 if head else 0)
        stem, ext = _split_ext(clean[-1])
        if room <= len(ext) + 1:
            # Folders alone are too long: cut every component evenly.
            budget = max(1, MAX_PATH // len(clean) - 1)
            clean = [(c[:budget].rstrip(". ") or "_") for c in clean]
            joined = "/".join(clean)[:MAX_PATH]
            return joined.rstrip("/. ") or "_"
        clean[-1] = (stem[: room - len(ext)].rstrip(". ") or "_") + ext
        joined = "/".join(clean)
    return joined


def _suffixed(path: str, n: int) -> str:
    head, _, last = path.rpartition("/")
    stem, ext = _split_ext(last)
    tag = f" ({n})"
    room = MAX_PATH - (len(head) + 1 if head else 0) - len(tag) - len(ext)
    last = stem[: max(1, room)] + tag + ext
    return f"{head}/{last}" if head else last


class UniqueNames:
    """Hands out sanitised, case-insensitively unique paths in call order.

    A file name may not also be a folder of another entry (readers would have
    to choose), so folders and files share one namespace: a folder that would
    collide with an earlier file gets a suffix too.
    """

    def __init__(self) -> None:
        self._files: set[str] = set()
        self._dirs: set[str] = set()
        self._folders: dict[str, str] = {}  # raw folder -> its sanitised, reserved form

    def add(self, path: str) -> str:
        raw_folder, _, raw_last = path.replace("\\", "/").rpartition("/")
        folder = self._folders.get(raw_folder)
        if folder is not None and len(path) < MAX_PATH - 16:
            # Fast path, the common case: many files in one known folder.
            last = sanitize_component(raw_last) if raw_last not in ("", ".") else "_"
            clean = f"{folder}/{last}" if folder else last
        else:
            clean = self._reserve_folders(sanitize_path(path), raw_folder)
        candidate, n = clean, 1
        while candidate.casefold() in self._files or candidate.casefold() in self._dirs:
            n += 1
            candidate = _suffixed(clean, n)
        self._files.add(candidate.casefold())
        return candidate

    def _reserve_folders(self, clean: str, raw_folder: str) -> str:
        """Rename folder components that collide with earlier files, then reserve them."""
        parts = clean.split("/")
        for i in range(len(parts) - 1):
            prefix = "/".join(parts[: i + 1])
            n, base = 1, parts[i]
            while prefix.casefold() in self._files:
                n += 1
                parts[i] = f"{base} ({n})"
                prefix = "/".join(parts[: i + 1])
            self._dirs.add(prefix.casefold())
        folder = "/".join(parts[:-1])
        if "/" in clean:
            self._folders[raw_folder] = folder
        else:
            self._folders.setdefault("", "")
        return "/".join(parts)
