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

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, esc, num, widest

_PER_LINE = 10  # positions listed per line in the key's summary
_Y0, _SCRIPT_BOTTOM = 86.0, 250.0  # first script line; below the last: the key's summary


def _layout(n: int) -> tuple[int, float, float, float]:
    """(items per line, column pitch, line pitch, font size) for a script of n items.

    A short script is set in large print over the whole page (a teacher reads
    it at arm's length, and a page 85 % empty wastes paper); a long one keeps
    ten items a line. The grid is centred on the page.
    """
    per = 3 if n <= 15 else 5 if n <= 30 else 10
    lines = -(-n // per)
    dx = {3: 50.0, 5: 34.0, 10: 17.5}[per]
    dy = min(48.0, (_SCRIPT_BOTTOM - 16.0 - _Y0) / max(lines - 1, 1))
    fs = {3: 12.0, 5: 10.0, 10: 7.0}[per]
    return per, dx, round(dy, 1), fs


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
CATEGORY_FROM_AGE = 11
"""From this age the listening script asks for a category of words (see ``by_category``)."""
_MAX_START = 99
"""Above any start the counting rule can print (at most 57 items + 29)."""


def _pool(lang: str) -> tuple[str, ...]:
    """The sounds read in the target variant: stimuli (data), not catalogue text."""
    return _ZH_POOL if lang == "zh" else _EN_POOL


@dataclass(frozen=True, slots=True)
class _Data:
    items: tuple[str, ...]  # what the teacher reads, in order
    react: tuple[int, ...]  # 0-based indices where the child reacts
    rule: str  # the line printed above the script (start number or target)


def _item(x: float, y: float, i: int, text: str) -> str:
    return f'<text x="{num(x)}" y="{num(y)}" data-i="{i}">{text}</text>'


def _ring(x: float, y: float, i: int, r: float) -> str:
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="{r}" data-role="react" data-i="{i}"/>'


def _rule(text: str) -> str:
    return f'<text x="15" y="70" class="i" data-role="rule">{esc(text)}</text>'


class AuditoryScript(Kind):
    name = "auditory_script"
    dimension = "auditory"
    teacher_only = True
    variants = ("skip", "target")
    css: ClassVar[str] = (
        ".ai{text-anchor:middle}.ix{font-size:2.8px;fill:#999;text-anchor:middle}"
        ".ar{fill:none;stroke:#d62728;stroke-width:.6}.aw{font-size:4.2px}"
        ".tk{fill:none;stroke:#aaa;stroke-width:.3}"
    )

    def default_variant(self, age: int, lang: str) -> str:
        return "skip"

    @staticmethod
    def by_category(spec: ExerciseSpec) -> bool:
        """Ages 11-14 listen for a kind of word (every fruit), not for one sound:
        single-sound spotting is too easy a task for them to train on."""
        return spec.age >= CATEGORY_FROM_AGE

    def size_of(self, spec: ExerciseSpec) -> tuple[int, int]:
        """(items read aloud, reactions expected)."""
        lv, age = spec.level, spec.age
        if self.variant_of(spec) == "target" and self.by_category(spec):
            n = ramp(lv, age, 20, 60)
            return n, round(n * 0.2)
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
        if self.by_category(spec):
            return self._category(spec, rng)
        return self._target(spec, rng)

    def _category(self, spec: ExerciseSpec, rng: random.Random) -> _Data:
        n, t = self.size_of(spec)
        words = section(spec.lang, "kind.auditory_script")
        targets, others = words["category_words"].split(), words["other_words"].split()
        items = [rng.choice(targets) for _ in range(t)] + [rng.choice(others) for _ in range(n - t)]
        rng.shuffle(items)
        react = tuple(i for i, word in enumerate(items) if word in targets)
        return _Data(tuple(items), react, words["category_rule"])

    def _skip(self, spec: ExerciseSpec, rng: random.Random) -> _Data:
        n, k = self.size_of(spec)
        full = n + k
        t = section(spec.lang, "kind.auditory_script")
        if spec.level >= 7 and spec.age >= 8:
            start = full + rng.randrange(0, 30)
            seq = list(range(start, start - full, -1))
            rule = t["count_down"].format(start=start)
        elif spec.level >= 4 and spec.age >= 7:
            start = rng.randrange(2, 31)
            seq = list(range(start, start + full))
            rule = t["count_up"].format(start=start)
        else:
            seq = list(range(1, full + 1))
            rule = t["count_up"].format(start=1)
        # k skipped positions, at least three apart, never the first or the last
        picks = sorted(rng.sample(range(1, full - 1 - 2 * (k - 1)), k))
        skipped = {p + 2 * i for i, p in enumerate(picks)}
        items = [str(v) for i, v in enumerate(seq) if i not in skipped]
        react = tuple(p - i for i, p in enumerate(sorted(skipped)))  # next item read
        return _Data(tuple(items), react, rule + t["skip_suffix"])

    def _target(self, spec: ExerciseSpec, rng: random.Random) -> _Data:
        n, t = self.size_of(spec)
        texts = section(spec.lang, "kind.auditory_script")
        pool = list(_pool(spec.lang))
        target = rng.choice(pool)
        pool.remove(target)
        if spec.level < 7:
            units: list[tuple[str, ...]] = [(target,)] * t
            units += [(rng.choice(pool),) for _ in range(n - t)]
            rule = texts["target"].format(target=target)
        else:
            cue = rng.choice(pool)
            pool.remove(cue)
            lures = t // 2
            units = [(cue, target)] * t
            units += [(cue, rng.choice(pool)) for _ in range(lures)]
            units += [(rng.choice(pool), target) for _ in range(lures)]
            units += [(rng.choice(pool),) for _ in range(n - 2 * t - 4 * lures)]
            rule = texts["cue_target"].format(cue=cue, target=target)
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
    def _xy(i: int, n: int) -> tuple[float, float]:
        per, dx, dy, _ = _layout(n)
        row, col = divmod(i, per)
        return 105.0 - (per - 1) * dx / 2 + col * dx, _Y0 + row * dy

    def _item_class(self, spec: ExerciseSpec) -> str:
        """Words are set smaller than single characters, so a line of ten still fits."""
        return "ai aw" if self.variant_of(spec) == "target" and self.by_category(spec) else "ai"

    def _grid_fixed(self, n: int, cls: str) -> tuple[str, str]:
        """Item numbers above, tick boxes below (the teacher marks each reaction there)."""
        fs = _layout(n)[3]
        idx, ticks = [], []
        for i in range(n):
            x, y = self._xy(i, n)
            idx.append(f'<text x="{num(x)}" y="{num(y - fs * 0.9)}">{i + 1}</text>')
            ticks.append(f'<rect x="{num(x - 2)}" y="{num(y + 2.5)}" width="4" height="4"/>')
        return (
            f'<g class="ix">{"".join(idx)}</g><g class="tk">{"".join(ticks)}</g>'
            f'<g class="{cls}" font-size="{fs}">',
            "</g>",
        )

    def _widest_rule(self, spec: ExerciseSpec) -> str:
        t = section(spec.lang, "kind.auditory_script")
        if self.variant_of(spec) == "skip":
            rules = (t["count_down"], t["count_up"])
            return max((r.format(start=_MAX_START) + t["skip_suffix"] for r in rules), key=blen)
        item = self._widest_item(spec)
        if self.by_category(spec):
            return t["category_rule"]
        if spec.level < 7:
            return t["target"].format(target=item)
        return t["cue_target"].format(cue=item, target=item)

    def _widest_item(self, spec: ExerciseSpec) -> str:
        if self.variant_of(spec) == "skip":
            return str(_MAX_START)
        if self.by_category(spec):
            words = section(spec.lang, "kind.auditory_script")
            return max((words["category_words"] + " " + words["other_words"]).split(), key=blen)
        return max(_pool(spec.lang), key=blen)

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        n, _ = self.size_of(spec)
        head, tail = self._grid_fixed(n, self._item_class(spec))
        item = widest(_item, 888.8, 888.8, 99, self._widest_item(spec))
        return blen(_rule(self._widest_rule(spec))) + blen(head + tail) + n * item

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        head, tail = self._grid_fixed(len(data.items), self._item_class(spec))
        out = [_rule(data.rule), head]
        n = len(data.items)
        for i, item in enumerate(data.items):
            x, y = self._xy(i, n)
            out.append(_item(x, y, i + 1, item))
        out.append(tail)
        return "".join(out)

    def _summary(self, spec: ExerciseSpec, n: int, react: tuple[int, ...]) -> str:
        """Count line, then the positions ten to a line, below the script."""
        react_key = "react_skip" if self.variant_of(spec) == "skip" else "react_target"
        head = text(spec.lang, f"kind.auditory_script.{react_key}", n=len(react))
        y = _SCRIPT_BOTTOM + 2.0
        out = [
            f'<text x="15" y="{num(y)}" class="i" data-role="total" '
            f'data-count="{len(react)}">{head}</text>'
        ]
        sep = text(spec.lang, "doc.list_sep")
        for line in range(-(-len(react) // _PER_LINE)):
            chunk = react[line * _PER_LINE : (line + 1) * _PER_LINE]
            numbers = sep.join(str(i + 1) for i in chunk)
            out.append(f'<text x="15" y="{num(y + 7 * (line + 1))}" class="i">{numbers}</text>')
        return "".join(out)

    def _key_bound(self, spec: ExerciseSpec) -> int:
        n, k = self.size_of(spec)
        rings = k * widest(_ring, 888.8, 888.8, 99, round(_layout(n)[3] * 0.7, 1))
        summary = blen(self._summary(spec, n, (98,) * k))
        return self._sheet_bound(spec) + len('<g class="ar"></g>') + rings + summary

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        out = [self._sheet_body(spec, data), '<g class="ar">']
        n = len(data.items)
        fs = _layout(n)[3]
        for i in data.react:
            x, y = self._xy(i, n)
            out.append(_ring(x, y - fs * 0.33, i + 1, round(fs * 0.7, 1)))
        out.append("</g>")
        out.append(self._summary(spec, len(data.items), data.react))
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def minutes(self, spec: ExerciseSpec) -> int:
        return 2 + self.size_of(spec)[0] // 30

    def instructions(self, spec: ExerciseSpec) -> str:
        skip = self.variant_of(spec) == "skip"
        ax = not skip and spec.level >= 7
        which = (
            "skip" if skip else "category" if self.by_category(spec) else "ax" if ax else "target"
        )
        return text(spec.lang, f"kind.auditory_script.instructions_{which}")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.auditory_script.how_to_run")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, "kind.auditory_script.key_note")
