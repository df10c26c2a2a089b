"""A bounded in-memory cache of rendered documents, shared by every download of a process.

Rendering a plan's worksheets and lesson pages costs about 40 ms of CPU for
the 12-lesson reference plan, as much as sending its 168 MiB with sendfile.
A resumed download, a retry, a range request and every parent of a class who
downloads the same lesson-prep plan render the same documents again. This
cache keeps rendered bytes by their producer key (which names the output
exactly: generator version + exercise spec, or plan + lesson) in an LRU
bounded by total bytes, so repeat downloads skip the rendering and the
process's memory stays inside the reserve admission keeps for it.

It lives in memory only: nothing is ever written to disk.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable

from .bounded_cache import BoundedCache, key_cost

DEFAULT_MAX_BYTES = 32 << 20


class RenderCache:
    """LRU of rendered documents, bounded by their total cost in bytes; thread-safe.

    A document's cost is its bytes object (payload and header) plus its key
    and the cache's bookkeeping, so ``bytes`` is what the cache holds.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        # One huge document must not flush the rest: at most 1/8 of the bound each.
        self._cache: BoundedCache[str, builtins.bytes] = BoundedCache(max_bytes)

    @property
    def max_bytes(self) -> int:
        return self._cache.max_bytes

    @property
    def bytes(self) -> int:
        return self._cache.bytes

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    def __len__(self) -> int:
        return len(self._cache)

    def peek(self, key: str) -> builtins.bytes | None:
        """The cached bytes, or None: never renders (the server renders off its loop)."""
        return self._cache.get(key)

    def get_or_render(self, key: str, render: Callable[[], builtins.bytes]) -> builtins.bytes:
        data = self._cache.get(key)
        if data is not None:
            return data
        data = render()
        self._cache.put(key, data, sys.getsizeof(data) + key_cost(key))
        return data

    def wrap(self, key: str, render: Callable[[], builtins.bytes]) -> Callable[[], builtins.bytes]:
        """A producer that renders through this cache."""
        return lambda: self.get_or_render(key, render)
