"""The lane's turn budget (server.express.Turn): fast downloads together keep a loop turn short.

What must hold: once the lane's sends have used a turn's budget, the other
ready downloads wait for the next turn, so a turn runs only as many steps
as fit (without the budget, every ready download ran in one turn: ten fast
downloads made 20 ms turns); the ones put off run first in the next turn,
in order, so none is starved; and the copy rate that sizes each call
follows the calls measured.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Generator

import pytest

from server.express import RATE_CALL_MIN, STARTS_PER_TURN, Express, Turn

STEP = 0.002  # seconds each step holds the loop (a sendfile's worth)
ROUNDS = 20


def _steps(
    express: Express, turn: Turn, name: int, log: list[tuple[int, int]]
) -> Generator[None, None, None]:
    """A download's lane: hold the loop for STEP, send a byte, wait for the socket."""
    for _ in range(ROUNDS):
        until = time.perf_counter() + STEP
        while time.perf_counter() < until:
            pass
        assert express.send(memoryview(b"x")) == 1
        log.append((turn.serial, name))
        yield None


async def _run(downloads: int, budget: float) -> tuple[list[tuple[int, int]], Turn]:
    loop = asyncio.get_running_loop()
    turn = Turn(loop, budget)
    pairs = [socket.socketpair() for _ in range(downloads)]
    log: list[tuple[int, int]] = []
    lanes = []
    try:
        for a, _b in pairs:
            express = Express(loop, a.fileno())
            express.turn = turn
            lanes.append(express)
        await asyncio.wait_for(
            asyncio.gather(*(e.drive(_steps(e, turn, i, log)) for i, e in enumerate(lanes))),
            30,
        )
    finally:
        for express in lanes:
            express.close()
        for a, b in pairs:
            a.close()
            b.close()
    return log, turn


async def test_a_turn_runs_only_the_steps_its_budget_holds():
    log, turn = await _run(6, budget=0.003)
    per_turn = Counter(serial for serial, _ in log)
    # 2 ms steps under a 3 ms budget: a second step starts below it, a third never.
    assert max(per_turn.values()) <= 2, per_turn.most_common(3)
    assert turn.deferred > 0
    assert len(log) == 6 * ROUNDS


async def test_without_a_budget_every_ready_download_runs_in_one_turn():
    """The control: the same lanes with no budget hold the loop for all six steps."""
    log, turn = await _run(6, budget=float("inf"))
    per_turn = Counter(serial for serial, _ in log)
    assert max(per_turn.values()) == 6
    assert turn.deferred == 0


async def test_the_ones_put_off_are_not_starved():
    """epoll reports ready sockets in the same order each turn: without the line, the
    first two downloads would finish all their rounds before the others began."""
    log, _ = await _run(6, budget=0.003)
    done: Counter[int] = Counter()
    for _, name in log:
        done[name] += 1
        if done[name] == ROUNDS:  # the first to finish: everyone else is close behind
            break
    assert min(done[i] for i in range(6)) >= ROUNDS - 2, done


async def test_a_download_cut_while_in_line_is_skipped():
    """A wait the watchdog fails while it is put off must not run its steps later."""
    loop = asyncio.get_running_loop()
    turn = Turn(loop, 1e-9)  # one step a turn: of two lanes, one is always in line
    pairs = [socket.socketpair() for _ in range(2)]
    lanes = [Express(loop, a.fileno()) for a, _ in pairs]
    ran = [0, 0]

    def steps(i: int) -> Generator[None, None, None]:
        while True:
            ran[i] += 1
            yield None

    for express in lanes:
        express.turn = turn
    tasks = [asyncio.ensure_future(e.drive(steps(i))) for i, e in enumerate(lanes)]
    try:
        for _ in range(1000):
            await asyncio.sleep(0)
            if lanes[1]._queued and ran[1] > 2:
                break
        assert lanes[1]._queued, "the second lane never waited in line"
        lanes[1].fail(TimeoutError("stalled"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(tasks[1], 5)
        count, other = ran[1], ran[0]
        for _ in range(20):
            await asyncio.sleep(0)
        assert ran[1] == count  # its place in line was skipped
        assert ran[0] > other  # the other lane goes on
    finally:
        tasks[0].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for express in lanes:
            express.close()
        for a, b in pairs:
            a.close()
            b.close()


def test_the_copy_rate_follows_the_calls_measured():
    turn = Turn(asyncio.new_event_loop())
    try:
        start = turn.rate
        for _ in range(100):
            turn.copied(1 << 20, 0.001)  # 1 MiB a millisecond: about 1 GB/s
        assert abs(turn.rate - (1 << 20) / 0.001) < 0.01 * turn.rate
        assert turn.rate < start
        before = turn.rate
        turn.copied(RATE_CALL_MIN - 1, 1e-7)  # a tiny call times the syscall, not the copy
        assert turn.rate == before
    finally:
        turn.loop.close()


async def test_a_burst_of_new_downloads_starts_a_few_a_turn_in_arrival_order():
    """30 arrivals at once: at most STARTS_PER_TURN set up in any one turn, first come first."""
    loop = asyncio.get_running_loop()
    turn = Turn(loop)
    order: list[tuple[int, int]] = []

    async def arrive(i: int) -> None:
        await turn.start()
        order.append((turn.serial, i))

    await asyncio.wait_for(asyncio.gather(*(arrive(i) for i in range(30))), 5)
    per_turn = Counter(serial for serial, _ in order)
    assert max(per_turn.values()) == STARTS_PER_TURN
    assert len(per_turn) == -(-30 // STARTS_PER_TURN)
    assert [i for _, i in order] == list(range(30))


async def test_busy_lanes_never_keep_a_new_download_from_starting():
    """A turn whose lane time is spent still lets new downloads start."""
    loop = asyncio.get_running_loop()
    turn = Turn(loop, 0.0)  # the lane budget is always spent
    seen: list[tuple[bool, int]] = []

    async def arrive() -> None:
        turn.charge(1.0)
        await turn.start()
        seen.append((turn.over(), turn.serial))

    serial = turn.serial
    await asyncio.wait_for(arrive(), 1)
    assert seen == [(True, serial)]  # started in the very turn whose lane time was spent


async def test_a_request_that_leaves_while_waiting_to_start_gives_its_place_up():
    loop = asyncio.get_running_loop()
    turn = Turn(loop)
    started: list[int] = []

    async def arrive(i: int) -> None:
        await turn.start()
        started.append(i)

    tasks = [asyncio.ensure_future(arrive(i)) for i in range(STARTS_PER_TURN + 4)]
    await asyncio.sleep(0)  # the first STARTS_PER_TURN start, the rest wait
    assert started == list(range(STARTS_PER_TURN))
    gone = tasks[STARTS_PER_TURN]  # the first in line leaves
    gone.cancel()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    assert gone.cancelled()
    assert started == [i for i in range(STARTS_PER_TURN + 4) if i != STARTS_PER_TURN]
