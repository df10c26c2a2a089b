"""Records and reports for a whole plan: progress record, parent summary, reward chart
and certificate, materials list. Self-contained, printable HTML at the archive root.

Why these four: a centre that runs a plan needs to write down each lesson's
results in one place (the progress record), tell parents what was trained
and what to do at home without promising school results (the parent
summary), close the plan with something for the child (reward chart and
certificate), and know before the first lesson what to buy and print (the
materials list: a stopwatch, copies per child, which sheets need colour).

Strategy, as for the lesson plans: each document is a list of text parts
built by one function; ``Doc.size`` is the UTF-8 length of the parts and
``Doc.render`` builds them again when the archive reaches the entry and
checks the length. Nothing is held between the two, and the size is known
before the first byte. The texts come from the ``[records]`` section of the
catalogues; kind titles, minutes and file names from the worksheet registry
and ``lessons``; the homework from ``homework``. The centre's name (server
``--centre-name``) appears in every footer when set, and no brand otherwise.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Mapping

from generators.classmode import CLASS_SIZE, is_class, measured
from generators.dimensions import dimension_description, dimension_name
from generators.homework import homework_exercise, homework_folder
from generators.lessons import lesson_folder
from generators.plan import Exercise, Lesson, Plan
from generators.texts import section, text
from generators.worksheets import REGISTRY
from generators.worksheets.base import Doc, ExerciseSpec

RECORD_DOCS = ("record_doc", "parent_doc", "reward_doc", "materials_doc")
"""Catalogue keys (under ``names``) of the four documents, in archive order."""

# Kinds read by the teacher rather than written on by the child, before the
# worksheet kinds say so themselves (``Kind.teacher_only``).
_TEACHER_PAGES = frozenset({"auditory_script", "digit_span"})
# Kinds that said "print in colour" before the greyscale work (``Kind.needs_colour``).
_COLOUR_SHEETS = frozenset({"stroop", "spot_difference"})

_CSS = (
    "@page{size:A4;margin:12mm}"
    "body{color:#222;line-height:1.5;font-size:10.5pt;margin:0 auto;max-width:186mm}"
    "h1{font-size:17pt;margin:0 0 2pt}h2{font-size:12.5pt;margin:12pt 0 5pt;"
    "border-bottom:1px solid #bbb}table{border-collapse:collapse;width:100%}"
    "th,td{border:1px solid #999;padding:2pt 4pt;text-align:left;vertical-align:top}"
    "th{background:#eee}.meta{color:#555;margin:0 0 6pt}.k{font-size:8pt;color:#444}"
    ".rec td{height:30pt}.nt{width:16%}.dt{white-space:nowrap}"
    ".note{border-left:3pt solid #999;padding:4pt 8pt;background:#f6f6f6}"
    ".stars{display:grid;grid-template-columns:repeat(6,1fr);gap:4mm}"
    ".star{border:1.2pt solid #444;border-radius:3mm;height:24mm;padding:2mm;font-size:9pt}"
    ".cert{break-before:page;page-break-before:always;border:3pt double #444;padding:18mm 14mm;"
    "text-align:center;margin-top:6mm}.cert h1{font-size:26pt;margin:8mm 0}"
    ".cert p{font-size:14pt}.sign{margin-top:22mm;font-size:11pt}"
    ".week{break-inside:avoid;page-break-inside:avoid}"
    "footer{margin-top:10pt;color:#666;font-size:8.5pt}"
    "@media print{body{max-width:none}thead{display:table-header-group}"
    "tr{break-inside:avoid;page-break-inside:avoid}}"
)


_FONTS = {
    "zh": "'PingFang SC','Microsoft YaHei','Noto Sans CJK SC','Helvetica Neue',Arial,sans-serif",
    "en": "'Helvetica Neue',Arial,'Liberation Sans','Noto Sans','PingFang SC',"
    "'Microsoft YaHei','Noto Sans CJK SC',sans-serif",
}
"""Font stacks as in the lesson plans: Latin first for English (quotes and dashes
are not drawn full-width), CJK after it for the names."""


def _esc(value: str) -> str:
    return html.escape(value, quote=True)


def teacher_page(kind: object, spec: ExerciseSpec) -> bool:
    """True for a sheet the teacher reads from (one copy per class, not per child)."""
    flag = getattr(kind, "teacher_only", None)
    return bool(flag) if flag is not None else getattr(kind, "name", "") in _TEACHER_PAGES


def needs_colour(kind: object, spec: ExerciseSpec) -> bool:
    """True for a sheet that must be printed in colour (the kind says; see module note)."""
    method = getattr(kind, "needs_colour", None)
    if callable(method):
        return bool(method(spec))
    return getattr(kind, "name", "") in _COLOUR_SHEETS


def _head(t: Mapping[str, str], title: str, lang: str, landscape: bool = False) -> str:
    page = "@page{size:A4 landscape;margin:10mm}body{max-width:none}" if landscape else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{t["html_lang"]}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>body{{font-family:{_FONTS[lang]}}}"
        f"{_CSS}{page}</style></head><body>"
    )


def _foot(t: Mapping[str, str], centre: str) -> str:
    brand = f"{_esc(centre)} · " if centre else ""
    return f"<footer>{brand}{t['footer']}</footer></body></html>\n"


def _date(lesson: Lesson, t: Mapping[str, str]) -> str:
    return lesson.date.isoformat() if lesson.date is not None else t["no_date"]


def _title(ex: Exercise) -> str:
    """The title of the sheet the exercise draws (a variant may have its own)."""
    return _esc(REGISTRY[ex.kind].title_for(ex.spec))


def _tag(plan: Plan, lesson: Lesson, t: Mapping[str, str]) -> str:
    if plan.baseline is lesson:
        return t["baseline"]
    return t["retest"] if lesson.is_retest else ""


# -- progress record -------------------------------------------------------------------


def _record_parts(plan: Plan, centre: str) -> list[str]:
    """One row per lesson: date, each exercise's time or score, the teacher's note."""
    req = plan.request
    lang = req.lang
    t = section(lang, "records")
    name = _esc(req.name)
    title = t["record_title"].format(name=name)
    width = max((len(ls.exercises) for ls in plan.lessons), default=0)
    heads = "".join(f"<th>{t['ex_n'].format(n=i)}</th>" for i in range(1, width + 1))
    parts = [
        _head(t, title, req.lang, landscape=True),
        f'<h1>{title}</h1><p class="meta">{t["record_how"]}</p>',
        f'<table class="rec"><thead><tr><th>{t["lesson"]}</th><th>{t["date"]}</th>{heads}'
        f'<th class="nt">{t["note"]}</th></tr></thead><tbody>',
    ]
    for lesson in plan.lessons:
        cells = []
        for ex in lesson.exercises:
            level = t["level"].format(level=ex.spec.level)
            cells.append(f'<td><span class="k">{_title(ex)} · {level}</span></td>')
        cells.extend("<td></td>" for _ in range(width - len(lesson.exercises)))
        number = t["lesson_n"].format(n=lesson.index, week=lesson.week)
        parts.append(
            f'<tr><td>{number}{_tag(plan, lesson, t)}</td><td class="dt">{_date(lesson, t)}</td>'
            f"{''.join(cells)}<td></td></tr>"
        )
    parts.append("</tbody></table>")
    parts.append(_foot(t, centre))
    return parts


# -- parent summary ------------------------------------------------------------------------


def _parent_parts(plan: Plan, centre: str) -> list[str]:
    """Per week: what was trained, what to do at home; no promise about school grades."""
    req = plan.request
    lang = req.lang
    t = section(lang, "records")
    title = t["parent_title"].format(name=_esc(req.name))
    parts = [_head(t, title, req.lang), f'<h1>{title}</h1><p class="meta">{t["parent_intro"]}</p>']
    home = _esc(homework_folder(lang))
    for week, lessons in plan.by_week():
        dims = dict.fromkeys(e.dimension for ls in lessons for e in ls.exercises)
        trained = "".join(
            f"<li><b>{_esc(dimension_name(d, lang))}</b>{t['colon']}"
            f"{_esc(dimension_description(d, lang))}</li>"
            for d in dims
        )
        tasks = []
        for lesson in lessons:
            hw = homework_exercise(plan, lesson)
            if hw is None:
                continue
            minutes = REGISTRY[hw.kind].minutes(hw.spec)
            where = _esc(f"{lesson_folder(lesson, lang)}/{homework_folder(lang)}")
            tasks.append(
                "<li>"
                + t["home_item"].format(title=_title(hw), m=minutes, where=where, n=lesson.index)
                + "</li>"
            )
        home_list = "".join(tasks) or f"<li>{t['home_none']}</li>"
        parts.append(
            f'<section class="week"><h2>{t["week"].format(week=week)}</h2>'
            f"<h3>{t['trained']}</h3><ul>{trained}</ul>"
            f"<h3>{t['at_home']}</h3><ul>{home_list}</ul>"
            f'<p class="note">{t["home_tips"].format(folder=home)}</p></section>'
        )
    parts.append(f'<p class="note">{t["parent_caveat"]}</p>')
    parts.append(_foot(t, centre))
    return parts


# -- reward chart and certificate ---------------------------------------------------------


def _reward_parts(plan: Plan, centre: str) -> list[str]:
    """A box per lesson to stamp, then a certificate page for the end of the plan."""
    req = plan.request
    t = section(req.lang, "records")
    name = _esc(req.name)
    title = t["reward_title"].format(name=name)
    parts = [_head(t, title, req.lang), f'<h1>{title}</h1><p class="meta">{t["reward_how"]}</p>']
    parts.append('<div class="stars">')
    for lesson in plan.lessons:
        number = t["lesson_n"].format(n=lesson.index, week=lesson.week)
        parts.append(f'<div class="star">{number}<br>{_date(lesson, t)}</div>')
    parts.append("</div>")
    who = _esc(centre) if centre else t["teacher"]
    parts.append(
        f'<section class="cert"><p>{t["cert_head"]}</p><h1>{name}</h1>'
        f"<p>{t['cert_text'].format(weeks=req.weeks, lessons=len(plan.lessons))}</p>"
        f"<p>{t['cert_praise']}</p>"
        f'<p class="sign">{t["cert_sign"].format(who=who)}</p></section>'
    )
    parts.append(_foot(t, centre))
    return parts


# -- materials list ----------------------------------------------------------------------------


def _materials_parts(plan: Plan, centre: str) -> list[str]:
    """What to have and print: stopwatch, crayons, copies per child, colour sheets."""
    req = plan.request
    lang = req.lang
    t = section(lang, "records")
    title = t["materials_title"].format(name=_esc(req.name))
    kinds = {e.kind for ls in plan.lessons for e in ls.exercises}
    items = [t["need_timer"], t["need_pencil"]]
    if "listen_colour" in kinds:
        items.append(t["need_crayons"])
    if "visual_memory" in kinds:
        items.append(t["need_cover"])
    parts = [_head(t, title, req.lang), f"<h1>{title}</h1><h2>{t['need']}</h2><ul>"]
    parts.extend(f"<li>{item}</li>" for item in items)
    group = t["class_note"] if req.mode == "focus" else t["child_note"]
    parts.append(f'</ul><p class="note">{group}</p><h2>{t["copies"]}</h2>')
    parts.append(
        f"<table><thead><tr><th>{t['lesson']}</th><th>{t['per_child']}</th>"
        f"<th>{t['teacher_copies']}</th><th>{t['colour']}</th></tr></thead><tbody>"
    )
    total = 0
    for lesson in plan.lessons:
        per_child, teacher, colour = 0, 0, []
        for ex in lesson.exercises:
            kind = REGISTRY[ex.kind]
            if teacher_page(kind, ex.spec):
                teacher += 1
            else:
                per_child += 1
            if needs_colour(kind, ex.spec):
                colour.append(f"{ex.number:02d} {_title(ex)}")
        teacher += len(lesson.exercises)  # one answer key per exercise
        homework = 1 if homework_exercise(plan, lesson) is not None else 0
        total += per_child + homework
        number = t["lesson_n"].format(n=lesson.index, week=lesson.week)
        counts = t["child_count"].format(n=per_child, h=homework)
        shade = t["list_sep"].join(colour) or t["none"]
        parts.append(
            f"<tr><td>{number}</td><td>{counts}</td><td>{teacher}</td><td>{shade}</td></tr>"
        )
    parts.append(f'</tbody></table><p class="meta">{t["total"].format(n=total)}</p>')
    parts.append(_foot(t, centre))
    return parts


# -- class assessment record ------------------------------------------------------------------


def _class_record_parts(plan: Plan, centre: str) -> list[str]:
    """For a class: the baseline and each retest, a row per child, a column per exercise."""
    req = plan.request
    lang = req.lang
    t = section(lang, "records")
    c = section(lang, "class")
    title = c["record_title"].format(name=_esc(req.name))
    parts = [
        _head(t, title, req.lang, landscape=True),
        f'<h1>{title}</h1><p class="meta">{c["record_how"]}</p>',
    ]
    for lesson in measured(plan):
        number = t["lesson_n"].format(n=lesson.index, week=lesson.week)
        heads = "".join(f"<th>{ex.number}. {_title(ex)}</th>" for ex in lesson.exercises)
        parts.append(
            f'<section class="week"><h2>{number}{_tag(plan, lesson, t)} · {_date(lesson, t)}</h2>'
            f'<table class="rec"><thead><tr><th>{c["child"]}</th>{heads}</tr></thead><tbody>'
        )
        row = "<tr><td></td>" + "<td></td>" * len(lesson.exercises) + "</tr>"
        parts.extend(row for _ in range(CLASS_SIZE))
        parts.append("</tbody></table></section>")
    parts.append(_foot(t, centre))
    return parts


# -- documents -----------------------------------------------------------------------------------

_BUILDERS: dict[str, Callable[[Plan, str], list[str]]] = {
    "record_doc": _record_parts,
    "parent_doc": _parent_parts,
    "reward_doc": _reward_parts,
    "materials_doc": _materials_parts,
    "class_record_doc": _class_record_parts,
}


def _render(build: Callable[[Plan, str], list[str]], plan: Plan, centre: str, size: int) -> bytes:
    data = "".join(build(plan, centre)).encode("utf-8")
    if len(data) != size:  # a bug, never a short or long ZIP entry
        raise ValueError(f"{build.__name__} rendered {len(data)} B, promised {size} B")
    return data


def record_docs(plan: Plan, centre: str = "") -> list[tuple[str, Doc]]:
    """``(file name, Doc)`` of the documents, sizes known, nothing kept rendered.

    The four of ``RECORD_DOCS``, and for a class plan with a baseline the
    class assessment record (``classmode``).
    """
    keys = list(RECORD_DOCS)
    if is_class(plan) and measured(plan):
        keys.append("class_record_doc")
    out = []
    for key in keys:
        build = _BUILDERS[key]
        size = len("".join(build(plan, centre)).encode("utf-8"))
        doc = Doc(size, functools.partial(_render, build, plan, centre, size), ext="html")
        out.append((text(plan.request.lang, f"names.{key}"), doc))
    return out
