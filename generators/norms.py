"""Typical results by age for the three quick checks a centre can run itself.

Why here: the overview tells a centre without its own assessment how to
turn a Schulte time, a digit span and a cancellation sheet into the 0-100
scores a plan starts from, and the Schulte sheets take their time limits
from the same figures, so both say the same thing.

Sources (indicative figures for a quick estimate, not a standardised test):

- Digit span: typical longest span forward grows from about 4 digits at 5-6
  to 5 at 7-9 and 6 from 10 (auditory digit span norms in H. L. and L. S.
  Hollingworth, *Vocational Psychology*, 1916, table of mental-test norms by
  year); backward runs about two digits behind forward through childhood
  (S. E. Gathercole, S. J. Pickering, B. Ambridge, H. Wearing, "The
  structure of working memory from 4 to 15 years of age", *Developmental
  Psychology* 40(2), 2004, 177-190).
- Schulte 5x5 table: the figures in common use by Chinese and Russian
  training centres put an average 7-12-year-old at about 40 s and an
  average 12-17-year-old at about 26 s per table; younger children start on
  smaller grids. The ages between are interpolated here.
"""

from __future__ import annotations

YOUNG_MAX_AGE = 5
"""Ages 4-5 get the young-children forms: at most ``YOUNG_MAX_EXERCISES`` sheets a
lesson, instructions read aloud by the teacher, nothing to write, claps paced
by the teacher, no reflection questions."""

YOUNG_MAX_EXERCISES = 4
"""Sheets per lesson at ages 4-5: pre-school attention holds a few short tasks."""

_FORWARD = {4: 3, 5: 4, 6: 4, 7: 5, 8: 5, 9: 5, 10: 6, 11: 6, 12: 6, 13: 6, 14: 7}
_BACKWARD = {4: 2, 5: 2, 6: 2, 7: 3, 8: 3, 9: 3, 10: 4, 11: 4, 12: 4, 13: 5, 14: 5}
_SCHULTE_5X5_S = {7: 50, 8: 46, 9: 43, 10: 40, 11: 37, 12: 33, 13: 29, 14: 26}
_YOUNG_GRID = {4: (3, 40), 5: (4, 75), 6: (4, 60)}


def digit_span_typical(age: int, backward: bool = False) -> int:
    """Typical longest digit span (forward or backward) at ``age`` (4-14)."""
    return (_BACKWARD if backward else _FORWARD)[_clamp(age)]


def schulte_check(age: int) -> tuple[int, int]:
    """(grid side, typical seconds for one clean run) of the quick Schulte check at ``age``."""
    age = _clamp(age)
    if age in _YOUNG_GRID:
        return _YOUNG_GRID[age]
    return 5, _SCHULTE_5X5_S[age]


def schulte_seconds(n: int, age: int) -> int:
    """Typical seconds for an n x n Schulte table at ``age``: the check's time scaled by cells."""
    side, seconds = schulte_check(age)
    return max(15, round(seconds * n * n / (side * side) / 5) * 5)


def _clamp(age: int) -> int:
    return min(max(age, 4), 14)
