"""Post-deploy check of a planstream deployment: ``make check-deploy URL=https://host``.

The replaced system's write-up ended with a checklist an operator ran by
hand after each deploy; this is that list as a command, usable against any
deployment (a node, a balancer, nginx in front). It uses only the standard
library, so it runs from any machine with Python 3.11:

1. ``GET /healthz`` answers 200 with ``status: ok``;
2. ``POST /api/plans`` creates a small plan (201, a download URL, a size);
3. ``HEAD`` of the link: 200, Content-Length equal to that size, an ETag,
   ``Accept-Ranges: bytes``, no Content-Encoding (a proxy must not gzip);
4. ``GET`` downloads it, timing the first byte and the rate;
5. every entry's CRC-32 is verified by Python's ``zipfile`` and, where it is
   installed, by Info-ZIP ``unzip -t`` (an independent reader);
6. a download cut after a third is resumed with ``Range`` + ``If-Range``:
   206, the right Content-Range, and the two parts equal the whole; a stale
   If-Range gets the whole archive (200).

Prints one line per check and exits 1 at the first failure, naming it.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zipfile
from pathlib import Path

PLAN = {
    "name": "部署检查",
    "mode": "focus",
    "age": 8,
    "weeks": 1,
    "start_date": "2026-09-07",
}


class CheckFailed(Exception):
    pass


class Target:
    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CheckFailed(f"not an http(s) URL: {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout

    def connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=self.timeout)

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        conn = self.connect()
        conn.request(method, self.prefix + path, body=body, headers=headers or {})
        return conn, conn.getresponse()


def _expect(ok: bool, message: str) -> None:
    if not ok:
        raise CheckFailed(message)


def check(url: str, timeout: float, plan: dict, out=sys.stdout) -> dict[str, float]:
    """Run every check; return the measured figures. Raises CheckFailed."""
    t = Target(url, timeout)

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    conn, resp = t.request("GET", "/healthz")
    body = resp.read()
    conn.close()
    _expect(resp.status == 200, f"healthz: HTTP {resp.status}: {body[:200]!r}")
    health = json.loads(body)
    _expect(health.get("status") == "ok", f"healthz: status {health.get('status')!r}")
    say(f"ok   healthz: {health.get('slots')} slots, budget {health.get('memory_budget')} bytes")

    data = json.dumps(plan, ensure_ascii=False).encode()
    conn, resp = t.request("POST", "/api/plans", data, {"Content-Type": "application/json"})
    body = resp.read()
    conn.close()
    _expect(resp.status == 201, f"create plan: HTTP {resp.status}: {body[:300]!r}")
    meta = json.loads(body)
    link, size, etag = meta["download_url"], int(meta["size"]), meta["etag"]
    say(f"ok   create plan: {meta['entries']} entries, {size} bytes")

    conn, resp = t.request("HEAD", link)
    resp.read()
    conn.close()
    _expect(resp.status == 200, f"HEAD: HTTP {resp.status}")
    _expect(resp.getheader("Content-Length") == str(size), "HEAD: Content-Length differs")
    _expect(resp.getheader("ETag") == etag, "HEAD: ETag differs from the one created")
    _expect(resp.getheader("Accept-Ranges") == "bytes", "HEAD: no Accept-Ranges: bytes")
    _expect(resp.getheader("Content-Encoding") is None, "HEAD: Content-Encoding set (gzip?)")
    say("ok   HEAD: Content-Length, ETag, Accept-Ranges")

    t0 = time.perf_counter()
    conn, resp = t.request("GET", link)
    first = resp.read(1)
    ttfb = time.perf_counter() - t0
    rest = resp.read()
    took = time.perf_counter() - t0
    conn.close()
    whole = first + rest
    _expect(resp.status == 200, f"download: HTTP {resp.status}")
    _expect(len(whole) == size, f"download: {len(whole)} bytes, Content-Length {size}")
    rate = size / took / 1e6 if took > 0 else float("inf")
    say(f"ok   download: {size} bytes, first byte {ttfb * 1e3:.1f} ms, {rate:.1f} MB/s")

    _verify_zip(whole)
    say("ok   CRC-32 of every entry (zipfile" + (", unzip -t)" if shutil.which("unzip") else ")"))

    cut = size // 3
    conn, resp = t.request("GET", link)
    head = resp.read(cut)
    conn.close()  # the client "lost its connection" here
    conn, resp = t.request("GET", link, headers={"Range": f"bytes={cut}-", "If-Range": etag})
    tail = resp.read()
    conn.close()
    _expect(resp.status == 206, f"resume: HTTP {resp.status}, expected 206")
    want = f"bytes {cut}-{size - 1}/{size}"
    _expect(resp.getheader("Content-Range") == want, f"resume: Content-Range != {want}")
    _expect(
        hashlib.sha256(head + tail).digest() == hashlib.sha256(whole).digest(),
        "resume: the resumed bytes differ from the whole download",
    )
    conn, resp = t.request("GET", link, headers={"Range": f"bytes={cut}-", "If-Range": '"x"'})
    resp.read(1)
    conn.close()
    _expect(resp.status == 200, f"stale If-Range: HTTP {resp.status}, expected 200")
    say(f"ok   resume at byte {cut} with Range + If-Range: identical; stale If-Range -> 200")
    return {"ttfb_ms": ttfb * 1e3, "rate_mb_s": rate, "size": size}


def _verify_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            bad = z.testzip()
    except zipfile.BadZipFile as exc:
        raise CheckFailed(f"CRC check: not a valid ZIP: {exc}") from exc
    except Exception as exc:  # zlib errors and the like: still a broken archive
        raise CheckFailed(f"CRC check: zipfile failed: {exc}") from exc
    _expect(bad is None, f"CRC check: entry {bad!r} has a wrong CRC-32 (zipfile)")
    unzip = shutil.which("unzip")
    if unzip is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.zip"
        path.write_bytes(data)
        result = subprocess.run([unzip, "-tqq", str(path)], capture_output=True, text=True)
        _expect(result.returncode == 0, f"CRC check: unzip -t failed: {result.stdout.strip()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="post-deploy check of a planstream deployment")
    p.add_argument("url", help="base URL, e.g. https://plans.example.org")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (30)")
    p.add_argument("--plan", help="JSON file with the plan to create (default: 1-week plan)")
    args = p.parse_args(argv)
    plan = json.loads(Path(args.plan).read_text()) if args.plan else PLAN
    try:
        check(args.url, args.timeout, plan)
    except CheckFailed as exc:
        print(f"FAIL {exc}", flush=True)
        return 1
    except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
        print(f"FAIL cannot talk to {args.url}: {type(exc).__name__}: {exc}", flush=True)
        return 1
    print(f"PASS {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
