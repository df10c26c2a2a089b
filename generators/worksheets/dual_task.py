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

from generators.texts import section, text

from .base import ExerciseSpec
from .page import Kind, ramp
from .svg import blen, num, shape_defs, use, widest

_X0, _X1 = 30.0, 180.0
_Y0, _Y1 = 82.0, 262.0
_ROAD_Y0 = 92.0  # the road's first lane: its wiggle and width stay below the sample
_SAMPLE_X = 180.0  # left edge of the sample box (top right)


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
        """(lanes, shapes per lane) of the trace road.

        At least four lanes, so the road covers the page (three left two bands
        of 75 mm empty); the youngest get fewer shapes per lane instead.
        """
        return ramp(spec.level, spec.age, 4, 6), ramp(spec.level, spec.age, 5, 12)

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
        gap = (_Y1 - _ROAD_Y0) / (lanes - 1)
        wiggle = min(gap * 0.2, 2.0 + 0.7 * spec.level)
        road = []
        for lane in range(lanes):
            xs = [_X0 + j * (_X1 - _X0) / (per - 1) for j in range(per)]
            if lane % 2:
                xs.reverse()
            for x in xs:
                road.append((x, _ROAD_Y0 + lane * gap + rng.uniform(-wiggle, wiggle)))
        on_road = [(x, y, s, 1) for (x, y), s in zip(road, shapes, strict=True)]
        for _ in range(extra):  # decoys between lanes: same shape, not on the road
            lane = rng.randrange(lanes - 1)
            x = rng.uniform(_X0 + 8, _X1 - 8)
            on_road.append((x, _ROAD_Y0 + (lane + 0.5) * gap, target, 0))
        return _Data(target, tuple(on_road), tuple(road), ())

    # -- drawing -------------------------------------------------------------

    def _labels(self, spec: ExerciseSpec) -> dict[str, str]:
        t = section(spec.lang, "kind.dual_task")
        if self.variant_of(spec) == "trace":
            return {
                "sample": t["trace_sample"],
                "start": t["start"],
                "end": t["end"],
                "answer": t["trace_answer"],
            }
        return {"sample": t["clap_sample"], "answer": t["clap_answer"]}

    def _fixed(self, spec: ExerciseSpec) -> tuple[str, str]:
        lab = self._labels(spec)
        # The sample sits top right, apart from the road's start (top left) and
        # above the road's first lane, so it never covers 起点 or the road.
        head = (
            shape_defs(2.6)
            + f'<text x="{_SAMPLE_X - 3}" y="70" class="i e">{lab["sample"]}</text>'
            + f'<rect x="{_SAMPLE_X}" y="63" width="10" height="10" rx="1.5" class="sm"/>'
        )
        tail = f'<text x="15" y="280" class="i">{lab["answer"]}</text>'
        return head, tail

    def _sample(self, target: int) -> str:
        return f'<g class="ds" data-role="target-sample">{use(target, _SAMPLE_X + 5, 68.0)}</g>'

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
        t = section(spec.lang, "kind.dual_task")
        line = (
            f'<text x="120" y="70" class="i" data-role="total" data-count="{count}">'
            f"{t['answer'].format(n=count)}</text>"
        )
        if self.variant_of(spec) == "trace":
            return line
        times = text(spec.lang, "doc.list_sep").join(str(s) for s in claps)
        return line + (
            f'<text x="15" y="268" class="i" data-role="claps" data-count="{len(claps)}">'
            f"{t['claps'].format(n=len(claps), times=times)}</text>"
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
        return self.young_text(spec, f"instructions_{self.variant_of(spec)}")

    def how_to_run(self, spec: ExerciseSpec) -> str:
        return self.young_text(spec, f"how_to_run_{self.variant_of(spec)}")

    def key_note(self, spec: ExerciseSpec) -> str:
        return text(spec.lang, f"kind.dual_task.key_note_{self.variant_of(spec)}")
