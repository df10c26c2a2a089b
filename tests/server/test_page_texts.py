"""The page catalogues: the same keys and placeholders in both languages, no CJK in English."""

from __future__ import annotations

import re

from generators.texts import placeholders
from server.pages.texts import PAGE_LANGS, catalogue, pick_lang

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def test_same_keys_andplaceholders():
    zh, en = catalogue("zh"), catalogue("en")
    assert set(zh) == set(en)
    assert len(zh) > 50
    for key in zh:
        assert placeholders(zh[key]) == placeholders(en[key]), key
        assert all(name and name.isidentifier() for name in placeholders(zh[key])), key


def test_english_has_no_cjk_and_chinese_is_chinese():
    for key, value in catalogue("en").items():
        assert not _CJK.search(value), (key, value)
    assert _CJK.search(catalogue("zh")["form_title"])
    assert PAGE_LANGS == ("zh", "en")


def test_language_negotiation():
    assert pick_lang(None, "") == "zh"
    assert pick_lang("en", "zh-CN") == "en"
    assert pick_lang("fr", "en-GB,en;q=0.9") == "en"
    assert pick_lang(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert pick_lang(None, "fr-FR, en;q=0.5, zh;q=0.4") == "en"
    assert pick_lang(None, "en;q=0, zh;q=0.1") == "zh"
    assert pick_lang(None, "de") == "zh"
