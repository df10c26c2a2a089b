"""Every kind's sheet and key rasterise to a non-blank page (resvg).

XML validity does not prove a sheet prints: a wrong viewBox, a misplaced
group or an unsupported construct can leave a white page. This renders one
sheet and one key of each kind with resvg and decodes the PNG with zlib and
struct only (no imaging library needed), then checks that a real share of the
page is inked and that more than one colour is present.

The test machine may have no CJK font, so Chinese text can come out as empty
boxes; the check therefore relies on lines and shapes as much as on text.
"""

from __future__ import annotations

import struct
import zlib

import pytest

from generators.worksheets import REGISTRY, ExerciseSpec
from generators.worksheets.page import Kind

resvg_py = pytest.importorskip("resvg_py")

KINDS: list[Kind] = list(REGISTRY.values())


def decode_png(png: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixels) of an 8-bit RGB/RGBA/grey PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        out += line
        prev = line
    return width, height, channels, bytes(out)


def rasterise(svg: bytes) -> bytes:
    return bytes(
        resvg_py.svg_to_bytes(
            svg_string=svg.decode("utf-8"),
            dpi=20.0,  # 166 x 234 px: enough to see ink, fast to decode
            font_family="DejaVu Sans",
            sans_serif_family="DejaVu Sans",
        )
    )


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_sheet_and_key_render_to_a_non_blank_page(kind: Kind) -> None:
    spec = ExerciseSpec(kind.name, 5, max(kind.min_age, 8), 2024, "zh", "")
    for doc in (kind.sheet(spec), kind.answer_key(spec)):
        width, height, channels, pixels = decode_png(rasterise(doc.render()))
        assert (width, height) == (round(210 / 25.4 * 20), round(297 / 25.4 * 20))
        colours = {pixels[i : i + 3] for i in range(0, len(pixels), channels)}
        assert len(colours) > 1
        inked = sum(1 for i in range(0, len(pixels), channels) if min(pixels[i : i + 3]) < 200)
        assert inked / (width * height) > 0.005, (kind.name, inked)
