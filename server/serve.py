"""Running the app on a socket: timeouts and limits aiohttp does not have on its own.

- **Request head timeout.** aiohttp 3.14 starts its keep-alive timer when a
  connection is made and closes a connection whose head is still incomplete
  when it fires; trickled bytes do not reset it. So ``--header-timeout``
  (default 10 s) is passed as the keep-alive timeout: a slowloris connection
  is closed after 10 s, not 75 s, and an idle keep-alive connection after the
  same time (a proxy's upstream pool reconnects, which is cheap).
- **Request body timeout.** Handlers read bodies through ``read_body`` under
  ``--body-timeout``; past it the connection is cut (see ``server.routes``).
- **Connection cap.** Every open connection holds a descriptor. The cap is
  derived from RLIMIT_NOFILE (less a reserve for listeners, logs and the
  shared material files) and the slot count, so ``accept()`` never runs out of
  descriptors: a connection past the cap is reset at once, counted, and
  reported by one rate-limited warning instead of a traceback per attempt.
- **Event-loop exception flood.** asyncio logs "socket.accept() out of system
  resource" with a traceback each time accept() fails; the loop's exception
  handler rate-limits those to one warning every 10 s. It also quiets the
  ERROR traceback CPython 3.11 logs when a client resets during a sendfile
  (an InvalidStateError in ``_call_connection_lost``).
- **Graceful drain** (``Running.drain``). On SIGTERM/SIGINT the listener stays
  open so a balancer can read ``/healthz`` (503 ``{"status": "draining"}``)
  and every new request gets 503 with Retry-After and ``Connection: close``;
  downloads in flight keep going for up to ``--drain-timeout``. Whatever is
  still running then is cut with a TCP reset (SO_LINGER 0), so its client
  sees a truncated body, never a clean end, and the download logs
  ``cut_by_shutdown``. aiohttp's own shutdown would wait 60 s per connection
  and then close with a FIN: a proxy or client could take the short body for
  a whole one if it ignored Content-Length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .errors import Busy, json_error
from .state import STATE, State

log = logging.getLogger("planstream.server")

WARN_EVERY = 10.0  # seconds between two warnings of the same kind


class RateLimitedWarning:
    """Log a warning at most once per ``every`` seconds, with how many were suppressed."""

    def __init__(self, every: float = WARN_EVERY) -> None:
        self.every = every
        self._last = -1e18
        self.suppressed = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            self.suppressed += 1
            return
        self._last = now
        more = f" ({self.suppressed} more since the last warning)" if self.suppressed else ""
        self.suppressed = 0
        log.warning(message + more, *args)


class ConnectionGuard:
    """Caps open connections on an aiohttp ``Server``; resets the ones past the cap."""

    def __init__(self, server: web.Server, limit: int, on_refuse: Callable[[], None]) -> None:
        self.limit = limit
        self.open: set[RequestHandler] = set()
        self.refused = 0
        self._on_refuse = on_refuse
        self._warn = RateLimitedWarning()
        self._made = server.connection_made
        self._lost = server.connection_lost
        # The server is the handlers' manager: they call these two on it.
        # (mypy forbids assigning to a method; wrapping these two is the point here)
        server.connection_made = self._connection_made  # type: ignore[method-assign]
        server.connection_lost = self._connection_lost  # type: ignore[method-assign]

    def _connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        if len(self.open) >= self.limit:
            self.refused += 1
            self._on_refuse()
            self._warn("connection cap of %d reached: new connections are refused", self.limit)
            reset(transport)
            return
        self.open.add(handler)
        self._made(handler, transport)

    def _connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self.open.discard(handler)
        self._lost(handler, exc)


def reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP reset: nothing queued is kept in the kernel for a refused peer."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    else:
        transport.close()


def install_loop_exception_handler(loop: asyncio.AbstractEventLoop) -> None:
    """One warning per 10 s for accept() failures instead of a traceback per attempt."""
    warn = RateLimitedWarning()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        exc = context.get("exception")
        if "accept" in message:
            warn("accept() failed: %s (%s)", message, exc)
            return
        if isinstance(exc, asyncio.InvalidStateError) and "_call_connection_lost" in str(
            context.get("handle")
        ):
            # CPython 3.11: a peer that resets during loop.sendfile finds the
            # transport's empty-waiter already done; connection_lost has run,
            # only the waiter's second result fails. A client leaving, not a fault.
            log.debug("client left during sendfile (asyncio: %s)", message)
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


@dataclass
class Running:
    """A started server: what tests and ``__main__`` need to talk to it and stop it."""

    runner: web.AppRunner
    site: web.TCPSite
    guard: ConnectionGuard

    @property
    def port(self) -> int:
        server = self.site._server
        assert isinstance(server, asyncio.Server)  # a TCPSite always runs one
        return int(server.sockets[0].getsockname()[1])

    @property
    def state(self) -> State:
        return self.runner.app[STATE]

    async def drain(self, timeout: float) -> int:
        """Stop taking work, let downloads finish for ``timeout`` s, cut the rest; stop.

        Returns how many connections were cut. The caller exits 0 after it:
        a drain that had to cut downloads is still the shutdown asked for.
        """
        state = self.state
        state.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        log.info(
            "draining: %d downloads in flight, up to %g s (--drain-timeout)",
            in_flight(state),
            timeout,
            extra={"fields": {"event": "drain", "in_flight": in_flight(state)}},
        )
        while in_flight(state) and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL)
        left = in_flight(state)
        cut = self.cut_all() if left else 0
        if cut:
            log.info(
                "drain timeout: %d downloads still running, %d connections reset",
                left,
                cut,
                extra={"fields": {"event": "drain_cut", "downloads": left, "connections": cut}},
            )
            grace = loop.time() + CUT_GRACE
            while in_flight(state) and loop.time() < grace:
                await asyncio.sleep(0.01)  # the cut handlers log cut_by_shutdown
        await self.runner.cleanup()
        log.info("drained", extra={"fields": {"event": "drained", "cut": cut}})
        return cut

    def cut_all(self) -> int:
        """Cut every open connection now (the drain ran out, or a second signal).

        A connection with a request in progress has its handler task
        cancelled: the download's own error path then records
        ``cut_by_shutdown`` and aborts with SO_LINGER 0 (a reset). Aborting
        the transport from here instead would race a ``loop.sendfile`` in
        progress (asyncio 3.11 then logs InvalidStateError). Idle
        connections are simply reset.
        """
        handlers = list(self.guard.open)
        for handler in handlers:
            task = getattr(handler, "_task_handler", None)  # aiohttp keeps no public handle
            busy = getattr(handler, "_request_in_progress", False)
            if busy and task is not None and not task.done():
                task.cancel()
            elif handler.transport is not None:
                reset(handler.transport)
        return len(handlers)


DRAIN_RETRY_AFTER = 5  # seconds a client turned away during a drain should wait
DRAIN_POLL = 0.05  # seconds between two looks at the downloads still running
CUT_GRACE = 1.0  # seconds the cut handlers get to record their outcome before cleanup


def in_flight(state: State) -> int:
    """Downloads and plan builds running or queued: what a drain waits for."""
    adm, builds = state.admission, state.builds
    return adm.in_use + adm.queued + builds.in_use + builds.queued


class Draining(Busy):
    """A request that arrived after SIGTERM: 503, retry elsewhere."""

    code = "draining"

    def __init__(self, message: str) -> None:
        super().__init__(message, retry_after=DRAIN_RETRY_AFTER)


@web.middleware
async def drain_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """While draining: ``/healthz`` says so with 503, ``/metrics`` still answers, the rest 503.

    The 503 is the usual JSON error (``code: "draining"``) with Retry-After;
    every answer closes its connection so keep-alive clients reconnect,
    to another node.
    """
    state = request.app[STATE]
    if not state.draining:
        return await handler(request)
    response: web.StreamResponse
    if request.path == "/metrics":
        response = await handler(request)
    elif request.path == "/healthz":
        response = web.json_response(
            {"status": "draining", "in_flight": in_flight(state)},
            status=503,
            headers={"Retry-After": str(DRAIN_RETRY_AFTER)},
        )
    else:
        response = json_error(Draining("the server is shutting down; retry (another node)"))
    response.force_close()
    return response


async def start(app: web.Application, host: str, port: int, *, reuse_port: bool = False) -> Running:
    """Start ``app`` on host:port with the head timeout, the connection cap and the drain."""
    state = app[STATE]
    config = state.config
    install_loop_exception_handler(asyncio.get_running_loop())
    app.middlewares.append(drain_middleware)  # inside the error middleware
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=None,
        keepalive_timeout=config.header_timeout,
        shutdown_timeout=CUT_GRACE,
    )
    await runner.setup()
    assert runner.server is not None
    limit = state.slot_plan.connections
    if config.max_connections is not None:
        limit = min(limit, config.max_connections)
    guard = ConnectionGuard(runner.server, limit, state.metrics.refused)
    state.connections = guard
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_port=reuse_port or None)
    await site.start()
    return Running(runner, site, guard)
