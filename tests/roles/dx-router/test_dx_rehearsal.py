"""The role side of ``bootstrap lab dx``, without machines: the AWS side's BIRD configuration
(checked by ``bird -p``), what each session originates, and the per-VIF report read from the
AWS side's and the router's own output."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dx.routers import KEYS, router, write_inventory

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import HostLoader
from bootstrap.render.registry import Registry
from bootstrap.roles.dx_router.rehearsal import REHEARSAL, DxPlan


def _plan(tmp_path: Path, **changes: Any) -> DxPlan:
    dx = router("frr", interface="eth1")
    for vif in dx["vifs"]:
        vif["accept"] = {"ipv4": ["10.100.0.0/16", "10.200.0.0/16 ge 24 le 24"],
                         "ipv6": ["::/0 le 128"]}
    dx.update(changes)
    inventory = write_inventory(tmp_path / "inv", {"r1": dx})
    return REHEARSAL.plan(HostLoader.open(inventory, Registry).target("r1"), "eth1")


def test_the_aws_side_peers_as_each_vif_with_its_key_and_sends_what_the_router_accepts(
        tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    conf = plan.bird_conf()
    assert 'neighbor 169.254.10.2 as 65000; password "Xy7secretMD5key"; bfd on;' in conf
    assert 'neighbor 169.254.11.2 as 65000; password "Ab9otherMD5key"; bfd off;' in conf
    assert "local 2600:1f00:1::2 as 64512;" in conf
    assert ('interface "eth1.101" { min rx interval 300 ms; min tx interval 300 ms; '
            "multiplier 3; };") in conf
    assert "eth1.102" not in conf.split("protocol static")[0]  # the passive VIF asks no BFD
    # exact entries as they are, a range by its shortest prefix, "anything" by a VPC's CIDR
    assert "route 10.100.0.0/16 blackhole; route 10.200.0.0/24 blackhole;" in conf
    assert "route 2600:1f18:100::/56 blackhole;" in conf
    assert sorted(plan.secrets) == sorted([KEYS["vif101.key"], KEYS["vif101.key"],
                                          KEYS["vif102.key"]])
    if shutil.which("bird"):
        (tmp_path / "aws.conf").write_text(conf)
        checked = subprocess.run(["bird", "-p", "-c", str(tmp_path / "aws.conf")],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
    script = plan.peer_setup().decode()
    assert "ip link add link eth1 name eth1.101 type vlan id 101" in script
    assert "ip link set eth1.101 mtu 9001" in script
    assert "ip addr add 2600:1f00:1::2/125 dev eth1.101 nodad" in script


def _bird_routes(*routes: tuple[str, str]) -> str:
    lines = ["BIRD 2.0.12 ready.", "Table master4:"]
    for net, community in routes:
        lines += [f"{net:<20} unicast [vlan101_v4 13:51:27.028] * (100) [AS65000i]",
                  "\tvia 169.254.10.2 on eth1.101", "\tType: BGP univ", "\tBGP.origin: IGP",
                  "\tBGP.as_path: 65000", f"\tBGP.community: {community}"]
    return "\n".join(lines) + "\n"


def _bird_protocol(name: str, state: str) -> str:
    return (f"BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\n"
            f"{name} BGP        ---        up     13:51:26.701  {state}\n"
            f"  BGP state:          {state}\n    Neighbor address: 169.254.10.2\n")


def _link(vlan: int, mtu: int, *addresses: str) -> dict[str, Any]:
    """A VLAN interface on eth1 as ``ip -j -d addr show`` gives it, with the kernel's IPv6
    link-local address beside the given ones."""
    info = [{"family": "inet6" if ":" in a else "inet", "local": a.split("/")[0],
             "prefixlen": int(a.split("/")[1]), "scope": "global"} for a in addresses]
    info.append({"family": "inet6", "local": "fe80::5054:ff:fe01:101", "prefixlen": 64,
                 "scope": "link"})
    return {"ifname": f"eth1.{vlan}", "link": "eth1",
            "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "operstate": "UP", "mtu": mtu,
            "linkinfo": {"info_kind": "vlan", "info_data": {"protocol": "802.1Q", "id": vlan}},
            "addr_info": info}


LINKS = [_link(101, 9001, "169.254.10.2/30", "2600:1f00:1::3/125"),
         _link(102, 1500, "169.254.11.2/30"),
         {"ifname": "eth1", "mtu": 9001, "flags": ["UP"], "operstate": "UP", "addr_info": []}]
BFD = ("BIRD 2.0.12 ready.\nbfd1:\nIP address                Interface  State      Since         "
       "Interval  Timeout\n169.254.10.2              eth1.101   Up         13:51:30.1    "
       "0.300    0.900\n2600:1f00:1::3            eth1.101   Init       13:51:30.1    1.000    0.000\n")


def test_the_report_says_per_vif_what_holds_and_what_does_not(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    answers = [BFD,
               _bird_protocol("vlan101_v4", "Established"),
               _bird_routes(("10.20.0.0/16", "(7224,7300)"), ("10.21.0.0/16", "(7224,7300)")),
               _bird_protocol("vlan101_v6", "Established"), "BIRD 2.0.12 ready.\n",
               _bird_protocol("vlan102_v4", "Active"), "BIRD 2.0.12 ready.\n"]
    asked: dict[str, list[str]] = {}

    def on_host(commands: list[str]) -> list[str]:
        asked["host"] = commands
        return [json.dumps(LINKS), "frr.service active, bgpd running"]

    def on_peer(commands: list[str]) -> list[str]:
        asked["peer"] = commands
        return answers

    status = plan.status(on_host, on_peer)
    text = "\n".join(status.lines)
    assert not status.ok
    assert asked["peer"][1] == "birdc show protocols all vlan101_v4"
    assert ("dxvif-fgabc101 'prod primary' (active) VLAN 101: eth1.101 up, 802.1Q id 101, "
            "mtu 9001") in text
    assert "IPv4 169.254.10.1 AS64512 <-> 169.254.10.2: Established with MD5; BFD Up" in text
    assert "AWS received 10.20.0.0/16, 10.21.0.0/16 [7224:7300]\n" in text + "\n"
    # the IPv6 session: up but nothing received, BFD not up
    assert "IPv6 2600:1f00:1::2 AS64512 <-> 2600:1f00:1::3: Established with MD5; BFD Init" in text
    assert "AWS received nothing [no community] (expected 2001:db8:100::/48)" in text
    assert "eth1.102 up, 802.1Q id 102, mtu 1500 (expected 9001)" in text
    assert "IPv4 169.254.11.1 AS64512 <-> 169.254.11.2: Active; BFD off" in text

    good = [BFD.replace("Init", "Up  "), answers[1], answers[2], answers[3],
            _bird_routes(("2001:db8:100::/48", "(7224,7300)")),
            _bird_protocol("vlan102_v4", "Established"),
            _bird_routes(("10.20.0.0/16", "(7224,7100)"), ("10.21.0.0/16", "(7224,7100)"))]
    links = json.loads(json.dumps(LINKS))
    links[1]["mtu"] = 9001

    def router_ok(commands: list[str]) -> list[str]:
        return [json.dumps(links), "frr.service active, bgpd running"]

    status = plan.status(router_ok, lambda c: good)
    assert status.ok, status.lines
    assert status.lines[0] == "router: frr.service active, bgpd running"
    stopped = plan.status(lambda c: [json.dumps(links), "frr.service active, bgpd NOT running"],
                          lambda c: good)
    assert not stopped.ok and stopped.lines[0] == "router: frr.service active, bgpd NOT running"
    # a prefix more than advertised, or a community missing, is not all good
    extra = [*good[:6], _bird_routes(("10.20.0.0/16", "(7224,7100)"),
                                     ("10.21.0.0/16", "(7224,7100)"), ("10.99.0.0/16", "(7224,7100)"))]
    assert not plan.status(router_ok, lambda c: extra).ok
    bare = [*good[:6], _bird_routes(("10.20.0.0/16", "none"), ("10.21.0.0/16", "none"))]
    assert not plan.status(router_ok, lambda c: bare).ok


def test_what_a_change_leaves_behind_is_not_all_good(tmp_path: Path) -> None:
    """After a change: a VIF the build dropped still on the router, or an address it replaced."""
    plan = _plan(tmp_path)
    good = [BFD.replace("Init", "Up  "), _bird_protocol("vlan101_v4", "Established"),
            _bird_routes(("10.20.0.0/16", "(7224,7300)"), ("10.21.0.0/16", "(7224,7300)")),
            _bird_protocol("vlan101_v6", "Established"),
            _bird_routes(("2001:db8:100::/48", "(7224,7300)")),
            _bird_protocol("vlan102_v4", "Established"),
            _bird_routes(("10.20.0.0/16", "(7224,7100)"), ("10.21.0.0/16", "(7224,7100)"))]
    changed = [_link(101, 9001, "169.254.10.2/30", "2600:1f00:1::3/125"),
               _link(102, 9001, "169.254.11.2/30")]

    def status(links: list[dict[str, Any]]) -> Any:
        return plan.status(lambda c: [json.dumps(links), "frr.service active, bgpd running"],
                           lambda c: good)

    done = status(changed)
    assert done.ok and done.established, done.lines
    # since when each session is up, as AWS sees it: a session a change restarted is told by it
    assert done.sessions == {"dxvif-fgabc101 IPv4": "since 13:51:26.701",
                             "dxvif-fgabc101 IPv6": "since 13:51:26.701",
                             "dxvif-fgabc102 IPv4": "since 13:51:26.701"}
    assert done.lines[-1] == "eth1: no VLAN outside the build"
    left = status([*changed, _link(103, 1500, "169.254.12.2/30")])
    assert not left.ok and left.established
    assert left.lines[-1] == "eth1: eth1.103 not in the build"
    stale = status([changed[0], _link(102, 9001, "169.254.11.2/30", "169.254.11.6/30")])
    assert not stale.ok
    assert ("eth1.102 up, 802.1Q id 102, mtu 9001, also 169.254.11.6/30 (not in the build)"
            in "\n".join(stale.lines))
    # Sessions up is what the state before a change is awaited for, whatever else differs.
    assert status([changed[0], _link(102, 1500, "169.254.11.2/30")]).established
    down = [*good[:5], _bird_protocol("vlan102_v4", "Active"), "BIRD 2.0.12 ready.\n"]
    lost = plan.status(lambda c: [json.dumps(changed), "frr.service active, bgpd running"],
                       lambda c: down)
    assert not lost.established and lost.sessions["dxvif-fgabc102 IPv4"] == ""


def test_failover_watches_the_route_aws_sends_on_both_vifs(tmp_path: Path) -> None:
    failover = _plan(tmp_path).failover()
    assert failover.prefix == "10.100.0.0/16" and failover.detection == "BFD 300 ms x 3 (0.9 s)"
    assert failover.peer_down == "ip link set eth1.101 down"
    assert failover.via("10.100.0.0/16 nhid 31 via 169.254.11.1 dev eth1.102 proto bgp "
                        "metric 20") == "passive"
    assert failover.via("10.100.0.0/16 nhid 30 via 169.254.10.1 dev eth1.101 proto bgp") == "active"
    assert failover.via("10.100.0.0/16 via 169.254.10.10 dev eth0") is None
    assert failover.via(".") is None


def test_failover_without_bfd_waits_for_the_hold_time_and_without_a_pair_is_refused(
        tmp_path: Path) -> None:
    dx = router("frr", interface="eth1")
    for vif in dx["vifs"]:
        vif["accept"] = {"ipv4": ["10.100.0.0/16"]}
        vif.pop("bfd", None)
        vif["timers"] = {"keepalive": 10, "hold": 30}
    plan = _plan(tmp_path / "a", vifs=dx["vifs"])
    assert plan.failover().detection == "the hold time (30 s, no BFD)"
    only = _plan(tmp_path / "b", vifs=dx["vifs"][:1])
    with pytest.raises(BootstrapError, match="an active and a passive VIF"):
        only.failover()
