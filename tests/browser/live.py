"""A real planstream server on 127.0.0.1 in a thread of its own, for a browser to talk to.

Playwright's sync API drives the browser from the test's thread, so the
server needs an event loop elsewhere: ``LiveServer`` runs the ordinary app
(``make_app``) on its own loop in a daemon thread and stops it cleanly.
Also used by ``tools/screenshots.py``.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from aiohttp import web

from server.app import make_app
from server.config import Config

CHROMIUM = "/usr/bin/chromium"


class LiveServer:
    def __init__(self, library: Path | None) -> None:
        self.config = Config(
            secrets=("browser-test-secret-0123456789",),
            library=str(library) if library else None,
            queue_timeout=5.0,
        )
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(make_app(self.config), handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
