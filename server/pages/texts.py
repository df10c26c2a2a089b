"""The teacher page's own texts: one TOML catalogue per language, read once per process.

They are loaded with the plan catalogues' loader (``generators.texts.load_catalogue``:
read-only, every value a string).

The generated documents have their own catalogues (``generators``); these
are the page's labels, hints and error messages. Placeholders are named
(``{lo}``), and ``tests/server/test_page_texts.py`` checks that both
languages have the same keys and placeholders, so a missing translation is a
test failure rather than a ``KeyError`` in front of a teacher.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from generators.dimensions import LANGS, dimension_name
from generators.texts import load_catalogue

TEXTS_DIR = Path(__file__).parent / "texts"
PAGE_LANGS: tuple[str, ...] = LANGS


@functools.cache
def catalogue(lang: str) -> Mapping[str, str]:
    """The page texts of ``lang`` ("zh" | "en"), read once and kept read-only."""
    if lang not in PAGE_LANGS:
        raise ValueError(f"no page texts for language {lang!r}")
    return load_catalogue(TEXTS_DIR / f"{lang}.toml")


def dimension_label(key: str, lang: str) -> str:
    """A dimension's name on the page: the same wording as in the plan's documents."""
    return dimension_name(key, lang)


def pick_lang(query_lang: str | None, accept_language: str) -> str:
    """The page language: ``?lang=`` first, then Accept-Language, else Chinese.

    Accept-Language is read in q order; the first of zh/en it names wins, so
    ``en-GB,zh;q=0.5`` is English and ``zh-CN,en;q=0.8`` is Chinese.
    """
    if query_lang in PAGE_LANGS:
        return query_lang
    ranked: list[tuple[float, int, str]] = []
    for pos, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in PAGE_LANGS and q > 0:
            ranked.append((-q, pos, primary))
    return min(ranked)[2] if ranked else "zh"
