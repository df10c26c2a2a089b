"""Independent readers open what the layout writes: Info-ZIP, 7-Zip, libarchive, Java.

One plan-shaped archive is built here by the code under test (no fixture
files): Chinese folder and file names, an emoji, spaces; STORED and DEFLATE
memory entries, file-sourced entries (one empty) and producer entries. Each
reader must test it clean and list the names exactly as the layout made them.
Python's zipfile is covered by the property tests; these are the readers
teachers and back ends actually use.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from generators.archive import (
    ArchiveLayout,
    Entry,
    FileSource,
    MemorySource,
    ProducerSource,
    crc32,
)
from generators.archive.records import METHOD_DEFLATE, METHOD_STORED

from .conftest import JavaCheck
from .support import archive_bytes, pipe_archive, require_tool, run_tool

ROOT = "张三—4周训练方案"
MTIME = 1788739200  # 2026-09-07T00:00:00Z, the plan's start date


def _svg(title: str, cells: int) -> bytes:
    rng = random.Random(title)
    numbers = list(range(1, cells * cells + 1))
    rng.shuffle(numbers)
    body = "".join(
        f'<text x="{40 + 60 * (i % cells)}" y="{60 + 60 * (i // cells)}">{n}</text>'
        for i, n in enumerate(numbers)
    )
    head = '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm">'
    return f"{head}<title>{title}</title>{body}</svg>".encode()


@dataclass(frozen=True)
class BuiltArchive:
    path: Path
    layout: ArchiveLayout
    expected: dict[str, bytes]  # name -> content, in archive order


@pytest.fixture(scope="module")
def plan_archive(tmp_path_factory: pytest.TempPathFactory) -> BuiltArchive:
    work = tmp_path_factory.mktemp("readers")
    material = work / "材料 注意力练习.pdf"
    material.write_bytes(random.Random(7).randbytes(300_000))
    empty = work / "empty.txt"
    empty.write_bytes(b"")

    schulte = _svg("舒尔特方格 5×5", 5)
    cancel = _svg("数字划消", 7)
    lesson_html = ("<html><body><h1>第01课 教案</h1>" + "<p>注意广度练习。</p>" * 200).encode()
    overview = ("<html><body><h1>总览</h1>" + "<li>第01周：注意稳定性</li>" * 300).encode()
    answer = _svg("舒尔特方格 5×5 答案", 5)
    noise = random.Random(11).randbytes(50_000)  # incompressible: stays STORED

    entries = [
        Entry(f"{ROOT}/总览.html", MemorySource(overview), MTIME),
        Entry(
            f"{ROOT}/第01周/第01课/01_舒尔特方格.svg",
            ProducerSource(len(schulte), lambda: schulte, "schulte-5"),
            MTIME,
        ),
        Entry(
            f"{ROOT}/第01周/第01课/01_舒尔特方格_答案.svg",
            MemorySource(answer, compress=False),
            MTIME,
        ),
        Entry(f"{ROOT}/第01周/第01课/教案.html", MemorySource(lesson_html), MTIME),
        Entry(
            f"{ROOT}/第01周/第02课/02_数字划消.svg",
            ProducerSource(len(cancel), lambda: cancel, "cancel-7"),
            MTIME + 86400,
        ),
        Entry(f"{ROOT}/材料/材料 注意力练习.pdf", FileSource.index(str(material)), MTIME),
        Entry(f"{ROOT}/材料/空白 📄.txt", FileSource.index(str(empty)), MTIME),
        Entry(f"{ROOT}/材料/噪声 🎲 sample.bin", MemorySource(noise), MTIME),
    ]
    contents = [overview, schulte, answer, lesson_html, cancel, material.read_bytes(), b"", noise]
    layout = ArchiveLayout(entries)
    # The inputs are already clean: sanitising must leave every name as written.
    assert layout.names == [e.name for e in entries]
    methods = {e.source.method for e in entries}
    assert methods == {METHOD_STORED, METHOD_DEFLATE}
    path = work / "plan.zip"
    path.write_bytes(archive_bytes(layout))
    assert path.stat().st_size == layout.total_size
    return BuiltArchive(path, layout, dict(zip(layout.names, contents, strict=True)))


def test_infozip_unzip_tests_lists_and_extracts(plan_archive: BuiltArchive, tmp_path: Path) -> None:
    unzip = require_tool("unzip")
    tested = run_tool([unzip, "-t", str(plan_archive.path)])
    assert "No errors detected" in tested.stdout
    assert tested.stdout.count("OK") == len(plan_archive.expected)

    listed = run_tool([unzip, "-Z1", str(plan_archive.path)])
    assert listed.stdout.splitlines() == list(plan_archive.expected)

    # Extraction shows unzip decoded the UTF-8 names (bit 11 + the 0x5455
    # extra) and wrote the exact bytes; it also applies the extended timestamp.
    out = tmp_path / "out"
    run_tool([unzip, "-q", str(plan_archive.path), "-d", str(out)])
    for name, content in plan_archive.expected.items():
        target = out / name
        assert target.read_bytes() == content, name
        assert (
            target.stat().st_mtime
            == plan_archive.layout.entries[plan_archive.layout.names.index(name)].mtime
        )
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(plan_archive.expected)


def test_7zip_tests_and_lists_with_crc(plan_archive: BuiltArchive) -> None:
    sevenzip = require_tool("7zz")
    tested = run_tool([sevenzip, "t", str(plan_archive.path)])
    assert "Everything is Ok" in tested.stdout
    assert f"Files: {len(plan_archive.expected)}" in tested.stdout

    listing = run_tool([sevenzip, "l", "-slt", str(plan_archive.path)]).stdout
    blocks = listing.split("----------\n", 1)[1].strip().split("\n\n")
    seen = []
    for block in blocks:
        fields = dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line)
        name = fields["Path"]
        seen.append(name)
        content = plan_archive.expected[name]
        assert int(fields["Size"]) == len(content)
        assert fields["CRC"] == f"{crc32(content):08X}"
    assert seen == list(plan_archive.expected)


def test_bsdtar_lists_names_exactly(plan_archive: BuiltArchive, tmp_path: Path) -> None:
    bsdtar = require_tool("bsdtar")
    listed = run_tool([bsdtar, "-tf", str(plan_archive.path)])
    assert listed.stdout.splitlines() == list(plan_archive.expected)
    out = tmp_path / "out"
    out.mkdir()
    run_tool([bsdtar, "-xf", str(plan_archive.path), "-C", str(out)])
    for name, content in plan_archive.expected.items():
        assert (out / name).read_bytes() == content, name


def _java_listing(stdout: str) -> list[tuple[str, int, int]]:
    lines = stdout.splitlines()
    assert re.fullmatch(r"entries \d+", lines[-1]), lines[-1:]
    rows = [line.split("\t") for line in lines[:-1]]
    assert int(lines[-1].split()[1]) == len(rows)
    return [(name, int(size), int(crc, 16)) for name, size, crc in rows]


def _expected_listing(plan: BuiltArchive) -> list[tuple[str, int, int]]:
    return [(name, len(data), crc32(data)) for name, data in plan.expected.items()]


def test_java_zipinputstream_reads_from_a_pipe(
    plan_archive: BuiltArchive, java_check: JavaCheck
) -> None:
    # The archive is produced straight into the pipe, never from the file.
    proc = pipe_archive(java_check.command("stream"), plan_archive.layout)
    assert _java_listing(proc.stdout) == _expected_listing(plan_archive)


def test_java_zipfile_reads_the_central_directory(
    plan_archive: BuiltArchive, java_check: JavaCheck
) -> None:
    proc = run_tool(java_check.command("file", str(plan_archive.path)))
    assert _java_listing(proc.stdout) == _expected_listing(plan_archive)


def test_missing_tool_fails_on_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "planstream-no-such-reader"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=missing):
        require_tool(missing)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match=missing):
        require_tool(missing)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_tool(missing)
    assert os.path.basename(require_tool("sh")) == "sh"
