"""A plan as an ordered list of archive entries, with every size known up front.

Layout of the archive (Chinese by default, English with ``lang=en``)::

    张三—4周训练方案/
      index.html                          plan overview
      第01周/第01课/教案.html               lesson plan
      第01周/第01课/打印本课.html            every child sheet of the lesson, one A4 page each
      第01周/第01课/打印答案.html            every answer key of the lesson, one A4 page each
      第01周/第01课/01_舒尔特方格.svg        worksheet
      第01周/第01课/答案/01_舒尔特方格_答案.svg answer key
      第01周/第01课/材料/01_<file>          centre's material (with --library)

Generated documents become ``ProducerSource`` entries: their exact size comes
from their parameters and their bytes are rendered only when the download
reaches them. Library files become ``FileSource`` entries sent with sendfile.
Everything is STORED: the material files (PDF, images, audio, video) are
already compressed, and compressing the generated SVG would need it rendered
before the first byte to know its size.

Timestamps come from the request's start date (or a fixed epoch when it has
none) and from the library files' mtimes, never from the clock, so the same
request gives the same bytes on any day and on any server.
"""

from __future__ import annotations

import calendar
import hashlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from .archive import ArchiveLayout, Entry, FileSource, ObjectSource, ProducerSource, Source
from .branding import branded
from .classmode import answer_sheet
from .dimensions import LANGS
from .homework import homework_exercise, homework_folder
from .lessons import (
    answer_key_filename,
    exercise_filename,
    lesson_doc,
    lesson_doc_filename,
    lesson_folder,
    overview_doc,
)
from .library import Library, Material
from .plan import Exercise, Lesson, Plan, build_plan
from .printing import lesson_print_docs, print_filenames
from .records import record_docs
from .render_cache import RenderCache
from .request import PlanRequest
from .texts import digest, text
from .worksheets import REGISTRY
from .worksheets.base import Doc, ExerciseSpec

CODE_VERSION = "3"
"""Bump when any generator's drawing or layout changes."""

GENERATOR_VERSION = f"{CODE_VERSION}+texts.{digest(LANGS)[:16]}"
"""Part of every producer key and so of every ETag: the code version and a digest
of the text catalogues, so a changed wording never keeps a cached copy's ETag."""

FIXED_EPOCH = calendar.timegm((2025, 1, 1, 8, 0, 0))
"""Timestamp of every generated file of a plan without a start date."""


@dataclass(frozen=True, slots=True, weakref_slot=True)
class PlanArchive:
    """What the server needs to answer for one plan: geometry, name, validators."""

    layout: ArchiveLayout
    filename: str
    etag: str  # strong, quoted
    last_modified: int  # Unix seconds: the newest entry's mtime
    largest_document: int = 0  # bytes of the largest generated entry (held whole while sent)
    nbytes: int = 0  # upper bound of the memory this archive holds (layout + plan), for caches


# Upper bounds of a plan's objects, measured with tracemalloc (tests/archive/
# test_layout_memory.py checks they stay upper bounds): per lesson its Lesson,
# tuple and date; per exercise its Exercise, ExerciseSpec and 64-bit seed.
PLAN_FIXED_BYTES = 8 * 1024
PLAN_LESSON_BYTES = 320
PLAN_EXERCISE_BYTES = 260

_OVERVIEW, _LESSON, _SHEET, _KEY, _MATERIAL, _PRINT_SHEETS, _PRINT_KEYS, _EXTRA = range(8)
# _EXTRA refs carry a sub-kind in their low 2 bits: the homework sheet or key of
# lesson ``pos``, the answer sheet of exercise j of lesson ``pos``, record doc k.
_HW_SHEET, _HW_KEY, _ANSWERS, _RECORD = range(4)


def _lesson_mtime(lesson: Lesson) -> int:
    if lesson.date is None:
        return FIXED_EPOCH
    return calendar.timegm(lesson.date.timetuple()) + 8 * 3600


def producer_key(key: str, centre: str = "") -> str:
    """The full producer key (render-cache key, ETag input) of a document's short key."""
    if centre:
        key = f"{key}|centre={centre}"
    return f"{GENERATOR_VERSION}|{key}"


def _producer(doc: Doc, key: str, cache: RenderCache | None, centre: str = "") -> ProducerSource:
    """A generated entry; with a centre name, branded, and the name is in its key (ETag)."""
    if centre:
        doc = branded(doc, centre)
    key = producer_key(key, centre)
    render = doc.render if cache is None else cache.wrap(key, doc.render)
    return ProducerSource(doc.size, render, key)


class PlanSources:
    """A plan's entry sources, made on demand, so its layout keeps no object per entry.

    ``entries()`` yields the plan's entries in archive order and remembers,
    per entry, 4 bytes that say how to make its source again: the overview,
    lesson i's page, the sheet or key of exercise j of lesson i, or material
    k. Calling the object with an entry index makes that source; the
    documents are rebuilt from the plan's exercise specs (cheap: sizes come
    from parameters), a lesson page or the overview from the plan itself
    (its bytes only when the render cache does not hold them).
    """

    __slots__ = ("_doc_sizes", "_files", "_plan", "_refs", "cache", "centre", "plan_key", "request")

    def __init__(self, plan: Plan, cache: RenderCache | None = None, centre: str = "") -> None:
        self._plan: Plan | None = plan
        self.request = plan.request
        self.cache = cache
        self.centre = centre  # the server's --centre-name: in every footer and producer key
        # A digest, not the request itself: producer keys reach ETags and error
        # messages, and a child's name and scores must reach neither.
        self.plan_key = hashlib.blake2b(plan.request.canonical_bytes(), digest_size=16).hexdigest()
        self._refs = array("I")
        self._files: list[FileSource | ObjectSource] = []  # objects: an S3 library
        self._doc_sizes = array("Q")  # [0] the overview, [1 + i] lesson i's page

    @property
    def plan(self) -> Plan:
        """The plan; rebuilt from the request on first use after a pickle (it is not sent).

        A plan is built in a worker process (``server.state``) and only its
        layout, refs and files come back: the plan's ~8,000 frozen objects of
        a 52-week plan took 30 ms to unpickle, on the event loop. Serving in
        the default process mode never needs the plan in the server again
        (its documents are rendered by workers that rebuild it).
        """
        if self._plan is None:
            self._plan = build_plan(self.request)
        return self._plan

    def __getstate__(self) -> dict[str, object]:
        return {
            "_doc_sizes": self._doc_sizes,
            "_files": self._files,
            "_refs": self._refs,
            "centre": self.centre,
            "plan_key": self.plan_key,
            "request": self.request,
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._plan = None
        self.cache = None  # the receiving process attaches its own render cache

    def ref(self, i: int) -> int:
        """What entry i is (4 bytes: kind and position); a worker rebuilds its source from it."""
        return self._refs[i]

    def entries(self, library: Library | None = None) -> Iterator[Entry]:
        """Every file of the plan in archive order; renders nothing."""
        plan, req = self.plan, self.plan.request
        lang, root = req.lang, req.archive_root
        start = (
            calendar.timegm(req.start_date.timetuple()) + 8 * 3600
            if req.start_date is not None
            else FIXED_EPOCH
        )
        overview = self._make(_OVERVIEW, 0)
        self._doc_sizes.append(overview.size)
        self._refs.append(_OVERVIEW)
        yield Entry(f"{root}/index.html", overview, start)
        for pos, lesson in enumerate(plan.lessons):
            folder = f"{root}/{lesson_folder(lesson, lang)}"
            mtime = _lesson_mtime(lesson)
            page = self._make(_LESSON, pos)
            self._doc_sizes.append(page.size)
            self._refs.append(pos << 3 | _LESSON)
            yield Entry(f"{folder}/{lesson_doc_filename(lang)}", page, mtime)
            sheets, keys, materials = self._lesson_files(pos, folder, mtime, library)
            sheets_name, keys_name = print_filenames(lang)
            prints = self._prints(pos)
            self._refs.append(pos << 3 | _PRINT_SHEETS)
            yield Entry(f"{folder}/{sheets_name}", prints[0], mtime)
            self._refs.append(pos << 3 | _PRINT_KEYS)
            yield Entry(f"{folder}/{keys_name}", prints[1], mtime)
            for ref_entry in (*sheets, *keys):
                self._refs.append(ref_entry[0])
                yield ref_entry[1]
            for entry in materials:
                self._refs.append(len(self._files) << 3 | _MATERIAL)
                assert isinstance(entry.source, FileSource | ObjectSource)
                self._files.append(entry.source)
                yield entry
            yield from self._extras(pos, folder, mtime)
        # The plan's records last: a download starts with the overview and lesson 1.
        for k, (name, _) in enumerate(record_docs(plan, self.centre)):
            self._refs.append((k << 2 | _RECORD) << 3 | _EXTRA)
            yield Entry(f"{root}/{name}", self._extra(k << 2 | _RECORD), start)

    def _extras(self, pos: int, folder: str, mtime: int) -> Iterator[Entry]:
        """Lesson ``pos``'s class answer sheets, then its homework sheet and key."""
        lesson = self.plan.lessons[pos]
        for j, ex in enumerate(lesson.exercises):
            found = answer_sheet(self.plan, ex)
            if found is not None:
                arg = (pos << 4 | j) << 2 | _ANSWERS
                self._refs.append(arg << 3 | _EXTRA)
                yield Entry(f"{folder}/{found[0]}", self._extra(arg), mtime)
        hw = homework_exercise(self.plan, lesson)
        if hw is None:
            return
        lang = self.plan.request.lang
        home = f"{folder}/{homework_folder(lang)}"
        sheet = exercise_filename(hw, REGISTRY, lang)
        stem = sheet.rpartition(".")[0]
        names = (sheet, f"{stem}{text(lang, 'names.answers_suffix')}.svg")
        for sub, name in zip((_HW_SHEET, _HW_KEY), names, strict=True):
            self._refs.append((pos << 2 | sub) << 3 | _EXTRA)
            yield Entry(f"{home}/{name}", self._extra(pos << 2 | sub), mtime)

    def _extra(self, arg: int) -> ProducerSource:
        """The source of an ``_EXTRA`` ref: homework, answer sheet or record document."""
        sub, x = arg & 3, arg >> 2
        if sub == _RECORD:
            name, doc = record_docs(self.plan, self.centre)[x]
            key = f"{name}|{self.plan_key}|centre={self.centre}"
            return _producer(doc, key, self.cache)  # records draw the centre's name themselves
        if sub == _ANSWERS:
            found = answer_sheet(self.plan, self.plan.lessons[x >> 4].exercises[x & 15])
            assert found is not None
            return _producer(found[1], f"a|{self.plan_key}|{x}", self.cache, self.centre)
        hw = homework_exercise(self.plan, self.plan.lessons[x])
        assert hw is not None
        kind = REGISTRY[hw.kind]
        if sub == _HW_SHEET:
            return self._spec_producer(kind.sheet(hw.spec), "s", hw.spec)
        return self._spec_producer(kind.answer_key(hw.spec), "k", hw.spec)

    def _lesson_files(
        self, pos: int, folder: str, mtime: int, library: Library | None
    ) -> tuple[list[tuple[int, Entry]], list[tuple[int, Entry]], list[Entry]]:
        """Lesson ``pos``'s sheets and keys (each with its ref) and the centre's materials."""
        lang = self.plan.request.lang
        materials_folder = text(lang, "names.materials_folder")
        lesson = self.plan.lessons[pos]
        sheets: list[tuple[int, Entry]] = []
        keys: list[tuple[int, Entry]] = []
        materials: list[Entry] = []
        for j, ex in enumerate(lesson.exercises):
            kind = REGISTRY[ex.kind]
            sheet_doc, key_doc = kind.sheet(ex.spec), kind.answer_key(ex.spec)
            ref = (pos << 4 | j) << 3
            sheets.append(
                (
                    ref | _SHEET,
                    Entry(
                        f"{folder}/{exercise_filename(ex, REGISTRY, lang, sheet_doc.ext)}",
                        self._spec_producer(sheet_doc, "s", ex.spec),
                        mtime,
                    ),
                )
            )
            keys.append(
                (
                    ref | _KEY,
                    Entry(
                        f"{folder}/{answer_key_filename(ex, REGISTRY, lang, key_doc.ext)}",
                        self._spec_producer(key_doc, "k", ex.spec),
                        mtime,
                    ),
                )
            )
            material = self._material(library, ex)
            if material is not None:
                materials.append(
                    Entry(
                        f"{folder}/{materials_folder}/{ex.number:02d}_{material.name}",
                        material.source,
                        material.mtime,
                    )
                )
        return sheets, keys, materials

    def _prints(self, pos: int) -> tuple[ProducerSource, ProducerSource]:
        """Lesson ``pos``'s two print files (sheets, keys), pages linked by path in the folder.

        Rebuilt from the lesson's exercises when asked for: their file names
        follow from kinds and specs, so nothing per lesson needs keeping.
        """
        lang = self.plan.request.lang
        lesson = self.plan.lessons[pos]
        sheet_pages, key_pages = [], []
        for ex in lesson.exercises:
            kind = REGISTRY[ex.kind]
            sheet_ext, key_ext = kind.sheet(ex.spec).ext, kind.answer_key(ex.spec).ext
            sheet_pages.append(exercise_filename(ex, REGISTRY, lang, sheet_ext))
            key_pages.append(answer_key_filename(ex, REGISTRY, lang, key_ext))
        title = lesson_folder(lesson, lang).replace("/", " · ")
        sheets_doc, keys_doc = lesson_print_docs(sheet_pages, key_pages, title, lang)
        key = f"{self.plan_key}|{lesson.index}"
        return (
            _producer(sheets_doc, f"ps|{key}", self.cache, self.centre),
            _producer(keys_doc, f"pk|{key}", self.cache, self.centre),
        )

    @staticmethod
    def _material(library: Library | None, ex: Exercise) -> Material | None:
        if library is None:
            return None
        return library.pick(ex.dimension, (ex.spec.level + 1) // 2, ex.spec.seed)

    def _spec_producer(self, doc: Doc, part: str, spec: ExerciseSpec) -> ProducerSource:
        return _producer(doc, f"{part}|{spec!r}", self.cache, self.centre)

    def _make(self, what: int, pos: int) -> ProducerSource:
        """The overview (``pos`` unused) or lesson ``pos``'s page, sized by rendering it."""
        if what == _OVERVIEW:
            return _producer(
                overview_doc(self.plan), f"overview|{self.plan_key}", self.cache, self.centre
            )
        lesson = self.plan.lessons[pos]
        key = f"lesson|{self.plan_key}|{lesson.index}"
        return _producer(lesson_doc(self.plan, lesson), key, self.cache, self.centre)

    def _page(self, what: int, pos: int) -> ProducerSource:
        """Like ``_make`` without sizing it again: the page is built only to render it."""
        size = self._doc_sizes[0 if what == _OVERVIEW else 1 + pos]
        centre = self.centre
        key = self._page_key(what, pos)
        if what == _OVERVIEW:

            def render() -> bytes:
                return branded(overview_doc(self.plan), centre).render()

        else:
            lesson = self.plan.lessons[pos]

            def render() -> bytes:
                return branded(lesson_doc(self.plan, lesson), centre).render()

        produce = render if self.cache is None else self.cache.wrap(key, render)
        return ProducerSource(size, produce, key)

    def _page_key(self, what: int, pos: int) -> str:
        if what == _OVERVIEW:
            return producer_key(f"overview|{self.plan_key}", self.centre)
        return producer_key(f"lesson|{self.plan_key}|{self.plan.lessons[pos].index}", self.centre)

    def __call__(self, i: int) -> Source:
        ref = self._refs[i]
        what, arg = ref & 7, ref >> 3
        if what == _MATERIAL:
            return self._files[arg]
        if what in (_OVERVIEW, _LESSON):
            return self._page(what, arg)
        if what in (_PRINT_SHEETS, _PRINT_KEYS):
            return self._prints(arg)[what - _PRINT_SHEETS]
        if what == _EXTRA:
            return self._extra(arg)
        ex = self.plan.lessons[arg >> 4].exercises[arg & 15]
        kind = REGISTRY[ex.kind]
        if what == _SHEET:
            return self._spec_producer(kind.sheet(ex.spec), "s", ex.spec)
        return self._spec_producer(kind.answer_key(ex.spec), "k", ex.spec)

    def nbytes(self) -> int:
        """Upper bound of what these sources hold: the plan, the refs, the file list."""
        # Counted from the refs, not the plan: a plan not rebuilt must not be built to size it.
        lessons = len(self._doc_sizes) - 1
        exercises = sum(1 for ref in self._refs if ref & 7 == _SHEET)
        plan = PLAN_FIXED_BYTES + lessons * PLAN_LESSON_BYTES + exercises * PLAN_EXERCISE_BYTES
        arrays = 2 * 144 + (4 * len(self._refs) + 8 * len(self._doc_sizes)) * 17 // 16
        return plan + arrays + 56 + 8 * len(self._files) * 9 // 8 + 512


def plan_entries(
    plan: Plan,
    library: Library | None = None,
    cache: RenderCache | None = None,
    centre: str = "",
) -> list[Entry]:
    """Every file of the plan in archive order; renders nothing.

    ``centre`` (the server's ``--centre-name``) goes into every document's
    footer and into every producer key, so it changes the bytes and the ETag.
    """
    return list(PlanSources(plan, cache, centre).entries(library))


def build_archive(
    req: PlanRequest,
    library: Library | None = None,
    cache: RenderCache | None = None,
    centre: str = "",
) -> PlanArchive:
    """The plan's archive layout: total size, offsets and ETag, before any byte is made.

    With a ``cache``, generated documents are rendered through it, so repeat
    downloads of a plan in this process skip the rendering. The layout keeps
    no object per entry: it makes sources again through ``PlanSources``.
    """
    plan = build_plan(req)
    sources = PlanSources(plan, cache, centre)  # centre: footers and ETag (no brand if "")
    newest: int | None = None
    largest = 0

    def watched() -> Iterator[Entry]:
        nonlocal newest, largest
        for entry in sources.entries(library):
            newest = entry.mtime if newest is None else max(newest, entry.mtime)
            if isinstance(entry.source, ProducerSource):
                largest = max(largest, entry.source.size)
            yield entry

    layout = ArchiveLayout(watched(), sources=sources)
    etag = f'"{layout.fingerprint()[:40]}"'
    nbytes = layout.nbytes() + sources.nbytes() + 1024
    last_modified = FIXED_EPOCH if newest is None else newest
    return PlanArchive(layout, req.filename, etag, last_modified, largest, nbytes)
