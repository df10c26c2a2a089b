"""One print file per lesson: all of its sheets, one A4 page each, printed with one click.

A lesson has 3-10 worksheets; printing them one file at a time is slow and
error-prone. Each lesson folder therefore gets two HTML files: the child
sheets in lesson order, and the answer keys in the same order. Opened in a
browser and printed with the default settings, each gives one A4 page per
sheet (``@page`` sets A4 and no margin; every sheet keeps its own 10 mm).

Strategy. Every page is an ``<img>`` of the sheet's own file beside it in the
archive, by relative path:

- an image, not inline SVG, because every sheet carries its own ``<style>``
  and ids (``#s0``...): inline in one HTML document they would restyle and
  shadow each other; an image keeps each sheet a document of its own;
- a relative link, not the sheet's bytes as a ``data:`` URI, because a
  generated document is held whole while it is sent: embedding a lesson's
  sheets would make the largest document of a plan 4-5 times larger (13 KiB
  to 60 KiB for the reference plan) and so every download's memory cost, and
  admission is sized for ten thousand downloads in 2 GiB. The file is a few
  hundred bytes per page, and its size follows from the file names alone.
  The price: the images show only once the ZIP is extracted (a ZIP viewer
  that opens one file alone leaves them out), so the file says so on screen
  (never on paper) for as long as an image is missing.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from urllib.parse import quote

from .texts import text
from .worksheets.base import Doc
from .worksheets.svg import FONTS

_CSS = (
    "@page{size:A4;margin:0}html,body{margin:0;padding:0}"
    "img{display:block;width:210mm;height:297mm;break-inside:avoid}"
    "img+img{break-before:page}"
    "@media screen{body{background:#d8d8d8}img{margin:6mm auto;background:#fff;"
    "box-shadow:0 0 2mm #888}.unzip{font-size:16px;margin:6mm;padding:3mm;"
    "background:#fff3c4}}@media print{.unzip{display:none}}"
)


def print_filenames(lang: str) -> tuple[str, str]:
    """(sheets file, keys file) names inside a lesson folder."""
    return text(lang, "names.print_sheets"), text(lang, "names.print_keys")


def _parts(pages: tuple[str, ...], title: str, lang: str) -> list[str]:
    """The document's text: head, one image per page (by relative path), tail.

    The "extract first" note is shown only while some image failed to load
    (each image's onerror reveals it), and never printed.
    """
    note = html.escape(text(lang, "print.unzip"))
    out = [
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>body{{font-family:{FONTS[lang]}}}{_CSS}"
        "</style></head><body>\n"
        f'<p class="unzip" id="unzip" hidden>{note}</p>\n'
    ]
    for path in pages:
        alt = html.escape(path.rsplit("/", 1)[-1])
        src = html.escape(quote(path, safe="/"))
        out.append(
            f'<img alt="{alt}" src="{src}" '
            "onerror=\"document.getElementById('unzip').hidden=false\">\n"
        )
    out.append("</body></html>\n")
    return out


def _render(pages: tuple[str, ...], title: str, lang: str, size: int) -> bytes:
    data = "".join(_parts(pages, title, lang)).encode("utf-8")
    if len(data) != size:
        raise ValueError(f"print file rendered {len(data)} B, promised {size} B")
    return data


def print_doc(pages: Sequence[str], title: str, lang: str) -> Doc:
    """An HTML document printing ``pages`` (paths relative to it) one per A4 page.

    Its size is the UTF-8 length of the same parts the render joins, so it is
    exact by construction; nothing is held between the two.
    """
    frozen = tuple(pages)
    size = len("".join(_parts(frozen, title, lang)).encode("utf-8"))
    return Doc(size, functools.partial(_render, frozen, title, lang, size), "html")


def lesson_print_docs(
    sheets: Sequence[str], keys: Sequence[str], lesson: str, lang: str
) -> tuple[Doc, Doc]:
    """The lesson's two print files: child sheets, then answer keys, each in lesson order."""
    return (
        print_doc(sheets, text(lang, "print.sheets_title", lesson=lesson), lang),
        print_doc(keys, text(lang, "print.keys_title", lesson=lesson), lang),
    )
