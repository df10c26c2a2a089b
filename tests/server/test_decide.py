"""decide(): every conditional and range case, without a server."""

from __future__ import annotations

import pytest

from server.decide import decide
from server.http_headers import ByteRange, http_date

ETAG = '"abc123"'
LM = 1_700_000_000
SIZE = 1000


def d(**headers: str):
    return decide(headers, etag=ETAG, last_modified=LM, size=SIZE)


def test_plain_get_is_whole_200():
    got = d()
    assert (got.status, got.window, got.headers) == (200, ByteRange(0, SIZE), {})
    assert got.has_body


@pytest.mark.parametrize(
    ("header", "window"),
    [
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, SIZE)),
        ("bytes=-10", (990, SIZE)),
        ("bytes=990-5000", (990, SIZE)),
        ("bytes=-5000", (0, SIZE)),
        ("BYTES = 5 - 5", (5, 6)),
    ],
)
def test_single_ranges_are_206(header, window):
    got = d(Range=header)
    assert got.status == 206
    assert (got.window.start, got.window.end) == window
    assert got.headers == {"Content-Range": f"bytes {window[0]}-{window[1] - 1}/{SIZE}"}


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_is_416(header):
    got = d(Range=header)
    assert got.status == 416 and not got.has_body
    assert got.headers == {"Content-Range": f"bytes */{SIZE}"}


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=-", "garbage", ""]
)
def test_ignored_ranges_are_whole_200(header):
    got = d(Range=header)
    assert (got.status, got.window) == (200, ByteRange(0, SIZE))


def test_if_range_with_the_strong_etag_honours_range():
    assert d(Range="bytes=0-9", **{"If-Range": ETAG}).status == 206


@pytest.mark.parametrize("validator", ['"other"', "W/" + ETAG, http_date(LM), http_date(LM + 99)])
def test_if_range_with_anything_else_sends_the_whole_archive(validator):
    got = d(Range="bytes=0-9", **{"If-Range": validator})
    assert (got.status, got.window) == (200, ByteRange(0, SIZE))


@pytest.mark.parametrize("inm", [ETAG, "W/" + ETAG, '"x", ' + ETAG, "*"])
def test_if_none_match_hit_is_304(inm):
    got = d(**{"If-None-Match": inm})
    assert got.status == 304 and not got.has_body


def test_if_none_match_miss_wins_over_if_modified_since():
    got = d(**{"If-None-Match": '"x"', "If-Modified-Since": http_date(LM + 10)})
    assert got.status == 200


@pytest.mark.parametrize(("ims", "status"), [(LM, 304), (LM + 5, 304), (LM - 1, 200)])
def test_if_modified_since(ims, status):
    assert d(**{"If-Modified-Since": http_date(ims)}).status == status


def test_bad_if_modified_since_is_ignored():
    assert d(**{"If-Modified-Since": "yesterday"}).status == 200


def test_304_wins_over_range():
    assert d(Range="bytes=0-9", **{"If-None-Match": ETAG}).status == 304
