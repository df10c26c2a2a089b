"""SVG primitives with a known maximum byte width, shared by every worksheet.

Strategy: a worksheet's size must be known before it is drawn, so everything
drawn from random data is emitted through small formatting helpers whose widest
output is known. Coordinates always go through ``num`` (one decimal place), so a
page coordinate is at most five characters ("297.0"); ``WIDE`` is a value that
prints at that maximum width, so a generator measures the widest form of an
item by calling the very function that draws it with ``WIDE`` for every
coordinate and the widest label it can choose. The size formula and the
drawing code therefore cannot drift apart.

Nothing here draws a page; ``page.py`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import lru_cache

from generators.texts import text

FONT = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif"
"""Generic CJK-capable family list; no font is ever fetched by URL."""

LATIN_FONT = (
    "'Helvetica Neue',Arial,'Liberation Sans','DejaVu Sans','Noto Sans',"
    "'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif"
)
"""English sheets: Latin fonts first, so quotes and dashes keep their Latin
widths (a CJK font draws “ ” full-width), and CJK fonts after them for a
child's name written in 汉字."""

FONTS = {"zh": FONT, "en": LATIN_FONT}
"""Font stack per plan language."""

PRINT_CSS = "@page{size:A4;margin:0}"
"""Print rule of every sheet: one A4 page with no browser margin, whatever the
browser's default paper (Letter in the US locale) and margins; the drawing
keeps its own 10 mm margin, so nothing is cut by a printer's unprintable edge."""

WIDE = 888.8
"""A coordinate that prints at the maximum width of ``num`` for a page value."""

RED = "#d62728"
BLUE = "#1f5fbf"
GREEN = "#2a9d3a"
YELLOW = "#e0a800"
BLACK = "#222222"
GREY = "#9a9a9a"


def num(x: float) -> str:
    """Format a page coordinate: one decimal, at most 5 characters for -99.9..999.9."""
    return f"{x:.1f}"


def esc(text: str) -> str:
    """Escape text for XML character data and double-quoted attributes."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def blen(text: str) -> int:
    """UTF-8 byte length; Chinese characters count 3 bytes."""
    return len(text.encode("utf-8"))


def widest(draw: Callable[..., str], *args: object) -> int:
    """Byte width of ``draw(*args)``: call it with WIDE coordinates and the widest labels."""
    return blen(draw(*args))


def _advance(ch: str) -> float:
    """Approximate advance of one character in em, erring wide.

    CJK and full-width characters are square; so are arrows, dashes, curly
    quotes and the other symbols from U+2000 on, because a CJK font that comes
    first in the stack draws them full-width. Capitals are wider than digits.
    Erring wide keeps every line inside the 10 mm print margin.
    """
    if ord(ch) >= 0x2000:
        return 1.0
    if ch == " ":
        return 0.28
    return 0.68 if ch.isupper() else 0.56


def text_em(text: str) -> float:
    """Estimated width of a line of text in em."""
    return sum(_advance(ch) for ch in text)


_NO_LINE_START = frozenset("，。、；：！？）】》”’…,.;:!?)")


def wrap(text: str, em_per_line: float) -> list[str]:
    """Greedy line breaking by estimated width.

    Chinese may break between any two characters, except before closing
    punctuation; Latin text breaks at spaces (a single word longer than a line
    is kept whole rather than split).
    """
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ord(ch) >= 0x2E80:
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
        elif ch == " ":
            tokens.append(word + " ")
            word = ""
        else:
            word += ch
    if word:
        tokens.append(word)
    lines: list[str] = []
    line = ""
    width = 0.0
    for tok in tokens:
        w = sum(_advance(c) for c in tok.rstrip())
        # Closing punctuation never starts a line: it may overhang by one character.
        if line and width + w > em_per_line and tok[0] not in _NO_LINE_START:
            lines.append(line.rstrip())
            line, width = "", 0.0
        line += tok
        width += w + (0.28 if tok.endswith(" ") else 0.0)
    if line.strip():
        lines.append(line.rstrip())
    return lines


# --- shapes -----------------------------------------------------------------
# Simple geometric shapes used by symbol cancellation, spot the difference and
# the dual task. Each is defined once in <defs> around (0, 0) and placed with
# <use href="#sN" x=".." y=".."/>, which keeps every placed item small and of a
# fixed width. Fill and stroke are left to the <use> (or its group) so one
# definition serves outlined and coloured variants.


def shape_name(shape: int, lang: str) -> str:
    """The name of shape ``shape`` (0..7, as in ``shape_defs``) in ``lang``, from the catalogue."""
    if not 0 <= shape < 8:
        raise ValueError(f"no shape {shape}")
    return text(lang, f"shape.{shape}")


def _poly(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{x:.2f},{y:.2f}" for x, y in points)


def _regular(n: int, r: float, phase: float) -> list[tuple[float, float]]:
    return [
        (r * math.cos(phase + 2 * math.pi * i / n), r * math.sin(phase + 2 * math.pi * i / n))
        for i in range(n)
    ]


@lru_cache(maxsize=64)
def shape_defs(r: float, prefix: str = "s") -> str:
    """``<defs>`` with the eight shapes at radius ``r`` (mm), ids prefix0..prefix7."""
    top = -math.pi / 2
    star = []
    for i in range(10):
        rad = r if i % 2 == 0 else r * 0.42
        a = top + math.pi * i / 5
        star.append((rad * math.cos(a), rad * math.sin(a)))
    t = r * 0.3
    cross = [(-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t), (t, r), (-t, r), (-t, t)]
    cross += [(-r, t), (-r, -t), (-t, -t)]
    tri = [(x, y + r * 0.18) for x, y in _regular(3, r * 1.05, top)]
    down = [(x, -y) for x, y in tri]
    s = r * 0.82
    parts = [
        f'<circle id="{prefix}0" r="{r * 0.9:.2f}"/>',
        f'<rect id="{prefix}1" x="{-s:.2f}" y="{-s:.2f}" '
        f'width="{2 * s:.2f}" height="{2 * s:.2f}"/>',
        f'<polygon id="{prefix}2" points="{_poly(tri)}"/>',
        f'<polygon id="{prefix}3" points="{_poly(_regular(4, r, top))}"/>',
        f'<polygon id="{prefix}4" points="{_poly(star)}"/>',
        f'<polygon id="{prefix}5" points="{_poly(cross)}"/>',
        f'<polygon id="{prefix}6" points="{_poly(_regular(6, r * 0.95, 0.0))}"/>',
        f'<polygon id="{prefix}7" points="{_poly(down)}"/>',
    ]
    return "<defs>" + "".join(parts) + "</defs>"


def use(shape: int, x: float, y: float, prefix: str = "s") -> str:
    """Place shape ``shape`` (0..7) centred at (x, y)."""
    return f'<use href="#{prefix}{shape}" x="{num(x)}" y="{num(y)}"/>'
