"""The teacher's web page: the form, the plan page, single files of a plan, static assets.

``setup_pages(app)`` wires it into the application: Jinja2 through
aiohttp-jinja2 (autoescape on, templates read once), the routes, and the
HTML renderer the error middleware uses for browser requests.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..errors import HTML_ERRORS
from .files import plan_file
from .handlers import html_error, routes
from .static import static_file

TEMPLATES = Path(__file__).parent / "templates"


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
    )
    app.add_routes(routes)
    app.router.add_get("/api/plans/{token}/files/{path:.+}", plan_file)
    app.router.add_get("/static/{name}", static_file)
    app[HTML_ERRORS] = html_error
