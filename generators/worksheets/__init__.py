"""Worksheet generators: the registry of kinds and the choice of kinds per dimension.

Each kind implements ``base.WorksheetKind`` (through ``page.Kind``). The
registry's order is fixed here, so ``kinds_for`` is deterministic and a plan
built from it is the same in every process.
"""

from __future__ import annotations

from .auditory_script import AuditoryScript
from .base import DIMENSIONS, MAX_LEVEL, Doc, ExerciseSpec, WorksheetKind, pad_to
from .cancellation import Cancellation, HanziCancellation
from .digit_span import DigitSpan
from .dual_task import DualTask
from .maze import Maze
from .page import MAX_AGE, MIN_AGE, Kind
from .schulte import RedBlack, Schulte
from .spot_difference import SpotDifference
from .stroop import Stroop
from .tangled_lines import TangledLines
from .trail_making import TrailMaking

_KINDS: tuple[Kind, ...] = (
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
)

REGISTRY: dict[str, WorksheetKind] = {k.name: k for k in _KINDS}


def kinds_for(dimension: str, age: int) -> list[WorksheetKind]:
    """Kinds that train ``dimension`` and suit ``age``, in registry order (never empty)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    if not MIN_AGE <= age <= MAX_AGE:
        raise ValueError(f"age {age} outside {MIN_AGE}..{MAX_AGE}")
    return [k for k in _KINDS if k.dimension == dimension and k.min_age <= age <= k.max_age]


__all__ = [
    "DIMENSIONS",
    "MAX_LEVEL",
    "REGISTRY",
    "Doc",
    "ExerciseSpec",
    "WorksheetKind",
    "kinds_for",
    "pad_to",
]
