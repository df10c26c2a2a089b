"""Teacher scripts for auditory attention: clap at a skipped number, or raise a
hand on a target sound.

Variants:
- ``skip``: the teacher counts aloud (up from 1; up from another start at
  middle levels; down at high levels for older children) and leaves out a few
  numbers; the child claps on hearing the number after a gap.
- ``target``: the teacher reads a stream of 汉字 (zh) or letters (en); the
  child raises a hand at the target. From level 7 the rule becomes "only when
  the target comes right after the cue" (AX continuous-performance style),
  with lures: the target after something else, the cue followed by something
  else.

The sheet is the script the teacher reads from (ten items a line, numbered);
the child has nothing to write. Strategy: the number of items and of reactions
is fixed by the parameters (the AX stream is built from units that cannot form
an extra cue-target pair by accident), items come from fixed tables, so every
drawn piece has a known maximum width. The key circles the items where the
child should react and lists their positions and count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, esc, num, widest

_PER_LINE = 10
_X0, _DX, _Y0, _DY = 22.0, 17.5, 84.0, 15.0
_ZH_POOL = (
    "山",
    "水",
    "火",
    "花",
    "鸟",
    "鱼",
    "马",
    "牛",
    "羊",
    "猫",
    "狗",
    "米",
    "石",
    "云",
    "门",
)
_EN_POOL = ("B", "C", "D", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "T")


@dataclass(frozen=True, slots=True)
class _Data:
    items: tuple[str, ...]  # what the teacher reads, in order
    react: tuple[int, ...]  # 0-based indices where the child reacts
    rule: str  # the line printed above the script (start number or target)


def _item(x: float, y: float, i: int, text: str) -> str:
    return f'<text x="{num(x)}" y="{num(y)}" data-i="{i}">{text}</text>'


def _ring(x: float, y: float, i: int) -> str:
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="4.6" data-role="react" data-i="{i}"/>'


def _rule(text: str) -> str:
    return f'<text x="15" y="70" class="i" data-role="rule">{esc(text)}</text>'


class AuditoryScript(Kind):
    name = "auditory_script"
    dimension = "auditory"
    title: ClassVar[dict[str, str]] = {"zh": "听觉注意（老师读稿）", "en": "Listening script"}
    variants = ("skip", "target")
    css: ClassVar[str] = (
        ".ai{font-size:6px;text-anchor:middle}.ix{font-size:2.6px;fill:#999;text-anchor:middle}"
        ".ar{fill:none;stroke:#d62728;stroke-width:.6}"
    )

    def default_variant(self, age: int, lang: str) -> str:
        return "skip"

    def size_of(self, spec: ExerciseSpec) -> tuple[int, int]:
        """(items read aloud, reactions expected)."""
        lv, age = spec.level, spec.age
        if self.variant_of(spec) == "skip":
            n = ramp(lv, age, 12, 50)
            if age <= 5:
                n = min(n, 16)  # young children count reliably to about 20
            return n, ramp(lv, age, 2, 7)
        n = ramp(lv, age, 20, 60)
        return n, round(n * (0.15 if lv >= 7 else 0.2))

    def _data(self, spec: ExerciseSpec) -> _Data:
        rng = random.Random(spec.seed)
        if self.variant_of(spec) == "skip":
            return self._skip(spec, rng)
        return self._target(spec, rng)

    def _skip(self, spec: ExerciseSpec, rng: random.Random) -> _Data:
        n, k = self.size_of(spec)
        full = n + k
        zh = spec.lang == "zh"
        if spec.level >= 7 and spec.age >= 8:
            start = full + rng.randrange(0, 30)
            seq = list(range(start, start - full, -1))
            rule = f"从 {start} 开始倒着数" if zh else f"Count down from {start}"
        elif spec.level >= 4 and spec.age >= 7:
            start = rng.randrange(2, 31)
            seq = list(range(start, start + full))
            rule = f"从 {start} 开始往上数" if zh else f"Count up from {start}"
        else:
            seq = list(range(1, full + 1))
            rule = "从 1 开始往上数" if zh else "Count up from 1"
        # k skipped positions, at least three apart, never the first or the last
        picks = sorted(rng.sample(range(1, full - 1 - 2 * (k - 1)), k))
        skipped = {p + 2 * i for i, p in enumerate(picks)}
        items = [str(v) for i, v in enumerate(seq) if i not in skipped]
        react = tuple(p - i for i, p in enumerate(sorted(skipped)))  # next item read
        suffix = "，漏掉的数不读" if zh else ", leaving out the gaps as printed"
        return _Data(tuple(items), react, rule + suffix)

    def _target(self, spec: ExerciseSpec, rng: random.Random) -> _Data:
        n, t = self.size_of(spec)
        zh = spec.lang == "zh"
        pool = list(_ZH_POOL if zh else _EN_POOL)
        target = rng.choice(pool)
        pool.remove(target)
        if spec.level < 7:
            units: list[tuple[str, ...]] = [(target,)] * t
            units += [(rng.choice(pool),) for _ in range(n - t)]
            rule = f"目标：{target}" if zh else f"Target: {target}"
        else:
            cue = rng.choice(pool)
            pool.remove(cue)
            lures = t // 2
            units = [(cue, target)] * t
            units += [(cue, rng.choice(pool)) for _ in range(lures)]
            units += [(rng.choice(pool), target) for _ in range(lures)]
            units += [(rng.choice(pool),) for _ in range(n - 2 * t - 4 * lures)]
            rule = (
                f"提示字：{cue}　目标：{target}（{cue} 后面紧跟 {target} 才举手）"
                if zh
                else f"Cue: {cue}  Target: {target} (hand up only for {target} right after {cue})"
            )
        rng.shuffle(units)
        items = tuple(ch for unit in units for ch in unit)
        if spec.level < 7:
            react = tuple(i for i, ch in enumerate(items) if ch == target)
        else:
            react = tuple(
                i for i, ch in enumerate(items) if ch == target and i > 0 and items[i - 1] == cue
            )
        return _Data(items, react, rule)

    # -- drawing -------------------------------------------------------------

    @staticmethod
    def _xy(i: int) -> tuple[float, float]:
        row, col = divmod(i, _PER_LINE)
        return _X0 + col * _DX, _Y0 + row * _DY

    def _grid_fixed(self, n: int) -> tuple[str, str]:
        idx = "".join(
            f'<text x="{num(self._xy(i)[0])}" y="{num(self._xy(i)[1] - 6.5)}">{i + 1}</text>'
            for i in range(n)
        )
        return f'<g class="ix">{idx}</g><g class="ai">', "</g>"

    def _widest_rule(self, spec: ExerciseSpec) -> str:
        zh = spec.lang == "zh"
        if self.variant_of(spec) == "skip":
            return (
                ("从 99 开始往上数，漏掉的数不读")
                if zh
                else ("Count down from 99, leaving out the gaps as printed")
            )
        if spec.level < 7:
            return "目标：山" if zh else "Target: B"
        if zh:
            return "提示字：山　目标：水（山 后面紧跟 水 才举手）"
        return "Cue: B  Target: C (hand up only for C right after B)"

    def _widest_item(self, spec: ExerciseSpec) -> str:
        if self.variant_of(spec) == "skip":
            return "99"
        return "山" if spec.lang == "zh" else "B"

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        n, _ = self.size_of(spec)
        head, tail = self._grid_fixed(n)
        item = widest(_item, 888.8, 888.8, 99, self._widest_item(spec))
        return blen(_rule(self._widest_rule(spec))) + blen(head + tail) + n * item

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        head, tail = self._grid_fixed(len(data.items))
        out = [_rule(data.rule), head]
        for i, text in enumerate(data.items):
            x, y = self._xy(i)
            out.append(_item(x, y, i + 1, text))
        out.append(tail)
        return "".join(out)

    def _summary(self, spec: ExerciseSpec, n: int, react: tuple[int, ...]) -> str:
        """Count line, then the positions ten to a line, below the script."""
        zh = spec.lang == "zh"
        skip = self.variant_of(spec) == "skip"
        if zh:
            act = "拍手" if skip else "举手"
            head = f"应{act} {len(react)} 次，位置（序号）："
        else:
            act = "claps" if skip else "hands up"
            head = f"{len(react)} {act}, at items:"
        y = _Y0 + (-(-n // _PER_LINE)) * _DY + 2.0
        out = [
            f'<text x="15" y="{num(y)}" class="i" data-role="total" '
            f'data-count="{len(react)}">{head}</text>'
        ]
        sep = "、" if zh else ", "
        for line in range(-(-len(react) // _PER_LINE)):
            chunk = react[line * _PER_LINE : (line + 1) * _PER_LINE]
            text = sep.join(str(i + 1) for i in chunk)
            out.append(f'<text x="15" y="{num(y + 7 * (line + 1))}" class="i">{text}</text>')
        return "".join(out)

    def _key_bound(self, spec: ExerciseSpec) -> int:
        n, k = self.size_of(spec)
        rings = k * widest(_ring, 888.8, 888.8, 99)
        summary = blen(self._summary(spec, n, (98,) * k))
        return self._sheet_bound(spec) + len('<g class="ar"></g>') + rings + summary

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        out = [self._sheet_body(spec, data), '<g class="ar">']
        for i in data.react:
            x, y = self._xy(i)
            out.append(_ring(x, y - 2.0, i + 1))
        out.append("</g>")
        out.append(self._summary(spec, len(data.items), data.react))
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 2 + self.size_of(spec)[0] // 30

    def instructions(self, spec: ExerciseSpec) -> str:
        skip = self.variant_of(spec) == "skip"
        ax = not skip and spec.level >= 7
        if spec.lang == "zh":
            if skip:
                return "认真听老师数数。如果老师漏掉了一个数，就马上拍一下手。"
            if ax:
                return "认真听老师读字。只有提示字后面紧跟着目标字时才举手，其他时候不举手。"
            return "认真听老师读字，一听到目标字就举手。"
        if skip:
            return "Listen to the teacher counting. If a number is left out, clap at once."
        if ax:
            return (
                "Listen to the letters. Raise your hand only when the target comes right "
                "after the cue, never otherwise."
            )
        return "Listen to the letters and raise your hand as soon as you hear the target."

    def how_to_run(self, spec: ExerciseSpec) -> str:
        if spec.lang == "zh":
            return (
                "这一页是老师的读稿，不给孩子看。孩子背对或闭眼，老师约每秒读一项，语速均匀，"
                "不要在该反应处停顿或加重。对照答案记录：该反应却没反应（漏报）和不该反应却"
                "反应（误报）的次数。"
            )
        return (
            "This page is the teacher's script; the child does not see it. The child turns "
            "away or closes their eyes; read about one item per second, evenly, without "
            "pausing or stressing where a reaction is due. With the key, note misses and "
            "false alarms."
        )

    def key_note(self, spec: ExerciseSpec) -> str:
        if spec.lang == "zh":
            return "红圈为孩子应当反应的位置，下方列出序号和总次数。"
        return (
            "Red rings mark where the child should react; positions and the count are listed below."
        )
