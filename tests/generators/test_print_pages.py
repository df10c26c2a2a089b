"""Sheets and lesson print files print as one A4 page per sheet from Chromium.

Chromium (headless ``--print-to-pdf``, the browser's own print path with its
default settings: Letter paper in this locale and default margins unless the
document says otherwise) prints each document to PDF; ``pdfinfo`` (poppler)
reads the page count and the paper size. A sample covers every kind, sheet
and key, both languages and several ages. Two lessons' print files (Chinese,
age 5, and English, age 14), in the extracted download, must link the
lesson's sheets in lesson order and print one page per sheet, each page
showing its sheet (``pdftotext`` finds the sheet's dimension name, which a
broken image's alt text would not hold).

Chromium runs a few at a time, each with its own profile directory; the
whole module stays within about a minute on two busy cores.
"""

from __future__ import annotations

import html
import re
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote

import pytest

from generators.archive import resolve
from generators.classmode import ANSWER_SHEET
from generators.dimensions import dimension_name
from generators.entries import build_archive
from generators.printing import print_filenames
from generators.request import PlanRequest
from generators.texts import text
from generators.worksheets import REGISTRY, ExerciseSpec
from tests.tools import require_tool

A4_PT = (595.28, 841.89)
AGES = (5, 8, 11, 14)


def chromium_pdf(chromium: str, html_or_svg: Path, profile: Path) -> Path:
    """Print one local file to PDF the way a user's default print would."""
    out = html_or_svg.with_suffix(html_or_svg.suffix + ".pdf")
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={out}",
            html_or_svg.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    return out


def pdf_pages(pdfinfo: str, pdf: Path) -> tuple[int, list[tuple[float, float]]]:
    """(page count, size of every page in points) as poppler reads them."""
    info = subprocess.run(
        [pdfinfo, "-f", "1", "-l", "999", str(pdf)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    sizes = [
        (float(w), float(h))
        for w, h in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info, re.M)
    ]
    return pages, sizes


def print_all(files: list[Path], tmp: Path) -> dict[Path, tuple[int, list[tuple[float, float]]]]:
    chromium = require_tool("chromium")
    pdfinfo = require_tool("pdfinfo")

    def one(item: tuple[int, Path]) -> tuple[Path, tuple[int, list[tuple[float, float]]]]:
        i, path = item
        pdf = chromium_pdf(chromium, path, tmp / f"profile{i % 3}")
        return path, pdf_pages(pdfinfo, pdf)

    # One profile per worker slot: Chromium refuses two processes on one profile.
    results: dict[Path, tuple[int, list[tuple[float, float]]]] = {}
    for start in range(0, len(files), 3):
        batch = list(enumerate(files[start : start + 3], start))
        with ThreadPoolExecutor(max_workers=3) as pool:
            results.update(pool.map(one, batch))
    return results


def assert_a4(sizes: list[tuple[float, float]]) -> None:
    for w, h in sizes:
        assert abs(w - A4_PT[0]) < 2 and abs(h - A4_PT[1]) < 2, (w, h)


def test_every_kind_prints_one_a4_page_per_sheet_and_key(tmp_path: Path) -> None:
    files = []
    for i, (name, kind) in enumerate(REGISTRY.items()):
        age = min(max(AGES[i % len(AGES)], kind.min_age), kind.max_age)
        lang = ("zh", "en")[i % 2]
        variant = kind.variants[i % len(kind.variants)]
        spec = ExerciseSpec(name, 1 + (3 * i) % 10, age, 1000 + i, lang, variant)
        for part, doc in (("sheet", kind.sheet(spec)), ("key", kind.answer_key(spec))):
            path = tmp_path / f"{name}-{part}.svg"
            path.write_bytes(doc.render())
            files.append(path)
    results = print_all(files, tmp_path)
    assert len(results) == 2 * len(REGISTRY)
    for path, (pages, sizes) in results.items():
        assert pages == 1, path.name
        assert len(sizes) == 1
        assert_a4(sizes)


@pytest.mark.parametrize(
    ("lang", "age", "exercises"), [("zh", 5, 4), ("en", 14, 10)], ids=["zh-5", "en-14"]
)
def test_lesson_print_files_give_one_page_per_sheet(
    tmp_path: Path, lang: str, age: int, exercises: int
) -> None:
    req = PlanRequest(
        name="Kim", mode="focus", age=age, weeks=1, exercises_per_lesson=exercises, lang=lang
    )
    archive = build_archive(req)
    data = b"".join(bytes(b) for b in resolve(archive.layout.pieces()))
    assert len(data) == archive.layout.total_size
    sheets_name, keys_name = print_filenames(lang)
    with zipfile.ZipFile(BytesIO(data)) as z:
        z.extractall(tmp_path / "plan")  # a teacher extracts the download, then prints
        names = z.namelist()
    lesson = sorted({n.rsplit("/", 1)[0] for n in names if n.endswith("/" + sheets_name)})[0]
    folder = tmp_path / "plan" / lesson
    # the class answer sheets and the homework folder are not part of the print files
    answer_sheet = ANSWER_SHEET.title[lang] + ".svg"
    sheets = sorted(
        n
        for n in names
        if n.rsplit("/", 1)[0] == lesson and n.endswith(".svg") and not n.endswith(answer_sheet)
    )
    answers = f"{lesson}/{text(lang, 'names.answers_folder')}/"
    keys = sorted(n for n in names if n.startswith(answers) and n.endswith(".svg"))
    assert len(sheets) == len(keys) >= 3
    files = []
    for name, pages in ((sheets_name, sheets), (keys_name, keys)):
        doc = (folder / name).read_text("utf-8")
        linked = [unquote(html.unescape(m)) for m in re.findall(r'<img [^>]*src="([^"]+)"', doc)]
        assert linked == [n[len(lesson) + 1 :] for n in pages]  # the lesson's sheets, in order
        files.append((folder / name, [folder / rel for rel in linked]))
    results = print_all([p for p, _ in files], tmp_path)
    pdftotext = require_tool("pdftotext")
    for path, pages in files:
        count, sizes = results[path]
        assert count == len(pages), path.name
        assert_a4(sizes)
        pdf = path.with_suffix(path.suffix + ".pdf")
        for i, page in enumerate(pages, 1):  # each page shows its sheet, not a broken image
            kind = REGISTRY[ET.fromstring(page.read_bytes()).get("data-kind", "")]
            printed = subprocess.run(
                [pdftotext, "-f", str(i), "-l", str(i), str(pdf), "-"],
                check=True,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
            printed = unicodedata.normalize("NFKC", printed)  # poppler gives Kangxi radicals
            assert dimension_name(kind.dimension, lang) in printed, (path.name, i, printed[:200])
