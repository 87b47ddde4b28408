"""Checks of the dx-router role on a Linux router: every BGP session to AWS is up and carries what
the inventory says.

Each check is ``test_x(host, hostvars, manifest)``: ``host`` is a testinfra Host, ``hostvars`` the
host's resolved inventory variables, ``manifest`` its build manifest. IOS-XE and Junos routers are
not reached over testinfra; their checks are skipped.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, NamedTuple

import pytest

LINUX = ("frr", "bird", "openbgpd")
FRR_CONF = "/etc/frr/frr.conf"


class Expected(NamedTuple):
    """One BGP session as the inventory describes it."""

    vif: str
    version: int
    peer: str
    advertise: frozenset[str]
    bfd: bool

    @property
    def bird_protocol(self) -> str:  # the name the BIRD template gives the session
        return f"{self.vif}-v{self.version}".replace("-", "_")


def _platform(hostvars: dict[str, Any]) -> str:
    platform = str((hostvars.get("dx") or {}).get("platform"))
    if platform not in LINUX:
        pytest.skip(f"{platform} routers are checked on the device, not over SSH")
    return platform


def _expected(hostvars: dict[str, Any]) -> list[Expected]:
    dx = hostvars.get("dx") or {}
    out = []
    for vif in dx.get("vifs", []):
        for version in (4, 6):
            peering = vif.get(f"ipv{version}")
            if not peering:
                continue
            peer = str(ipaddress.ip_interface(peering["amazon"]).ip)
            advertise = frozenset(str(ipaddress.ip_network(p))
                                  for p in (vif.get("advertise") or {}).get(f"ipv{version}", []))
            bfd = bool(vif.get("bfd")) and dx.get("platform") != "openbgpd"
            out.append(Expected(vif["id"], version, peer, advertise, bfd))
    return out


def _json(host: Any, command: str) -> Any:
    return json.loads(host.check_output(command))


# -- what the router reports, per platform -------------------------------------------------------


def _states(host: Any, platform: str, sessions: list[Expected]) -> dict[str, str]:
    """Peer address -> BGP state."""
    if platform == "frr":
        summary = _json(host, "vtysh -c 'show bgp summary json'")
        return {peer: info.get("state", "?") for family in summary.values() if isinstance(family, dict)
                for peer, info in family.get("peers", {}).items()}
    if platform == "bird":
        out = {}
        for s in sessions:
            text = host.check_output(f"birdc show protocols all {s.bird_protocol}")
            match = re.search(r"BGP state:\s+(\S+)", text)
            out[s.peer] = match[1] if match else "absent"
        return out
    neighbors = _json(host, "bgpctl -j show neighbor").get("neighbors", [])
    return {n.get("remote_addr"): n.get("state", "?") for n in neighbors}


def _advertised(host: Any, platform: str, session: Expected) -> set[str]:
    family = f"ipv{session.version}"
    if platform == "frr":
        routes = _json(host, f"vtysh -c 'show bgp {family} unicast neighbors {session.peer} "
                             "advertised-routes json'")
        return set(routes.get("advertisedRoutes", {}))
    if platform == "bird":
        text = host.check_output(f"birdc show route export {session.bird_protocol}")
        return {line.split()[0] for line in text.splitlines() if re.match(r"[0-9a-f:.]+/\d+\s", line)}
    rib = _json(host, f"bgpctl -j show rib out neighbor {session.peer}").get("rib", [])
    return {r["prefix"] for r in rib}


def _bfd_up(host: Any, platform: str) -> set[str]:
    """Peer addresses whose BFD session is up."""
    if platform == "frr":
        return {p["peer"] for p in _json(host, "vtysh -c 'show bfd peers json'") if p.get("status") == "up"}
    rows = [line.split() for line in host.check_output("birdc show bfd sessions").splitlines()]
    return {row[0] for row in rows if len(row) > 2 and row[2] == "Up"}


# -- checks ----------------------------------------------------------------------------------------


def test_bgp_sessions_established(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    platform = _platform(hostvars)
    sessions = _expected(hostvars)
    states = _states(host, platform, sessions)
    down = [f"{s.vif} IPv{s.version} {s.peer}: {states.get(s.peer, 'not configured')}"
            for s in sessions if states.get(s.peer) != "Established"]
    assert not down, "BGP sessions not Established: " + "; ".join(down)


def test_advertised_prefixes(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Each session sends AWS exactly the prefixes the inventory lists for it."""
    platform = _platform(hostvars)
    wrong = []
    for s in _expected(hostvars):
        sent = _advertised(host, platform, s)
        if sent != s.advertise:
            wrong.append(f"{s.vif} IPv{s.version}: sends {sorted(sent)}, inventory: {sorted(s.advertise)}")
    assert not wrong, "; ".join(wrong)


def test_bfd_up(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    platform = _platform(hostvars)
    wanted = [s for s in _expected(hostvars) if s.bfd]
    if not wanted:
        pytest.skip("no VIF asks for BFD")
    up = _bfd_up(host, platform)
    down = [f"{s.vif} IPv{s.version} {s.peer}" for s in wanted if s.peer not in up]
    assert not down, "BFD not up: " + "; ".join(down)


def forwarding_keys(hostvars: dict[str, Any]) -> list[str]:
    """The forwarding switches the router needs on: IPv4, and IPv6 when a VIF peers over it."""
    vifs = (hostvars.get("dx") or {}).get("vifs", [])
    keys = ["net.ipv4.ip_forward"]
    if any(vif.get("ipv6") for vif in vifs):
        keys.append("net.ipv6.conf.all.forwarding")
    return keys


def test_forwarding_on(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    """The routes BGP installs carry the LAN's traffic only when the kernel forwards."""
    _platform(hostvars)
    off = [f"{key} = {value}" for key in forwarding_keys(hostvars)
           if (value := host.check_output(f"sysctl -n {key}").strip()) != "1"]
    assert not off, ("forwarding is off: " + "; ".join(off)
                     + " (run: sysctl -p /etc/sysctl.d/60-aws-dx.conf)")


def test_frr_running_config_holds_every_rendered_line(host: Any, hostvars: dict[str, Any],
                                                      manifest: dict[str, Any]) -> None:
    """FRR drops lines it cannot apply (order, missing daemon) without failing the load."""
    if _platform(hostvars) != "frr":
        pytest.skip("FRR only")
    rendered = config_lines(host.file(FRR_CONF).content_string)
    running = config_lines(host.check_output("vtysh -c 'show running-config'"))
    missing = sorted(rendered - running)
    # a missing line may hold the MD5 key: name it without its value
    shown = [re.sub(r"(password) \S+", r"\1 <hidden>", " / ".join(m)) for m in missing]
    assert not missing, f"not in the running config: {shown}"


def config_lines(text: str) -> set[tuple[str, ...]]:
    """Each line of an FRR config with the block lines above it, ignoring comments and exits."""
    out = set()
    stack: list[tuple[int, str]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("!") or stripped in ("exit", "exit-address-family", "end"):
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        words = " ".join(stripped.split())
        out.add((*(s for _, s in stack), words))
        stack.append((indent, words))
    return out
