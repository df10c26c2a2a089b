"""A real S3 protocol server for the tests: moto's server mode on 127.0.0.1, counting requests.

moto's ``ThreadedMotoServer`` serves its WSGI app with werkzeug; this starts
the same app on an ephemeral port with a thin middleware in front that records
every request (method, path, Range, conditions), so a test can prove what the
server under test asked of the bucket (no full GET on a second start, ranged
GETs with If-Match). The planstream code talks to it over HTTP exactly as it
would to AWS, MinIO, OSS or COS: nothing of the client library is mocked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing-key",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str  # decoded, e.g. /bucket/span/1/材料 1.bin
    query: str
    range: str | None
    if_match: str | None
    status: int


class MotoS3:
    """moto on 127.0.0.1:<free port> in a daemon thread; ``requests`` lists what it served."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            "127.0.0.1", 0, self._counting(app), threaded=True, request_handler=MotoRequestHandler
        )
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _counting(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            status: list[int] = []

            def start(code: str, headers: Any, exc_info: Any = None) -> Any:
                status.append(int(code.split()[0]))
                return start_response(code, headers, exc_info)

            result = app(environ, start)
            with self._lock:
                self.requests.append(
                    Seen(
                        environ["REQUEST_METHOD"],
                        # WSGI hands the (already unquoted) path over as latin-1.
                        environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8"),
                        environ.get("QUERY_STRING", ""),
                        environ.get("HTTP_RANGE"),
                        environ.get("HTTP_IF_MATCH"),
                        status[0] if status else 0,
                    )
                )
            return result

        return wrapped

    def seen(self, bucket: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(f"/{bucket}")]

    def full_gets(self, bucket: str, keys: Iterable[str]) -> list[Seen]:
        """GETs without a Range of any of these keys: whole-object reads."""
        paths = {f"/{bucket}/{k}" for k in keys}
        seen = self.seen(bucket)
        return [r for r in seen if r.method == "GET" and r.path in paths and not r.range]

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
