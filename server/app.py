"""The aiohttp application: middleware, shared state and the routes, wired together."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

from aiohttp import web

from generators.library import Library

from . import http_noise
from .config import Config
from .download import setup_download_routes
from .errors import error_middleware
from .handles import FILE_POOL, FilePool
from .library_watch import watching
from .openapi import setup_openapi_route
from .pages import setup_pages
from .render_pool import RENDER_POOL, RenderPool
from .routes import setup_routes
from .sender import SENDER, Sender
from .serve import install_loop_exception_handler
from .state import STATE, build_state


def make_app(config: Config, library: Library | None = None) -> web.Application:
    app = web.Application(client_max_size=256 * 1024, middlewares=[error_middleware])
    app[STATE] = build_state(config, library)
    app[RENDER_POOL] = RenderPool(cache=app[STATE].render_cache, runs=app[STATE].runs)
    app[FILE_POOL] = FilePool()
    app[SENDER] = Sender(app[STATE].runs.max_bytes) if app[STATE].sender else None
    http_noise.install()
    setup_routes(app)
    setup_download_routes(app)
    setup_pages(app)
    setup_openapi_route(app)
    app.cleanup_ctx.append(_client_noise)
    app.cleanup_ctx.append(_monitor_loop)
    app.cleanup_ctx.append(_watch_library)
    app.cleanup_ctx.append(_render_workers)
    app.cleanup_ctx.append(_sender)
    if app[STATE].objects is not None:
        app.cleanup_ctx.append(app[STATE].objects.running)  # the object-store client
    return app


async def _client_noise(app: web.Application) -> AsyncIterator[None]:
    """The loop's exception handler that tells a client leaving from a fault, while serving.

    Installed with the app (not only by ``server.serve``) so that every way of
    running it, the test servers included, logs a peer reset during
    ``loop.sendfile`` at debug rather than as an asyncio ERROR traceback.
    """
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    install_loop_exception_handler(loop)
    try:
        yield
    finally:
        loop.set_exception_handler(previous)


async def _render_workers(app: web.Application) -> AsyncIterator[None]:
    """Render workers started (and warm) before the first request; idle material files closed."""
    await app[RENDER_POOL].start()
    yield
    app[FILE_POOL].close()


async def _sender(app: web.Application) -> AsyncIterator[None]:
    """The sender process (``server.sender``) for fast replays, stopped with the app."""
    sender = app[SENDER]
    if sender is None:
        yield
        return
    await sender.start()
    try:
        yield
    finally:
        await sender.stop()


async def _watch_library(app: web.Application) -> AsyncIterator[None]:
    """Library changes picked up while serving: periodic scans and SIGHUP."""
    state = app[STATE]
    async with watching(state.library_watch, state.config.library_scan):
        yield


async def _monitor_loop(app: web.Application) -> AsyncIterator[None]:
    """Loop lag and GC pauses for /metrics; long-lived start-up objects frozen out of GC.

    ``gc.freeze()`` moves everything alive after start-up (modules, the
    library index, the worksheet tables) to the permanent generation, so a
    full collection no longer walks them: that walk was most of a pause.
    """
    gc.collect()
    gc.freeze()
    async with app[STATE].loop_monitor.running():
        yield
