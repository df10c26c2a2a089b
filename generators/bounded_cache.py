"""One small LRU cache bounded in bytes, shared by the layout cache and the render cache.

Both caches sit inside the memory reserve admission sets aside, so both are
bounded by what their values cost in bytes, not by how many there are (64
layouts of 52-week plans were 870 MiB; 64 of the reference plan 2.5 MiB).
The caller states each value's cost (an honest upper bound: its payload
plus the key and bookkeeping); the cache evicts least recently used values
until the total is within ``max_bytes``, and refuses a value larger than
``max_item`` so one huge value cannot flush the rest.

``track_alive`` (for values that stay in use after eviction, such as a
layout a download is still sending) also counts evicted values that are
still alive somewhere (through a weak reference), as ``resident``, and
finds them again on ``get``. ``put`` then refuses a value when the alive
values would exceed the bound even after evicting everything it may evict,
so the memory of such values is bounded whether they are cached or in use.

Thread-safe: layouts are built in worker threads, documents rendered there.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

ENTRY_OVERHEAD = 160  # an OrderedDict node, its key tuple and the cost record


def key_cost(key: object) -> int:
    """Bytes a key adds to a cache entry, with the entry's bookkeeping."""
    if isinstance(key, tuple):
        return ENTRY_OVERHEAD + sum(sys.getsizeof(k) for k in key) + sys.getsizeof(key)
    return ENTRY_OVERHEAD + sys.getsizeof(key)


class BoundedCache(Generic[K, V]):
    """An LRU of values bounded by their total stated cost in bytes."""

    def __init__(
        self, max_bytes: int, *, max_item: int | None = None, track_alive: bool = False
    ) -> None:
        self.max_bytes = max_bytes
        self.max_item = max_bytes // 8 if max_item is None else max_item
        self.bytes = 0  # cost of the values held by the cache
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.RLock()  # re-entered by the weak-reference callback
        self._alive: weakref.WeakValueDictionary[K, V] | None = (
            weakref.WeakValueDictionary() if track_alive else None
        )
        self._alive_cost: dict[K, int] = {}
        self.resident = 0  # cost of every alive value, cached or not (track_alive)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: K) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return item[0]
            alive = self._alive.get(key) if self._alive is not None else None
            if alive is not None:  # evicted but still in use: share it, and keep it again
                self.hits += 1
                self._store(key, alive, self._alive_cost[key])
                return alive
            self.misses += 1
            return None

    def put(self, key: K, value: V, cost: int) -> bool:
        """Keep ``value``; False when it is too large, or alive values leave no room."""
        with self._lock:
            if key in self._items:
                return True
            if cost > self.max_item:
                return False
            if self._alive is not None and key not in self._alive_cost:
                self._evict_to(self.max_bytes - cost, keep_alive_room=True)
                if self.resident + cost > self.max_bytes:
                    return False
                self._track(key, value, cost)
            self._store(key, value, cost)
            return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def _store(self, key: K, value: V, cost: int) -> None:
        self._items[key] = (value, cost)
        self.bytes += cost
        self._evict_to(self.max_bytes)

    def _evict_to(self, limit: int, keep_alive_room: bool = False) -> None:
        """Drop least recently used values until their cost (or the alive cost) fits ``limit``.

        A value dropped here that nobody else holds is freed at once, and its
        weak reference's callback takes it off ``resident`` (re-entering the
        lock, hence an RLock); one still in use stays counted until it goes.
        """
        while self._items and (self.bytes > limit or (keep_alive_room and self.resident > limit)):
            _, (_, cost) = self._items.popitem(last=False)
            self.bytes -= cost
            self.evictions += 1

    def _track(self, key: K, value: V, cost: int) -> None:
        assert self._alive is not None
        self._alive[key] = value
        self._alive_cost[key] = cost
        self.resident += cost
        weakref.finalize(value, self._gone, key, cost)

    def _gone(self, key: K, cost: int) -> None:
        with self._lock:
            if self._alive_cost.get(key) == cost:
                del self._alive_cost[key]
                self.resident -= cost
