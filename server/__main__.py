"""``python -m server``: run planstream until SIGTERM or SIGINT, then drain and exit 0.

With ``--workers N`` (N > 1, or ``auto``) this process becomes the supervisor
of N worker processes (``server.supervisor``); otherwise it serves itself
(``server.process``, which also says what the signals do).
"""

from __future__ import annotations

import asyncio
import sys

from .config import load_config
from .metrics import setup_logging
from .process import serve
from .supervisor import Supervisor


def main(argv: list[str] | None = None) -> int:
    config = load_config(argv)
    setup_logging(config.log_format)
    if config.workers > 1:
        return Supervisor(config).run()
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())
