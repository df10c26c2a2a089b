"""Plans as archives: determinism, sizes known up front, the CLI, and independent readers."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from generators.archive import resolve
from generators.entries import build_archive
from generators.library import Library, LibraryError
from generators.request import PlanRequest
from tests.tools import require_tool

BASE = {
    "name": "张三",
    "mode": "assessment",
    "age": 8,
    "weeks": 2,
    "scores": {"span": 40, "sustained": 55, "selective": 70},
    "start_date": "2026-09-07",
}


def _bytes(req: dict, library: Library | None = None) -> bytes:
    archive = build_archive(PlanRequest.from_mapping(req), library)
    data = b"".join(bytes(b) for b in resolve(archive.layout.pieces()))
    assert len(data) == archive.layout.total_size
    return data


def test_same_request_same_bytes_and_differences():
    a = _bytes(BASE)
    assert _bytes(dict(BASE)) == a
    assert _bytes(dict(BASE, name="李四")) != a
    other_scores = dict(BASE, scores={"span": 90, "sustained": 20, "selective": 70})
    b = _bytes(other_scores)
    assert b != a
    with zipfile.ZipFile(io.BytesIO(a)) as za, zipfile.ZipFile(io.BytesIO(b)) as zb:
        assert za.testzip() is None and zb.testzip() is None
        # different scores give a different plan, not just a different name
        sheets_a = [za.read(n) for n in za.namelist() if n.endswith(".svg")]
        sheets_b = [zb.read(n) for n in zb.namelist() if n.endswith(".svg")]
        assert sheets_a != sheets_b


def test_layout_needs_no_rendering(monkeypatch):
    """Sizes come from parameters: building the archive draws no worksheet."""
    from generators.worksheets import page

    calls = 0
    real = page.render_doc

    def counting(*args, **kwargs):
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(page, "render_doc", counting)
    archive = build_archive(PlanRequest.from_mapping(dict(BASE, weeks=4)))
    assert calls == 0
    sheets = [e for e in archive.layout.entries if e.name.endswith(".svg")]
    assert len(sheets) > 100
    # a window inside the first worksheet draws exactly that one
    first = next(i for i, e in enumerate(archive.layout.entries) if e.name.endswith(".svg"))
    start = archive.layout.local_header_offset(first)
    list(archive.layout.pieces(start, start + 100))
    assert calls == 1
    # the whole archive draws each worksheet once (the CRC is kept for the directory)
    list(archive.layout.pieces())
    assert calls == 1 + len(sheets)


def test_tree_and_names():
    data = _bytes(dict(BASE, lessons_per_week=2, exercises_per_lesson=3))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
    root = "张三—2周训练方案/"
    assert all(n.startswith(root) for n in names)
    assert f"{root}index.html" in names
    assert f"{root}第01周/第01课/教案.html" in names
    assert any(n.startswith(f"{root}第02周/第02课/01_") and n.endswith(".svg") for n in names)
    assert any("/答案/" in n and n.endswith("_答案.svg") for n in names)
    en = _bytes(dict(BASE, name="Tom", lang="en", weeks=1))
    with zipfile.ZipFile(io.BytesIO(en)) as z:
        assert "Tom - 1-week training plan/index.html" in z.namelist()
        assert "Tom - 1-week training plan/Week 01/Lesson 01/Lesson plan.html" in z.namelist()


def test_library_materials_and_errors(tmp_path: Path):
    from tests.server.conftest import write_library

    lib = Library.load(str(write_library(tmp_path / "lib", size=4096, per_level=1)))
    data = _bytes(BASE, lib)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        mats = [i for i in z.infolist() if "/材料/" in i.filename]
        assert mats and all(i.file_size == 4096 for i in mats)
    with pytest.raises(LibraryError, match="does not exist"):
        Library.load(str(tmp_path / "missing"))
    (tmp_path / "empty" / "span" / "1").mkdir(parents=True)
    with pytest.raises(LibraryError, match="no files"):
        Library.load(str(tmp_path / "empty"))


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "generators", *args],
        capture_output=True,
        timeout=120,
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
    )


def test_cli_bad_arguments_exit_2(tmp_path: Path):
    out = tmp_path / "x.zip"
    r = _cli(
        "--name",
        "张三",
        "--mode",
        "assessment",
        "--age",
        "30",
        "--scores",
        "span=40,sustained=55,selective=70",
        "-o",
        str(out),
    )
    assert r.returncode == 2
    assert b"age" in r.stderr
    assert not out.exists()
    r = _cli("--name", "张三", "--mode", "assessment", "--age", "8", "-o", str(out))
    assert r.returncode == 2 and b"scores" in r.stderr
    r = _cli(
        "--name",
        "张三",
        "--mode",
        "focus",
        "--age",
        "8",
        "--library",
        str(tmp_path / "nope"),
        "-o",
        str(out),
    )
    assert r.returncode == 2 and b"library" in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("with_library", [False, True])
def test_cli_archive_opens_in_unzip_and_7z(tmp_path: Path, with_library: bool):
    args = [
        "--name",
        "张三",
        "--mode",
        "assessment",
        "--age",
        "8",
        "--weeks",
        "2",
        "--scores",
        "span=40,sustained=55,selective=70",
    ]
    if with_library:
        from tests.server.conftest import write_library

        args += ["--library", str(write_library(tmp_path / "lib", size=8192, per_level=1))]
    out = tmp_path / "plan.zip"
    r = _cli(*args, "-o", str(out))
    assert r.returncode == 0, r.stderr
    stdout = _cli(*args, "-o", "-")
    assert stdout.returncode == 0 and stdout.stdout == out.read_bytes()
    with zipfile.ZipFile(out) as z:
        expected = sorted(z.namelist())
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    unzip = require_tool("unzip")
    t = subprocess.run([unzip, "-t", str(out)], capture_output=True, env=env, timeout=60)
    assert t.returncode == 0, t.stdout
    listed = subprocess.run([unzip, "-Z1", str(out)], capture_output=True, env=env, timeout=60)
    assert sorted(listed.stdout.decode("utf-8").splitlines()) == expected
    sevenz = require_tool("7zz")
    t = subprocess.run([sevenz, "t", str(out)], capture_output=True, env=env, timeout=60)
    assert t.returncode == 0 and b"Everything is Ok" in t.stdout
    slt = subprocess.run([sevenz, "l", "-slt", str(out)], capture_output=True, env=env, timeout=60)
    paths = [ln[7:] for ln in slt.stdout.decode("utf-8").splitlines() if ln.startswith("Path = ")]
    assert sorted(paths[1:]) == expected  # the first "Path =" is the archive itself
    assert any("第01周" in p for p in paths)


def test_cli_failure_leaves_no_partial_file_and_keeps_the_old_one(tmp_path: Path):
    """A library file that changes mid-write fails the run; nothing half-written remains."""
    from tests.server.conftest import write_library

    lib = write_library(tmp_path / "lib", size=8192, per_level=1)
    out = tmp_path / "plan.zip"
    out.write_bytes(b"the previous plan")
    # Make every material file look changed after indexing: same size, new mtime.
    code = (
        "import os, sys, generators.library as L\n"
        "real = L.Library.load\n"
        "def load(root):\n"
        "    lib = real(root)\n"
        "    for m in lib: os.utime(m.source.path, ns=(1, 1))\n"
        "    return lib\n"
        "L.Library.load = staticmethod(load)\n"
        "from generators.__main__ import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--name",
            "张三",
            "--mode",
            "focus",
            "--age",
            "8",
            "--library",
            str(lib),
            "-o",
            str(out),
        ],
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 1, r.stderr
    assert b"modified since it was indexed" in r.stderr
    assert out.read_bytes() == b"the previous plan"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib", "plan.zip"]
