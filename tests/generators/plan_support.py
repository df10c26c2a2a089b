"""Shared by the plan and lesson tests: a stand-in worksheet registry, request strategies.

It implements the parts of ``WorksheetKind`` the plan and the lesson
documents use (metadata, minutes, instructions, how_to_run), with texts that
depend on the spec, so tests do not depend on the real kinds' progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hypothesis import strategies as st

from generators.dimensions import DIMENSIONS
from generators.request import PlanRequest
from generators.worksheets.base import Doc, ExerciseSpec, Registry, pad_to


@dataclass(frozen=True)
class FakeKind:
    name: str
    dimension: str
    title: dict[str, str]
    min_age: int = 4
    max_age: int = 14
    variants: tuple[str, ...] = ("",)

    def variants_for(self, age: int, lang: str) -> tuple[str, ...]:
        return self.variants

    def title_for(self, spec: ExerciseSpec) -> str:
        return self.title[spec.lang]

    def minutes(self, spec: ExerciseSpec) -> int:
        return 3 + spec.level // 3

    def instructions(self, spec: ExerciseSpec) -> str:
        if spec.lang == "en":
            return f"Find every target as fast as you can (level {spec.level})."
        return f"尽快找出所有目标（第{spec.level}级）。"

    def how_to_run(self, spec: ExerciseSpec) -> str:
        if spec.lang == "en":
            return (
                f"Hand out the sheet face down. Start the timer; stop at {self.minutes(spec)} "
                f"minutes. One point per target <found> & circled ({spec.variant or 'plain'})."
            )
        return (
            f"发下练习纸，背面朝上。计时{self.minutes(spec)}分钟。"
            f"每找到并圈出一个目标得1分（{spec.variant or '标准'}）。<注意> & 复核"
        )

    def sheet(self, spec: ExerciseSpec) -> Doc:
        body = f'<svg xmlns="http://www.w3.org/2000/svg"><text>{self.name}</text></svg>'
        return Doc(len(body) + 16, lambda: pad_to(body, len(body) + 16))


_TITLES = {
    "span": ("舒尔特方格", "Schulte table"),
    "sustained": ("数字划消", "Digit cancellation"),
    "selective": ("形近字划消", "Look-alike cancellation"),
    "shifting": ("连线追踪", "Trail making"),
    "divided": ("边数边画", "Count while tracing"),
    "auditory": ("听数拍手", "Clap on the number"),
    "working_memory": ("数字倒背", "Digits backwards"),
    "visual_tracking": ("迷宫", "Maze"),
}


def make_registry() -> Registry[FakeKind]:
    """Nine kinds: one per dimension, plus an older-children second kind for span."""
    reg: dict[str, FakeKind] = {}
    for dim in DIMENSIONS:
        zh, en = _TITLES[dim]
        reg[f"fake_{dim}"] = FakeKind(f"fake_{dim}", dim, {"zh": zh, "en": en})
    reg["fake_span_flash"] = FakeKind(
        "fake_span_flash",
        "span",
        {"zh": "闪卡回忆", "en": "Flash-card recall"},
        min_age=8,
        variants=("digits", "letters"),
    )
    # Only for ages the plan never reaches alone: exercises the nearest-age fallback.
    reg["fake_divided_teen"] = FakeKind(
        "fake_divided_teen", "divided", {"zh": "双任务", "en": "Dual task"}, min_age=12
    )
    return Registry(reg.values())


REGISTRY = make_registry()


# -- hypothesis strategies ---------------------------------------------------------

_NAME_CHARS = st.characters(
    codec="utf-8",
    exclude_categories=("Cc", "Cs", "Zl", "Zp"),
    exclude_characters='/\\:*?"<>|\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f',
)
names = st.text(_NAME_CHARS, min_size=1, max_size=40).filter(lambda s: s.strip())
scores = st.dictionaries(st.sampled_from(DIMENSIONS), st.integers(0, 100), min_size=3)


@st.composite
def requests(draw: st.DrawFn, max_weeks: int = 52, mode: str | None = None) -> PlanRequest:
    """Any valid request; ``max_weeks`` keeps property tests quick."""
    chosen = mode or draw(st.sampled_from(("assessment", "focus")))
    return PlanRequest(
        name=draw(names),
        mode=chosen,
        age=draw(st.integers(4, 14)),
        weeks=draw(st.integers(1, max_weeks)),
        lessons_per_week=draw(st.integers(1, 7)),
        exercises_per_lesson=draw(st.integers(3, 10)),
        scores=draw(scores) if chosen == "assessment" else {},
        lang=draw(st.sampled_from(("zh", "en"))),
        start_date=draw(st.none() | st.dates(date(2000, 1, 1), date(2099, 12, 31))),
    )
