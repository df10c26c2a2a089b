"""Server settings: command-line flags, ``PLANSTREAM_*`` variables, and the memory budget.

Every flag has an environment variable of the same name (``--memory-budget``
-> ``PLANSTREAM_MEMORY_BUDGET``); a flag wins over the variable, the variable
over the default. The memory budget defaults to the smallest of 2 GiB, the
process's cgroup limit (v2 ``memory.max`` or v1 ``memory.limit_in_bytes``) and
physical RAM, and the server logs which one it used, because admission (how
many downloads run at once) is computed from it.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from generators.branding import check_centre

from .links import MIN_SECRET_BYTES

DEFAULT_BUDGET = 2 << 30
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": KiB,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": MiB,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": GiB,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1 << 40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int) -> int:
    """Bytes from ``2GiB``, ``512MiB``, ``64k`` or a plain number; ValueError otherwise."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (use e.g. 2GiB, 512MiB, 65536)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_duration(text: str | float) -> float:
    """Seconds from ``30``, ``30s``, ``5m``, ``2h`` or ``7d``."""
    if isinstance(text, int | float):
        return float(text)
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 7d)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[m.group(2)]
    return float(m.group(1)) * scale


# Where this process finds its own cgroup (see cgroup_limit).
PROC_CGROUP = "/proc/self/cgroup"
PROC_MOUNTINFO = "/proc/self/mountinfo"
_NO_LIMIT = 1 << 60


def _read_limit(path: Path) -> int | None:
    """A memory limit file's value in bytes; None for "max", a huge number or no file."""
    try:
        raw = path.read_text().strip()
    except OSError:
        return None
    if raw in ("", "max"):
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return None if value >= _NO_LIMIT else value


def _own_groups(proc_cgroup: str) -> tuple[str | None, str | None]:
    """This process's cgroup path in the v2 hierarchy and in the v1 memory hierarchy."""
    v2 = v1 = None
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _mounts(mountinfo: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(root, mount point) of every cgroup2 mount and every v1 memory-controller mount."""
    v2: list[tuple[str, str]] = []
    v1: list[tuple[str, str]] = []
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError:
        return v2, v1
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], fields[4]
        if tail[0] == "cgroup2":
            v2.append((root, point))
        elif tail[0] == "cgroup" and "memory" in tail[2].split(","):
            v1.append((root, point))
    return v2, v1


def _group_dirs(group: str, mounts: list[tuple[str, str]]) -> list[Path]:
    """The group's folder and each ancestor up to the mount point, innermost first."""
    for root, point in mounts:
        rel = os.path.relpath(group, root) if root != "/" else group.lstrip("/")
        if rel.startswith(".."):
            continue  # the group is outside what this mount shows
        here = Path(point) / ("" if rel == "." else rel)
        dirs = [here]
        while here != Path(point) and here != here.parent:
            here = here.parent
            dirs.append(here)
        return dirs
    return []


def cgroup_limit(
    proc_cgroup: str = PROC_CGROUP, mountinfo: str = PROC_MOUNTINFO
) -> tuple[int, str] | None:
    """The smallest memory limit over this process's own cgroup and its ancestors.

    Reads ``/proc/self/cgroup`` for the group, ``/proc/self/mountinfo`` for
    where its hierarchy is mounted, then walks up: a child group in a limited
    parent is bound by the parent too (as the JVM and Go's automemlimit do).
    v2: ``memory.max`` and ``memory.high`` (past ``high`` the kernel throttles
    and reclaims hard); v1: ``memory.limit_in_bytes``. Returns (bytes, file).
    """
    group_v2, group_v1 = _own_groups(proc_cgroup)
    mounts_v2, mounts_v1 = _mounts(mountinfo)
    found: list[tuple[int, str]] = []
    if group_v2 is not None:
        for folder in _group_dirs(group_v2, mounts_v2):
            for name in ("memory.max", "memory.high"):
                value = _read_limit(folder / name)
                if value is not None:
                    found.append((value, f"cgroup v2 {folder / name}"))
    if group_v1 is not None:
        for folder in _group_dirs(group_v1, mounts_v1):
            value = _read_limit(folder / "memory.limit_in_bytes")
            if value is not None:
                found.append((value, f"cgroup v1 {folder / 'memory.limit_in_bytes'}"))
    return min(found, key=lambda f: f[0]) if found else None


def detect_budget(
    *,
    proc_cgroup: str = PROC_CGROUP,
    mountinfo: str = PROC_MOUNTINFO,
    physical: int | None = None,
) -> tuple[int, str]:
    """The default memory budget and where it came from (for the start-up log)."""
    candidates: list[tuple[int, str]] = [(DEFAULT_BUDGET, "default 2 GiB")]
    limit = cgroup_limit(proc_cgroup, mountinfo)
    if limit is not None:
        candidates.append(limit)
    ram = physical if physical is not None else psutil.virtual_memory().total
    candidates.append((ram, "physical RAM"))
    return min(candidates, key=lambda c: c[0])


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    library: str | None = None  # a folder, or s3://bucket/prefix
    s3_endpoint: str | None = None  # S3-compatible endpoint; None = AWS_ENDPOINT_URL or AWS
    memory_budget: int = DEFAULT_BUDGET
    budget_source: str = "default 2 GiB"
    queue_timeout: float = 5.0  # seconds a download waits for a slot before 503
    stall_timeout: float = 30.0  # seconds one write may wait for the client
    min_rate: int = 4096  # bytes/s a download must average over rate_window
    rate_window: float = 60.0
    link_ttl: float = 7 * 86400.0
    secrets: tuple[str, ...] = ()  # seal with the first, open with any (rotation)
    log_format: str = "text"
    chunk_size: int = 64 * KiB  # largest single write() into the transport
    sndbuf: int = 256 * KiB  # SO_SNDBUF asked of the kernel (Linux doubles it)
    reserve: int | None = None  # bytes kept out of the download share; None = itemised
    max_slots: int | None = None  # hard cap, e.g. for tests
    header_timeout: float = 10.0  # seconds for a request head to arrive (and idle keep-alive)
    body_timeout: float = 30.0  # seconds for a request body to arrive
    max_per_client: int = 8  # downloads (running or queued) from one client address
    max_connections: int | None = None  # cap on open connections; None = from descriptors
    trusted_proxies: frozenset[str] = frozenset()  # whose X-Forwarded-For names the client
    library_scan: float = 10.0  # seconds between library identity scans; 0 = off (SIGHUP only)
    centre_name: str = ""  # in every document's footer; part of every ETag; "" = no brand
    drain_timeout: float = 30.0  # seconds running downloads get after SIGTERM before a reset
    workers: int = 1  # processes serving the port (server.supervisor when more than one)
    worker_id: int | None = None  # this process's number under the supervisor, 0-based
    total_budget: int | None = None  # the budget of all workers together (set per worker)


def _log_format(value: str) -> str:
    if value not in ("text", "json"):
        raise ValueError(f"must be text or json, not {value!r}")
    return value


def _env(name: str, env: Mapping[str, str]) -> str | None:
    return env.get("PLANSTREAM_" + name.upper().replace("-", "_"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m server",
        description="planstream: stream attention-training plans as ZIP downloads.",
        epilog="Every flag can also be set as PLANSTREAM_<FLAG>, e.g. PLANSTREAM_PORT=9000.",
    )
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 8080)")
    p.add_argument(
        "--library",
        help="materials library <dimension>/<level 1-5>/: a folder or s3://bucket/prefix "
        "(credentials from the standard AWS chain: environment, shared config, role)",
    )
    p.add_argument("--s3-endpoint", help="S3-compatible endpoint URL (default AWS_ENDPOINT_URL)")
    p.add_argument("--memory-budget", help="e.g. 2GiB (default: min of 2 GiB, cgroup limit, RAM)")
    p.add_argument("--queue-timeout", help="wait for a free slot before 503 (default 5s)")
    p.add_argument("--stall-timeout", help="cut a client that reads nothing this long (30s)")
    p.add_argument("--min-rate", help="minimum average bytes/s per download (default 4KiB)")
    p.add_argument("--link-ttl", help="how long a download link stays valid (default 7d)")
    p.add_argument(
        "--secret",
        help="link secret(s), comma-separated, newest first (PLANSTREAM_SECRETS=new,old); "
        "random if unset. Prefer --secret-file or the environment: flags show in ps",
    )
    p.add_argument("--secret-file", help="file with the link secret(s), one per line")
    p.add_argument("--log-format", choices=["text", "json"], help="log lines (default text)")
    p.add_argument("--max-slots", type=int, help="cap concurrent downloads below the budget")
    p.add_argument("--header-timeout", help="close a connection whose request head is late (10s)")
    p.add_argument("--body-timeout", help="close a connection whose request body is late (30s)")
    p.add_argument("--max-per-client", type=int, help="downloads at once from one address (8)")
    p.add_argument(
        "--library-scan",
        help="stat the library's files this often and re-index changed ones (10s; 0 = off)",
    )
    p.add_argument(
        "--trusted-proxies",
        help="comma-separated proxy addresses whose X-Forwarded-For names the client",
    )
    p.add_argument(
        "--centre-name", help="the centre's name in every footer (default: none, no brand)"
    )
    p.add_argument(
        "--drain-timeout", help="after SIGTERM, how long downloads may finish before a reset (30s)"
    )
    p.add_argument(
        "--workers",
        help="worker processes on one port: a number or auto (usable CPUs, cgroup quota "
        "respected); default 1",
    )
    return p


def _workers(value: str) -> int:
    if value.strip().lower() == "auto":
        return usable_cpus()
    n = int(value)
    if not 1 <= n <= 256:
        raise ValueError(f"must be auto or 1-256, not {n}")
    return n


PROC_CPU_MAX = "cpu.max"


def cgroup_cpu_quota(
    proc_cgroup: str = PROC_CGROUP, mountinfo: str = PROC_MOUNTINFO
) -> float | None:
    """CPUs this process's cgroup may use (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), walking up.

    A container limited to 1.5 CPUs on a 16-core host must not start 16
    workers that the kernel then throttles; the smallest quota on the way up
    binds, as for memory.
    """
    found: list[float] = []
    v2 = v1 = None
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        elif "cpu" in parts[1].split(","):
            v1 = parts[2]
    mounts_v2, _ = _mounts(mountinfo)
    if v2 is not None:
        for folder in _group_dirs(v2, mounts_v2):
            try:
                quota, period = (folder / PROC_CPU_MAX).read_text().split()[:2]
            except (OSError, ValueError):
                continue
            if quota != "max" and int(period) > 0:
                found.append(int(quota) / int(period))
    if v1 is not None:
        for folder in _group_dirs(v1, _cpu_mounts_v1(mountinfo)):
            try:
                quota_us = int((folder / "cpu.cfs_quota_us").read_text())
                period_us = int((folder / "cpu.cfs_period_us").read_text())
            except (OSError, ValueError):
                continue
            if quota_us > 0 and period_us > 0:
                found.append(quota_us / period_us)
    return min(found) if found else None


def _cpu_mounts_v1(mountinfo: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        is_cpu = len(tail) >= 3 and tail[0] == "cgroup" and "cpu" in tail[2].split(",")
        if len(fields) >= 5 and is_cpu:
            out.append((fields[3], fields[4]))
    return out


def usable_cpus(proc_cgroup: str = PROC_CGROUP, mountinfo: str = PROC_MOUNTINFO) -> int:
    """CPUs this process may run on (affinity), capped by the cgroup quota, at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(proc_cgroup, mountinfo)
    if quota is not None:
        cpus = min(cpus, max(1, int(quota)))  # 1.5 CPUs -> 1 worker: no throttled half
    return max(1, cpus)


_CONVERTERS: dict[str, Callable[[str], object]] = {
    "host": str,
    "port": int,
    "library": str,
    "s3-endpoint": str,
    "queue-timeout": parse_duration,
    "stall-timeout": parse_duration,
    "link-ttl": parse_duration,
    "min-rate": parse_size,
    "log-format": _log_format,
    "max-slots": int,
    "header-timeout": parse_duration,
    "body-timeout": parse_duration,
    "max-per-client": int,
    "library-scan": parse_duration,
    "trusted-proxies": lambda v: frozenset(a.strip() for a in v.split(",") if a.strip()),
    "memory-budget": parse_size,
    "centre-name": check_centre,
    "drain-timeout": parse_duration,
    "workers": _workers,
}
"""How each flag's text becomes its value (a flag named here is also PLANSTREAM_<NAME>)."""


def load_config(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    proc_cgroup: str = PROC_CGROUP,
    mountinfo: str = PROC_MOUNTINFO,
) -> Config:
    """Settings from flags, then PLANSTREAM_* variables, then defaults.

    Raises SystemExit(2) with the flag's name on a bad value, like argparse.
    """
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)

    def pick(name: str) -> str | None:
        value = getattr(args, name.replace("-", "_"))
        return value if value is not None else _env(name, env)

    kw: dict[str, object] = {}
    for name, convert in _CONVERTERS.items():
        raw = pick(name)
        if raw is None:
            continue
        try:
            kw[name.replace("-", "_")] = convert(raw)
        except ValueError as exc:
            parser.error(f"--{name} (PLANSTREAM_{name.upper().replace('-', '_')}): {exc}")
    if "memory_budget" in kw:
        kw["budget_source"] = (
            "--memory-budget" if args.memory_budget is not None else "PLANSTREAM_MEMORY_BUDGET"
        )
    else:
        kw["memory_budget"], kw["budget_source"] = detect_budget(
            proc_cgroup=proc_cgroup, mountinfo=mountinfo
        )
    try:
        kw["secrets"] = _secrets(args.secret, args.secret_file, env)
    except ValueError as exc:
        parser.error(str(exc))
    cfg = Config(**kw)  # type: ignore[arg-type]  # kw's values are typed by their converters
    _check(cfg, parser)
    return cfg


def _check(cfg: Config, parser: argparse.ArgumentParser) -> None:
    """Ranges that a converter alone cannot know; exits 2 naming the flag."""
    if cfg.memory_budget <= 0:
        parser.error("--memory-budget: must be positive")
    if not 0 < cfg.link_ttl <= 3650 * 86400:
        parser.error("--link-ttl: must be more than 0 and at most 3650d")
    if cfg.max_per_client < 1:
        parser.error("--max-per-client: must be at least 1")
    if cfg.header_timeout <= 0 or cfg.body_timeout <= 0:
        parser.error("--header-timeout and --body-timeout must be positive")
    if cfg.drain_timeout < 0:
        parser.error("--drain-timeout: must not be negative")
    if not 0 < cfg.port < 65536:
        parser.error("--port: must be 1-65535")


def _secrets(flag: str | None, secret_file: str | None, env: Mapping[str, str]) -> tuple[str, ...]:
    """Link secrets from --secret, --secret-file, PLANSTREAM_SECRETS or PLANSTREAM_SECRET.

    Each must be at least 16 bytes: a short secret makes links guessable by
    brute force, so it is refused at start rather than used.
    """
    source = "--secret"
    raw: list[str] = []
    if flag is not None:
        raw = flag.split(",")
    elif secret_file is not None or "PLANSTREAM_SECRET_FILE" in env:
        path = secret_file if secret_file is not None else env["PLANSTREAM_SECRET_FILE"]
        source = "--secret-file"
        try:
            raw = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"--secret-file: cannot read {path}: {exc.strerror}") from exc
    elif "PLANSTREAM_SECRETS" in env:
        source, raw = "PLANSTREAM_SECRETS", env["PLANSTREAM_SECRETS"].split(",")
    elif "PLANSTREAM_SECRET" in env:
        source, raw = "PLANSTREAM_SECRET", env["PLANSTREAM_SECRET"].split(",")
    secrets = tuple(s.strip() for s in raw if s.strip())
    if (flag is not None or source != "--secret") and not secrets:
        raise ValueError(f"{source}: no secret given")
    for s in secrets:
        if len(s.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ValueError(f"{source}: each secret must be at least {MIN_SECRET_BYTES} bytes")
    return secrets
