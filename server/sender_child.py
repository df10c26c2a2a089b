"""The sender process itself (``python -m server.sender_child FD``); see ``server.sender``.

It imports only the archive's data classes and the replay runs, not aiohttp:
it is a process of the server's own, and its memory is in the reserve.
Jobs arrive with a socket's descriptor; each runs on one of ``THREADS``
threads with non-blocking ``sendfile``/``send`` and ``poll``, and is
answered with a ``Result``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import pickle
import queue
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass

from generators.archive import FileSlice, SourceChanged

from .replay import Runs

THREADS = 8  # downloads the sender copies at once (a fast pool's grants beyond this stay in-loop)
SAMPLE = 0.25  # seconds over which the sender measures the client's rate
SHRINK_RATE = 128 * 1024  # bytes/s (as server.sendbuf): a slower client is handed back
STEP = 8 << 20  # largest single sendfile call
GROW_BYTES = 512 * 1024  # a probed client that takes this much within SAMPLE is fast
POLL_MS = 50  # a full socket is polled this long at a time (a cancel is seen this fast)
MSG_MORE = getattr(socket, "MSG_MORE", 0)
RESET_ERRNOS = {errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN}


@dataclass(slots=True)
class Result:
    """How a job ended: ``sent`` bytes went out; ``status`` done, slow, reset, changed, error."""

    sent: int
    status: str
    reason: str = ""
    rate: float = 0.0  # bytes/s over the last sample (for ``slow``: to give the buffer back)
    path: str = ""  # for ``changed``: the material file


class _Stop(Exception):
    """The job ends here (slow client, reset, cancelled); ``status`` says which."""

    def __init__(self, status: str, reason: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _cork(sock: socket.socket, on: bool) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(on))


class _Job:
    """One download's copy in a sender thread."""

    def __init__(
        self, job: int, runs: Runs, start: int, end: int, prefix: bytes, fd: int, grow: int
    ) -> None:
        self.id = job
        self.grow = grow  # SO_SNDBUF for a client not yet known fast, once GROW_BYTES moved
        self.probe = grow > 0
        self.runs = runs
        self.start, self.end = start, end
        self.prefix = prefix
        self.sock = socket.socket(fileno=fd)  # the received duplicate: closed at the end
        self.fd = fd
        self.cancelled = False
        self.sent = 0
        self._mark_time = time.monotonic()
        self._mark_sent = 0
        self.rate = 0.0

    def run(self) -> Result:
        held: tuple[FileSlice, int] | None = None
        _cork(self.sock, True)  # full segments only, as in the loop's lane (server.express)
        try:
            if self.prefix:
                self._send(memoryview(self.prefix), 0)
            for span, ref in self.runs.spans(self.start, self.end):
                if held is not None and held[0] is not ref:  # a header, but not its file
                    os.close(held[1])
                    held = None
                if ref is not None and held is None:
                    held = (ref, _open_checked(ref))  # the check before its header
                if not isinstance(span, FileSlice):
                    self._send(memoryview(span), MSG_MORE if ref is not None else 0)
                    continue
                assert held is not None and ref is not None
                self._sendfile(span, held[1])
                ref.verify(os.fstat(held[1]))  # edited while it was being sent
                os.close(held[1])
                held = None
            return Result(self.sent, "done", rate=self.rate)
        except _Stop as stop:
            return Result(self.sent, stop.status, stop.reason, self.rate)
        except SourceChanged as exc:
            return Result(self.sent, "changed", exc.reason, self.rate, exc.path)
        except OSError as exc:
            if exc.errno in RESET_ERRNOS:
                return Result(self.sent, "reset", exc.strerror or "reset", self.rate)
            return Result(self.sent, "error", f"{type(exc).__name__}: {exc}", self.rate)
        finally:
            if held is not None:
                os.close(held[1])
            _cork(self.sock, False)  # the last partial segment leaves now
            self.sock.close()

    def _send(self, view: memoryview, flags: int) -> None:
        while view:
            try:
                n = self.sock.send(view[:STEP], flags)
            except (BlockingIOError, InterruptedError):
                self._wait()
                continue
            view = view[n:]
            self._moved(n)

    def _sendfile(self, span: FileSlice, fileno: int) -> None:
        offset, count = span.offset, span.length
        while count:
            try:
                n = os.sendfile(self.fd, fileno, offset, min(STEP, count))
            except (BlockingIOError, InterruptedError):
                self._wait()
                continue
            if n == 0:
                raise SourceChanged(span.path, f"file ended early at byte {offset}")
            offset += n
            count -= n
            self._moved(n)

    def _moved(self, n: int) -> None:
        self.sent += n
        if self.probe and self.sent >= GROW_BYTES:
            # Only a client that reads fast can have taken this much through
            # the small buffer this soon: give it the large one.
            self.probe = False
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.grow)
        self._judge()

    def _wait(self) -> None:
        """Until the socket takes more; a slow or gone client, or a cancel, ends the job."""
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        while True:
            if self.cancelled:
                raise _Stop("cancelled", "cancelled by the server")
            events = poller.poll(POLL_MS)
            self._judge()
            if events:
                if events[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                    err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    raise _Stop("reset", os.strerror(err) if err else "connection closed")
                return

    def _judge(self) -> None:
        """Every ``SAMPLE``: a client below ``SHRINK_RATE`` goes back to the serving loop."""
        now = time.monotonic()
        window = now - self._mark_time
        if window < SAMPLE:
            return
        self.rate = (self.sent - self._mark_sent) / window
        self._mark_time, self._mark_sent = now, self.sent
        if self.probe:  # a whole sample without GROW_BYTES: not fast (yet)
            raise _Stop("slow", f"probed: {self.rate:.0f} B/s")
        if self.rate < SHRINK_RATE:
            raise _Stop("slow", f"{self.rate:.0f} B/s")


def _open_checked(ref: FileSlice) -> int:
    try:
        fd = os.open(ref.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SourceChanged(ref.path, f"cannot open: {exc.strerror}") from exc
    try:
        ref.verify(os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def main(fd: int) -> None:
    """The child: read messages until EOF; run jobs on ``THREADS`` threads; answer each."""
    ctrl = socket.socket(fileno=fd)
    runs: dict[str, Runs] = {}
    parts: dict[str, list[bytes]] = {}
    jobs: dict[int, _Job] = {}
    todo: queue.Queue[_Job | None] = queue.Queue()
    answer = threading.Lock()

    def worker() -> None:
        while (job := todo.get()) is not None:
            result = job.run()
            jobs.pop(job.id, None)
            message = ("done", job.id, dataclasses.astuple(result))
            with answer, contextlib.suppress(OSError):
                ctrl.sendall(pickle.dumps(message))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    ctrl.sendall(pickle.dumps(("ready",)))
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(ctrl, 1 << 17, 1)
        except OSError:
            break
        if not data:
            for fd_ in fds:
                os.close(fd_)
            break
        message = pickle.loads(data)
        kind = message[0]
        if kind == "put":
            _, key, last, part = message
            parts.setdefault(key, []).append(part)
            if last:
                runs[key] = Runs(pickle.loads(b"".join(parts.pop(key))))
        elif kind == "drop":
            runs.pop(message[1], None)
        elif kind == "job":
            _, job_id, key, start, end, prefix, grow = message
            if not fds:
                continue
            if key not in runs:  # never happens while the serving side keeps the mirror
                os.close(fds[0])
                with answer, contextlib.suppress(OSError):
                    ctrl.sendall(pickle.dumps(("done", job_id, (0, "error", "runs not held"))))
                continue
            job = _Job(job_id, runs[key], start, end, prefix, fds[0], grow)
            jobs[job_id] = job
            todo.put(job)
        elif kind == "cancel":
            found = jobs.get(message[1])
            if found is not None:
                found.cancelled = True
    for job in list(jobs.values()):  # the server is gone: end what is running
        job.cancelled = True
        with contextlib.suppress(OSError):
            job.sock.shutdown(socket.SHUT_RDWR)
    os._exit(0)


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    main(int(sys.argv[1]))
