"""Fixtures of the browser tests: Debian's Chromium through Playwright, and a live server.

Playwright cannot download its own browser here, so it is pointed at
``/usr/bin/chromium`` (``make tools`` installs the Debian package). Under
``CI=true`` a missing Chromium fails the tests (``tests.tools.require_tool``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.server.conftest import write_library
from tests.tools import require_tool

from .live import LiveServer


@pytest.fixture(scope="module")
def library_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_library(tmp_path_factory.mktemp("browser") / "library", size=16 * 1024)


@pytest.fixture(scope="module")
def server(library_path: Path) -> Iterator[LiveServer]:
    with LiveServer(library_path) as live:
        yield live


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    path = require_tool("chromium")
    browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
    yield browser
    browser.close()
