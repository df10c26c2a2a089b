"""Worksheet generators: the registry of kinds and the choice of kinds per dimension.

Each kind is a ``page.Kind`` (which implements ``base.WorksheetKind``). The
registry's order is fixed here, so ``kinds_for`` is deterministic and a plan
built from it is the same in every process.

Adding a kind, the checklist:

1. A module here with a ``page.Kind`` subclass: ``name`` (the registry key),
   ``dimension`` (its title comes from the catalogues), ages and
   variants; the hooks ``_data`` (every random choice, from
   ``random.Random(spec.seed)``), ``_sheet_body``/``_key_body`` and their
   bounds ``_sheet_bound``/``_key_bound`` (measured with ``svg.widest`` from
   the very texts drawn, never counted by hand); ``minutes``,
   ``instructions``, ``how_to_run``, ``key_note``.
   Say which variants suit which ages and languages (``variant_min_age``,
   ``variant_max_age``, ``variant_langs``, ``latin_variants``): the planner
   rotates only through ``variants_for(age, lang)``.
2. Its texts under ``[kind.<name>]`` in both ``generators/texts/zh.toml``
   and ``en.toml`` (same keys, same placeholders; the catalogue test checks);
   ``title_<variant>`` where a variant is a different task, ``<key>_young``
   where ages 4-5 need other words (``Kind.young_text``).
3. An instance in ``REGISTRY`` below (the order is part of every plan: append).
4. A key test in ``tests/generators/test_worksheet_keys.py`` that reads the
   sheet back and checks the key against it; ``test_worksheets.py`` then
   checks sizes, ages and rendering of the new kind by itself.
"""

from __future__ import annotations

from .auditory_script import AuditoryScript
from .base import MAX_LEVEL, Doc, ExerciseSpec, Registry, WorksheetKind, pad_to
from .cancellation import Cancellation, HanziCancellation
from .count_two import CountTwo
from .digit_span import DigitSpan
from .dot_copy import DotCopy
from .dual_task import DualTask
from .listen_colour import ListenColour
from .maze import Maze
from .page import MAX_AGE, MIN_AGE, Kind
from .patterns import Patterns
from .schulte import RedBlack, Schulte
from .spot_difference import SpotDifference
from .stroop import Stroop
from .tangled_lines import TangledLines
from .trail_making import TrailMaking
from .visual_memory import VisualMemory

REGISTRY: Registry[Kind] = Registry(
    (
        Schulte(),
        RedBlack(),
        Cancellation(),
        HanziCancellation(),
        TrailMaking(),
        Maze(),
        TangledLines(),
        DigitSpan(),
        Stroop(),
        SpotDifference(),
        AuditoryScript(),
        DualTask(),
        VisualMemory(),
        DotCopy(),
        Patterns(),
        ListenColour(),
        CountTwo(),
    )
)
"""Every kind, by registry key, in the order plans rotate through them."""


def kinds_for(dimension: str, age: int) -> list[Kind]:
    """Kinds that train ``dimension`` and suit ``age``, in registry order (never empty)."""
    if not MIN_AGE <= age <= MAX_AGE:
        raise ValueError(f"age {age} outside {MIN_AGE}..{MAX_AGE}")
    return REGISTRY.kinds_for(dimension, age)


__all__ = [
    "MAX_LEVEL",
    "REGISTRY",
    "Doc",
    "ExerciseSpec",
    "Kind",
    "Registry",
    "WorksheetKind",
    "kinds_for",
    "pad_to",
]
