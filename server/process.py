"""One serving process: start the app, wait for a signal, drain, return the exit status.

Used by ``python -m server`` (one process) and by each ``--workers`` child
(``server.supervisor``), so both stop the same way.

Signals: the first SIGTERM or SIGINT starts the drain (``Running.drain``):
new requests get 503, running downloads get ``--drain-timeout`` to finish,
the rest are reset; then the process exits 0. A second signal during the
drain resets every connection and exits at once with status 1, for an
operator who cannot wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from .app import make_app
from .config import Config
from .serve import Running, start

log = logging.getLogger("planstream.server")

EXIT_AT_ONCE = 1  # status of a second-signal exit: the drain did not finish


async def serve(config: Config, *, reuse_port: bool = False, parent: int | None = None) -> int:
    """Serve until a signal, drain, return the exit status (2: could not start).

    A worker passes its supervisor's pid as ``parent``: if the supervisor
    dies (SIGKILL, OOM), the worker is re-parented and drains on its own.
    """
    try:
        app = make_app(config)
    except (OSError, ValueError) as exc:  # a missing or empty library, a bad setting
        log.error("cannot start: %s", exc)
        return 2
    running = await start(app, config.host, config.port, reuse_port=reuse_port)
    log.info("listening on http://%s:%d", config.host, running.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, _on_signal, sig, stop, running)
    watcher = asyncio.ensure_future(_watch_parent(parent, stop)) if parent else None
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    await running.drain(config.drain_timeout)
    return 0


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    log.warning("supervisor %d is gone: stopping", parent)
    stop.set()


def _on_signal(sig: signal.Signals, stop: asyncio.Event, running: Running) -> None:
    """First signal: start the drain. Second: reset every connection and leave now."""
    if not stop.is_set():
        log.info("%s: stopping", sig.name, extra={"fields": {"event": "signal"}})
        stop.set()
        return
    cut = running.cut_all()
    log.warning(
        "%s again: exiting at once, %d connections reset",
        sig.name,
        cut,
        extra={"fields": {"event": "exit_at_once", "connections": cut}},
    )
    logging.shutdown()
    os._exit(EXIT_AT_ONCE)
