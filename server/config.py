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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

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

# cgroup files that hold the memory limit of this process's group. v2 has one
# unified hierarchy; v1 a memory controller. "max" or a huge number = none.
CGROUP_V2_FILE = "/sys/fs/cgroup/memory.max"
CGROUP_V1_FILE = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
_NO_LIMIT = 1 << 60


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


def _read_limit(path: str) -> int | None:
    try:
        raw = Path(path).read_text().strip()
    except OSError:
        return None
    if raw in ("", "max"):
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return None if value >= _NO_LIMIT else value


def detect_budget(
    *,
    cgroup_v2: str = CGROUP_V2_FILE,
    cgroup_v1: str = CGROUP_V1_FILE,
    physical: int | None = None,
) -> tuple[int, str]:
    """The default memory budget and where it came from (for the start-up log)."""
    candidates: list[tuple[int, str]] = [(DEFAULT_BUDGET, "default 2 GiB")]
    v2 = _read_limit(cgroup_v2)
    if v2 is not None:
        candidates.append((v2, f"cgroup v2 {cgroup_v2}"))
    else:
        v1 = _read_limit(cgroup_v1)
        if v1 is not None:
            candidates.append((v1, f"cgroup v1 {cgroup_v1}"))
    ram = physical if physical is not None else psutil.virtual_memory().total
    candidates.append((ram, "physical RAM"))
    return min(candidates, key=lambda c: c[0])


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    library: str | None = None
    memory_budget: int = DEFAULT_BUDGET
    budget_source: str = "default 2 GiB"
    queue_timeout: float = 5.0  # seconds a download waits for a slot before 503
    stall_timeout: float = 30.0  # seconds one write may wait for the client
    min_rate: int = 4096  # bytes/s a download must average over rate_window
    rate_window: float = 60.0
    link_ttl: float = 7 * 86400.0
    secret: str | None = None
    log_format: str = "text"
    chunk_size: int = 64 * KiB  # largest single write() into the transport
    sndbuf: int = 256 * KiB  # SO_SNDBUF asked of the kernel (Linux doubles it)
    download_cost: int | None = None  # bytes per download slot; None = computed
    reserve: int = 192 * MiB  # interpreter, library index, layout cache
    max_slots: int | None = None  # hard cap, e.g. for tests


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
    p.add_argument("--library", help="materials library folder <dimension>/<level 1-5>/")
    p.add_argument("--memory-budget", help="e.g. 2GiB (default: min of 2 GiB, cgroup limit, RAM)")
    p.add_argument("--queue-timeout", help="wait for a free slot before 503 (default 5s)")
    p.add_argument("--stall-timeout", help="cut a client that reads nothing this long (30s)")
    p.add_argument("--min-rate", help="minimum average bytes/s per download (default 4KiB)")
    p.add_argument("--link-ttl", help="how long a download link stays valid (default 7d)")
    p.add_argument("--secret", help="key material for download links (random if unset)")
    p.add_argument("--log-format", choices=["text", "json"], help="log lines (default text)")
    p.add_argument("--max-slots", type=int, help="cap concurrent downloads below the budget")
    return p


def load_config(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    cgroup_v2: str = CGROUP_V2_FILE,
    cgroup_v1: str = CGROUP_V1_FILE,
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
    converters = {
        "host": str,
        "port": int,
        "library": str,
        "queue-timeout": parse_duration,
        "stall-timeout": parse_duration,
        "link-ttl": parse_duration,
        "min-rate": parse_size,
        "secret": str,
        "log-format": _log_format,
        "max-slots": int,
        "memory-budget": parse_size,
    }
    for name, convert in converters.items():
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
            cgroup_v2=cgroup_v2, cgroup_v1=cgroup_v1
        )
    cfg = Config(**kw)  # type: ignore[arg-type]
    if cfg.memory_budget <= 0:
        parser.error("--memory-budget: must be positive")
    if not 0 < cfg.link_ttl <= 3650 * 86400:
        parser.error("--link-ttl: must be more than 0 and at most 3650d")
    if not 0 < cfg.port < 65536:
        parser.error("--port: must be 1-65535")
    return cfg
