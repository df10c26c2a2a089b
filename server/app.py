"""The aiohttp application: middleware, shared state and the routes, wired together."""

from __future__ import annotations

from aiohttp import web

from generators.library import Library

from .config import Config
from .download import setup_download_routes
from .errors import error_middleware
from .routes import setup_routes
from .state import STATE, build_state


def make_app(config: Config, library: Library | None = None) -> web.Application:
    app = web.Application(client_max_size=256 * 1024, middlewares=[error_middleware])
    app[STATE] = build_state(config, library)
    setup_routes(app)
    setup_download_routes(app)
    return app
