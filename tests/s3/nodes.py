"""Two planstream nodes on one S3 library behind a real nginx upstream, for the multi-node tests.

``Node`` runs ``python -m server`` as a process of its own (same secret, same
``s3://`` library, its own port), collecting its stderr from a thread so a
chatty log never blocks it. ``upstream_nginx`` writes an nginx config into the
test's temporary folder (pid, logs and every temp path live there) with one
``upstream`` of the given nodes: ``proxy_next_upstream`` retries a request
whose node refuses the connection or answers 503 (a draining node) on the
next node, as a production balancer is configured to. Under CI=true a missing
nginx fails the test (``tests.tools.require_tool``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.tools import require_tool

from .moto_s3 import CREDENTIALS

REPO = Path(__file__).resolve().parents[2]
SECRET = "two-nodes-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, alive: subprocess.Popen[str] | subprocess.Popen[bytes], what: str,
               timeout: float = 60) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive.poll() is not None:
            raise AssertionError(f"{what} exited with {alive.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port} within {timeout} s")


class Node:
    """One ``python -m server`` process on a free port."""

    def __init__(self, name: str, args: Sequence[str]) -> None:
        self.name = name
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PLANSTREAM_", "AWS_"))}
        env.update(CREDENTIALS, PLANSTREAM_SECRET=SECRET, AWS_EC2_METADATA_DISABLED="true")
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "--port", str(self.port), *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        _wait_port(self.port, self.proc, f"node {name}")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def nginx_conf(tmp: Path, port: int, nodes: Sequence[Node]) -> str:
    servers = "".join(f"        server 127.0.0.1:{n.port} max_fails=0;\n" for n in nodes)
    temps = "".join(
        f"    {kind}_temp_path {tmp / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must write under tmp
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\n"
        f"error_log {tmp / 'error.log'} info;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"    access_log {tmp / 'access.log'} combined;\n{temps}"
        f"    upstream planstream {{\n{servers}    }}\n"
        "    server {\n"
        f"        listen 127.0.0.1:{port};\n"
        "        proxy_http_version 1.1;\n"
        '        proxy_set_header Connection "";\n'
        "        proxy_max_temp_file_size 0;\n"
        "        proxy_next_upstream error timeout http_503;\n"
        "        location / { proxy_pass http://planstream; }\n"
        "    }\n"
        "}\n"
    )


class Balancer(str):
    """nginx's URL; ``error_log()`` reads what it logged (upstream failures it retried)."""

    folder: Path

    def error_log(self) -> str:
        return (self.folder / "error.log").read_text(errors="replace")


@contextlib.contextmanager
def upstream_nginx(tmp_path: Path, nodes: Sequence[Node]) -> Iterator[Balancer]:
    """nginx on a free 127.0.0.1 port balancing over ``nodes``; yields its URL."""
    binary = require_tool("nginx")
    tmp = tmp_path / "nginx"
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_conf(tmp, port, nodes))
    check = subprocess.run([binary, "-t", "-q", "-p", str(tmp), "-c", str(conf)],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([binary, "-p", str(tmp), "-c", str(conf)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_port(port, proc, "nginx", 10)
        url = Balancer(f"http://127.0.0.1:{port}")
        url.folder = tmp
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
