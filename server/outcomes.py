"""How a download ended: one value shared by the writer, the metrics and the log line.

Every download request ends with exactly one outcome, wherever it ends (in
the queue, before the headers, during a write or a sendfile), so the counts
in ``/metrics`` add up to the requests made.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    COMPLETED = "completed"  # every byte of the window was handed to the kernel
    ABORTED = "aborted"  # the client left (reset, FIN, cancelled handler): not our fault
    STALLED = "stalled"  # the client stopped reading, or read below --min-rate
    FAILED = "failed"  # the server's own fault: a changed material, a bug (with a traceback)
    REJECTED = "rejected"  # no slot within the queue timeout: 503 + Retry-After
    CUT_BY_SHUTDOWN = "cut_by_shutdown"  # still running when the drain timeout ran out

    @property
    def log_level_is_warning(self) -> bool:
        """Stalls and failures are worth an operator's look; the rest is normal traffic."""
        return self in (Outcome.STALLED, Outcome.FAILED)
