"""The render benchmark runs and reports its ratios; ``bootstrap --help`` stays light.

Timings are never asserted here: they depend on the machine. The benchmark itself checks that the
floor and ``bootstrap render`` wrote the same files, byte for byte, and that a rerender changed
nothing, and exits non-zero otherwise.
"""

from __future__ import annotations

import re
import subprocess
import sys

from support import waits
from support.cli import ROOT, run_cli

BENCHMARK = ROOT / "benchmarks" / "render_fleet.py"
SCALE = ROOT / "benchmarks" / "inventory_scale.py"
PUBLISH = ROOT / "benchmarks" / "publish.py"
HEAVY = {"boto3", "botocore", "fabric", "paramiko", "testinfra"}


def test_render_benchmark_prints_the_ratio_line():
    proc = subprocess.run([sys.executable, str(BENCHMARK), "--hosts", "50"], capture_output=True,
                          text=True, timeout=waits.allowance(300))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # 50 hosts x (motd, host.json, manifest) + the fleet manifest, the same on both sides.
    assert re.search(r"^run 1: floor .*; 151 files, \d+ bytes on both sides$", proc.stdout, re.M)
    found = re.fullmatch(r"ratio render/floor=(\d+\.\d\d) rerender/floor=(\d+\.\d\d)", lines[-1])
    assert found, lines[-1]
    assert all(float(x) > 0 for x in found.groups())


def test_inventory_scale_benchmark_prints_the_ratio_line():
    proc = subprocess.run([sys.executable, str(SCALE), "--hosts", "200", "--repeat", "1"],
                          capture_output=True, text=True, timeout=waits.allowance(300), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    found = re.fullmatch(r"ratio group4x/group1x=(\d+\.\d\d) groups4x/groups1x=(\d+\.\d\d)",
                         proc.stdout.splitlines()[-1])
    assert found, proc.stdout


def test_publish_benchmark_prints_its_counts():
    proc = subprocess.run([sys.executable, str(PUBLISH), "--hosts", "20", "--group-size", "5"],
                          capture_output=True, text=True, timeout=waits.allowance(300), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    found = re.fullmatch(r"puts/host=(\d+\.\d\d) republish_puts=(\d+) distinct_objects=(\d+)",
                         proc.stdout.splitlines()[-1])
    assert found, proc.stdout
    # 20 manifests, one common file and one per group of 5 (4 groups): 25 PUTs for 20 hosts.
    assert found.groups() == ("1.25", "0", "5")


def test_help_does_not_import_remote_libraries():
    result = run_cli("--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.rc == 0
    assert "render" in result.out
    # stderr: "import time: self [us] | cumulative | imported package", one line per module.
    imported = {line.rsplit("|", 1)[1].strip() for line in result.err.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "bootstrap.cli" in imported  # the profile was read
    heavy = sorted(name for name in imported if name.split(".")[0] in HEAVY)
    assert heavy == []
