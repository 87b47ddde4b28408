"""benchmarks/fleet.py runs end to end on a small fleet and prints its ratio line.

Timings are not asserted (they depend on the machine); the benchmark itself fails when push,
verify or ansible-playbook fails, or when verify disagrees with what ansible-playbook copied.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from support import docker, waits
from support.cli import ROOT


def test_fleet_benchmark_prints_the_ratio_line() -> None:
    if missing := docker.available():
        pytest.skip(f"docker fleet: {missing}")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fleet.py"), "--sizes", "1,2",
                           "--repeat", "1"], capture_output=True, text=True,
                          timeout=waits.allowance(600))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert re.search(r"^ 2 hosts x 5 files: push \d+\.\d\d s, verify \d+\.\d\d s", proc.stdout, re.M)
    assert re.search(r"^2 hosts x 5 files: ansible-playbook copy \d+\.\d\d s$", proc.stdout, re.M)
    assert re.fullmatch(r"ratio push2/push1=\d+\.\d\d verify2/verify1=\d+\.\d\d "
                        r"ansible/push2=\d+\.\d\d", lines[-1]), lines[-1]
