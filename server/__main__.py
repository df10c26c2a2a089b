"""``python -m server``: run planstream on one port until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from .app import make_app
from .config import Config, load_config
from .metrics import setup_logging
from .serve import start
from .state import STATE

log = logging.getLogger("planstream.server")


async def serve(config: Config) -> int:
    try:
        app = make_app(config)
    except (OSError, ValueError) as exc:  # a missing or empty library, a bad setting
        log.error("cannot start: %s", exc)
        return 2
    running = await start(app, config.host, config.port)
    log.info("listening on http://%s:%d", config.host, running.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    app[STATE].draining = True  # downloads cut from here on are "cut_by_shutdown"
    await running.runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    config = load_config(argv)
    setup_logging(config.log_format)
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())
