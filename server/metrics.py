"""Counters for /metrics (Prometheus text format, via prometheus-client) and the log lines.

The replaced system watched free disk, memory, cleanup success and concurrent
downloads through its logs; here the same questions are answered by series
a scraper can graph: downloads by outcome, bytes sent, active and queued
downloads, time to first byte, download duration and event-loop lag (histograms), resident
memory (psutil) and free disk on the library's volume.

Counters, the active/queued gauges and the histograms are prometheus-client
objects. Under ``--workers`` they run in its multiprocess mode: each worker
writes its values to memory-mapped files in one directory the supervisor
creates on tmpfs (``/dev/shm``, wiped at start, removed at exit; never the
library's disk), and any worker's ``/metrics`` sums all of them. That is the
one file a request touches, and it is memory, not disk. Per-process gauges
(slots, budget, RSS, caches, loop-lag and GC maxima) come from the worker answering.

``Metrics`` keeps its attribute API (``metrics.started += 1``): each
attribute is a property that moves its counter by the difference, so callers
never import prometheus-client. Integral samples are printed without
``.0`` (``planstream_downloads_total{outcome="completed"} 3``): parsers accept
both, and scripts that read counts as integers keep working.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys

import psutil
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import values as prom_values
from prometheus_client.multiprocess import MultiProcessCollector

from .outcomes import Outcome

disable_created_metrics()  # no *_created series: they double the exposition for nothing here
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
TTFB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV)


def enable_multiprocess(directory: str) -> None:
    """Switch prometheus-client to multiprocess mode now (before any metric is made)."""
    os.environ[MULTIPROC_ENV] = directory
    prom_values.ValueClass = prom_values.get_value_class()


def _counter_property(name: str) -> property:
    """An int attribute whose increments also move the Prometheus counter ``name``."""

    def get(self: Metrics) -> int:
        return int(self._counts[name])

    def set_(self: Metrics, value: int) -> None:
        delta = value - self._counts[name]
        if delta > 0:
            self._counters[name].inc(delta)
        self._counts[name] = value

    return property(get, set_)


class _LabelledCounts(dict[str, int]):
    """A ``collections.Counter``-like dict whose increments move a labelled counter."""

    def __init__(self, counter: Counter, label: str) -> None:
        super().__init__()
        self._counter = counter
        self._label = label

    def __missing__(self, key: str) -> int:
        return 0

    def __setitem__(self, key: str, value: int) -> None:
        delta = value - self[key]
        if delta > 0:
            self._counter.labels(**{self._label: key}).inc(delta)
        super().__setitem__(key, value)


class Metrics:
    """This process's counters; ``render`` gives the exposition (all workers' sums)."""

    started = _counter_property("started")
    bytes_sent = _counter_property("bytes_sent")
    plans_created = _counter_property("plans_created")
    bad_requests = _counter_property("bad_requests")
    connections_refused = _counter_property("connections_refused")
    per_client_rejected = _counter_property("per_client_rejected")

    def __init__(self) -> None:
        """Every series declared in one place, one piece: it reads as the metrics' catalogue."""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "started",
                "bytes_sent",
                "plans_created",
                "bad_requests",
                "connections_refused",
                "per_client_rejected",
            ),
            0,
        )
        self._counters = {
            "started": Counter(
                "planstream_downloads_started", "Downloads whose headers were sent.", registry=r
            ),
            "bytes_sent": Counter(
                "planstream_bytes_sent", "Body bytes sent to clients.", registry=r
            ),
            "plans_created": Counter(
                "planstream_plans_created", "Plans created through POST /api/plans.", registry=r
            ),
            "bad_requests": Counter(
                "planstream_bad_requests", "Requests rejected with 400.", registry=r
            ),
            "connections_refused": Counter(
                "planstream_connections_refused", "Connections reset at the cap.", registry=r
            ),
            "per_client_rejected": Counter(
                "planstream_per_client_rejected",
                "Downloads refused by --max-per-client.",
                registry=r,
            ),
        }
        self.outcomes_counter = Counter(
            "planstream_downloads",
            "Downloads by outcome (rejected = 503).",
            ["outcome"],
            registry=r,
        )
        for o in Outcome:
            self.outcomes_counter.labels(outcome=str(o))
        self.outcomes: dict[str, int] = dict.fromkeys((str(o) for o in Outcome), 0)
        changes = Counter(
            "planstream_library_file_changes",
            "Library files found changed, vanished or added since start "
            "(each re-indexed or dropped).",
            ["change"],
            registry=r,
        )
        for c in ("changed", "vanished", "added"):
            changes.labels(change=c)
        self.library_changes = _LabelledCounts(changes, "change")
        self.ttfb = Histogram(
            "planstream_time_to_first_byte_seconds",
            "From the request's arrival to its response headers handed to the kernel.",
            buckets=TTFB_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "planstream_download_duration_seconds",
            "From the request's arrival to its outcome, queue wait included.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "planstream_event_loop_lag_seconds",
            "How late the event loop woke a 10 ms timer (every request waits as long).",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.active = Gauge(
            "planstream_active_downloads",
            "Downloads holding a slot now (all workers).",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.queued = Gauge(
            "planstream_queued_downloads",
            "Downloads waiting for a slot now (all workers).",
            multiprocess_mode="livesum",
            registry=r,
        )

    def refused(self) -> None:
        """A connection was reset at once because the connection cap was reached."""
        self.connections_refused += 1

    def record_outcome(self, outcome: Outcome, sent: int, duration: float | None = None) -> None:
        """Count one finished download request and the body bytes it sent."""
        self.outcomes[str(outcome)] = self.outcomes.get(str(outcome), 0) + 1
        self.outcomes_counter.labels(outcome=str(outcome)).inc()
        self.bytes_sent += sent
        if duration is not None:
            self.duration.observe(duration)

    def exposition(self, *, active: int, queued: int) -> str:
        """The prometheus-client part: this process's, or every worker's summed."""
        self.active.set(active)
        self.queued.set(queued)
        if multiprocess_dir():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            text = generate_latest(registry).decode()
        else:
            text = generate_latest(self.registry).decode()
        return _integral(text)

    def render(
        self,
        *,
        active: int,
        queued: int,
        slots: int,
        budget: int,
        library: str | None,
        cache: tuple[int, int, int] = (0, 0, 0),
        layouts: tuple[int, int] = (0, 0),
    ) -> str:
        """The whole exposition: the registry's text plus this process's own gauges.

        One piece: it is a flat table of gauges (HELP, TYPE, sample), read top
        to bottom like the page it makes; splitting it would only scatter the
        names a reader looks for.
        """
        proc = psutil.Process()
        lines = [
            self.exposition(active=active, queued=queued).rstrip("\n"),
            "# HELP planstream_download_slots Concurrent downloads this process's budget allows.",
            "# TYPE planstream_download_slots gauge",
            f"planstream_download_slots {slots}",
            "# HELP planstream_memory_budget_bytes Memory budget admission is sized from.",
            "# TYPE planstream_memory_budget_bytes gauge",
            f"planstream_memory_budget_bytes {budget}",
            "# HELP planstream_resident_memory_bytes Resident set size of this process.",
            "# TYPE planstream_resident_memory_bytes gauge",
            f"planstream_resident_memory_bytes {proc.memory_info().rss}",
            "# HELP planstream_render_cache_total Rendered-document cache lookups by result.",
            "# TYPE planstream_render_cache_total counter",
            f'planstream_render_cache_total{{result="hit"}} {cache[0]}',
            f'planstream_render_cache_total{{result="miss"}} {cache[1]}',
            "# HELP planstream_render_cache_bytes Bytes of rendered documents held.",
            "# TYPE planstream_render_cache_bytes gauge",
            f"planstream_render_cache_bytes {cache[2]}",
            "# HELP planstream_layout_cache_bytes Bytes of plan layouts: cached, and "
            "resident (cached or still being sent).",
            "# TYPE planstream_layout_cache_bytes gauge",
            f'planstream_layout_cache_bytes{{held="cached"}} {layouts[0]}',
            f'planstream_layout_cache_bytes{{held="resident"}} {layouts[1]}',
        ]
        if library:
            try:
                free = shutil.disk_usage(library).free
            except OSError:
                free = -1
            lines += [
                "# HELP planstream_library_disk_free_bytes Free space on the library's volume.",
                "# TYPE planstream_library_disk_free_bytes gauge",
                f"planstream_library_disk_free_bytes {free}",
            ]
        return "\n".join(lines) + "\n"


_SAMPLE = re.compile(r"^([^#\n][^\n]*) (\S+)$", re.MULTILINE)


def _integral(text: str) -> str:
    """Whole-number samples as integers (prometheus-client prints 1.81521045e+08)."""

    def fix(m: re.Match[str]) -> str:
        try:
            value = float(m.group(2))
        except ValueError:
            return m.group(0)
        if value.is_integer() and abs(value) < 2**53:
            return f"{m.group(1)} {int(value)}"
        return m.group(0)

    return _SAMPLE.sub(fix, text)


class _JsonFormatter(logging.Formatter):
    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.worker is not None:
            out["worker"] = self.worker
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def __init__(self, worker: int | None = None) -> None:
        tag = f"[worker {worker}] " if worker is not None else ""
        super().__init__(f"%(asctime)s %(levelname)s %(name)s {tag}%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        return line


def _text_value(v: object) -> str:
    s = str(v)
    return json.dumps(s, ensure_ascii=False) if (" " in s or "=" in s or not s) else s


def setup_logging(fmt: str = "text", level: int = logging.INFO, worker: int | None = None) -> None:
    """Log to stderr only (never to a file: the server writes nothing to disk).

    Under ``--workers`` every line carries the worker's id (``[worker 1]``,
    or ``"worker": 1`` in JSON), so one outcome line names its process.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(worker) if fmt == "json" else _TextFormatter(worker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
