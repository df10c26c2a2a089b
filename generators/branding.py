"""The centre's name in the footer of every generated document, size still known up front.

Why a wrapper rather than a field of every spec: the centre's name is a
setting of the server (``--centre-name``), not part of a plan request, and
the worksheet kinds measure their frame once per parameter tuple; adding a
free text to that cache key would multiply it. So a document is rendered as
always and the name is inserted in front of its footer text: the size grows
by exactly the inserted bytes, which are known before anything is drawn.
Without a centre name documents carry no brand at all.

The footer is found from the end of the document (the frame's tail is its
last text in an SVG sheet; an HTML document gets a last line before
``</body>``), and a
document without one is a bug that raises rather than ships unbranded.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable

from generators.worksheets.base import Doc

MAX_CENTRE = 60
"""Longest centre name accepted (characters): it must fit the footer line."""

# (marker, insert after it?) per document type: into an SVG sheet's footer text,
# or as a last line before an HTML document's </body>.
_MARKERS = {"svg": (b'class="f">', True), "html": (b"</body>", False)}


def check_centre(name: str) -> str:
    """The centre name, stripped; ValueError naming the problem when it cannot be printed."""
    name = " ".join(name.split())
    if len(name) > MAX_CENTRE:
        raise ValueError(f"at most {MAX_CENTRE} characters")
    if any(ord(c) < 32 for c in name):
        raise ValueError("no control characters")
    return name


def _fragment(ext: str, centre: str) -> bytes:
    if ext == "svg":
        return (html.escape(centre, quote=False) + " · ").encode("utf-8")
    return f'<p class="meta">{html.escape(centre, quote=False)}</p>'.encode()


def _render(
    render: Callable[[], bytes], marker: tuple[bytes, bool], fragment: bytes, size: int
) -> bytes:
    data = render()
    at = data.rfind(marker[0])
    if at < 0:
        raise ValueError("document has no footer to carry the centre's name")
    if marker[1]:
        at += len(marker[0])
    out = data[:at] + fragment + data[at:]
    if len(out) != size:
        raise ValueError(f"branded document is {len(out)} B, promised {size} B")
    return out


def branded(doc: Doc, centre: str) -> Doc:
    """``doc`` with ``centre`` in its footer; ``doc`` itself when there is no centre name."""
    if not centre:
        return doc
    marker = _MARKERS.get(doc.ext)
    if marker is None:
        raise ValueError(f"cannot brand a .{doc.ext} document")
    fragment = _fragment(doc.ext, centre)
    size = doc.size + len(fragment)
    return Doc(size, functools.partial(_render, doc.render, marker, fragment, size), doc.ext)
