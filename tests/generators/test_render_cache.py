"""The rendered-document cache: same bytes, bounded size, rendering skipped on repeat."""

from __future__ import annotations

from generators.archive import resolve
from generators.entries import build_archive
from generators.render_cache import RenderCache
from generators.request import PlanRequest

PLAN = {"name": "王五", "mode": "focus", "age": 7, "weeks": 2}


def _body(cache: RenderCache | None) -> bytes:
    layout = build_archive(PlanRequest.from_mapping(PLAN), None, cache).layout
    return b"".join(bytes(b) for b in resolve(layout.pieces()))


def test_cached_archive_is_identical_and_second_pass_renders_nothing():
    cache = RenderCache(max_bytes=64 << 20)
    plain = _body(None)
    first = _body(cache)
    misses = cache.misses
    assert misses > 0 and cache.hits == 0
    second = _body(cache)
    assert first == second == plain
    assert cache.misses == misses  # nothing rendered again
    assert cache.hits == misses


def test_cache_stays_within_its_bound():
    cache = RenderCache(max_bytes=64 * 1024)
    _body(cache)
    assert 0 < cache.bytes <= 64 * 1024
    assert cache.bytes == sum(len(v) for v in cache._items.values())
