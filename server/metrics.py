"""Counters for /metrics (Prometheus text format 0.0.4) and the download log line.

The replaced system watched free disk, memory, cleanup success and concurrent
downloads through its logs; here the same questions are answered by counters
a scraper can graph: downloads by outcome, bytes sent, active and queued
downloads, resident memory (psutil) and free disk on the library's volume.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field

import psutil

from .outcomes import Outcome


@dataclass
class Metrics:
    started: int = 0
    bytes_sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    plans_created: int = 0
    bad_requests: int = 0

    connections_refused: int = 0
    per_client_rejected: int = 0
    library_changes: Counter[str] = field(default_factory=Counter)  # by "changed" etc.

    def refused(self) -> None:
        """A connection was reset at once because the connection cap was reached."""
        self.connections_refused += 1

    def record_outcome(self, outcome: Outcome, sent: int) -> None:
        """Count one finished download request and the body bytes it sent."""
        self.outcomes[outcome] += 1
        self.bytes_sent += sent

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
        proc = psutil.Process()
        lines = [
            "# HELP planstream_downloads_started_total Downloads whose headers were sent.",
            "# TYPE planstream_downloads_started_total counter",
            f"planstream_downloads_started_total {self.started}",
            "# HELP planstream_downloads_total Downloads by outcome (rejected = 503).",
            "# TYPE planstream_downloads_total counter",
        ]
        lines += [
            f'planstream_downloads_total{{outcome="{o}"}} {self.outcomes.get(o, 0)}'
            for o in Outcome
        ]
        lines += [
            "# HELP planstream_connections_refused_total Connections reset at the cap.",
            "# TYPE planstream_connections_refused_total counter",
            f"planstream_connections_refused_total {self.connections_refused}",
            "# HELP planstream_bytes_sent_total Body bytes sent to clients.",
            "# TYPE planstream_bytes_sent_total counter",
            f"planstream_bytes_sent_total {self.bytes_sent}",
            "# HELP planstream_plans_created_total Plans created through POST /api/plans.",
            "# TYPE planstream_plans_created_total counter",
            f"planstream_plans_created_total {self.plans_created}",
            "# HELP planstream_bad_requests_total Requests rejected with 400.",
            "# TYPE planstream_bad_requests_total counter",
            f"planstream_bad_requests_total {self.bad_requests}",
            "# HELP planstream_active_downloads Downloads holding a slot now.",
            "# TYPE planstream_active_downloads gauge",
            f"planstream_active_downloads {active}",
            "# HELP planstream_queued_downloads Downloads waiting for a slot now.",
            "# TYPE planstream_queued_downloads gauge",
            f"planstream_queued_downloads {queued}",
            "# HELP planstream_download_slots Concurrent downloads the memory budget allows.",
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
        lines += [
            "# HELP planstream_library_file_changes_total Library files found changed, "
            "vanished or added since start (each re-indexed or dropped).",
            "# TYPE planstream_library_file_changes_total counter",
        ]
        lines += [
            f'planstream_library_file_changes_total{{change="{c}"}} {self.library_changes[c]}'
            for c in ("changed", "vanished", "added")
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


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        return line


def _text_value(v: object) -> str:
    s = str(v)
    return json.dumps(s, ensure_ascii=False) if (" " in s or "=" in s or not s) else s


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Log to stderr only (never to a file: the server writes nothing to disk)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
