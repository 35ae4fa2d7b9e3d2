"""Seqpacket connections: filled in once uds.UnixSeqpacketConn exists."""

from __future__ import annotations

from benchmarks._case import Case

__all__ = ["CASES"]

CASES: list[Case] = []
