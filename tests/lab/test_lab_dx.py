"""``bootstrap lab dx`` rehearses a Linux Direct Connect router on real kernels.

Two lab machines per platform, booted at once: the router (its build pushed and applied with
``push --apply``, its VLAN files written for one of the three Linux network tools) and an AWS side
(BIRD with each VIF's Amazon address, ASN and MD5 key), joined by one link carrying both VIFs'
802.1Q VLANs. Each run rehearses a change: the router boots from and is pushed an earlier
build (the backup VIF at MTU 1500, and a third VIF since retired), then the build under test, so
``push --apply`` must change a VLAN's MTU and delete a VLAN through the router's network tool. One
test per platform checks everything a run reports: every VLAN up with the rendered MTU and
addresses and no other VLAN left, every session Established with MD5, exactly the advertised prefixes
with their communities on the AWS side, BFD up where asked, all of it again after a reboot with
the daemon started by systemd from the pushed files, and (FRR) the failover to the passive VIF
timed with BFD. No machine is left running, whatever happens.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dx.routers import KEYS, changed, router, write_inventory
from support.lab import bootstrap, rendered

MISSING = [p for p in ("qemu-system-x86_64", "qemu-img") if shutil.which(p) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"QEMU is not installed ({', '.join(MISSING)}"
                                                      f"; see requirements/apt-lab.txt)")
# platform, network tool, unit, rehearse the failover
PLATFORMS = [("frr", "networkd", "frr", True), ("bird", "netplan", "bird", False),
             ("openbgpd", "ifupdown", "openbgpd", False)]


def _dx(platform: str, net: str) -> dict[str, Any]:
    dx = router(platform, interface="eth1", linux_net=net)
    for vif in dx["vifs"]:
        # What AWS sends: the VPC's CIDRs; the router accepts those alone.
        vif["accept"] = {"ipv4": ["10.100.0.0/16"], "ipv6": ["2600:1f18:100::/56"]}
    return dx


def _before(dx: dict[str, Any]) -> dict[str, Any]:
    """The router as it runs before the change: its backup VIF at MTU 1500, and a third VIF."""
    old = changed(dx, "vifs.1.mtu", 1500)
    retired = copy.deepcopy(dx["vifs"][1]) | {
        "id": "dxvif-fgabc103", "name": "retired", "vlan": 103, "mtu": 1500,
        "ipv4": {"customer": "169.254.12.2/30", "amazon": "169.254.12.1/30"}}
    old["vifs"].append(retired)
    return old


def _qemu_pids(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"QEMU PID (\d+)", text)]


def _is_qemu(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"qemu-system")
    except OSError:
        return False


@pytest.fixture
def rehearsal(request: pytest.FixtureRequest, lab_dir: Path, tmp_path: Path
              ) -> Iterator[tuple[Path, Path, Path, str]]:
    platform, net = request.param[:2]
    host = f"dxl-{platform}"
    before = write_inventory(tmp_path / "inv-before", {host: _before(_dx(platform, net))})
    earlier = bootstrap("render", before, "-o", tmp_path / "build-before", seconds=120)
    assert earlier.returncode == 0, earlier.stderr
    inventory = write_inventory(tmp_path / "inv", {host: _dx(platform, net)})
    build = tmp_path / "build"
    with rendered(lab_dir, (host, f"{host}-aws"), inventory, build):
        yield lab_dir, inventory, build, host


@pytest.mark.parametrize("rehearsal", PLATFORMS, indirect=True, ids=[p[0] for p in PLATFORMS])
def test_a_router_rehearsed_against_an_aws_side(
        rehearsal: tuple[Path, Path, Path, str]) -> None:
    lab, inventory, build, host = rehearsal
    platform, net, unit, failover = next(p for p in PLATFORMS if host == f"dxl-{p[0]}")
    args = ["lab", "dx", host, "-i", inventory, "-b", build, "--from", build.parent /
            "build-before", "--lab-dir", lab]
    result = bootstrap(*args, *(["--failover"] if failover else []), seconds=3600)
    out = result.stdout
    sys.__stderr__.write(out)  # the run's report, for whoever watches the suite
    assert result.returncode == 0, out[-4000:] + result.stderr[-2000:]
    for key in KEYS.values():
        assert key not in out + result.stderr

    assert f"with {net}, 2 VIFs (3 BGP sessions) on eth1" in out
    assert f"{host}: push --apply of the build it runs now from " in out
    assert f"{host}: push --apply of the change from {build}: changed" in out
    # Before the change: the sessions up, the backup VIF at 1500, the retired VIF still there.
    state = out.split("state before the change", 1)[1].split("push --apply of the change", 1)[0]
    assert "VLAN 102: eth1.102 up, 802.1Q id 102, mtu 1500 (expected 9001)" in state, state
    assert "eth1: eth1.103 not in the build" in state, state
    assert "IPv4 169.254.10.1 AS64512 <-> 169.254.10.2: Established with MD5" in state, state
    # Which sessions the change restarted is told (each was up before it), not judged: under
    # load a primary's IPv4 session was seen to restart between the two samples on some runs,
    # so a change is judged by the state after it (BFD Up included), as below.
    [restarted] = re.findall(r"^sessions the change restarted: (.*)$", out, re.M)
    assert "not known" not in restarted, restarted
    bfd = "Up" if platform != "openbgpd" else "off"
    speaker = "bird" if platform == "bird" else "bgpd"
    expected = [
        f"router: {unit}.service active, {speaker} running",
        "dxvif-fgabc101 'prod primary' (active) VLAN 101: eth1.101 up, 802.1Q id 101, mtu 9001",
        f"IPv4 169.254.10.1 AS64512 <-> 169.254.10.2: Established with MD5; BFD {bfd}",
        "AWS received 10.20.0.0/16, 10.21.0.0/16 [7224:7300]",
        f"IPv6 2600:1f00:1::2 AS64512 <-> 2600:1f00:1::3: Established with MD5; BFD {bfd}",
        "AWS received 2001:db8:100::/48 [7224:7300]",
        "dxvif-fgabc102 'prod backup' (passive) VLAN 102: eth1.102 up, 802.1Q id 102, mtu 9001",
        "IPv4 169.254.11.1 AS64512 <-> 169.254.11.2: Established with MD5; BFD off",
        "AWS received 10.20.0.0/16, 10.21.0.0/16 [7224:7100]",
        "eth1: no VLAN outside the build",
    ]
    after_push = out.split("all good after push --apply", 1)
    assert len(after_push) == 2, out[-4000:]
    after_reboot = after_push[1].split("all good after the reboot", 1)
    assert len(after_reboot) == 2, out[-4000:]
    for section in (after_reboot[0], after_reboot[1]):
        for line in expected:
            assert line in section, (line, section)
    assert re.search(rf"{host}: rebooted in \d+ s; {unit}\.service active \(running, enabled,",
                     out), out
    if failover:
        moved = re.search(r"moved to the passive VIF \(via 169\.254\.11\.1\) after ([0-9.]+) s "
                          r"\(detection: BFD 300 ms x 3 \(0\.9 s\)", out)
        assert moved, out
        # BFD noticed, not the 90 s hold time: well under it even on a slow machine.
        assert float(moved[1]) < 30, moved[0]
        assert "back via 169.254.10.1 after" in out
    assert f"{host}: rehearsal passed" in out
    pids = _qemu_pids(out)
    assert len(set(pids)) == 2
    assert not any(_is_qemu(p) for p in pids), "a machine of the rehearsal is still running"
    assert not os.path.exists(lab / "machines" / host / "disk.qcow2")
