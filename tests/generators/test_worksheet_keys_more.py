"""Answer keys of the look–cover–find, dot copy, pattern, colour-by-instruction and
count-two kinds agree with their sheets, judged from the rendered SVG alone.

Same method as ``test_worksheet_keys.py``: parse the sheet as a reader would
(``data-*`` attributes and drawn elements), recompute the answer without the
generator's data, and compare it with what the key document shows.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given

from generators.worksheets import REGISTRY, ExerciseSpec

from .test_worksheet_keys import EXAMPLES, cell, docs, els, href, specs, text


def items(group: ET.Element) -> list[tuple[int, str]]:
    return [(int(u.get("data-i", "")), u.get("data-item", "")) for u in els(group, "use")]


@EXAMPLES
@given(specs("visual_memory"))
def test_visual_memory_key_rings_exactly_the_studied_pictures(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    grids = {g.get("data-grid"): items(g) for g in els(sheet, "g", data_grid=None)}
    study = {item for _, item in grids["study"]}
    recall = grids["recall"]
    assert len(study) == len(grids["study"]) >= 3  # every studied picture is distinct
    assert len({item for _, item in recall}) == len(recall) > len(study)
    # each picture differs from every other by shape or fill, never by colour alone
    assert all(u.get("fill") is None for u in els(sheet, "use"))
    expected = {i for i, item in recall if item in study}
    assert len(expected) == len(study)  # all of them are shown again
    rings = {int(c.get("data-i", "")) for c in els(key, "circle", data_role="seen")}
    assert rings == expected
    (total,) = (e for e in key.iter() if e.get("data-role") == "total")
    assert int(total.get("data-count", "")) == len(study)
    kind = REGISTRY["visual_memory"]
    assert str(kind.study_seconds(spec)) in kind.instructions(spec)  # type: ignore[attr-defined]


def segments(root: ET.Element, grid: str) -> list[tuple[int, ...]]:
    (g,) = els(root, "g", data_grid=grid)
    return [tuple(int(v) for v in ln.get("data-seg", "").split(",")) for ln in els(g, "line")]


def positions(root: ET.Element, grid: str) -> dict[tuple[float, float], tuple[int, int]]:
    """Dot centre -> (row, col) of a dot grid, from the drawn circles alone."""
    (g,) = els(root, "g", data_dots=grid)
    dots = [(float(c.get("cx", "")), float(c.get("cy", ""))) for c in els(g, "circle")]
    n = int(g.get("data-n", ""))
    assert len(dots) == n * n
    xs, ys = sorted({x for x, _ in dots}), sorted({y for _, y in dots})
    assert len(xs) == len(ys) == n
    return {(x, y): (ys.index(y), xs.index(x)) for x, y in dots}


@EXAMPLES
@given(specs("dot_copy"))
def test_dot_copy_key_draws_the_model_on_the_copy_grid(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    model = segments(sheet, "model")
    assert model and len(set(model)) == len(model)
    assert not list(els(sheet, "g", data_grid="copy"))  # the child's grid is empty
    for grid, root in (("model", sheet), ("copy", key)):
        where = positions(root, grid)
        for ln, seg in zip(
            els(next(els(root, "g", data_grid=grid)), "line"), segments(root, grid), strict=True
        ):
            a = where[(float(ln.get("x1", "")), float(ln.get("y1", "")))]
            b = where[(float(ln.get("x2", "")), float(ln.get("y2", "")))]
            assert (*a, *b) == seg  # drawn between the dots it names
            assert max(abs(a[0] - b[0]), abs(a[1] - b[1])) == 1  # neighbouring dots
    assert segments(key, "copy") == model == segments(key, "model")
    # one connected figure
    nodes = {(s[0], s[1]) for s in model} | {(s[2], s[3]) for s in model}
    seen, todo = set(), [next(iter(nodes))]
    while todo:
        at = todo.pop()
        if at in seen:
            continue
        seen.add(at)
        for s in model:
            if (s[0], s[1]) == at:
                todo.append((s[2], s[3]))
            elif (s[2], s[3]) == at:
                todo.append((s[0], s[1]))
    assert seen == nodes


@EXAMPLES
@given(specs("patterns"))
def test_pattern_key_continues_each_row_by_its_shortest_period(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    rows: dict[int, dict[int, str]] = {}
    for u in els(sheet, "use", data_row=None):
        rows.setdefault(int(u.get("data-row", "")), {})[int(u.get("data-pos", ""))] = u.get(
            "data-item", ""
        )
    blanks: dict[int, list[int]] = {}
    for b in els(sheet, "rect", data_blank="1"):
        blanks.setdefault(int(b.get("data-row", "")), []).append(int(b.get("data-pos", "")))
    (answers,) = (g for g in key.iter() if g.get("data-role") == "answers")
    given_ = {
        (int(u.get("data-row", "")), int(u.get("data-pos", ""))): u.get("data-item", "")
        for u in els(answers, "use")
    }
    assert rows and set(rows) == set(blanks)
    assert len(given_) == sum(len(b) for b in blanks.values())
    for r, shown in rows.items():
        seq = [shown[p] for p in range(len(shown))]
        period = next(
            p for p in range(1, len(seq)) if all(seq[i] == seq[i - p] for i in range(p, len(seq)))
        )
        assert period >= 2 and 2 * period <= len(seq)  # shown twice: the answer is unique
        for pos in blanks[r]:
            assert pos >= len(seq)
            assert given_[(r, pos)] == seq[pos % period], (r, pos)


@EXAMPLES
@given(specs("listen_colour"))
def test_listen_colour_key_colours_what_the_read_instructions_select(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    shapes = {cell(u): int(u.get("data-shape", "")) for u in els(sheet, "use", data_cell=None)}
    assert not list(els(sheet, "text", data_colour=None))  # nothing coloured on the sheet
    expected: dict[tuple[int, int], str] = {}
    rules = list(els(key, "text", data_rule=None))
    assert len(rules) == REGISTRY["listen_colour"].shape(spec)[2]  # type: ignore[attr-defined]
    for rule in rules:
        s, row, col = (int(v) for v in rule.get("data-rule", "").split(","))
        colour = rule.get("data-colour", "")
        hit = {
            c
            for c, shape in shapes.items()
            if (s < 0 or s == shape) and (row < 0 or row == c[0]) and (col < 0 or col == c[1])
        }
        assert hit and not hit & set(expected)  # each colours something, nothing twice
        expected.update(dict.fromkeys(hit, colour))
        words = text(rule)
        assert f"{row + 1}" in words if row >= 0 else True
    marks = {
        cell(m): m.get("data-colour", "")
        for m in els(key, "text", data_colour=None)
        if m.get("data-cell")
    }
    assert marks == expected


@EXAMPLES
@given(specs("count_two"))
def test_count_two_key_counts_both_targets(spec: ExerciseSpec) -> None:
    sheet, key = docs(spec)
    (targets,) = (g for g in sheet.iter() if g.get("data-role") == "targets")
    pair = {int(u.get("data-target", "")): f"#n{u.get('data-shape')}" for u in els(targets, "use")}
    assert len(pair) == 2 and pair[0] != pair[1]
    field = list(els(sheet, "use", data_i=None))
    for j, target in pair.items():
        want = {int(u.get("data-i", "")) for u in field if href(u) == target}
        assert want
        rings = {
            int(c.get("data-i", ""))
            for c in els(key, "circle", data_role="target", data_target=str(j))
        }
        assert rings == want
        (total,) = (
            e
            for e in key.iter()
            if e.get("data-role") == "total" and e.get("data-target") == str(j)
        )
        assert int(total.get("data-count", "")) == len(want)
        assert str(len(want)) in text(total)
