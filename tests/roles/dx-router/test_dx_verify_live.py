"""``bootstrap verify`` on live Linux routers: the rendered FRR, BIRD and OpenBGPD configs pushed to a
router in network namespaces, peering with MD5 with an AWS side (tests/dx/live.py), and verify's
per-VIF report read as a user reads it: the table, the JSON and the exit status.

verify reaches the router through its namespaces instead of SSH (tests/dx/nsverify.py); all else
is the command as shipped.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dx.live import ESTABLISH_TIMEOUT, Topology, established, wait_for
from dx.routers import KEYS
from support import waits
from support.cli import ROOT, Result

from bootstrap.roles.dx_router import capabilities

PLATFORMS = ("frr", "bird", "openbgpd")
CHECK = "dx-router::test_vif_sessions"
VIFS = ("dxvif-fgabc101 IPv4", "dxvif-fgabc101 IPv6", "dxvif-fgabc102 IPv4")
PEERS = dict(zip(VIFS, ("169.254.10.1", "2600:1f00:1::2", "169.254.11.1"), strict=True))


@dataclass
class Router:
    topology: Topology
    inventory: Path
    build: Path
    workdir: Path

    def verify(self) -> tuple[Result, dict[str, Any]]:
        """``bootstrap verify INVENTORY --json FILE`` against the router; the result and the JSON."""
        assert self.topology.holder is not None
        report = self.workdir / "verify.json"
        report.unlink(missing_ok=True)
        proc = subprocess.run(
            [sys.executable, str(ROOT / "tests/dx/nsverify.py"), str(self.topology.holder.pid),
             "verify", str(self.inventory), "--build", str(self.build), "--json", str(report)],
            capture_output=True, text=True, timeout=waits.allowance(120))
        data = json.loads(report.read_text()) if report.exists() else {}
        return Result(proc.returncode, proc.stdout, proc.stderr), data


@pytest.fixture(scope="module", params=PLATFORMS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    platform = request.param
    tmp = tmp_path_factory.mktemp(f"dx-verify-{platform}")
    with established(platform, tmp, pushed=True) as (topo, inventory):
        yield Router(topo, inventory, tmp / "build", tmp)


def vif_rows(out: str) -> dict[str, str]:
    """The table's per-VIF lines under the check: VIF -> its facts."""
    return {m[1]: m[2] for m in re.finditer(r"^\s+(dxvif-\S+ IPv[46]): (.*)$", out, re.M)}


def test_verify_reports_each_vif_of_the_running_router(live: Router) -> None:
    platform = live.topology.platform
    # BFD and the route exchange settle a moment after Established: verify until it passes.
    result, data = wait_for("verify to pass", lambda: (r := live.verify())[0].rc == 0 and r, 30,
                            interval=1)
    skipped = "" if platform == "frr" else " (1 skipped)"  # FRR's running config check
    assert result.err.splitlines() == [f"[1/1] live-{platform}: 5 checks passed{skipped}"]
    assert re.search(rf"^live-{platform}\s+{re.escape(CHECK)}\s+ok\s*$", result.out, re.M), result.out
    assert re.search(rf"^live-{platform}\s+manifest::test_managed_files\s+ok", result.out, re.M)
    rows = vif_rows(result.out)
    assert list(rows) == list(VIFS), result.out
    kernel_gap = capabilities.FEATURES_BY_TITLE["Routes from AWS installed in the kernel"].missing_on(
        platform)
    up = r"since \d\d:\d\d:\d\d\.\d+" if platform == "bird" else r"\d\d:\d\d:\d\d"
    for vif, row in rows.items():
        sent = 1 if "IPv6" in vif else 2
        bfd = "up" if vif.startswith("dxvif-fgabc101") and platform != "openbgpd" else "not asked"
        kernel = f"not checked: {re.escape(kernel_gap)}" if kernel_gap else "all 1 received routes"
        assert re.fullmatch(rf"peer {re.escape(PEERS[vif])}, state Established, up {up}, received 1, "
                            rf"sent {sent}, bfd {bfd}, kernel {kernel}", row), row
    check = next(c for c in data["hosts"][f"live-{platform}"]["checks"] if c["check"] == CHECK)
    assert check["outcome"] == "passed"
    assert list(check["properties"]) == list(VIFS)
    assert check["properties"]["dxvif-fgabc101 IPv4"]["state"] == "Established"
    assert check["properties"]["dxvif-fgabc101 IPv4"]["received"] == 1
    assert data["summary"]["hosts_failed"] == 0
    assert KEYS["vif101.key"] not in result.out + json.dumps(data)


def test_verify_fails_and_names_the_vif_whose_peer_stopped(live: Router) -> None:
    topo = live.topology
    passive = next(s for s in topo.sessions() if s.name == "vlan102_v4")
    topo.birdc("disable", passive.name)  # AWS ends the passive VIF's session
    try:
        result, data = wait_for("verify to see the session down", lambda: (
            (r := live.verify())[0].rc == 1 and "not Established" in r[0].out and r), 30, interval=1)
        platform = topo.platform
        assert re.search(rf"^live-{platform}\s+{re.escape(CHECK)}\s+FAILED\s+dxvif-fgabc102 IPv4 "
                         r"169\.254\.11\.1: (Active|Connect|Idle|OpenSent|OpenConfirm), not Established$",
                         result.out, re.M), result.out
        # one failure per cause: the down session's missing routes are not a second failure
        assert re.search(rf"^live-{platform}\s+dx-router::test_advertised_prefixes\s+ok", result.out, re.M)
        rows = vif_rows(result.out)
        assert re.match(r"peer 169\.254\.11\.1, state (?!Established)\w+, ", rows["dxvif-fgabc102 IPv4"])
        assert rows["dxvif-fgabc101 IPv4"].startswith("peer 169.254.10.1, state Established, up ")
        assert "1 not ok" in result.out.splitlines()[-1]
        check = next(c for c in data["hosts"][f"live-{platform}"]["checks"] if c["check"] == CHECK)
        assert check["outcome"] == "failed"
        assert check["properties"]["dxvif-fgabc102 IPv4"]["state"] != "Established"
        assert check["properties"]["dxvif-fgabc101 IPv4"]["state"] == "Established"
    finally:
        topo.birdc("enable", passive.name)
    wait_for("the session back up", lambda: topo.aws_state(passive) == "Established", ESTABLISH_TIMEOUT)
