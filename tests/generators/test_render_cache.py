"""The rendered-document cache: same bytes, bounded size, rendering skipped on repeat."""

from __future__ import annotations

from generators.archive import resolve
from generators.entries import build_archive
from generators.render_cache import RenderCache
from generators.request import PlanRequest

# One week: no retest lessons, whose sheets share keys with the baseline (first-pass hits)
PLAN = {"name": "王五", "mode": "focus", "age": 7, "weeks": 1}


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
    held = cache._cache._items.values()
    assert cache.bytes == sum(cost for _, cost in held)  # what the bound counts...
    assert cache.bytes >= sum(len(data) + 33 for data, _ in held)  # ...covers the bytes held
