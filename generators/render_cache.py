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

import threading
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_MAX_BYTES = 32 << 20


class RenderCache:
    """LRU of rendered documents, bounded by their total size; thread-safe."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get_or_render(self, key: str, render: Callable[[], bytes]) -> bytes:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return data
            self.misses += 1
        data = render()
        if len(data) <= self.max_bytes // 8:  # one huge document must not flush the rest
            with self._lock:
                if key not in self._items:
                    self._items[key] = data
                    self.bytes += len(data)
                while self.bytes > self.max_bytes:
                    _, old = self._items.popitem(last=False)
                    self.bytes -= len(old)
        return data

    def wrap(self, key: str, render: Callable[[], bytes]) -> Callable[[], bytes]:
        """A producer that renders through this cache."""
        return lambda: self.get_or_render(key, render)
