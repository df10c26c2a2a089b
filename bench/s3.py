"""S3-backed downloads beside the folder library: one fast client while 100 slow ones run.

Run: ``python bench/s3.py`` (``make bench`` runs it; about two minutes, capped).

What it does, and why:

- Writes the benchmark library (``bench/make_library.py``: 2 MiB incompressible
  files, one per level folder) into a temporary folder, starts moto's S3
  server (``python -m moto.server``) on 127.0.0.1 in its own process and
  uploads the same files to a bucket (plain PutObject, no stored checksum, so
  the first start computes every CRC by reading the objects).
- For each library, folder and ``s3://``, starts ``python -m server`` on
  127.0.0.1 and runs ``bench/load.py`` twice at once against the 168 MiB
  reference plan: 100 clients that read 16 KiB/s each (``--hold`` seconds
  once all have their headers), and one client that reads as fast as it can.
  The slow run samples the server's RSS: its peak above idle, per client, is
  what one slow download costs in memory; the fast run gives the throughput
  one client gets while the server feeds the slow ones.
- The S3 server's start-up time and index summary are recorded too (first
  start: CRCs computed; a second start reads only the index object).

Only 127.0.0.1 is used; every process is bounded by a timeout and killed at
the end. The JSON and a short Markdown table go to ``--out`` (default
``bench/results/<date>-s3.{json,md}``) and the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PLAN: dict[str, Any] = {
    "name": "张三",
    "mode": "assessment",
    "age": 8,
    "weeks": 4,
    "lessons_per_week": 3,
    "exercises_per_lesson": 7,
    "scores": {"span": 40, "sustained": 55, "selective": 70},
    "start_date": "2026-09-07",
}
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SECRET = "bench-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[Any], timeout: float) -> float:
    """Seconds until ``url`` answers; raises if the process dies or time runs out."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return time.monotonic() - t0
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")


@contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[Any]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def upload_folder(endpoint: str, bucket: str, folder: Path) -> int:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(request_checksum_calculation="when_required"),
        **{k.lower(): v for k, v in CREDENTIALS.items() if k != "AWS_DEFAULT_REGION"},
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.put_object(
                Bucket=bucket, Key=path.relative_to(folder).as_posix(), Body=path.read_bytes()
            )
            count += 1
    return count


def load(base: str, pid: int, args: list[str], out: Path) -> subprocess.Popen[Any]:
    cmd = [sys.executable, str(HERE / "load.py"), json.dumps(PLAN, ensure_ascii=False),
           "--base", base, "--server-pid", str(pid), "--json", str(out), *args]  # fmt: skip
    return subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)


def run_library(name: str, library: str, extra: list[str], env: dict[str, str], work: Path,
                slow: int, hold: float) -> dict[str, Any]:  # fmt: skip
    """Start a server on ``library``, run slow + fast load against it, return both reports."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "server", "--port", str(port), "--library", library,
           "--max-per-client", "1000", "--queue-timeout", "30s", *extra]  # fmt: skip
    with process(cmd, env, work / f"{name}-server.log") as srv:
        start_s = wait_http(base + "/healthz", srv, 300)
        slow_json, fast_json = work / f"{name}-slow.json", work / f"{name}-fast.json"
        slow_args = ["--clients", str(slow), "--kind", "slow", "--rate", "16KiB",
                     "--hold", str(hold), "--duration", str(hold + 60)]  # fmt: skip
        slow_p = load(base, srv.pid, slow_args, slow_json)
        time.sleep(hold / 3)  # the slow clients are all reading by now
        fast_p = load(base, srv.pid, ["--clients", "1", "--kind", "fast", "--duration", "60",
                                      "--idle-seconds", "0.2"], fast_json)  # fmt: skip
        for p in (fast_p, slow_p):
            _, err = p.communicate(timeout=hold + 120)
            print(f"  {name}: {err.strip().splitlines()[-1] if err.strip() else p.returncode}")
        slow_rep = json.loads(slow_json.read_text("utf-8"))
        fast_rep = json.loads(fast_json.read_text("utf-8"))
    log = (work / f"{name}-server.log").read_text("utf-8", "replace")
    index_line = next((ln for ln in log.splitlines() if "objects," in ln and "CRC-32" in ln), "")
    return {"start_s": start_s, "slow": slow_rep, "fast": fast_rep, "index": index_line.strip()}


def summary_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "| library | start s | slow: RSS peak above idle per client | slow: clients reading | "
        "fast: MB/s while slow run | fast: completed |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        per = r["slow"]["server_rss"]["peak_delta_per_client"]
        fast_rate = r["fast"]["throughput_MBps"]["whole_download_p50"]
        reading = r["slow"]["held"] + r["slow"]["running_at_end"] + r["slow"]["completed"]
        rows.append(
            f"| {name} | {r['start_s']:.1f} | {per / 1024:.0f} KiB | {reading} of "
            f"{r['slow']['clients']} | {fast_rate or 0:.0f} | "
            f"{r['fast']['completed']} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slow", type=int, default=100, help="slow clients (16 KiB/s each)")
    p.add_argument("--hold", type=float, default=20.0, help="seconds the slow clients read")
    p.add_argument("--out", type=Path, help="report path without extension")
    args = p.parse_args(argv)
    out = args.out or HERE / "results" / f"{time.strftime('%Y-%m-%d')}-s3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(CREDENTIALS, PLANSTREAM_SECRET=SECRET, AWS_EC2_METADATA_DISABLED="true")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="planstream-s3-bench-") as tmp:
        work = Path(tmp)
        folder = work / "library"
        subprocess.run([sys.executable, str(HERE / "make_library.py"), "--out", str(folder),
                        "--files-per-level", "1"], check=True, cwd=REPO, timeout=120)  # fmt: skip
        moto_port = free_port()
        endpoint = f"http://127.0.0.1:{moto_port}"
        moto_cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)]
        with process(moto_cmd, env, work / "moto.log") as moto:
            wait_http(endpoint + "/moto-api/", moto, 60)
            count = upload_folder(endpoint, "bench-materials", folder)
            print(f"uploaded {count} objects to s3://bench-materials/ on moto")
            results["folder"] = run_library(
                "folder", str(folder), [], env, work, args.slow, args.hold
            )
            s3 = ["--s3-endpoint", endpoint]
            results["s3 (first start)"] = run_library(
                "s3", "s3://bench-materials/", s3, env, work, args.slow, args.hold
            )
            second = free_port()
            cmd = [sys.executable, "-m", "server", "--port", str(second), "--library",
                   "s3://bench-materials/", *s3]  # fmt: skip
            with process(cmd, env, work / "s3-second.log") as srv:
                second_start = wait_http(f"http://127.0.0.1:{second}/healthz", srv, 120)
    report = {"results": results, "second_start_s": second_start, "argv": sys.argv[1:]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=1), "utf-8")
    rows = summary_rows(results)
    index = results["s3 (first start)"]["index"]
    text = "\n".join([
        f"# S3-backed vs folder library ({time.strftime('%Y-%m-%d')}, `python bench/s3.py`)", "",
        f"Reference plan (168 MiB), {args.slow} clients at 16 KiB/s for {args.hold:g} s plus one "
        "fast client, moto on 127.0.0.1.", "", *rows, "",
        f"S3 first start: {index}", f"S3 second start: {second_start:.1f} s (index object reused).",
    ])  # fmt: skip
    out.with_suffix(".md").write_text(text + "\n", "utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
