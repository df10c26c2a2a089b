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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from generators.dimensions import DIMENSIONS

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
    """One kind of exercise: its metadata, its sheet and its answer key.

    The metadata are read-only properties here so that a kind may declare
    them as class attributes (``page.Kind`` does).
    """

    @property
    def name(self) -> str:
        """Registry key, ASCII, e.g. "schulte"."""
        ...

    @property
    def dimension(self) -> str:
        """One of ``DIMENSIONS``."""
        ...

    @property
    def title(self) -> Mapping[str, str]:
        """Title per language, from the catalogues: {"zh": "舒尔特方格", "en": "Schulte table"}."""
        ...

    @property
    def min_age(self) -> int: ...

    @property
    def max_age(self) -> int: ...

    @property
    def variants(self) -> tuple[str, ...]:
        """Allowed ``ExerciseSpec.variant`` values ("" if none)."""
        ...

    def variants_for(self, age: int, lang: str) -> tuple[str, ...]:
        """The variants that suit a child of ``age`` in a plan in ``lang``; the planner
        rotates through them (never empty; ``("",)`` for a kind without variants)."""
        ...

    def title_for(self, spec: ExerciseSpec) -> str:
        """The title of the sheet ``spec`` draws (a variant may have its own)."""
        ...

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


K = TypeVar("K", bound=WorksheetKind, covariant=True)


class Registry(Mapping[str, K], Generic[K]):
    """The worksheet kinds a plan is built from, by registry key, in a fixed order.

    Why an object rather than a dict: the planner asks it which kinds suit a
    dimension and an age (``kinds_for``), so a test can hand the planner a
    registry of a few fake kinds and the real one is never probed for.
    """

    def __init__(self, kinds: Iterable[K]) -> None:
        self._kinds: dict[str, K] = {}
        for kind in kinds:
            if kind.dimension not in DIMENSIONS:
                raise ValueError(f"{kind.name}: unknown dimension {kind.dimension!r}")
            if kind.name in self._kinds:
                raise ValueError(f"two kinds are named {kind.name!r}")
            self._kinds[kind.name] = kind

    def __getitem__(self, key: str) -> K:
        return self._kinds[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def kinds_for(self, dimension: str, age: int) -> list[K]:
        """Kinds that train ``dimension`` and suit ``age``, in registry order.

        When no kind of the dimension suits the age, the kinds nearest to it
        in age are given instead, so a plan never lacks a dimension; the real
        registry covers every age (a test checks it). Empty only when the
        registry has no kind of the dimension at all.
        """
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dimension!r}")
        own = [k for k in self._kinds.values() if k.dimension == dimension]
        fit = [k for k in own if k.min_age <= age <= k.max_age]
        if fit or not own:
            return fit
        gap = min(max(k.min_age - age, age - k.max_age) for k in own)
        return [k for k in own if max(k.min_age - age, age - k.max_age) == gap]


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
