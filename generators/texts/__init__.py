"""Every word a plan shows a teacher, a parent or a child, one catalogue per language.

Why catalogues: the texts of a plan (lesson plans, the overview, worksheet
frames and instructions, folder and file names) used to live in code beside
the drawing, as ``if lang == "zh"`` branches. Kept in ``zh.toml`` and
``en.toml`` they can be read, reviewed and translated side by side, a test
can check that both languages say the same things (same keys, same named
placeholders) and that English stays English, and a change of wording
changes :func:`digest`, which is part of the generator version and so of
every ETag (a cached copy never outlives its text).

The catalogues are TOML (read with the standard library's ``tomllib``):
tables group the keys (``[lesson]``, ``[kind.schulte]``) and a key's full
name is its dotted path (``kind.schulte.title``). Values are strings with
named ``str.format`` placeholders (``{name}``, ``{week:02d}``). Each file is
read once per process.

This package imports nothing of the project, so any module (and other
packages with catalogues of their own, through :func:`load_catalogue`) can
use it without an import cycle.
"""

from __future__ import annotations

import functools
import hashlib
import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

HERE = Path(__file__).resolve().parent
"""Folder of this package's catalogues: ``<lang>.toml``."""


def load_catalogue(path: Path) -> Mapping[str, str]:
    """A TOML catalogue as a flat, read-only ``{dotted key: text}`` mapping.

    Tables nest keys; every leaf must be a string, so a typo such as a number
    or a list where a text belongs fails when the file is loaded, not when a
    plan is rendered.
    """
    with path.open("rb") as f:
        data = tomllib.load(f)
    flat: dict[str, str] = {}

    def walk(prefix: str, table: Mapping[str, object]) -> None:
        for key, value in table.items():
            full = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(f"{full}.", value)
            elif isinstance(value, str):
                flat[full] = value
            else:
                kind = type(value).__name__
                raise ValueError(f"{path.name}: {full} must be a string, not {kind}")

    walk("", data)
    return MappingProxyType(flat)


def placeholders(template: str) -> frozenset[str]:
    """The named fields of a ``str.format`` template (``"{n} of {total}"`` -> n, total)."""
    return frozenset(
        field.split(".")[0].split("[")[0]
        for _, field, _, _ in string.Formatter().parse(template)
        if field is not None
    )


def _path(lang: str, folder: Path | None = None) -> Path:
    if not lang.isalpha() or not lang.isascii():
        raise ValueError(f"not a language code: {lang!r}")
    return (HERE if folder is None else folder) / f"{lang}.toml"


@functools.cache
def catalogue(lang: str) -> Mapping[str, str]:
    """This package's catalogue for ``lang``, loaded on first use and kept."""
    return load_catalogue(_path(lang))


@functools.cache
def section(lang: str, prefix: str) -> Mapping[str, str]:
    """The raw templates under ``prefix`` (``"lesson"``), keyed without it."""
    head = prefix + "."
    return MappingProxyType(
        {key[len(head) :]: value for key, value in catalogue(lang).items() if key.startswith(head)}
    )


def text(lang: str, key: str, **fields: object) -> str:
    """The text ``key`` in ``lang`` with its named placeholders filled.

    A missing field is a KeyError: a text that silently printed "{name}"
    would reach a child's sheet.
    """
    return catalogue(lang)[key].format_map(fields)


def plural(templates: Mapping[str, str], key: str, n: int) -> str:
    """The template for ``n`` of something: ``<key>_one`` when ``n`` is 1 and it exists.

    English needs "1 exercise" but "2 exercises"; a catalogue that needs no
    such form (Chinese) repeats the same text under both keys, so both
    languages keep the same keys.
    """
    if n == 1:
        return templates.get(f"{key}_one", templates[key])
    return templates[key]


def by_lang(key: str, langs: tuple[str, ...]) -> dict[str, str]:
    """``{lang: text}`` of a fixed text, e.g. a kind's title for every language."""
    return {lang: catalogue(lang)[key] for lang in langs}


def digest(langs: tuple[str, ...], folder: Path | None = None) -> str:
    """SHA-256 (hex) of the catalogue files of ``langs``: changes whenever a text does.

    Read from the files each call (the generator version calls it once, at import).
    """
    h = hashlib.sha256()
    for lang in langs:
        data = _path(lang, folder).read_bytes()
        h.update(f"{lang}:{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()
