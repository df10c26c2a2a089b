"""Shared contract of every worksheet generator.

A plan can hold thousands of worksheets, and the archive's Content-Length must
be known before the first byte, so every document is *size-stable*: its exact
byte size follows from its parameters (``Doc.size``) and is known without
rendering it; ``Doc.render()`` produces exactly that many bytes, later, when the
archive reaches the entry. Generators achieve this by computing an upper bound
from the parameters (fixed frame + item count x widest item) and padding the
rendered SVG with an XML comment up to the bound (see ``pad_to``).

Rendering is a pure function of the ``ExerciseSpec`` (random choices come from
``random.Random(spec.seed)``), so the same spec renders the same bytes on any
machine, any day; the answer key is computed from the same data as the sheet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

DIMENSIONS: tuple[str, ...] = (
    "span",
    "sustained",
    "selective",
    "shifting",
    "divided",
    "auditory",
    "working_memory",
    "visual_tracking",
)

MAX_LEVEL = 10
"""Difficulty runs 1..MAX_LEVEL; the plan steps it by at most one per lesson."""


@dataclass(frozen=True, slots=True)
class ExerciseSpec:
    """Everything a worksheet needs to render itself, and nothing else."""

    kind: str  # registry key, e.g. "schulte"
    level: int  # 1..MAX_LEVEL
    age: int  # 4..14
    seed: int  # 0 <= seed < 2**64, derived by the plan from the request hash
    lang: str = "zh"  # "zh" | "en"
    variant: str = ""  # kind-specific flavour, e.g. "digits" | "letters" | "hanzi"


@dataclass(frozen=True, slots=True)
class Doc:
    """A document whose size is known before it is rendered.

    ``render()`` must return exactly ``size`` bytes every time it is called.
    """

    size: int
    render: Callable[[], bytes]
    ext: str = "svg"  # file extension without the dot


class WorksheetKind(Protocol):
    """One kind of exercise: its metadata, its sheet and its answer key."""

    name: str  # registry key, ASCII, e.g. "schulte"
    dimension: str  # one of DIMENSIONS
    title: dict[str, str]  # {"zh": "舒尔特方格", "en": "Schulte table"}
    min_age: int
    max_age: int
    variants: tuple[str, ...]  # allowed ExerciseSpec.variant values ("" if none)

    def minutes(self, spec: ExerciseSpec) -> int:
        """Time box printed on the sheet and used by the lesson timeline."""
        ...

    def instructions(self, spec: ExerciseSpec) -> str:
        """One or two sentences for the child, in spec.lang."""
        ...

    def how_to_run(self, spec: ExerciseSpec) -> str:
        """Teacher notes for the lesson plan: how to run and how to score, in spec.lang."""
        ...

    def sheet(self, spec: ExerciseSpec) -> Doc:
        """The print-ready A4 worksheet (SVG, viewBox 0 0 210 297)."""
        ...

    def answer_key(self, spec: ExerciseSpec) -> Doc:
        """The answer key, computed from the same data as the sheet."""
        ...


def pad_to(body: str, size: int) -> bytes:
    """Encode an SVG/HTML document and pad it to exactly ``size`` bytes.

    The padding is an XML/HTML comment inserted before the final closing tag,
    so the document stays valid. Raises ValueError if the bound was too small:
    that is a bug in the generator's size formula and must never be hidden.
    """
    data = body.encode("utf-8")
    if len(data) == size:
        return data
    gap = size - len(data)
    if gap < 7:  # "<!---->" is the smallest comment
        # Keep exactness: a smaller gap than a comment can hold is made of
        # spaces inside the last tag's whitespace is not portable; demand room.
        raise ValueError(f"size bound too tight: rendered {len(data)} B, bound {size} B")
    cut = data.rstrip().rfind(b"</")
    if cut < 0:
        raise ValueError("document has no closing tag to pad before")
    filler = b"<!--" + b" " * (gap - 7) + b"-->"
    return data[:cut] + filler + data[cut:]
