"""Running ``python -m server`` as a real process for the operations tests.

The drain, workers, nginx and check-deploy tests need what only a separate
process has: its signals, its exit status, its stderr log, its worker
children. ``ServerProcess`` starts one on a free 127.0.0.1 port, collects its
log lines from a reader thread (so a chatty server never blocks on a full
pipe), waits until every expected worker listens, and always stops it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "ops-test-secret-0123456789"


def free_port() -> int:
    """A port nobody listens on now (the kernel's pick; the race is harmless on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One ``python -m server`` process and its stderr lines."""

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        port: int | None = None,
        listening: int = 1,
    ) -> None:
        self.port = port or free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PLANSTREAM_")}
        full_env.update(env or {})
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "--port", str(self.port), *args],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_for("listening on", count=listening, timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def matching(self, text: str) -> list[str]:
        return [line for line in self.log() if text in line]

    def wait_for(self, text: str, count: int = 1, timeout: float = 30) -> list[str]:
        """Wait until ``count`` log lines contain ``text``; fail with the log if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(text)
            if len(found) >= count:
                return found
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                break
            time.sleep(0.05)
        tail = "\n".join(self.log()[-40:])
        raise AssertionError(f"{count} x {text!r} not logged (exit {self.proc.poll()}):\n{tail}")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Kill the process group's survivors: a failed test leaves no server behind."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)


@contextlib.contextmanager
def server_process(
    args: Sequence[str], env: dict[str, str] | None = None, listening: int = 1
) -> Iterator[ServerProcess]:
    server = ServerProcess(args, env=env, listening=listening)
    try:
        yield server
    finally:
        server.stop()
