"""The per-event-loop round-trip cases run briefly, give numbers and close what they open."""

from __future__ import annotations

import struct
from contextlib import ExitStack

import pytest

import tests.loops  # noqa: F401  (opens uvloop's process-wide signal pipe before any fd count)
from benchmarks._case import BY_HAND, OURS, Case, Unavailable
from benchmarks._loop_cases import CASES, TRIO_BATCH, _frames
from benchmarks._timing import measure
from tests.helpers import open_fds

_FRAME = struct.pack("!I", 3) + b"abc"


def test_one_row_per_loop_and_a_protocol_row_per_asyncio_loop() -> None:
    assert [case.key for case in CASES] == [
        "loop_asyncio_64",
        "loop_uvloop_64",
        "loop_anyio_asyncio_64",
        "loop_anyio_trio_64",
        "loop_protocol_asyncio_64",
        "loop_protocol_uvloop_64",
    ]
    assert len({case.title for case in CASES}) == len(CASES)
    per = {case.key: case.per for case in CASES}
    assert per.pop("loop_anyio_trio_64") == TRIO_BATCH
    assert set(per.values()) == {1}


def test_every_case_is_in_the_suite() -> None:
    from benchmarks._suite import ALL_CASES

    keys = [case.key for case in ALL_CASES]
    assert all(keys.count(case.key) == 1 for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.key for case in CASES])
def test_case_measures_both_columns_and_closes_its_sockets(case: Case) -> None:
    before = open_fds()
    with ExitStack() as stack:
        try:
            loops = case.setup(stack)
        except Unavailable as why:
            pytest.skip(str(why))
        opened = open_fds() - before
        assert sorted(loops) == sorted([OURS, BY_HAND])
        samples = measure(loops, round_ms=1.0, rounds=2)
    assert open_fds() == before, f"{case.key} left fds open"
    # Each column had a socket pair (or a connection to a server) of its own.
    assert len(opened) >= 4
    for name, values in samples.items():
        assert len(values) == 2, name
        assert all(value > 0 for value in values), (name, values)


def test_frames_of_one_whole_read_are_the_read() -> None:
    buffer = bytearray()
    assert _frames(buffer, _FRAME) == [_FRAME]
    assert buffer == b""


def test_frames_split_across_reads_and_packed_in_one_read() -> None:
    buffer = bytearray()
    stream = _FRAME * 3 + _FRAME[:5]
    chunks = [stream[:2], stream[2:9], stream[9:]]
    frames = [frame for chunk in chunks for frame in _frames(buffer, chunk)]
    assert frames == [_FRAME] * 3
    assert buffer == _FRAME[:5]
    assert _frames(buffer, _FRAME[5:]) == [_FRAME]
    assert buffer == b""
