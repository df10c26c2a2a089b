"""Entry-name rules: sanitising one path, and de-duplicating a whole archive's paths.

Example tests pin the exact output for the cases people actually type
(reserved device names, trailing dots, NFD from macOS, case-only duplicates,
a file named like a folder); property tests then throw arbitrary text at both
functions and check every rule of DESIGN.md's "Names" on every output.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generators.archive import UniqueNames, sanitize_path

from .support import assert_unique, assert_valid_path

# -- one path -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "张三—4周训练方案/第01周/第01课/01_舒尔特方格.svg",
            "张三—4周训练方案/第01周/第01课/01_舒尔特方格.svg",
        ),
        ("进度 😀/笔记 本.txt", "进度 😀/笔记 本.txt"),
        ("/etc/passwd", "etc/passwd"),
        ("../../x.txt", "_/_/x.txt"),
        ("a/../b/./c.txt", "a/_/b/c.txt"),
        ("a\\b\\c.txt", "a/b/c.txt"),
        ("//a///b//", "a/b"),
        ('a:b*c?d"e<f>g|h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("tab\there\x00nul\x1f\x7f.txt", "tab_here_nul__.txt"),
        ("con.txt", "_con.txt"),
        ("COM1", "_COM1"),
        ("lpt9.pdf", "_lpt9.pdf"),
        ("Nul.tar.gz", "_Nul.tar.gz"),
        ("aux/readme", "_aux/readme"),
        ("COM¹.txt", "_COM¹.txt"),
        ("LPT³", "_LPT³"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("COM10.txt", "COM10.txt"),
        ("my con.txt", "my con.txt"),
        ("report. . ", "report"),
        ("folder./x.txt", "folder/x.txt"),
        ("  leading.txt", "leading.txt"),
        ("...", "_"),
        ("", "_"),
        ("///", "_"),
        (".hidden", ".hidden"),
        ("a\udc80b.txt", "a_b.txt"),  # a lone surrogate (undecodable file name) cannot be UTF-8
    ],
)
def test_sanitize_path_examples(raw: str, clean: str) -> None:
    assert sanitize_path(raw) == clean
    assert_valid_path(sanitize_path(raw))


def test_nfd_input_gives_nfc_output() -> None:
    nfd = unicodedata.normalize("NFD", "café/Ångström/한글 노트.txt")
    assert nfd != "café/Ångström/한글 노트.txt"
    assert sanitize_path(nfd) == "café/Ångström/한글 노트.txt"


def test_long_file_name_is_shortened_keeping_folders_and_extension() -> None:
    clean = sanitize_path("方案/第01周/" + "x" * 300 + ".svg")
    assert clean.startswith("方案/第01周/xx")
    assert clean.endswith("x.svg")
    assert len(clean) == 259  # shortened to the limit, not beyond it
    assert_valid_path(clean)


def test_component_over_255_bytes_is_cut_on_a_character_boundary() -> None:
    clean = sanitize_path("长" * 100 + ".svg")  # 304 bytes
    assert clean == "长" * 83 + ".svg"  # 249 + 4 bytes; an 84th character would not fit
    assert_valid_path(clean)


def test_long_folders_keep_the_file_name_and_extension() -> None:
    folders = "/".join(["训练文件夹" * 18] * 5)  # 5 × 90 characters
    clean = sanitize_path(folders + "/" + "答案" * 30 + ".pdf")
    assert clean.endswith("答案.pdf")
    assert "/答案答案答案答案答案" in clean
    assert clean.count("/") == 5
    assert_valid_path(clean)


def test_cutting_never_leaves_a_reserved_name() -> None:
    clean = sanitize_path("/".join(["COM1xyz"] * 50) + "/a.txt")
    assert clean.endswith("/a.txt")
    assert_valid_path(clean)
    deep = sanitize_path("/".join(["AUXILIARY"] * 130))
    assert_valid_path(deep)


# -- a whole archive ------------------------------------------------------------


def _names(*paths: str) -> list[str]:
    unique = UniqueNames()
    return [unique.add(p) for p in paths]


def test_case_insensitive_duplicates_get_numbered() -> None:
    assert _names("x.txt", "X.txt", "x.TXT") == ["x.txt", "X (2).txt", "x (3).TXT"]
    assert _names("a/Report.pdf", "A/report.PDF") == ["a/Report.pdf", "A/report (2).PDF"]


def test_duplicates_made_by_sanitising_get_numbered() -> None:
    assert _names("a:b.txt", "a_b.txt", "a?b.txt") == ["a_b.txt", "a_b (2).txt", "a_b (3).txt"]
    nfc = "café.txt"
    nfd = unicodedata.normalize("NFD", nfc)
    assert _names(nfc, nfd) == [nfc, "café (2).txt"]


def test_suffix_skips_numbers_already_taken() -> None:
    assert _names("a (2).txt", "a.txt", "A.txt") == ["a (2).txt", "a.txt", "A (3).txt"]


def test_file_named_like_an_earlier_folder() -> None:
    assert _names("lesson/a.txt", "Lesson") == ["lesson/a.txt", "Lesson (2)"]
    assert _names("a/b/c.txt", "a/B") == ["a/b/c.txt", "a/B (2)"]


def test_folder_named_like_an_earlier_file() -> None:
    names = _names("notes", "Notes/a.txt", "Notes/b.txt", "notes/c.txt")
    assert names[:3] == ["notes", "Notes (2)/a.txt", "Notes (2)/b.txt"]
    assert names[3] == "notes (2)/c.txt"
    assert_unique(names)


def test_renamed_folder_keeps_within_255_bytes() -> None:
    long_name = "长" * 85  # exactly 255 bytes
    names = _names(long_name, long_name + "/a.txt")
    folder = names[1].split("/")[0]
    assert folder.endswith(" (2)") and len(folder.encode("utf-8")) <= 255
    for name in names:
        assert_valid_path(name)
    assert_unique(names)


def test_suffix_fits_even_beside_the_longest_folders() -> None:
    folder = "/".join(["文" * 50] * 4) + "/" + "文" * 47  # 251 characters
    names = _names(folder + "/ab.txt", folder + "/AB.txt", folder + "/Ab.txt")
    for name in names:
        assert_valid_path(name)
        assert name.endswith(".txt")
    assert "(2)" in names[1] and "(3)" in names[2]
    assert_unique(names)


def test_suffix_keeps_a_component_within_255_bytes() -> None:
    long_name = "长" * 85  # 255 bytes before the extension
    names = _names(long_name + ".svg", long_name + ".SVG", long_name + ".Svg")
    for name in names:
        assert_valid_path(name)
    assert names[1].endswith(" (2).SVG") and names[2].endswith(" (3).Svg")
    assert_unique(names)


def test_names_in_a_known_folder_stay_under_max_path_after_nfc() -> None:
    # U+FB2C is one character that NFC turns into three: the sanitised folder
    # is far longer than the raw one.
    folder = "\ufb2c" * 80
    names = _names(folder + "/a.txt", folder + "/" + "b" * 150 + ".txt")
    for name in names:
        assert_valid_path(name)
    assert names[1].endswith("bbb.txt")


def test_many_files_in_one_folder_keep_that_folder() -> None:
    paths = [f"方案/第{w:02d}周/第{n:02d}课.svg" for w in range(1, 5) for n in range(1, 30)]
    assert _names(*paths) == paths


# -- properties -------------------------------------------------------------------

_TRICKY = st.sampled_from(
    [
        "..",
        ".",
        "",
        " ",
        "con",
        "CON.txt",
        "Lpt1.pdf",
        "com³",
        "aux.tar.gz",
        "nul ",
        "a.",
        "b ",
        "张三",
        "第01周",
        "😀",
        "e\u0301",
        "\ufb2c",
        "ß",
        "SS",
        "İ",
        "K",
        "\u212a",
        'x:y*z?"<>|',
        "\\",
        "\t",
        "\x00",
        "A" * 120,
        "长" * 90,
    ]
)
_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from("./\\ .:"),
    max_size=40,
)
_COMPONENT = _TRICKY | _TEXT
_PATH = st.lists(_COMPONENT, min_size=1, max_size=8).map("/".join) | st.sampled_from(
    ["/", "//", "/../..", "./x", "a/./b"]
)


@settings(max_examples=300, deadline=None)
@given(_PATH)
def test_sanitize_path_always_obeys_the_rules(raw: str) -> None:
    clean = sanitize_path(raw)
    assert_valid_path(clean)
    assert sanitize_path(clean) == clean  # already-clean names pass through unchanged


@settings(max_examples=150, deadline=None)
@given(st.lists(_PATH, max_size=40), st.data())
def test_unique_names_always_obey_the_rules(raws: list[str], data: st.DataObject) -> None:
    # Re-add some paths with their case changed (the duplicates people make),
    # and use some as folders of later files (a file named like a folder).
    extra = data.draw(st.lists(st.sampled_from(raws), max_size=10)) if raws else []
    paths = raws + [p.swapcase() for p in extra] + [p.upper() for p in extra]
    paths += [p + "/x.txt" for p in extra]
    names = _names(*paths)
    assert len(names) == len(paths)
    for name in names:
        assert_valid_path(name)
    assert_unique(names)
    assert _names(*paths) == names  # deterministic
