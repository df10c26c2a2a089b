"""One print file per lesson: all of its sheets, one A4 page each, printed with one click.

A lesson has 3-10 worksheets; printing them one file at a time is slow and
error-prone. Each lesson folder therefore gets two HTML files: the child
sheets in lesson order, and the answer keys in the same order. Opened in a
browser and printed with the default settings, each gives one A4 page per
sheet (``@page`` sets A4 and no margin; every sheet keeps its own 10 mm).

Strategy. Every page is an ``<img>`` whose ``src`` is the sheet's SVG as a
base64 ``data:`` URI:

- an image, not inline SVG, because every sheet carries its own ``<style>``
  and ids (``#s0``...): inline in one HTML document they would restyle and
  shadow each other; an image keeps each sheet a document of its own;
- a ``data:`` URI, not a relative link, so the file still prints when it is
  opened on its own (a ZIP viewer extracts only the file that is opened);
- base64 of n bytes is exactly 4 * ceil(n / 3) characters, so the file's size
  follows from its pages' sizes, which every ``Doc`` knows before rendering.
  The pages are drawn only when the archive reaches the file (through the
  render cache, when the plan has one, so a sheet is drawn once).
"""

from __future__ import annotations

import base64
import functools
import html
from collections.abc import Sequence

from .texts import text
from .worksheets.base import Doc

_CSS = (
    "@page{size:A4;margin:0}html,body{margin:0;padding:0}"
    "img{display:block;width:210mm;height:297mm;break-inside:avoid}"
    "img+img{break-before:page}"
    "@media screen{body{background:#d8d8d8}img{margin:6mm auto;background:#fff;"
    "box-shadow:0 0 2mm #888}}"
)
_PREFIX = '<img alt="{alt}" src="data:image/svg+xml;base64,'
_SUFFIX = '">\n'


def print_filenames(lang: str) -> tuple[str, str]:
    """(sheets file, keys file) names inside a lesson folder."""
    return text(lang, "names.print_sheets"), text(lang, "names.print_keys")


def _b64_len(n: int) -> int:
    return 4 * ((n + 2) // 3)


def _frame(title: str, lang: str) -> tuple[str, str]:
    head = (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
    )
    return head, "</body></html>\n"


def print_doc(pages: Sequence[tuple[str, Doc]], title: str, lang: str) -> Doc:
    """An HTML document printing ``pages`` ((alt text, SVG Doc) each) one per A4 page.

    Its size is exact before anything is drawn: frame + per page the image
    tag and the base64 length of the page's known size.
    """
    head, tail = _frame(title, lang)
    size = len(head.encode()) + len(tail.encode())
    for alt, doc in pages:
        tag = _PREFIX.format(alt=html.escape(alt)) + _SUFFIX
        size += len(tag.encode()) + _b64_len(doc.size)
    return Doc(size, functools.partial(_render, tuple(pages), head, tail, size), "html")


def _render(pages: tuple[tuple[str, Doc], ...], head: str, tail: str, size: int) -> bytes:
    out = [head.encode()]
    for alt, doc in pages:
        body = doc.render()
        if len(body) != doc.size:
            raise ValueError(f"page {alt!r} rendered {len(body)} B, promised {doc.size} B")
        out.append(_PREFIX.format(alt=html.escape(alt)).encode())
        out.append(base64.b64encode(body))
        out.append(_SUFFIX.encode())
    out.append(tail.encode())
    data = b"".join(out)
    if len(data) != size:
        raise ValueError(f"print file rendered {len(data)} B, promised {size} B")
    return data


def lesson_print_docs(
    sheets: Sequence[tuple[str, Doc]], keys: Sequence[tuple[str, Doc]], lesson: str, lang: str
) -> tuple[Doc, Doc]:
    """The lesson's two print files: child sheets, then answer keys, each in lesson order."""
    return (
        print_doc(sheets, text(lang, "print.sheets_title", lesson=lesson), lang),
        print_doc(keys, text(lang, "print.keys_title", lesson=lesson), lang),
    )
