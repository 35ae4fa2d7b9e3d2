"""Timing: calibrate a loop count per case, then interleave implementations round-robin."""

from __future__ import annotations

import gc
import random
import statistics
import time
from typing import Callable, Optional

__all__ = ["Loop", "measure"]

#: Runs one operation ``n`` times. A loop that times itself (another process)
#: returns the nanoseconds it measured; the others return ``None``.
Loop = Callable[[int], Optional[float]]


def _elapsed_ns(loop: Loop, n: int) -> float:
    # Like timeit: a collection landing in one implementation's round is noise.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        own = loop(n)
        elapsed = time.perf_counter_ns() - start
        return elapsed if own is None else own
    finally:
        if gc_was_enabled:
            gc.enable()


def _probe_ns_per_op(loop: Loop, round_ns: float) -> float:
    """Warm ``loop`` up and estimate its cost, doubling ``n`` until a tenth of a round."""
    n = 1
    while True:
        elapsed = _elapsed_ns(loop, n)
        if elapsed >= round_ns / 10 or n >= 1 << 24:
            return elapsed / n
        n *= 2


def measure(loops: dict[str, Loop], round_ms: float, rounds: int) -> dict[str, float]:
    """Median ns per operation of each loop over ``rounds`` interleaved rounds.

    Every implementation runs the same operation count, sized so that the
    slowest one takes about ``round_ms`` per round. Within a round the
    implementations run one after the other in a fresh random order, so that
    drifting machine load hits them all alike and none always follows the same
    neighbour (a rotation would, and the C program's exit disturbs whoever
    runs next).
    """
    round_ns = round_ms * 1e6
    names = list(loops)
    slowest = max(_probe_ns_per_op(loops[name], round_ns) for name in names)
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
            samples[name].append(_elapsed_ns(loops[name], n) / n)
    return {name: statistics.median(values) for name, values in samples.items()}
