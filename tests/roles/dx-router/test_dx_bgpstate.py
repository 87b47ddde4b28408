"""verify's per-VIF report, read from the daemons' real output.

tests/dx/captured/ holds what FRR 8.4, BIRD 2.0.12 and OpenBGPD 7.7 (Debian 12 packages) printed
in the live topology of tests/dx/live.py for the router of tests/dx/routers.py: ``up-*`` with
every session Established, ``down-*`` after the AWS side shut down the passive VIF's session and
the active VIF's IPv6 session (which takes BFD down with it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from dx.routers import router
from support.cli import ROOT

from bootstrap.fleet.checks import load_module
from bootstrap.roles.dx_router import bgpstate
from bootstrap.roles.dx_router.bgpstate import Peer

CAPTURED = Path(__file__).resolve().parents[2] / "dx" / "captured"
CHECKS = load_module("dx-router", ROOT / "roles/dx-router/checks.py")  # as verify loads it


def captured(platform: str, name: str) -> str:
    return (CAPTURED / platform / name).read_text()


# -- the readers -----------------------------------------------------------------------------------


def test_frr_neighbors_up_and_down() -> None:
    up = bgpstate.frr_neighbors(captured("frr", "up-neighbors.json"))
    assert {a: (p.state, p.received, p.sent) for a, p in up.items()} == {
        "169.254.10.1": ("Established", 1, 2), "169.254.11.1": ("Established", 1, 2),
        "2600:1f00:1::2": ("Established", 1, 1)}
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", p.uptime or "") for p in up.values())
    down = bgpstate.frr_neighbors(captured("frr", "down-neighbors.json"))
    assert down["169.254.10.1"].established
    assert down["169.254.11.1"] == Peer("Connect", None, 0, 0, "BGP Notification received")
    assert down["2600:1f00:1::2"] == Peer("Connect", None, 0, 0, "BFD down received")


def test_frr_bfd_and_received_routes() -> None:
    assert bgpstate.frr_bfd(captured("frr", "up-bfd.json")) == {
        "169.254.10.1": "up", "2600:1f00:1::2": "up"}
    assert bgpstate.frr_bfd(captured("frr", "down-bfd.json")) == {
        "169.254.10.1": "up", "2600:1f00:1::2": "down"}
    assert bgpstate.frr_received(captured("frr", "up-routes-v4-101.json")) == {"10.100.0.0/16"}
    assert bgpstate.frr_received(captured("frr", "up-routes-v6-101.json")) == {"2600:1f18:100::/56"}
    assert bgpstate.frr_received(captured("frr", "down-routes-v6-101.json")) == set()


def test_bird_protocol_up_and_down() -> None:
    up = bgpstate.bird_protocol(captured("bird", "up-proto-101v4.txt"), "dxvif_fgabc101_v4")
    assert up == Peer("Established", "since 10:30:54.714", 1, 2, "")
    down = bgpstate.bird_protocol(captured("bird", "down-proto-102v4.txt"), "dxvif_fgabc102_v4")
    assert down == Peer("Active", None, 0, 0, "Received: Administrative shutdown")
    assert bgpstate.bird_protocol("BIRD 2.0.12 ready.\nsyntax error, unexpected CF_SYM_UNDEFINED\n",
                                  "nosuch").state == "absent"


def test_bird_bfd_and_received_routes() -> None:
    assert bgpstate.bird_bfd(captured("bird", "up-bfd.txt")) == {
        "2600:1f00:1::2": "Up", "169.254.10.1": "Up"}
    assert bgpstate.bird_bfd(captured("bird", "down-bfd.txt")) == {
        "2600:1f00:1::2": "Down", "169.254.10.1": "Up"}
    # a route BIRD keeps but does not prefer (the passive VIF's) is received all the same
    assert bgpstate.bird_received(captured("bird", "up-routes-102v4.txt")) == {"10.100.0.0/16"}
    assert bgpstate.bird_received(captured("bird", "up-routes-101v6.txt")) == {"2600:1f18:100::/56"}
    assert bgpstate.bird_received(captured("bird", "down-routes-102v4.txt")) == set()


def test_openbgpd_neighbors_up_and_down() -> None:
    up = bgpstate.openbgpd_neighbors(captured("openbgpd", "up-neighbors.json"))
    assert up == {"169.254.10.1": Peer("Established", "00:00:09", 1, 2),
                  "2600:1f00:1::2": Peer("Established", "00:00:09", 1, 1),
                  "169.254.11.1": Peer("Established", "00:00:09", 1, 2)}
    down = bgpstate.openbgpd_neighbors(captured("openbgpd", "down-neighbors.json"))
    assert down["169.254.11.1"] == Peer("Idle", None, 0, 0, "Cease, administratively down")
    assert down["169.254.10.1"].established


def test_kernel_routes_skip_blackholes_and_name_the_default() -> None:
    assert bgpstate.kernel_prefixes(captured("frr", "up-kernel4.json"), 4) == {
        "10.100.0.0/16", "169.254.10.0/30", "169.254.11.0/30"}  # the anchors are blackholes
    assert "2600:1f18:100::/56" in bgpstate.kernel_prefixes(captured("frr", "up-kernel6.json"), 6)
    assert "2600:1f18:100::/56" not in bgpstate.kernel_prefixes(captured("frr", "down-kernel6.json"), 6)
    text = '[{"dst":"default","gateway":"169.254.10.1"},{"dst":"10.9.9.9","dev":"x"}]'
    assert bgpstate.kernel_prefixes(text, 4) == {"0.0.0.0/0", "10.9.9.9/32"}
    assert bgpstate.kernel_prefixes('[{"dst":"default","gateway":"fe80::1"}]', 6) == {"::/0"}


@pytest.mark.parametrize("text", ["", "not json", "[]", "{}", '{"default": 3}', "null",
                                  '{"neighbors": {"x": 1}}', '[{"peer": 1}, 2]'])
def test_odd_output_reads_as_nothing_never_a_crash(text: str) -> None:
    assert bgpstate.frr_neighbors(text) == {}
    assert bgpstate.openbgpd_neighbors(text) == {}
    assert bgpstate.frr_received(text) == set()
    assert bgpstate.kernel_prefixes(text, 4) == set()
    assert bgpstate.bird_received(text) == set()
    assert bgpstate.bird_bfd(text) == {}
    assert bgpstate.bird_protocol(text, "p").state == "absent"
    bgpstate.frr_bfd(text)  # a list of odd items still reads


# -- the check, on a host answering with the captured output ------------------------------------


class Answer:
    def __init__(self, stdout: str) -> None:
        self.stdout, self.rc, self.stderr = stdout, 0, ""


class CapturedHost:
    """A testinfra-like host answering each command with what the router printed."""

    def __init__(self, platform: str, moment: str) -> None:
        self.platform, self.moment = platform, moment

    def run(self, command: str) -> Answer:
        files = {
            "frr": {"vtysh -c 'show bgp vrf all neighbors json'": "neighbors.json",
                    "vtysh -c 'show bfd peers json'": "bfd.json",
                    "vtysh -c 'show bgp ipv4 unicast neighbors 169.254.10.1 routes json'":
                        "routes-v4-101.json",
                    "vtysh -c 'show bgp ipv4 unicast neighbors 169.254.11.1 routes json'":
                        "routes-v4-102.json",
                    "vtysh -c 'show bgp ipv6 unicast neighbors 2600:1f00:1::2 routes json'":
                        "routes-v6-101.json",
                    "ip -j -4 route show table all": "kernel4.json",
                    "ip -j -6 route show table all": "kernel6.json"},
            "bird": {"birdc show protocols all dxvif_fgabc101_v4": "proto-101v4.txt",
                     "birdc show protocols all dxvif_fgabc101_v6": "proto-101v6.txt",
                     "birdc show protocols all dxvif_fgabc102_v4": "proto-102v4.txt",
                     "birdc show route protocol dxvif_fgabc101_v4": "routes-101v4.txt",
                     "birdc show route protocol dxvif_fgabc101_v6": "routes-101v6.txt",
                     "birdc show route protocol dxvif_fgabc102_v4": "routes-102v4.txt",
                     "birdc show bfd sessions": "bfd.txt",
                     "ip -j -4 route show table all": "kernel4.json",
                     "ip -j -6 route show table all": "kernel6.json"},
            "openbgpd": {"bgpctl -j show neighbor": "neighbors.json"},
        }[self.platform]
        assert command in files, f"unexpected command: {command}"
        return Answer(captured(self.platform, f"{self.moment}-{files[command]}"))


def report(platform: str, moment: str, host: Any = None) -> tuple[dict[str, Any], str]:
    """The check's properties and its failure message ('' when it passes)."""
    recorded: dict[str, Any] = {}
    try:
        CHECKS.test_vif_sessions(host or CapturedHost(platform, moment), {"dx": router(platform)}, {},
                                 lambda name, value: recorded.__setitem__(name, value))
    except pytest.fail.Exception as exc:
        return recorded, str(exc.msg)
    return recorded, ""


@pytest.mark.parametrize("platform", ["frr", "bird"])
def test_every_vif_reported_and_passing_when_up(platform: str) -> None:
    facts, failure = report(platform, "up")
    assert failure == ""
    assert list(facts) == ["dxvif-fgabc101 IPv4", "dxvif-fgabc101 IPv6", "dxvif-fgabc102 IPv4"]
    active4, active6, passive4 = facts.values()
    assert active4 | {"up": "-"} == {"peer": "169.254.10.1", "state": "Established", "up": "-",
                                     "received": 1, "sent": 2, "bfd": "up",
                                     "kernel": "all 1 received routes"}
    assert active4["up"] in ("00:00:08", "since 10:30:54.714")
    assert (active6["received"], active6["sent"], active6["bfd"]) == (1, 1, "up")
    # the passive VIF's route is in the kernel (via the active VIF): nothing missing
    assert (passive4["bfd"], passive4["kernel"]) == ("not asked", "all 1 received routes")


@pytest.mark.parametrize("platform", ["frr", "bird"])
def test_a_vif_down_fails_and_says_why(platform: str) -> None:
    facts, failure = report(platform, "down")
    lines = failure.splitlines()
    assert lines[0].startswith("dxvif-fgabc101 IPv6 2600:1f00:1::2: ")
    assert "not Established" in lines[0] and "BFD down" in lines[0]
    assert lines[1].startswith("dxvif-fgabc102 IPv4 169.254.11.1: ") and "not Established" in lines[1]
    assert "BFD" not in lines[1]  # the passive VIF asks for none
    assert len(lines) == 2  # the active IPv4 session is fine
    assert facts["dxvif-fgabc102 IPv4"]["state"] in ("Connect", "Active")
    assert facts["dxvif-fgabc102 IPv4"]["last error"] in (
        "BGP Notification received", "Received: Administrative shutdown")
    assert facts["dxvif-fgabc102 IPv4"]["kernel"] == "no session"
    assert facts["dxvif-fgabc101 IPv4"]["state"] == "Established"


def test_openbgpd_says_why_the_kernel_is_not_checked() -> None:
    facts, failure = report("openbgpd", "up")
    assert failure == ""
    for fact in facts.values():
        assert fact["kernel"].startswith("not checked: OpenBGPD portable 7.7 on Linux keeps them in its RIB")
        assert fact["bfd"] == "not asked"
    facts, failure = report("openbgpd", "down")
    assert failure.splitlines() == ["dxvif-fgabc101 IPv6 2600:1f00:1::2: Idle, not Established",
                                    "dxvif-fgabc102 IPv4 169.254.11.1: Idle, not Established"]


class RoutesLost(CapturedHost):
    """The router of the ``up`` capture whose kernel lost the route AWS sent (zebra not running,
    a ``protocol kernel`` with export none)."""

    def run(self, command: str) -> Answer:
        if command.startswith("ip -j -4 route"):
            return Answer('[{"dst":"169.254.10.0/30","dev":"dxp.101"}]')
        return super().run(command)


@pytest.mark.parametrize("platform", ["frr", "bird"])
def test_received_routes_missing_from_the_kernel_fail(platform: str) -> None:
    facts, failure = report(platform, "up", RoutesLost(platform, "up"))
    assert failure.splitlines() == [
        "dxvif-fgabc101 IPv4 169.254.10.1: received routes not in the kernel: 10.100.0.0/16",
        "dxvif-fgabc102 IPv4 169.254.11.1: received routes not in the kernel: 10.100.0.0/16"]
    assert facts["dxvif-fgabc101 IPv4"]["kernel"] == "missing 10.100.0.0/16 of 1 received"
    assert facts["dxvif-fgabc101 IPv6"]["kernel"] == "all 1 received routes"


class DaemonStopped(CapturedHost):
    def run(self, command: str) -> Answer:
        return Answer("")


@pytest.mark.parametrize("platform", ["frr", "bird", "openbgpd"])
def test_a_stopped_daemon_fails_every_vif(platform: str) -> None:
    facts, failure = report(platform, "up", DaemonStopped(platform, "up"))
    assert len(failure.splitlines()) == 3
    assert all("not Established" in line for line in failure.splitlines())
    assert {f["state"] for f in facts.values()} <= {"not configured", "absent"}
