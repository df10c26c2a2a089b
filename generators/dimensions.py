"""The eight attention dimensions (注意品质): names and short descriptions.

Worksheets, the plan and the HTML documents all speak of dimensions by their
ASCII key (``generators.worksheets.base.DIMENSIONS``); this module is the one
place that turns a key into words for teachers and parents, in Chinese or
English. It is data only, so every consumer shows the same wording.
"""

from __future__ import annotations

from dataclasses import dataclass

from generators.worksheets.base import DIMENSIONS

LANGS: tuple[str, ...] = ("zh", "en")


@dataclass(frozen=True, slots=True)
class Dimension:
    """One dimension's display metadata; ``key`` is the stable identifier."""

    key: str
    zh: str
    en: str
    description_zh: str
    description_en: str

    def name(self, lang: str) -> str:
        """The dimension's name in ``lang`` ("zh" | "en")."""
        return self.en if lang == "en" else self.zh

    def description(self, lang: str) -> str:
        """One sentence saying what the dimension is, in ``lang``."""
        return self.description_en if lang == "en" else self.description_zh


_ALL = (
    Dimension(
        "span",
        "注意广度",
        "Attention span",
        "一眼能同时看清、记住的信息量。",
        "How much can be taken in and held at a single glance.",
    ),
    Dimension(
        "sustained",
        "注意稳定性",
        "Sustained attention",
        "在一件任务上持续保持专注、不走神的时间。",
        "Staying on one task for a stretch of time without drifting off.",
    ),
    Dimension(
        "selective",
        "注意选择性",
        "Selective attention",
        "在干扰中找出目标、忽略相似的干扰项。",
        "Picking out the targets and ignoring look-alike distractors.",
    ),
    Dimension(
        "shifting",
        "注意转移",
        "Attention shifting",
        "按规则在两项任务或两类目标之间灵活切换。",
        "Switching smoothly between two tasks or two kinds of target on cue.",
    ),
    Dimension(
        "divided",
        "注意分配",
        "Divided attention",
        "同时兼顾两件事，例如边数边画。",
        "Keeping two things going at once, such as counting while tracing.",
    ),
    Dimension(
        "auditory",
        "听觉注意",
        "Auditory attention",
        "听清指令并对声音中的目标及时作出反应。",
        "Listening closely and reacting in time to targets in what is heard.",
    ),
    Dimension(
        "working_memory",
        "工作记忆",
        "Working memory",
        "在头脑中暂时记住并加工信息，例如倒背数字。",
        "Holding and working on information in mind, such as digits backwards.",
    ),
    Dimension(
        "visual_tracking",
        "视觉追踪",
        "Visual tracking",
        "眼睛稳定地沿线条或路径移动而不跳行。",
        "Guiding the eyes steadily along a line or path without skipping.",
    ),
)

DIMENSION_INFO: dict[str, Dimension] = {d.key: d for d in _ALL}
"""Metadata by key, in the order of ``DIMENSIONS`` (the order tables and charts use)."""

if tuple(DIMENSION_INFO) != DIMENSIONS:  # pragma: no cover - guards a contract edit
    raise RuntimeError("generators.dimensions is out of step with worksheets.base.DIMENSIONS")


def dimension_name(key: str, lang: str = "zh") -> str:
    """The display name of dimension ``key``; KeyError for an unknown key."""
    return DIMENSION_INFO[key].name(lang)


def dimension_description(key: str, lang: str = "zh") -> str:
    """The one-sentence description of dimension ``key``; KeyError for an unknown key."""
    return DIMENSION_INFO[key].description(lang)
