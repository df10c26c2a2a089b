"""A real nginx on 127.0.0.1 for proxy tests, and a watcher of its temporary directory.

Reusable by any test that needs "behind nginx" (downloads, the S3 library):

    with running_nginx(tmp_path, upstream_port) as nginx:          # nginx defaults
        ... nginx.url ..., nginx.temp.peak_files
    with running_nginx(tmp_path, upstream_port, server_block=DEPLOY_CONF.read_text()):

The config is generated into the test's own temporary folder: pid file, logs
and every temp path (``proxy_temp_path`` above all) live there, so the test can
watch the one directory nginx would spool a response into. With no
``server_block`` the server block has nothing but ``listen`` and
``proxy_pass``: nginx's default proxy settings (buffering on, temporary files
up to 1 GiB). A given block (``deploy/nginx.conf``) has its ``listen`` port and
upstream address rewritten to the test's. Under CI=true a missing nginx fails
the test (``tests.tools.require_tool``).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.ops_support import ROOT, free_port
from tests.tools import require_tool

DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"


def nginx_conf(tmp: Path, port: int, upstream_port: int, server_block: str | None) -> str:
    """A whole nginx.conf: everything nginx writes goes under ``tmp``."""
    if server_block is None:
        server_block = (
            "server {\n"
            f"    listen 127.0.0.1:{port};\n"
            f"    location / {{ proxy_pass http://127.0.0.1:{upstream_port}; }}\n"
            "}\n"
        )
    else:
        server_block = re.sub(r"listen\s+[^;]+;", f"listen 127.0.0.1:{port};", server_block)
        server_block = server_block.replace("127.0.0.1:8080", f"127.0.0.1:{upstream_port}")
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must write under tmp
    temps = "\n".join(
        f"    {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\n"
        f"error_log {tmp / 'error.log'} info;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"    access_log {tmp / 'access.log'};\n"
        f"{temps}\n"
        f"{server_block}\n"
        "}\n"
    )


class TempWatcher:
    """Polls a directory tree from a thread; remembers the most files and bytes ever seen.

    nginx unlinks a proxy temp file right after creating it and keeps only
    its descriptor, so a directory listing alone shows nothing: the watcher
    also looks through the open descriptors of the given processes (nginx's
    workers) for files under the directory, deleted or not.
    """

    def __init__(self, root: Path, pids=lambda: [], every: float = 0.02) -> None:
        self.root = root
        self.pids = pids
        self.every = every
        self.peak_files = 0
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _scan(self) -> tuple[int, int]:
        files = size = 0
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                with contextlib.suppress(OSError):
                    size += os.stat(os.path.join(folder, name)).st_size
                    files += 1
        prefix = str(self.root) + os.sep
        for pid in self.pids():
            fd_dir = f"/proc/{pid}/fd"
            with contextlib.suppress(OSError):
                for fd in os.listdir(fd_dir):
                    with contextlib.suppress(OSError):
                        if os.readlink(f"{fd_dir}/{fd}").startswith(prefix):
                            size += os.stat(f"{fd_dir}/{fd}").st_size
                            files += 1
        return files, size

    def _run(self) -> None:
        while not self._stop.is_set():
            files, size = self._scan()
            self.peak_files = max(self.peak_files, files)
            self.peak_bytes = max(self.peak_bytes, size)
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        files, size = self._scan()
        self.peak_files = max(self.peak_files, files)
        self.peak_bytes = max(self.peak_bytes, size)


class Nginx:
    def __init__(self, tmp: Path, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.tmp = tmp
        self.port = port
        self.proc = proc
        self.temp_dir = tmp / "proxy"
        self.temp = TempWatcher(self.temp_dir, self.pids)

    def pids(self) -> list[int]:
        """The master and its workers (children of the master in /proc)."""
        out = [self.proc.pid]
        with contextlib.suppress(OSError):
            task = f"/proc/{self.proc.pid}/task/{self.proc.pid}/children"
            out += [int(p) for p in Path(task).read_text().split()]
        return out

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        return (self.tmp / "error.log").read_text(errors="replace")


@contextlib.contextmanager
def running_nginx(
    tmp_path: Path, upstream_port: int, server_block: str | None = None
) -> Iterator[Nginx]:
    """nginx in the foreground on a free port, proxying to 127.0.0.1:upstream_port."""
    binary = require_tool("nginx")
    tmp = tmp_path / "nginx"
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_conf(tmp, port, upstream_port, server_block))
    check = subprocess.run(
        [binary, "-t", "-q", "-p", str(tmp), "-c", str(conf)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [binary, "-p", str(tmp), "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc)
        nginx = Nginx(tmp, port, proc)
        try:
            yield nginx
        finally:
            nginx.temp.stop()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port} within {timeout} s")
