"""``python -m server``: run planstream on one port until interrupted."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from .app import make_app
from .config import load_config
from .metrics import setup_logging


def main(argv: list[str] | None = None) -> int:
    config = load_config(argv)
    setup_logging(config.log_format)
    log = logging.getLogger("planstream.server")
    try:
        app = make_app(config)
    except (OSError, ValueError) as exc:  # a missing or empty library, a bad setting
        log.error("cannot start: %s", exc)
        return 2
    log.info("listening on http://%s:%d", config.host, config.port)
    web.run_app(
        app,
        host=config.host,
        port=config.port,
        handler_cancellation=True,
        access_log=None,
        print=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
