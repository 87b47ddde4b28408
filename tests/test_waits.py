"""The tests' waits: stretched by the measured slowdown, stopped early when waiting is pointless."""

from __future__ import annotations

import re
import time

import pytest
from support import waits
from support.cli import ROOT


def test_the_slowdown_is_measured_and_never_shortens_a_wait(monkeypatch):
    monkeypatch.delenv("BOOTSTRAP_TEST_SLOWDOWN", raising=False)
    monkeypatch.setattr(waits, "_measured", None)
    factor = waits.slowdown()
    assert factor >= 1.0
    assert waits.allowance(10) == pytest.approx(10 * factor)


def test_the_slowdown_can_be_set_for_a_machine_known_to_be_slow(monkeypatch):
    monkeypatch.setenv("BOOTSTRAP_TEST_SLOWDOWN", "7")
    assert waits.allowance(30) == 210
    monkeypatch.setenv("BOOTSTRAP_TEST_SLOWDOWN", "0.5")  # never shorter than the quiet figure
    assert waits.allowance(30) == 30


def test_wait_for_returns_what_became_ready(monkeypatch):
    monkeypatch.setenv("BOOTSTRAP_TEST_SLOWDOWN", "1")
    answers = iter([None, False, "", "up"])
    assert waits.wait_for("the thing", lambda: next(answers), 5, interval=0.01) == "up"


def test_wait_for_gives_up_after_the_stretched_allowance_and_says_so(monkeypatch):
    monkeypatch.setenv("BOOTSTRAP_TEST_SLOWDOWN", "3")
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"^the thing: not after \d s \(allowed 1 s: "
                                             r"0.3 s on a quiet machine x 3.0\)$"):
        waits.wait_for("the thing", lambda: None, 0.3, interval=0.05)
    # Stretched to about 1 s, and given up long before a wait that never ends would be.
    assert 0.9 <= time.monotonic() - started < 60


def test_wait_for_stops_at_once_when_the_awaited_process_died(monkeypatch):
    monkeypatch.setenv("BOOTSTRAP_TEST_SLOWDOWN", "1")
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"^the server: exited with status 1$"):
        waits.wait_for("the server", lambda: None, 600, failed=lambda: "exited with status 1")
    # At once: far below the 600 s it would otherwise wait, whatever the machine's load.
    assert time.monotonic() - started < 60


FIXED = re.compile(r"\btimeout=\d|monotonic\(\) \+ \d")


def test_no_test_waits_a_fixed_time():
    """Every wait of the tests and benchmarks goes through support.waits (or says why not)."""
    fixed = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if FIXED.search(line) and "stretched by" not in line and "not a wait" not in line:
                fixed.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not fixed, "use waits.allowance() or waits.wait_for():\n" + "\n".join(fixed)
