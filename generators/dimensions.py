"""The ground every other module stands on: the eight dimensions and the two languages.

Worksheets, the plan, the request and the HTML documents all speak of
dimensions by their ASCII key; this module defines those keys, their order
(the order tables and charts use) and the languages a plan can be written
in, once. It turns a key into words through the text catalogues
(``generators/texts``), so every consumer shows the same wording. It imports
nothing from ``generators.worksheets`` (the worksheets import it), so any
module can use it without an import cycle.
"""

from __future__ import annotations

from generators.texts import text

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
"""The eight attention dimensions (注意品质), by stable ASCII key."""

LANGS: tuple[str, ...] = ("zh", "en")
"""Languages a plan is written in; each has a catalogue ``generators/texts/<lang>.toml``."""


def dimension_name(key: str, lang: str = "zh") -> str:
    """The display name of dimension ``key`` ("注意广度", "Attention span"); KeyError if unknown."""
    if key not in DIMENSIONS:
        raise KeyError(key)
    return text(lang, f"dimension.{key}.name")


def dimension_description(key: str, lang: str = "zh") -> str:
    """One sentence saying what dimension ``key`` is, in ``lang``; KeyError if unknown."""
    if key not in DIMENSIONS:
        raise KeyError(key)
    return text(lang, f"dimension.{key}.description")
