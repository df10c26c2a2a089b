"""The sender's copy loop (server.sender_child._Job) over a socketpair.

What must hold: the bytes are the runs' bytes, files included; a file
that differs from its index before its header, or after its body, ends the
job as ``changed``; a slow reader is handed back (``slow``), a probed one
that is fast gets the large send buffer; a cancel and a reset end the job.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from generators.archive import FileSlice
from server import sender_child
from server.replay import Runs
from server.sender_child import _Job


def _slice(path: Path) -> FileSlice:
    st = os.stat(path)
    return FileSlice(
        str(path), 0, st.st_size, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns
    )


class _Pair:
    """A non-blocking server end (as aiohttp's) handed to a job, and a reader thread."""

    def __init__(self, delay: float = 0.0, chunk: int = 1 << 16, stop_after: int = -1) -> None:
        self.server, self.client = socket.socketpair()
        self.server.setblocking(False)
        self.got = bytearray()
        self._delay, self._chunk, self._stop_after = delay, chunk, stop_after
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def job(self, runs: Runs, prefix: bytes = b"", grow: int = 0) -> _Job:
        return _Job(1, runs, 0, runs.total, prefix, os.dup(self.server.fileno()), grow)

    def _read(self) -> None:
        while True:
            if 0 <= self._stop_after <= len(self.got):
                self.client.close()  # the client goes away
                return
            try:
                data = self.client.recv(self._chunk)
            except OSError:
                return
            if not data:
                return
            self.got += data
            if self._delay:
                time.sleep(self._delay)

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)
        self.client.close()


@pytest.fixture
def material(tmp_path: Path) -> Path:
    path = tmp_path / "material.bin"
    path.write_bytes(os.urandom(3 << 20))
    return path


def test_a_job_sends_the_prefix_runs_and_files_byte_exact(material: Path):
    runs = Runs([b"header", _slice(material), b"tail" * 1000])
    pair = _Pair()
    result = pair.job(runs, prefix=b"pending").run()
    pair.close()
    assert result.status == "done", result
    assert result.sent == len(b"pending") + runs.total
    assert bytes(pair.got) == b"pending" + b"header" + material.read_bytes() + b"tail" * 1000


def test_a_file_changed_before_its_header_sends_neither(material: Path):
    runs = Runs([b"header", _slice(material), b"tail"])
    st = os.stat(material)
    os.utime(material, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    pair = _Pair()
    result = pair.job(runs).run()
    pair.close()
    assert (result.status, result.sent, result.path) == ("changed", 0, str(material)), result
    assert "mtime" in result.reason or "changed" in result.reason, result
    assert pair.got == b""


def test_a_file_changed_while_it_is_sent_is_caught_after_its_body(monkeypatch, material: Path):
    runs = Runs([b"header", _slice(material), b"tail"])
    opened = sender_child._open_checked

    def open_then_touch(ref: FileSlice) -> int:
        fd = opened(ref)  # the check before passed: now the file is edited
        st = os.stat(ref.path)
        os.utime(ref.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        return fd

    monkeypatch.setattr(sender_child, "_open_checked", open_then_touch)
    pair = _Pair()
    result = pair.job(runs).run()
    pair.close()
    assert result.status == "changed" and result.sent == len(b"header") + (3 << 20), result
    assert b"tail" not in pair.got[-4:]


def test_a_slow_reader_is_handed_back_with_the_offset_it_reached(monkeypatch, material: Path):
    monkeypatch.setattr(sender_child, "SAMPLE", 0.1)
    runs = Runs([b"header", _slice(material)])
    pair = _Pair(delay=0.05, chunk=4096)  # ~80 KiB/s, below SHRINK_RATE
    t0 = time.monotonic()
    result = pair.job(runs).run()
    took = time.monotonic() - t0
    pair.close()
    assert result.status == "slow" and result.rate < sender_child.SHRINK_RATE, result
    assert 0 < result.sent < runs.total and took < 2.0
    assert len(pair.got) <= result.sent  # what it read is a prefix of what was sent


def test_a_probed_fast_reader_is_grown_and_a_probed_slow_one_handed_back(material: Path):
    runs = Runs([b"header", _slice(material)])
    fast = _Pair()
    before = fast.server.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    result = fast.job(runs, grow=1 << 20).run()
    grown = fast.server.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    fast.close()
    wmem_max = int(Path("/proc/sys/net/core/wmem_max").read_text())
    assert result.status == "done", result
    assert grown == 2 * min(1 << 20, wmem_max) and grown != before, (before, grown)
    slow = _Pair(delay=0.05, chunk=4096)
    result = slow.job(runs, grow=1 << 20).run()
    slow.close()
    assert result.status == "slow" and result.reason.startswith("probed"), result
    assert result.sent < sender_child.GROW_BYTES


def test_a_cancelled_job_stops_within_a_poll_and_a_reset_is_reported(material: Path):
    runs = Runs([b"header", _slice(material)])
    stalled = _Pair(delay=10.0, chunk=1)  # reads one byte, then nothing
    job = stalled.job(runs)
    threading.Timer(0.2, lambda: setattr(job, "cancelled", True)).start()
    t0 = time.monotonic()
    result = job.run()
    assert result.status == "cancelled" and time.monotonic() - t0 < 0.2 + 0.5, result
    stalled.server.close()
    stalled.client.close()
    gone = _Pair(stop_after=256 << 10)
    result = gone.job(runs).run()
    gone.close()
    assert result.status == "reset" and result.sent < runs.total, result
