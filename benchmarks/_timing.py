"""Timing: calibrate a loop count per case, then interleave implementations round-robin.

Two clocks: CPU time of the measuring thread (user + system, the default for
cases that run in one thread: waiting for a CPU while other programs run is
not counted), and wall time (for ping-pong, whose cost is mostly waiting for
the peer). The C program and the pure-Python worker use the same clock.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from typing import Callable, Optional

__all__ = ["CPU", "WALL", "Loop", "clock_ns", "measure", "paired_ratio"]

CPU = "cpu"
WALL = "wall"

#: Runs one operation ``n`` times. A loop that times itself (another process)
#: returns the nanoseconds it measured; the others return ``None``.
Loop = Callable[[int], Optional[float]]


def clock_ns(clock: str) -> Callable[[], int]:
    """The clock function for ``clock`` (:data:`CPU` or :data:`WALL`)."""
    return time.thread_time_ns if clock == CPU else time.perf_counter_ns


def _elapsed_ns(loop: Loop, n: int, clock: str) -> float:
    # Like timeit: a collection landing in one implementation's round is noise.
    now = clock_ns(clock)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = now()
        own = loop(n)
        elapsed = now() - start
        return elapsed if own is None else own
    finally:
        if gc_was_enabled:
            gc.enable()


def _probe_ns_per_op(loop: Loop, round_ns: float, clock: str) -> float:
    """Warm ``loop`` up and estimate its cost, doubling ``n`` until a tenth of a round."""
    n = 1
    while True:
        elapsed = _elapsed_ns(loop, n, clock)
        if elapsed >= round_ns / 10 or n >= 1 << 24:
            return elapsed / n
        n *= 2


def measure(
    loops: dict[str, Loop], round_ms: float, rounds: int, clock: str = CPU
) -> dict[str, list[float]]:
    """ns per operation of each loop in each of ``rounds`` interleaved rounds, on ``clock``.

    Self-timed loops (another process) must time themselves on the same clock.
    Sample ``i`` of every loop comes from round ``i`` (see :func:`paired_ratio`).

    Every implementation runs the same operation count, sized so that the
    slowest one takes about ``round_ms`` per round. Within a round the
    implementations run one after the other in a fresh random order, so that
    drifting machine load hits them all alike and none always follows the same
    neighbour (a rotation would, and the C program's exit disturbs whoever
    runs next).
    """
    round_ns = round_ms * 1e6
    names = list(loops)
    slowest = max(_probe_ns_per_op(loops[name], round_ns, clock) for name in names)
    n = max(1, int(round_ns / max(slowest, 1.0)))
    warm_up = max(1, n // 10)
    samples: dict[str, list[float]] = {name: [] for name in names}
    order = list(names)
    shuffler = random.Random(len(names) * rounds)
    for _ in range(rounds):
        shuffler.shuffle(order)
        for name in order:
            # Untimed warm-up: absorbs what the previous implementation left
            # behind (a process exiting, cold caches, a wakeup pattern).
            loops[name](warm_up)
            samples[name].append(_elapsed_ns(loops[name], n, clock) / n)
    return samples


def paired_ratio(ours: list[float], over: list[float]) -> float:
    """The median over rounds of ``ours / over`` measured in the same round.

    The two ran a few milliseconds apart, so load that comes and goes over
    seconds (other programs on a shared machine) cancels in each round's ratio
    instead of landing on one column's median and not the other's.
    """
    return statistics.median(a / b for a, b in zip(ours, over))
