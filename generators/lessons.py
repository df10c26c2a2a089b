"""Lesson plans (教案) and the plan overview as self-contained, printable HTML.

Strategy. Each document is a list of text parts built by one function; its
``Doc.size`` is the UTF-8 length of those parts and ``Doc.render`` joins the
same parts again when the archive reaches the entry, so the size is exact by
construction and nothing is held between the two (a plan can have hundreds
of lessons). Rendering checks the length against the promise and raises on a
mismatch: a wrong entry size must never reach a ZIP.

Most of a lesson's text comes from its worksheet kinds (title, minutes,
instructions, how to run). Those are taken per (kind, level, age, lang,
variant) with the seed zeroed and cached, escaped: the worksheet contract
keeps the seed to the *content* of a sheet (the kinds measure their own page
frame the same way), and it lets hundreds of lessons share a few dozen texts.

The documents use no external resource (no scripts, images, fonts or
links out of the archive); the overview links to each lesson plan by its
relative path inside the archive. Chinese by default, English for
``lang="en"``; the child's or class's name is the only free text.

The file names shared with the archive's entry list live here too
(``lesson_folder``, ``exercise_filename``, ``answer_key_filename``,
``lesson_doc_filename``), so a lesson plan names exactly the files beside it.
"""

from __future__ import annotations

import dataclasses
import functools
import html
from collections.abc import Callable, Mapping
from typing import NamedTuple
from urllib.parse import quote

from generators.archive.names import sanitize_component
from generators.classmode import class_how_to_run, is_class
from generators.dimensions import DIMENSIONS, LANGS, dimension_description, dimension_name
from generators.homework import homework_index
from generators.norms import YOUNG_MAX_AGE, digit_span_typical, schulte_check
from generators.plan import Exercise, Lesson, Plan, exercises_per_lesson
from generators.texts import plural, section, text
from generators.worksheets import REGISTRY
from generators.worksheets.base import Doc, ExerciseSpec, WorksheetKind

Registry = Mapping[str, WorksheetKind]

OVERVIEW_NAME = "index.html"

_WARMUP_MIN = 3
_BREAK_MIN = 2
_REVIEW_MIN = 3
_HOMEWORK_MIN = 2

# -- names ------------------------------------------------------------------------


def lesson_folder(lesson: Lesson, lang: str) -> str:
    """The lesson's folder inside the archive root: ``第01周/第01课`` or ``Week 01/Lesson 01``."""
    return text(lang, "names.lesson_folder", week=lesson.week, number=lesson.number_in_week)


def lesson_doc_filename(lang: str) -> str:
    """The lesson plan's file name inside its lesson folder."""
    return text(lang, "names.lesson_doc")


def exercise_filename(
    exercise: Exercise, registry: Registry | None, lang: str, ext: str = "svg"
) -> str:
    """``{number:02d}_{title}.{ext}``, made safe as the archive would make it.

    A "/" in a title would otherwise become a folder, so it is replaced like
    the other characters file systems refuse.
    """
    spec = dataclasses.replace(exercise.spec, lang=lang)
    title = _registry(registry)[exercise.kind].title_for(spec).replace("/", "_")
    return sanitize_component(f"{exercise.number:02d}_{title}.{ext}")


def answer_key_filename(
    exercise: Exercise, registry: Registry | None, lang: str, ext: str = "svg"
) -> str:
    """The answer key's path relative to the lesson folder: ``答案/01_舒尔特方格_答案.svg``."""
    folder, suffix = text(lang, "names.answers_folder"), text(lang, "names.answers_suffix")
    stem = exercise_filename(exercise, registry, lang, ext).rpartition(".")[0]
    return f"{folder}/{stem}{suffix}.{ext}"


_FONTS = {
    "zh": "'PingFang SC','Microsoft YaHei','Noto Sans CJK SC','Helvetica Neue',Arial,sans-serif",
    "en": "'Helvetica Neue',Arial,'Liberation Sans','Noto Sans','PingFang SC',"
    "'Microsoft YaHei','Noto Sans CJK SC',sans-serif",
}
"""Body font stack per language: Latin fonts first for English, so quotes and
dashes are not drawn full-width by a CJK font; CJK after them for names."""

_CSS = (
    "@page{size:A4;margin:14mm}"
    "body{color:#222;line-height:1.55;font-size:11pt;max-width:182mm;"
    "margin:0 auto;padding:8mm 0}"
    "h1{font-size:18pt;margin:0 0 2pt}h2{font-size:13pt;margin:14pt 0 6pt;"
    "border-bottom:1px solid #ccc}h3{font-size:11.5pt;margin:10pt 0 3pt}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #bbb;padding:3pt 5pt;"
    "text-align:left;vertical-align:top}th{background:#f1f1f1}"
    ".meta{color:#555;margin:0 0 6pt}.note{background:#fff7e0;border-left:3pt solid #e0a800;"
    "padding:5pt 9pt}.files{font-size:9.5pt;color:#444}.num{white-space:nowrap}"
    ".record td{height:16pt}svg text{font-size:13px;fill:#222}"
    "@media print{body{max-width:none;padding:0;font-size:10.5pt}"
    "h2,h3{break-after:avoid;page-break-after:avoid}"
    "tr,.ex,svg{break-inside:avoid;page-break-inside:avoid}"
    "thead{display:table-header-group}.record{break-before:page;page-break-before:always}"
    "a{color:inherit;text-decoration:none}}"
)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _registry(registry: Registry | None) -> Registry:
    return REGISTRY if registry is None else registry


_DIM_HTML: dict[str, dict[str, tuple[str, str]]] = {
    lang: {
        k: (_esc(dimension_name(k, lang)), _esc(dimension_description(k, lang))) for k in DIMENSIONS
    }
    for lang in LANGS
}
"""Escaped (name, description) of each dimension, per language."""


class _ExerciseText(NamedTuple):
    """The HTML an exercise contributes to a lesson plan, escaped and ready to join."""

    kind: object  # keeps the kind alive while cached, so its id stays unique
    title: str
    minutes: int
    timeline: str  # the timeline's content cell
    block: str  # the "how to run and score" block, with the file names
    colour: bool  # the sheet needs a colour print (see Kind.needs_colour)


_EXERCISE_CACHE: dict[tuple[int, ExerciseSpec, int, bool], _ExerciseText] = {}
_EXERCISE_CACHE_MAX = 2048


def _exercise_text(registry: Registry, ex: Exercise, group: bool = False) -> _ExerciseText:
    """An exercise's texts, from its kind with the seed zeroed (see module doc).

    Cached by (kind id, seedless spec, number): a plan repeats these a lot,
    and kinds need not be hashable. Cleared when full; its keys are few per
    plan, and a miss only costs the kind's text methods again.
    """
    kind = registry[ex.kind]
    s = ex.spec
    seedless = ExerciseSpec(s.kind, s.level, s.age, 0, s.lang, s.variant)
    key = (id(kind), seedless, ex.number, group)
    hit = _EXERCISE_CACHE.get(key)
    if hit is not None and hit.kind is kind:
        return hit
    lang = s.lang
    t = section(lang, "doc")
    title = _esc(kind.title_for(seedless))
    minutes = int(kind.minutes(seedless))
    dim = _DIM_HTML[lang][ex.dimension][0]
    sheet = _esc(exercise_filename(ex, registry, lang))
    answers = _esc(answer_key_filename(ex, registry, lang))
    meta = t["ex_meta"].format(dim=dim, level=s.level, m=minutes)
    how = class_how_to_run(kind, seedless) if group else kind.how_to_run(seedless)
    block = (
        f'<div class="ex"><h3>{ex.number}. {title}</h3><p class="meta">{meta}</p>'
        f'<p class="files">{t["sheet"]}{sheet}<br>{t["key"]}{answers}</p>'
        f"<p><b>{t['say']}</b>{_esc(kind.instructions(seedless))}</p>"
        f"<p><b>{t['how']}</b>{_esc(how)}</p></div>"
    )
    timeline = t["timeline_item"].format(title=title, dim=dim, level=s.level)
    hit = _ExerciseText(kind, title, minutes, timeline, block, _needs_colour(kind, seedless))
    if len(_EXERCISE_CACHE) >= _EXERCISE_CACHE_MAX:
        _EXERCISE_CACHE.clear()
    _EXERCISE_CACHE[key] = hit
    return hit


def _levels(lesson: Lesson, t: Mapping[str, str] | None) -> str:
    """The levels of a lesson's exercises: "level 3" or "levels 2–4" (they differ by
    dimension); without texts, only the numbers ("3", "2–4") for a table column."""
    levels = [ex.spec.level for ex in lesson.exercises] or [lesson.level]
    lo, hi = min(levels), max(levels)
    if t is None:
        return str(lo) if lo == hi else f"{lo}–{hi}"
    return t["level"].format(level=lo) if lo == hi else t["levels"].format(lo=lo, hi=hi)


def _needs_colour(kind: WorksheetKind, spec: ExerciseSpec) -> bool:
    """Whether the kind says its sheet needs a colour print (kinds without the hook: no)."""
    hook = getattr(kind, "needs_colour", None)
    return bool(hook(spec)) if hook is not None else False


def _print_note(lesson: Lesson, texts: list[_ExerciseText], t: Mapping[str, str]) -> str:
    """Where the one-click print files are, and which sheets need a colour printer."""
    lang = lesson.exercises[0].spec.lang if lesson.exercises else "zh"
    sep = t["list_sep"]
    colour = sep.join(
        t["colour_item"].format(n=ex.number, title=x.title)
        for ex, x in zip(lesson.exercises, texts, strict=True)
        if x.colour
    )
    files = t["print_files"].format(
        sheets=_esc(text(lang, "names.print_sheets")), keys=_esc(text(lang, "names.print_keys"))
    )
    colour_text = t["print_colour"].format(sheets=colour) if colour else t["print_bw"]
    return f'<p class="files">{files}{colour_text}</p>'


def _date_text(lesson: Lesson, t: Mapping[str, str]) -> str:
    if lesson.date is None:
        return t["no_date"]
    weekday = t["weekdays"].split()[lesson.date.weekday()]
    return f"{lesson.date.isoformat()} {weekday}"


def _head(t: Mapping[str, str], title: str, lang: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{t["html_lang"]}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>body{{font-family:{_FONTS[lang]}}}"
        f"{_CSS}</style></head><body>"
    )


def _retest_phrase(plan: Plan, lang: str) -> str:
    """Where the retests are: "第 6 课和第 12 课" / "lessons 6 and 12"."""
    numbers = [lesson.index for lesson in plan.retest_lessons]
    t = section(lang, "doc")
    if len(numbers) == 1:
        return t["retests_one"].format(a=numbers[0])
    if len(numbers) == 2:  # the planner places at most a middle and an end retest
        return t["retests_two"].format(a=numbers[0], b=numbers[1])
    raise ValueError(f"{len(numbers)} retests: the catalogue has no phrase for them")


# -- lesson plan ---------------------------------------------------------------------


def _lesson_parts(plan: Plan, lesson: Lesson, registry: Registry) -> list[str]:
    req = plan.request
    lang = req.lang
    t = section(lang, "doc")
    name = _esc(req.name)
    exercises = lesson.exercises
    group = is_class(plan)  # a class: procedures for a group (generators.classmode)
    texts = [_exercise_text(registry, ex, group) for ex in exercises]
    work = sum(text.minutes for text in texts)
    total_min = _WARMUP_MIN + work + _BREAK_MIN + _REVIEW_MIN + _HOMEWORK_MIN
    title = t["lesson_title"].format(name=name, week=lesson.week, number=lesson.number_in_week)
    meta = " · ".join(
        (
            t["of"].format(index=lesson.index, total=len(plan.lessons)),
            _date_text(lesson, t),
            t["age"].format(age=req.age),
            _levels(lesson, t),
            plural(t, "count", len(exercises)).format(n=len(exercises), m=total_min),
        )
    )
    parts = [_head(t, title, lang), f'<header><h1>{title}</h1><p class="meta">{meta}</p></header>']

    is_baseline = plan.baseline is lesson
    if is_baseline:
        note = t["baseline_note"].format(later=_retest_phrase(plan, lang))
        if is_class(plan):
            record = text(lang, "names.class_record_doc")
            note = text(
                lang, "class.baseline_note", later=_retest_phrase(plan, lang), record=record
            )
        parts.append(f'<p class="note">{note}</p>')
    elif lesson.is_retest:
        parts.append(f'<p class="note">{t["retest_note"]}</p>')

    parts.extend(_objectives(lesson, lang, t))
    parts.extend(_timeline(plan, lesson, texts, t))

    # How to run and score each exercise, with its files.
    parts.append(f"<section><h2>{t['run']}</h2>")
    parts.extend(text.block for text in texts)
    parts.append(f'<p class="files">{t["materials"]}</p>')
    parts.append(_print_note(lesson, texts, t) + "</section>")
    parts.append(
        f"<section><h2>{t['adjust_title']}</h2><ul><li>{t['adjust_up']}</li>"
        f"<li>{t['adjust_down']}</li><li>{t['adjust_how']}</li></ul></section>"
    )

    if is_baseline or lesson.is_retest:
        parts.extend(_record_table(plan, lesson, texts, t))

    parts.append(f'<footer><p class="meta">{t["footer"]}</p></footer></body></html>\n')
    return parts


def _objectives(lesson: Lesson, lang: str, t: Mapping[str, str]) -> list[str]:
    """Each dimension the lesson trains, with how many exercises and what it is."""
    per_dim: dict[str, int] = {}
    for ex in lesson.exercises:
        per_dim[ex.dimension] = per_dim.get(ex.dimension, 0) + 1
    parts = [f"<section><h2>{t['objectives']}</h2><ul>"]
    colon = t["colon"]
    for dim, n in per_dim.items():
        dim_name, description = _DIM_HTML[lang][dim]
        count = plural(t, "objective", n).format(n=n)
        parts.append(f"<li><b>{dim_name}</b>{count}{colon}{description}</li>")
    parts.append("</ul></section>")
    return parts


def _timeline(
    plan: Plan, lesson: Lesson, texts: list[_ExerciseText], t: Mapping[str, str]
) -> list[str]:
    """The lesson minute by minute: warm-up, exercises with a break halfway, review, homework."""
    parts = [
        f'<section><h2>{t["timeline"]}</h2><table class="timeline"><thead><tr>'
        f"<th>{t['time']}</th><th>{t['part']}</th><th>{t['content']}</th></tr></thead><tbody>"
    ]
    clock = 0

    def row(part: str, content: str, minutes: int) -> None:
        nonlocal clock
        span = t["minutes"].format(a=clock, b=clock + minutes)
        parts.append(f'<tr><td class="num">{span}</td><td>{part}</td><td>{content}</td></tr>')
        clock += minutes

    exercises = lesson.exercises
    row(t["warmup"], t["warmup_text"], _WARMUP_MIN)
    halfway = (len(exercises) + 1) // 2
    for ex, item in zip(exercises, texts, strict=True):
        row(t["exercise"].format(n=ex.number), item.timeline, item.minutes)
        if ex.number == halfway:
            row(t["break"], t["break_text"], _BREAK_MIN)
    young = plan.request.age <= YOUNG_MAX_AGE
    row(t["review"], t["review_text_young" if young else "review_text"], _REVIEW_MIN)
    row(t["homework"], _homework(plan, lesson, texts, t), _HOMEWORK_MIN)
    parts.append("</tbody></table></section>")
    return parts


def _homework(plan: Plan, lesson: Lesson, texts: list[_ExerciseText], t: Mapping[str, str]) -> str:
    """The homework: a fresh sheet of one exercise's kind (``generators.homework``)."""
    pick = homework_index(plan, lesson)
    if pick is None:
        return t["homework_retest"]
    exercises = lesson.exercises
    text = texts[pick]
    return t["homework_text"].format(n=exercises[pick].number, title=text.title, m=text.minutes)


def _record_table(
    plan: Plan, lesson: Lesson, texts: list[_ExerciseText], t: Mapping[str, str]
) -> list[str]:
    """Blank results table for the baseline and retests, one column per measurement."""
    columns = [t["baseline_col"]] + [t["lesson_n"].format(n=r.index) for r in plan.retest_lessons]
    head = "".join(f"<th>{c}</th>" for c in columns)
    parts = [
        f'<section class="record"><h2>{t["record"]}</h2><table><thead><tr>'
        f"<th>{t['no']}</th><th>{t['ex_col']}</th>{head}</tr></thead><tbody>"
    ]
    blanks = "<td></td>" * len(columns)
    for ex, item in zip(lesson.exercises, texts, strict=True):
        parts.append(f'<tr><td class="num">{ex.number}</td><td>{item.title}</td>{blanks}</tr>')
    parts.append("</tbody></table></section>")
    return parts


# -- overview --------------------------------------------------------------------------


def _overview_parts(plan: Plan, registry: Registry) -> list[str]:
    req = plan.request
    lang = req.lang
    t = section(lang, "doc")
    name = _esc(req.name)
    title = t["plan_title"].format(name=name)
    summary = [
        t[f"mode_{req.mode}"],
        t["age"].format(age=req.age),
        " · ".join(
            plural(t, key, n).format(n=n)
            for key, n in (
                ("summary_weeks", req.weeks),
                ("summary_lpw", req.lessons_per_week),
                ("summary_epl", exercises_per_lesson(req)),
                ("summary_total", len(plan.lessons)),
            )
        ),
    ]
    if req.start_date is not None:
        summary.append(t["start"].format(date=req.start_date.isoformat()))
    parts = [
        _head(t, title, lang),
        f'<header><h1>{title}</h1><p class="meta">{" · ".join(summary)}</p></header>',
    ]

    counts = plan.dimension_counts()
    assessment = req.mode == "assessment"
    heading, note = (
        ("chart_scores", "chart_scores_note")
        if assessment
        else (
            "chart_balance",
            "chart_balance_note",
        )
    )
    parts.append(f"<section><h2>{t[heading]}</h2>")
    parts.append(_chart(plan, counts, t))
    parts.append(f'<p class="meta">{t[note]}</p></section>')

    parts.extend(_dimension_table(plan, counts, t))
    if assessment:
        parts.extend(_score_sources(plan, t))
    parts.extend(_schedule(plan, registry, t))
    parts.extend(_how_to_use(plan, registry, t))
    return parts


def _dimension_table(plan: Plan, counts: Mapping[str, int], t: Mapping[str, str]) -> list[str]:
    """Dimensions: what each is, its score (assessment mode), its share of the plan."""
    req = plan.request
    lang = req.lang
    assessment = req.mode == "assessment"
    parts: list[str] = []
    score_head = f"<th>{t['score_col']}</th>" if assessment else ""
    parts.append(
        f"<section><h2>{t['dims']}</h2><table><thead><tr><th>{t['dim_col']}</th>"
        f"<th>{t['desc_col']}</th>{score_head}<th>{t['planned_col']}</th></tr></thead><tbody>"
    )
    for dim in DIMENSIONS:
        dim_name, description = _DIM_HTML[lang][dim]
        score = ""
        if assessment:
            value = req.scores.get(dim)
            score = f'<td class="num">{t["not_assessed"] if value is None else value}</td>'
        parts.append(
            f"<tr><td>{dim_name}</td><td>{description}</td>"
            f'{score}<td class="num">{counts[dim]}</td></tr>'
        )
    parts.append("</tbody></table></section>")
    return parts


def _score_sources(plan: Plan, t: Mapping[str, str]) -> list[str]:
    """Where the 0-100 scores come from, and how to estimate three of them at this age."""
    age = plan.request.age
    side, seconds = schulte_check(age)
    backward = age >= 7
    wm = "check_wm_backward" if backward else "check_wm_forward"
    rows = (
        (
            _DIM_HTML[plan.request.lang]["span"][0],
            t["check_span"].format(n=side),
            t["typical_span"].format(s=seconds),
            t["rule_span"],
        ),
        (
            _DIM_HTML[plan.request.lang]["working_memory"][0],
            t[wm],
            t["typical_wm"].format(d=digit_span_typical(age, backward)),
            t["rule_wm"],
        ),
        (
            _DIM_HTML[plan.request.lang]["sustained"][0],
            t["check_sustained"],
            t["typical_sustained"],
            t["rule_sustained"],
        ),
    )
    parts = [
        f"<section><h2>{t['scores_title']}</h2><p>{t['scores_source']}</p><table><thead><tr>"
        f"<th>{t['dim_col']}</th><th>{t['scores_check_col']}</th>"
        f"<th>{t['scores_typical_col'].format(age=age)}</th><th>{t['scores_rule_col']}</th>"
        "</tr></thead><tbody>"
    ]
    parts.extend("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    parts.append("</tbody></table></section>")
    return parts


def _schedule(plan: Plan, registry: Registry, t: Mapping[str, str]) -> list[str]:
    """Every lesson: week, number, date, level, its exercises and a link to its plan."""
    lang = plan.request.lang
    parts: list[str] = []
    parts.append(
        f"<section><h2>{t['schedule']}</h2><table><thead><tr><th>{t['week_col']}</th>"
        f"<th>{t['lesson_col']}</th><th>{t['date_col']}</th><th>{t['level_col']}</th>"
        f"<th>{t['exercises_col']}</th><th>{t['doc_col']}</th></tr></thead><tbody>"
    )
    baseline = plan.baseline
    doc_name = lesson_doc_filename(lang)
    sep = t["list_sep"]
    for lesson in plan.lessons:
        titles = sep.join(
            t["ex_level"].format(title=_exercise_text(registry, ex).title, level=ex.spec.level)
            for ex in lesson.exercises
        )
        tag = (
            t["baseline_tag"] if lesson is baseline else t["retest_tag"] if lesson.is_retest else ""
        )
        href = _esc(quote(f"{lesson_folder(lesson, lang)}/{doc_name}"))
        parts.append(
            f'<tr><td class="num">{lesson.week}</td><td class="num">{lesson.number_in_week}</td>'
            f'<td class="num">{_date_text(lesson, t)}</td>'
            f'<td class="num">{_levels(lesson, None)}</td>'
            f'<td>{tag}{titles}</td><td><a href="{href}">{t["open"]}</a></td></tr>'
        )
    parts.append("</tbody></table></section>")
    return parts


def _how_to_use(plan: Plan, registry: Registry, t: Mapping[str, str]) -> list[str]:
    """How to use the plan, and what it does not promise."""
    lang = plan.request.lang
    assessment = plan.request.mode == "assessment"
    parts: list[str] = []
    fourth = (
        t["use_assessment"].format(later=_retest_phrase(plan, lang))
        if plan.retest_lessons
        else t["use_focus"]
        if not assessment
        else ""
    )
    printing = _print_use(plan, registry, t)
    items = [t["use_1"], printing, t["use_2"], t["use_3"], fourth, t["use_5"]]
    parts.append(f"<section><h2>{t['use']}</h2><ol>")
    parts.extend(f"<li>{item}</li>" for item in items if item)
    parts.append(f'</ol><p class="note">{t["disclaimer"]}</p></section></body></html>\n')
    return parts


def _print_use(plan: Plan, registry: Registry, t: Mapping[str, str]) -> str:
    """The overview's printing item: the lesson print files, and the kinds needing colour."""
    lang = plan.request.lang
    titles: list[str] = []
    for lesson in plan.lessons:
        for ex in lesson.exercises:
            text_ = _exercise_text(registry, ex)
            if text_.colour and text_.title not in titles:
                titles.append(text_.title)
    files = t["use_print"].format(
        sheets=_esc(text(lang, "names.print_sheets")), keys=_esc(text(lang, "names.print_keys"))
    )
    if not titles:
        return files + t["use_print_bw"]
    return files + t["use_print_colour"].format(kinds=t["list_sep"].join(titles))


def _chart(plan: Plan, counts: Mapping[str, int], t: Mapping[str, str]) -> str:
    """Inline SVG bar chart: scores (assessment) or exercises per dimension (focus).

    Plain SVG with no namespace URL (HTML parsing puts <svg> in the SVG
    namespace), so the document holds no address at all; it is also
    well-formed XML on its own.
    """
    req = plan.request
    lang = req.lang
    assessment = req.mode == "assessment"
    top = max(counts.values()) or 1
    row_h, label_w, bar_w = 30, 170, 320
    height = row_h * len(DIMENSIONS) + 10
    label = _esc(t["chart_scores"] if assessment else t["chart_balance"])
    out = [
        f'<svg viewBox="0 0 600 {height}" width="100%" role="img" aria-label="{label}">',
        f'<line x1="{label_w}" y1="0" x2="{label_w}" y2="{height - 4}" stroke="#999"/>',
    ]
    for i, dim in enumerate(DIMENSIONS):
        y = i * row_h + 5
        name = _DIM_HTML[lang][dim][0]
        out.append(f'<text x="0" y="{y + 17}">{name}</text>')
        if assessment:
            value = req.scores.get(dim)
            if value is None:
                out.append(
                    f'<text x="{label_w + 6}" y="{y + 17}" fill="#888">{t["not_assessed"]}</text>'
                )
            else:
                width = round(value * bar_w / 100, 1)
                colour = "#e67e22" if value < 40 else "#2e86c1" if value < 75 else "#27ae60"
                out.append(
                    f'<rect x="{label_w}" y="{y + 3}" width="{width}" height="18" '
                    f'fill="{colour}"/><text x="{label_w + width + 6}" y="{y + 17}">{value}</text>'
                )
        else:
            width = round(counts[dim] * bar_w / top, 1)
            out.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{width}" height="18" fill="#2e86c1"/>'
            )
        count = t["ex_unit"].format(n=counts[dim])
        out.append(f'<text x="596" y="{y + 17}" text-anchor="end">{count}</text>')
    out.append("</svg>")
    return "".join(out)


# -- documents ------------------------------------------------------------------------------


def _render(build: Callable[..., list[str]], args: tuple[object, ...], size: int) -> bytes:
    data = "".join(build(*args)).encode("utf-8")
    if len(data) != size:  # a bug, never a short or long ZIP entry
        raise ValueError(f"{build.__name__} rendered {len(data)} B, promised {size} B")
    return data


def _doc(build: Callable[..., list[str]], *args: object) -> Doc:
    size = len("".join(build(*args)).encode("utf-8"))
    return Doc(size, functools.partial(_render, build, args, size), ext="html")


def lesson_doc(plan: Plan, lesson: Lesson, registry: Registry | None = None) -> Doc:
    """The lesson plan (教案) of ``lesson``: objectives, timeline, how to run, files, homework."""
    return _doc(_lesson_parts, plan, lesson, _registry(registry))


def overview_doc(plan: Plan, registry: Registry | None = None) -> Doc:
    """``index.html``: who the plan is for, a chart, the schedule, how to use it, a caveat."""
    return _doc(_overview_parts, plan, _registry(registry))
