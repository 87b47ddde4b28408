"""How long a test waits: an allowance for a quiet machine, stretched by how slow this one is now.

A test that waits a fixed time fails on a loaded machine (other builds on the same cores, a
container image being built beside it) although nothing is wrong. Every wait and every command
time limit of the tests goes through :func:`allowance`, which multiplies a quiet machine's
generous figure by :func:`slowdown`: how much longer than its CPU time a fixed piece of Python
work takes right now (contention for the cores), times how much more CPU time it needs than on
the machine the figures come from (a slower CPU). ``BOOTSTRAP_TEST_SLOWDOWN=N`` sets the factor
instead. Long waits print their progress on the terminal, even under pytest's capture.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# CPU seconds of _work() where the allowances were measured (a 2-core x86-64 VM, Python 3.11).
REFERENCE_CPU = 0.07
# Re-measured at most this often: load changes during a run (containers start and stop).
MEASURE_EVERY = 30.0
PROGRESS_EVERY = 30.0

_measured: tuple[float, float] | None = None  # (when, factor)


def _work() -> None:
    total = 0
    for i in range(2_000_000):
        total += i


def slowdown() -> float:
    """How many times slower than a quiet reference machine this one is now (at least 1)."""
    global _measured
    if forced := os.environ.get("BOOTSTRAP_TEST_SLOWDOWN"):
        return max(1.0, float(forced))
    now = time.monotonic()
    if _measured is None or now - _measured[0] > MEASURE_EVERY:
        wall, cpu = time.perf_counter(), time.process_time()
        _work()
        wall, cpu = time.perf_counter() - wall, max(time.process_time() - cpu, 1e-3)
        _measured = (now, max(1.0, wall / cpu) * max(1.0, cpu / REFERENCE_CPU))
    return _measured[1]


def allowance(seconds: float) -> float:
    """``seconds`` (what a quiet machine needs, with a wide margin) stretched by the slowdown."""
    return seconds * slowdown()


def progress(message: str) -> None:
    """A line on the terminal now, outside pytest's captured output."""
    stream = sys.__stderr__
    if stream is not None:
        stream.write(f"\n[wait] {message}\n")
        stream.flush()


def wait_for(what: str, ready: Callable[[], T | None], seconds: float, *,
             failed: Callable[[], str | None] | None = None, interval: float = 0.5) -> T:
    """Poll ``ready()`` until it returns something true, and return that.

    ``seconds`` is a quiet machine's generous figure, stretched by :func:`slowdown` (measured
    again as the wait goes on, so that load arriving mid-wait extends it). ``failed()`` says
    why waiting longer is pointless (the process died), to stop at once with that reason.
    """
    started = time.monotonic()
    limit = allowance(seconds)
    shown = started
    while True:
        result = ready()
        if result:
            return result
        if failed is not None and (reason := failed()):
            raise AssertionError(f"{what}: {reason}")
        now = time.monotonic()
        limit = max(limit, allowance(seconds))
        if now - started > limit:
            raise AssertionError(f"{what}: not after {now - started:.0f} s (allowed {limit:.0f} s: "
                                 f"{seconds:g} s on a quiet machine x {limit / seconds:.1f})")
        if now - shown >= PROGRESS_EVERY:
            progress(f"{what}: waiting, {now - started:.0f} s of up to {limit:.0f} s")
            shown = now
        time.sleep(interval)
