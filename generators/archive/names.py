"""Entry-name rules every reader accepts: sanitising and de-duplication.

Names come from people (a child's name, a centre's material files), so they
may hold anything. The archive must unpack on Windows, macOS and Linux with
every common tool, so each path is cut to what all of them accept:

- Unicode NFC (macOS Archive Utility and Windows Explorer compare names in
  NFC; decomposed names show as duplicates), stored as UTF-8 with bit 11;
- "/" separators only, no leading "/", no empty, "." or ".." components
  (zip-slip), none of ``\\:*?"<>|`` or control characters (Windows rejects
  them), no trailing dots or spaces (Windows drops them silently), no reserved
  device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9, COM¹-³, LPT¹-³, with any
  extension);
- whole path under 260 characters (Windows MAX_PATH), each component at most
  255 UTF-8 bytes (ext4 and APFS limits);
- unique case-insensitively (Windows and macOS file systems are), by adding
  " (2)", " (3)"… before the extension.

Shortening. The folders of a path take at most ``MAX_FOLDERS`` characters
(their longest components are cut first), so the file name always keeps room
for a stem, a " (n)" tag and its extension. Folders are cut from the folder
path alone, so every file of one folder lands in the same shortened folder.
The file name is then cut to what is left, keeping its extension. A cut never
ends a component in a dot or space and never leaves a reserved name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MAX_PATH = 259  # characters; Windows MAX_PATH is 260 including the terminator
MAX_COMPONENT_BYTES = 255
MIN_NAME_ROOM = 24  # a stem, " (99999)" and a 10-character extension
MAX_FOLDERS = MAX_PATH - 1 - MIN_NAME_ROOM

# Lone surrogates (undecodable bytes in a file name) cannot be encoded as UTF-8.
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f\\:*?"<>|\ud800-\udfff]')
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in [*range(1, 10), "¹", "²", "³"]]
    + [f"LPT{i}" for i in [*range(1, 10), "¹", "²", "³"]]
)


def _split_ext(component: str) -> tuple[str, str]:
    dot = component.rfind(".")
    if dot <= 0 or len(component) - dot > 10:
        return component, ""
    return component[:dot], component[dot:]


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")[:max_bytes]
    return data.decode("utf-8", errors="ignore")


def _is_reserved(name: str) -> bool:
    return name.split(".")[0].upper() in _RESERVED


def _cut(text: str, length: int) -> str:
    """``text`` cut to ``length`` characters, still a valid component (or stem)."""
    if len(text) <= length:
        return text
    cut = text[:length].rstrip(". ") or "_"
    if _is_reserved(cut):
        cut = cut[:-1] + "_"  # "COM1xyz" cut to "COM1" becomes "COM_"
    return cut


def _fit_name(name: str, room: int) -> str:
    """A file name shortened to ``room`` characters, keeping its extension."""
    if len(name) <= room:
        return name
    stem, ext = _split_ext(name)
    return _cut(stem, max(1, room - len(ext))) + ext


def _fit_folders(folders: list[str]) -> list[str]:
    """Folders cut, longest first, until their path fits in MAX_FOLDERS characters."""
    if len("/".join(folders)) <= MAX_FOLDERS:
        return folders
    keep = folders[: (MAX_FOLDERS + 1) // 2]  # each needs a character and a "/"
    lo, hi = 1, max(len(f) for f in keep)
    while lo < hi:  # the largest per-component length that fits
        mid = (lo + hi + 1) // 2
        if sum(min(len(f), mid) for f in keep) + len(keep) - 1 <= MAX_FOLDERS:
            lo = mid
        else:
            hi = mid - 1
    return [_cut(f, lo) for f in keep]


def _room(folder: str) -> int:
    return MAX_PATH - (len(folder) + 1 if folder else 0)


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


@lru_cache(maxsize=4096)
def sanitize_component(component: str) -> str:
    """One path component made safe; never empty. Cached: folder names repeat."""
    name = _FORBIDDEN.sub("_", unicodedata.normalize("NFC", component))
    name = name.strip(" ").rstrip(". ")
    if name in ("", ".", ".."):
        name = "_"
    if _is_reserved(name):
        name = "_" + name
    if len(name.encode("utf-8")) > MAX_COMPONENT_BYTES:
        stem, ext = _split_ext(name)
        stem = _truncate_utf8(stem, MAX_COMPONENT_BYTES - len(ext.encode("utf-8")))
        name = stem.rstrip(". ") + ext
    return name


def sanitize_path(path: str) -> str:
    """A whole entry path made safe: components sanitised, joined by "/", < 260 chars."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    clean = [sanitize_component(p) for p in parts] or ["_"]
    folder = "/".join(_fit_folders(clean[:-1]))
    return _join(folder, _fit_name(clean[-1], _room(folder)))


def _tagged(stem: str, n: int, ext: str = "", room: int = MAX_PATH) -> str:
    """``stem (n)ext``, the stem cut to fit ``room`` characters and MAX_COMPONENT_BYTES."""
    tag = f" ({n})"
    stem = stem[: max(1, room - len(tag) - len(ext))]
    stem = _truncate_utf8(stem, MAX_COMPONENT_BYTES - len((tag + ext).encode("utf-8"))) or "_"
    return stem + tag + ext


def _suffixed(path: str, n: int) -> str:
    """``path`` with " (n)" before its extension, cut to stay within both limits."""
    head, _, last = path.rpartition("/")
    stem, ext = _split_ext(last)
    return _join(head, _tagged(stem, n, ext, _room(head)))


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
        if folder is not None:
            # Fast path, the common case: many files in one known folder.
            last = sanitize_component(raw_last) if raw_last not in ("", ".") else "_"
            clean = _join(folder, _fit_name(last, _room(folder)))
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
                parts[i] = _tagged(base, n)
                prefix = "/".join(parts[: i + 1])
            self._dirs.add(prefix.casefold())
        folder = "/".join(parts[:-1])
        if "/" in clean:
            self._folders[raw_folder] = folder
        else:
            self._folders.setdefault("", "")
        # A renamed folder is longer: the file name may have to give way.
        return _join(folder, _fit_name(parts[-1], _room(folder)))
