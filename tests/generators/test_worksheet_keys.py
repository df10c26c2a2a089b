"""Answer keys agree with their sheets, judged from the rendered SVG alone.

Each test parses the sheet as a reader would (cells, rows, walls, paths from
the ``data-*`` attributes and the drawn geometry), recomputes the answer
independently, and compares it with what the key document says. Internal data
structures of the generators are never consulted, so a drawing bug (a cell
drawn in the wrong place, a wall missing) fails here even when the generator's
own data is right.
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from generators import texts
from generators.worksheets import MAX_LEVEL, REGISTRY, ExerciseSpec
from generators.worksheets.page import Kind

NS = "{http://www.w3.org/2000/svg}"
EXAMPLES = settings(max_examples=25, deadline=None)


def specs(name: str, variants: tuple[str, ...] | None = None) -> st.SearchStrategy[ExerciseSpec]:
    kind = REGISTRY[name]
    return st.builds(
        ExerciseSpec,
        kind=st.just(name),
        level=st.integers(1, MAX_LEVEL),
        age=st.integers(kind.min_age, kind.max_age),
        seed=st.integers(0, 2**64 - 1),
        lang=st.sampled_from(("zh", "en")),
        variant=st.sampled_from(variants or ("", *kind.variants)),
    )


def docs(spec: ExerciseSpec) -> tuple[ET.Element, ET.Element]:
    kind = REGISTRY[spec.kind]
    return ET.fromstring(kind.sheet(spec).render()), ET.fromstring(kind.answer_key(spec).render())


def els(root: ET.Element, tag: str, **attrs: str | None) -> Iterator[ET.Element]:
    """Elements of ``tag``; attrs name "data-x" as data_x: None means "present"."""
    for el in root.iter(NS + tag):
        ok = True
        for name, want in attrs.items():
            got = el.get(name.replace("_", "-"))
            if got is None or (want is not None and got != want):
                ok = False
                break
        if ok:
            yield el


def text(el: ET.Element) -> str:
    return "".join(el.itertext())


def cell(el: ET.Element) -> tuple[int, int]:
    r, c = el.get("data-cell", "").split(",")
    return int(r), int(c)


def href(el: ET.Element) -> str:
    return el.get("href", "")


# -- Schulte and red-black ------------------------------------------------------------


def hanzi(i: int) -> str:
    digits = "一二三四五六七八九"
    tens, ones = divmod(i, 10)
    head = "" if tens == 0 else "十" if tens == 1 else digits[tens - 1] + "十"
    return head + (digits[ones - 1] if ones else "")


@EXAMPLES
@given(specs("schulte"))
def test_schulte_every_item_once_and_key_positions(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    cells = {cell(t): text(t) for t in els(sheet, "text", data_cell=None)}
    n = math.isqrt(len(cells))
    assert n * n == len(cells) and 3 <= n <= 7
    assert set(cells) == {(r, c) for r in range(n) for c in range(n)}
    labels = list(cells.values())
    if labels[0].isdigit():
        expected = [str(i) for i in range(1, n * n + 1)]
    elif labels[0].isascii():
        expected = [chr(ord("A") + i) for i in range(n * n)]
    else:
        expected = [hanzi(i) for i in range(1, n * n + 1)]
    assert sorted(labels) == sorted(expected)  # every item exactly once
    steps = sorted(els(key, "text", data_step=None), key=lambda e: int(e.get("data-step", "")))
    assert [int(e.get("data-step", "")) for e in steps] == list(range(1, n * n + 1))
    for step, entry in zip(expected, steps, strict=True):
        assert cells[cell(entry)] == step  # the key's (row, col) holds that item on the sheet
        r, c = cell(entry)
        assert text(entry) == f"{step}→({r + 1},{c + 1})"


@EXAMPLES
@given(specs("schulte_redblack"))
def test_red_black_order_alternates_red_up_black_down(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    cells = {cell(t): (t.get("class"), int(text(t))) for t in els(sheet, "text", data_cell=None)}
    red = sorted(v for cls, v in cells.values() if cls == "r")
    black = sorted(v for cls, v in cells.values() if cls == "b")
    assert len(red) + len(black) == len(cells)
    assert red == list(range(1, len(red) + 1)) and black == list(range(1, len(black) + 1))
    assert len(red) - len(black) in (0, 1)
    expected = []
    for i in range(len(red)):
        expected.append(("r", i + 1))
        if i < len(black):
            expected.append(("b", len(black) - i))
    steps = sorted(els(key, "text", data_step=None), key=lambda e: int(e.get("data-step", "")))
    assert [cells[cell(e)] for e in steps] == expected


# -- cancellation --------------------------------------------------------------------


def item_value(el: ET.Element) -> str:
    return href(el) if el.tag == NS + "use" else text(el)


@settings(max_examples=40, deadline=None)
@given(st.one_of(specs("cancellation"), specs("hanzi_cancellation")))
def test_cancellation_key_counts_equal_targets_on_sheet(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    targets = {item_value(e) for e in sheet.iter() if e.get("data-role") == "target-sample"}
    assert targets
    rows = sorted(els(sheet, "g", data_row=None), key=lambda g: int(g.get("data-row", "")))
    assert rows
    counts = {}
    hits = set()
    for g in rows:
        r = int(g.get("data-row", ""))
        values = [item_value(e) for e in g]
        assert values and all(values)
        counts[r] = sum(v in targets for v in values)
        hits |= {(r, c) for c, v in enumerate(values) if v in targets}
    key_counts = {
        int(t.get("data-row", "")): int(t.get("data-count", ""))
        for t in els(key, "text", data_row=None, data_count=None)
    }
    assert key_counts == counts
    assert all(text(t) == t.get("data-count") for t in els(key, "text", data_row=None))
    (total,) = (e for e in key.iter() if e.get("data-role") == "total")
    assert int(total.get("data-count", "")) == sum(counts.values())
    assert str(sum(counts.values())) in text(total)
    assert {cell(c) for c in els(key, "circle", data_role="target")} == hits


# -- maze ---------------------------------------------------------------------------------


def maze_walls(root: ET.Element) -> tuple[int, int, set[tuple[tuple[int, int], tuple[int, int]]]]:
    """(rows, cols, blocked edges) from the wall path; the outside is row/col -1 or R/C."""
    (g,) = els(root, "g", data_maze=None)
    rows, cols = map(int, g.get("data-maze", "").split(","))
    x0, y0, size = (float(g.get(a, "")) for a in ("data-x0", "data-y0", "data-cell"))
    (path,) = els(g, "path", data_role="walls")
    blocked = set()
    for x, y, axis, to in re.findall(r"M([-\d.]+) ([-\d.]+)([HV])([-\d.]+)", path.get("d", "")):
        fx, fy, ft = float(x), float(y), float(to)
        if axis == "H":
            assert abs(abs(ft - fx) - size) < 0.15  # one cell long
            b, c = round((fy - y0) / size), round((min(fx, ft) - x0) / size)
            blocked.add(((b - 1, c), (b, c)))
        else:
            assert abs(abs(ft - fy) - size) < 0.15
            b, r = round((fx - x0) / size), round((min(fy, ft) - y0) / size)
            blocked.add(((r, b - 1), (r, b)))
    return rows, cols, blocked


def open_between(blocked: set, a: tuple[int, int], b: tuple[int, int]) -> bool:
    return (min(a, b), max(a, b)) not in blocked


@settings(max_examples=30, deadline=None)
@given(specs("maze"))
def test_maze_key_route_is_a_valid_path_from_start_to_exit(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    rows, cols, blocked = maze_walls(sheet)
    assert maze_walls(key) == (rows, cols, blocked)  # the key draws the same maze
    (start,) = (e for e in sheet.iter() if e.get("data-role") == "start")
    (exit_,) = (e for e in sheet.iter() if e.get("data-role") == "exit")
    s, e = cell(start), cell(exit_)
    assert s[0] == 0 and e[0] == rows - 1
    # entrance and exit are openings in the border, every other border edge is walled
    for c in range(cols):
        assert (((-1, c), (0, c)) in blocked) == (c != s[1])
        assert (((rows - 1, c), (rows, c)) in blocked) == (c != e[1])
    for r in range(rows):
        assert ((r, -1), (r, 0)) in blocked and ((r, cols - 1), (r, cols)) in blocked
    # a perfect maze: every cell reachable, exactly rows*cols - 1 passages
    inner = rows * (cols - 1) + cols * (rows - 1)

    def inside(a: tuple[int, int], b: tuple[int, int]) -> bool:
        return (
            min(a[0], b[0]) >= 0
            and max(a[0], b[0]) < rows
            and min(a[1], b[1]) >= 0
            and (max(a[1], b[1]) < cols)
        )

    inner_blocked = sum(1 for a, b in blocked if inside(a, b))
    assert inner - inner_blocked == rows * cols - 1
    seen = {s}
    queue = deque([s])
    while queue:
        r, c = queue.popleft()
        for nxt in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            fits = 0 <= nxt[0] < rows and 0 <= nxt[1] < cols
            if fits and nxt not in seen and open_between(blocked, (r, c), nxt):
                seen.add(nxt)
                queue.append(nxt)
    assert len(seen) == rows * cols
    # the key's route, in cell units: "M c+.5 r+.5" then h/v runs
    (route,) = els(key, "path", data_role="solution")
    (g,) = els(sheet, "g", data_maze=None)
    assert route.get("transform") == (
        f"translate({g.get('data-x0')} {g.get('data-y0')}) scale({g.get('data-cell')})"
    )
    d = route.get("d", "")
    m = re.match(r"M(\d+)\.5 (\d+)\.5", d)
    assert m
    pos = (int(m.group(2)), int(m.group(1)))
    assert pos == s
    visited = [pos]
    for axis, amount in re.findall(r"([hv])(-?\d+)", d[m.end() :]):
        step = 1 if int(amount) > 0 else -1
        for _ in range(abs(int(amount))):
            nxt = (pos[0], pos[1] + step) if axis == "h" else (pos[0] + step, pos[1])
            assert 0 <= nxt[0] < rows and 0 <= nxt[1] < cols
            assert open_between(blocked, pos, nxt), (pos, nxt)
            pos = nxt
            visited.append(pos)
    assert pos == e
    assert len(set(visited)) == len(visited)  # no cell twice: the direct route


# -- trail making ------------------------------------------------------------------------


def trail_nodes(root: ET.Element) -> list[tuple[str, str, float, float, float, str | None]]:
    """(label, colour class, cx, cy, r, data-step) per circle or square, in document order.

    The blue set of the colour variant is drawn as squares (so it differs in
    shape on a grey printer); a square's r is its half-side.
    """
    out = []
    for g in els(root, "g"):
        kids = list(g)
        for shape, label in itertools.pairwise(kids):
            if label.tag != NS + "text":
                continue
            if shape.tag == NS + "circle":
                cx, cy = float(shape.get("cx", "")), float(shape.get("cy", ""))
                r = float(shape.get("r", ""))
            elif shape.tag == NS + "rect" and shape.get("data-node") is not None:
                r = float(shape.get("width", "")) / 2
                cx = round(float(shape.get("x", "")) + r, 1)
                cy = round(float(shape.get("y", "")) + r, 1)
            else:
                continue
            out.append((text(label), shape.get("class", ""), cx, cy, r, label.get("data-step")))
    return out


@settings(max_examples=30, deadline=None)
@given(specs("trail_making"))
def test_trail_key_order_is_complete(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    nodes = trail_nodes(sheet)
    assert 8 <= len(nodes) <= 26
    for i, a in enumerate(nodes):  # circles never overlap
        for b in nodes[i + 1 :]:
            assert math.dist(a[2:4], b[2:4]) > a[4] + b[4]
    labels = [n[0] for n in nodes]
    if any(n[1] != "n" for n in nodes):  # colours: each number twice, red and blue
        k = len(nodes) // 2
        assert sorted((n[0], n[1]) for n in nodes) == sorted(
            (str(i), c) for i in range(1, k + 1) for c in ("nr", "nb")
        )
        expected = [(str(i + 1), "nr" if i % 2 == 0 else "nb") for i in range(k)]
    elif any(s.isalpha() for s in labels):  # 1, A, 2, B, ...
        expected = [
            (str(i // 2 + 1) if i % 2 == 0 else chr(ord("A") + i // 2), "n")
            for i in range(len(nodes))
        ]
    else:
        expected = [(str(i + 1), "n") for i in range(len(nodes))]
    if all(n[1] == "n" for n in nodes):
        assert sorted(labels) == sorted(e[0] for e in expected)
    where = {(n[0], n[1]): (n[2], n[3]) for n in nodes}
    steps = sorted((int(n[5]), n) for n in trail_nodes(key) if n[5] is not None and n[5] != "0")
    assert [s for s, _ in steps] == list(range(1, len(expected) + 1))
    assert [(n[0], n[1]) for _, n in steps] == expected
    for _, n in steps:
        assert where[(n[0], n[1])] == (n[2], n[3])  # same circle as on the sheet
    (line,) = els(key, "polyline")
    points = [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
    assert points == [where[e] for e in expected]


# -- digit span ---------------------------------------------------------------------------


@EXAMPLES
@given(specs("digit_span", ("forward", "backward")))
def test_digit_span_key_reverses_backward_cards(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    backward = REGISTRY["digit_span"].variant_of(spec) == "backward"  # type: ignore[attr-defined]
    cards = {e.get("data-card"): e for e in els(sheet, "text", data_seq=None)}
    answers = {e.get("data-card"): e for e in els(key, "text", data_answer=None)}
    assert len(cards) == 8 and set(cards) == set(answers)
    lengths = []
    for card, el in cards.items():
        seq = el.get("data-seq", "")
        assert text(el) == " ".join(seq) and seq.isdigit() and "0" not in seq
        assert len(set(seq)) == len(seq)
        lengths.append(len(seq))
        answer = answers[card].get("data-answer")
        assert answer == (seq[::-1] if backward else seq)
        assert text(answers[card]).endswith(f"{' '.join(seq)}  →  {' '.join(answer)}")
    assert lengths == sorted(lengths)


# -- tangled lines ---------------------------------------------------------------------


def endpoints(d: str) -> tuple[float, float]:
    nums = [float(v) for v in re.findall(r"-?\d+\.?\d*", d)]
    return nums[1], nums[-1]  # start y, end y


@EXAMPLES
@given(specs("tangled_lines"))
def test_tangled_lines_key_mapping_follows_the_drawn_lines(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    starts = {
        float(t.get("y", "")) - 1.5: t.get("data-start")
        for t in els(sheet, "text", data_start=None)
    }
    ends = {
        float(t.get("y", "")) - 1.5: t.get("data-end") for t in els(sheet, "text", data_end=None)
    }
    (group,) = (g for g in els(sheet, "g") if g.get("class") == "tl")
    drawn = {}
    for path in group:
        y0, y1 = endpoints(path.get("d", ""))
        start = starts[min(starts, key=lambda y: abs(y - y0))]
        end = ends[min(ends, key=lambda y: abs(y - y1))]
        assert start not in drawn
        drawn[start] = (end, path.get("d"))
    assert len(drawn) == len(starts) == len(ends)
    assert sorted(e for e, _ in drawn.values()) == sorted(ends.values())  # a permutation
    keyed = {
        p.get("data-from"): (p.get("data-to"), p.get("d")) for p in els(key, "path", data_from=None)
    }
    assert keyed == drawn
    (mapping,) = (e for e in key.iter() if e.get("data-role") == "mapping")
    sep = texts.text(spec.lang, "kind.tangled_lines.pair_sep")
    assert text(mapping).split(sep) == [f"{s}→{drawn[s][0]}" for s in sorted(drawn, key=int)]


# -- Stroop -----------------------------------------------------------------------------

INK = {"#d62728": "red", "#e0a800": "yellow", "#1f5fbf": "blue", "#2a9d3a": "green"}


@EXAMPLES
@given(specs("stroop"))
def test_stroop_key_answers_name_the_ink(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    expected = {}
    for el in sheet.iter():
        if el.get("data-cell") is None:
            continue
        if el.tag == NS + "use":
            expected[cell(el)] = {"#sun": "night", "#moon": "day"}[href(el)]
        else:
            style = el.get("style", "")
            assert style.startswith("fill:")
            expected[cell(el)] = INK[style[5:]]
    answers = {cell(e): e.get("data-answer") for e in els(key, "text", data_answer=None)}
    assert answers == expected
    order = [expected[c] for c in sorted(expected)]
    if "night" in order or "day" in order:
        assert all(len(set(order[i : i + 3])) > 1 for i in range(len(order) - 2))
    else:
        assert all(a != b for a, b in itertools.pairwise(order))


# -- spot the difference -------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(specs("spot_difference"))
def test_spot_difference_key_marks_exactly_the_differing_cells(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    grids = {}
    for g in els(sheet, "g", data_grid=None):
        grids[g.get("data-grid")] = {cell(u): (href(u), u.get("fill")) for u in els(g, "use")}
    a, b = grids["a"], grids["b"]
    assert set(a) == set(b) and a
    differ = {c for c in a if a[c] != b[c]}
    rings = [cell(c) for c in els(key, "circle", data_role="diff")]
    assert len(rings) == 2 * len(differ) and set(rings) == differ
    (total,) = (e for e in key.iter() if e.get("data-role") == "total")
    assert int(total.get("data-count", "")) == len(differ)
    assert str(len(differ)) in REGISTRY["spot_difference"].instructions(spec)


# -- listening scripts ---------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(specs("auditory_script"))
def test_auditory_key_positions_follow_the_script(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    items = [
        text(t)
        for t in sorted(els(sheet, "text", data_i=None), key=lambda t: int(t.get("data-i", "")))
    ]
    (rule,) = (e for e in sheet.iter() if e.get("data-role") == "rule")
    rule_text = text(rule)
    if all(i.isdigit() for i in items):
        nums = list(map(int, items))
        step = 1 if nums[-1] > nums[0] else -1
        react = [i for i in range(1, len(nums)) if nums[i] - nums[i - 1] != step]
        assert all(nums[i] - nums[i - 1] == 2 * step for i in react)  # one number left out
        assert str(nums[0]) in rule_text  # the script says where counting starts
    elif rule_text == texts.text(spec.lang, "kind.auditory_script.category_rule"):
        assert spec.age >= 11  # ages 11-14 listen for a kind of word
        fruit = set(texts.text(spec.lang, "kind.auditory_script.category_words").split())
        react = [i for i, word in enumerate(items) if word in fruit]
        assert len(react) < len(items)
    else:
        assert spec.age < 11
        m = re.search(r"(?:目标：|Target: )(\S)", rule_text)
        assert m
        target = m.group(1)
        cue = re.search(r"(?:提示字：|Cue: )(\S)", rule_text)
        react = [
            i
            for i, ch in enumerate(items)
            if ch == target and (cue is None or (i > 0 and items[i - 1] == cue.group(1)))
        ]
    assert react
    rings = sorted(int(c.get("data-i", "")) for c in els(key, "circle", data_role="react"))
    assert rings == [i + 1 for i in react]
    (total,) = (e for e in key.iter() if e.get("data-role") == "total")
    assert int(total.get("data-count", "")) == len(react)


# -- dual task -------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(specs("dual_task"))
def test_dual_task_key_counts(spec: ExerciseSpec) -> None:
    kind: Kind = REGISTRY["dual_task"]  # type: ignore[assignment]
    sheet, key = docs(spec)
    (sample_group,) = (e for e in sheet.iter() if e.get("data-role") == "target-sample")
    (sample,) = els(sample_group, "use")
    target = href(sample)
    items = list(els(sheet, "use", data_i=None))
    counted = {
        int(u.get("data-i", "")) for u in items if href(u) == target and u.get("data-road") == "1"
    }
    assert counted
    (total,) = (e for e in key.iter() if e.get("data-role") == "total")
    assert int(total.get("data-count", "")) == len(counted)
    assert {int(c.get("data-i", "")) for c in els(key, "circle", data_role="target")} == counted
    claps = [e for e in key.iter() if e.get("data-role") == "claps"]
    if kind.variant_of(spec) == "clap":
        (line,) = claps
        times = [int(v) for v in re.findall(r"\d+", text(line).split("：")[-1].split(":")[-1])]
        assert len(times) == int(line.get("data-count", "")) >= 3
        assert all(b - a >= 4 for a, b in itertools.pairwise(times))
        assert times[-1] < kind.minutes(spec) * 60
    else:
        assert not claps
        assert all(u.get("data-road") in ("0", "1") for u in items)
