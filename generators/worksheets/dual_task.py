"""Dual tasks (divided attention): two things at once, both scored.

Variants:
- ``trace``: a winding road crosses the page in lanes; the child traces it
  with a pencil without leaving it and, at the same time, counts the shapes on
  the road that match the sample. From level 6 a few matching shapes sit off
  the road and must not be counted.
- ``clap``: the child circles every shape that matches the sample while the
  teacher claps at set times; at the end the child writes how many claps there
  were. The clap times are on the key (teacher material).

Strategy: the road has a fixed number of vertices (lanes x points), each
carrying one ``<use>`` shape, and the number of targets is fixed by the
parameters (positions are random), so every list drawn has a known length and
the key's rings and counts are bounded exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, shape_defs, use, widest

_X0, _X1 = 30.0, 180.0
_Y0, _Y1 = 82.0, 262.0


@dataclass(frozen=True, slots=True)
class _Data:
    target: int  # shape id of the sample
    items: tuple[tuple[float, float, int, int], ...]  # (x, y, shape, on_road)
    road: tuple[tuple[float, float], ...]  # road vertices, in travel order ("trace")
    claps: tuple[int, ...]  # seconds from the start ("clap")


def _item(x: float, y: float, shape: int, i: int, on: int) -> str:
    return f'<use href="#s{shape}" x="{num(x)}" y="{num(y)}" data-i="{i}" data-road="{on}"/>'


def _ring(x: float, y: float, i: int) -> str:
    return f'<circle cx="{num(x)}" cy="{num(y)}" r="4.8" data-role="target" data-i="{i}"/>'


class DualTask(Kind):
    name = "dual_task"
    dimension = "divided"
    title: ClassVar[dict[str, str]] = {"zh": "一心二用", "en": "Two things at once"}
    variants = ("trace", "clap")
    css: ClassVar[str] = (
        ".rd{fill:none;stroke:#e4e4e4;stroke-width:9;stroke-linejoin:round;stroke-linecap:round}"
        ".rc{fill:none;stroke:#aaa;stroke-width:.4;stroke-dasharray:1.5 1.5}"
        ".ds{fill:#fff;stroke:#222;stroke-width:.45}.dr{fill:none;stroke:#d62728;stroke-width:.7}"
        ".fl{font-size:3.6px;fill:#c0392b;font-weight:700}.sm{fill:#fff;stroke:#222;"
        "stroke-width:.6}"
    )

    def default_variant(self, age: int, lang: str) -> str:
        return "trace"

    # -- parameters ----------------------------------------------------------

    def road_size(self, spec: ExerciseSpec) -> tuple[int, int]:
        """(lanes, shapes per lane) of the trace road."""
        return ramp(spec.level, spec.age, 3, 6), ramp(spec.level, spec.age, 6, 12)

    def grid_size(self, spec: ExerciseSpec) -> tuple[int, int]:
        """(rows, cols) of the clap variant's grid."""
        return ramp(spec.level, spec.age, 4, 9), ramp(spec.level, spec.age, 8, 14)

    def counts(self, spec: ExerciseSpec) -> tuple[int, int, int]:
        """(items, targets to count, off-road decoys or claps)."""
        if self.variant_of(spec) == "trace":
            lanes, per = self.road_size(spec)
            n = lanes * per
            return n, round(n * 0.3), max(0, spec.level - 5)
        rows, cols = self.grid_size(spec)
        n = rows * cols
        return n, round(n * 0.2), ramp(spec.level, spec.age, 3, 10)

    def minutes(self, spec: ExerciseSpec) -> int:
        return 3 if self.counts(spec)[0] <= 40 else 4

    # -- data ----------------------------------------------------------------

    def _data(self, spec: ExerciseSpec) -> _Data:
        rng = random.Random(spec.seed)
        n, t, extra = self.counts(spec)
        target = rng.randrange(8)
        others = [s for s in range(8) if s != target]
        shapes = [target] * t + [rng.choice(others) for _ in range(n - t)]
        rng.shuffle(shapes)
        if self.variant_of(spec) == "clap":
            rows, cols = self.grid_size(spec)
            dx = (_X1 - _X0) / (cols - 1)
            dy = (_Y1 - 8.0 - _Y0) / (rows - 1)  # room for the key's clap line
            items = tuple(
                (_X0 + (i % cols) * dx, _Y0 + (i // cols) * dy, s, 1) for i, s in enumerate(shapes)
            )
            span = self.minutes(spec) * 60 - 10
            slots = sorted(rng.sample(range(0, span // 6), extra))
            claps = tuple(5 + 6 * s + rng.randrange(3) for s in slots)
            return _Data(target, items, (), claps)
        lanes, per = self.road_size(spec)
        gap = (_Y1 - _Y0) / (lanes - 1)
        wiggle = min(gap * 0.2, 2.0 + 0.7 * spec.level)
        road = []
        for lane in range(lanes):
            xs = [_X0 + j * (_X1 - _X0) / (per - 1) for j in range(per)]
            if lane % 2:
                xs.reverse()
            for x in xs:
                road.append((x, _Y0 + lane * gap + rng.uniform(-wiggle, wiggle)))
        items = [(x, y, s, 1) for (x, y), s in zip(road, shapes, strict=True)]
        for _ in range(extra):  # decoys between lanes: same shape, not on the road
            lane = rng.randrange(lanes - 1)
            x = rng.uniform(_X0 + 8, _X1 - 8)
            items.append((x, _Y0 + (lane + 0.5) * gap, target, 0))
        return _Data(target, tuple(items), tuple(road), ())

    # -- drawing -------------------------------------------------------------

    def _labels(self, spec: ExerciseSpec) -> dict[str, str]:
        zh = spec.lang == "zh"
        if self.variant_of(spec) == "trace":
            return {
                "sample": "样例：" if zh else "Count:",
                "start": "起点" if zh else "Start",
                "end": "终点" if zh else "End",
                "answer": "路上的样例图形共 ____ 个" if zh else "Shapes like the sample: ____",
            }
        return {
            "sample": "样例：" if zh else "Circle:",
            "answer": (
                "老师拍手 ____ 次　　我圈了 ____ 个"
                if zh
                else "Claps heard: ____     Shapes circled: ____"
            ),
        }

    def _fixed(self, spec: ExerciseSpec) -> tuple[str, str]:
        lab = self._labels(spec)
        head = (
            shape_defs(2.6)
            + f'<text x="15" y="70" class="i">{lab["sample"]}</text>'
            + '<rect x="33" y="63" width="10" height="10" rx="1.5" class="sm"/>'
        )
        tail = f'<text x="15" y="280" class="i">{lab["answer"]}</text>'
        return head, tail

    def _sample(self, target: int) -> str:
        return f'<g class="ds" data-role="target-sample">{use(target, 38.0, 68.0)}</g>'

    def _flags(self, spec: ExerciseSpec, road: tuple[tuple[float, float], ...]) -> str:
        lab = self._labels(spec)
        (x0, y0), (x1, y1) = road[0], road[-1]
        return (
            f'<text x="{num(x0 - 4)}" y="{num(y0 - 6.5)}" class="fl">{lab["start"]}</text>'
            f'<text x="{num(x1 - 4)}" y="{num(y1 - 6.5)}" class="fl">{lab["end"]}</text>'
        )

    def _road(self, road: tuple[tuple[float, float], ...]) -> str:
        pts = " ".join(f"{num(x)},{num(y)}" for x, y in road)
        return f'<polyline class="rd" points="{pts}"/><polyline class="rc" points="{pts}"/>'

    def _sheet_bound(self, spec: ExerciseSpec) -> int:
        n, _, extra = self.counts(spec)
        head, tail = self._fixed(spec)
        total = blen(head + tail) + blen(self._sample(7))
        total += len('<g class="ds"></g>')
        items = n + (extra if self.variant_of(spec) == "trace" else 0)
        total += items * widest(_item, 888.8, 888.8, 7, 999, 1)
        if self.variant_of(spec) == "trace":
            lanes, per = self.road_size(spec)
            total += blen(self._road(((888.8, 888.8),) * (lanes * per)))
            total += blen(self._flags(spec, ((888.8, 888.8),)))
        return total

    def _sheet_body(self, spec: ExerciseSpec, data: _Data) -> str:
        head, tail = self._fixed(spec)
        out = [head, self._sample(data.target)]
        if data.road:
            out.append(self._road(data.road))
        out.append('<g class="ds">')
        for i, (x, y, s, on) in enumerate(data.items):
            out.append(_item(x, y, s, i, on))
        out.append("</g>")
        if data.road:
            out.append(self._flags(spec, data.road))
        out.append(tail)
        return "".join(out)

    def _summary(self, spec: ExerciseSpec, count: int, claps: tuple[int, ...]) -> str:
        zh = spec.lang == "zh"
        line = (
            f'<text x="120" y="70" class="i" data-role="total" data-count="{count}">'
            f"{'答案：' if zh else 'Answer: '}{count}</text>"
        )
        if self.variant_of(spec) == "trace":
            return line
        times = ("、" if zh else ", ").join(str(s) for s in claps)
        head = f"拍手 {len(claps)} 次，时间（秒）：" if zh else f"{len(claps)} claps, at seconds: "
        return line + (
            f'<text x="15" y="268" class="i" data-role="claps" data-count="{len(claps)}">'
            f"{head}{times}</text>"
        )

    def _key_bound(self, spec: ExerciseSpec) -> int:
        _, t, extra = self.counts(spec)
        claps = (999,) * extra if self.variant_of(spec) == "clap" else ()
        rings = t * widest(_ring, 888.8, 888.8, 999)
        summary = blen(self._summary(spec, 999, claps))
        return self._sheet_bound(spec) + len('<g class="dr"></g>') + rings + summary

    def _key_body(self, spec: ExerciseSpec, data: _Data) -> str:
        out = [self._sheet_body(spec, data), '<g class="dr">']
        count = 0
        for i, (x, y, s, on) in enumerate(data.items):
            if s == data.target and on:
                out.append(_ring(x, y, i))
                count += 1
        out.append("</g>")
        out.append(self._summary(spec, count, data.claps))
        return "".join(out)

    # -- texts ---------------------------------------------------------------

    def instructions(self, spec: ExerciseSpec) -> str:
        trace = self.variant_of(spec) == "trace"
        if spec.lang == "zh":
            if trace:
                return (
                    "用笔从“起点”沿着小路一直画到“终点”，笔不离开小路；一边画，一边数路上"
                    "有几个和样例一样的图形（路外的不算），最后把数写在下面。"
                )
            return (
                "把和样例一样的图形都圈出来。同时竖起耳朵：老师每拍一次手，你就在心里记一次，"
                "最后写下老师一共拍了几次。"
            )
        if trace:
            return (
                "Draw along the road from Start to End without leaving it, and count the shapes "
                "on the road that match the sample (not those off the road). Write the number."
            )
        return (
            "Circle every shape like the sample. Listen too: count the teacher's claps in your "
            "head, and write how many there were at the end."
        )

    def how_to_run(self, spec: ExerciseSpec) -> str:
        trace = self.variant_of(spec) == "trace"
        if spec.lang == "zh":
            if trace:
                return (
                    "两件事都算分：画线是否一直在路上（出路次数），数得是否准确。"
                    "不许用手指点着数，也不许先数后画。对照答案核对数目，记录用时。"
                )
            return (
                "按答案页上的时间（秒）拍手，拍得清楚、节奏不规律。孩子不能停笔去数。"
                "两件事都算分：拍手次数是否说对，圈对、漏圈和圈错各多少。"
            )
        if trace:
            return (
                "Both tasks count: staying on the road (note each exit) and the right total. "
                "No pointing with a finger, no counting first and drawing later. Check the "
                "number with the key and note the time."
            )
        return (
            "Clap at the seconds listed on the key, clearly and at irregular moments. The "
            "child keeps circling while listening. Score both: the clap count and circled "
            "hits, misses and false marks."
        )

    def key_note(self, spec: ExerciseSpec) -> str:
        if spec.lang == "zh":
            if self.variant_of(spec) == "trace":
                return "红圈为路上应数的图形，右上为正确数目；路外的相同图形不算。"
            return "红圈为应圈出的图形，右上为数目；下方是拍手次数和拍手时间（秒）。"
        if self.variant_of(spec) == "trace":
            return (
                "Red rings mark the shapes to count on the road, the total is top right; "
                "matching shapes off the road do not count."
            )
        return (
            "Red rings mark the shapes to circle, the total is top right; the clap count and "
            "clap times (seconds) are below."
        )
