"""Checks of the dx-router role on a Linux router: every BGP session to AWS is up and carries what
the inventory says.

Each check is ``test_x(host, hostvars, manifest)``: ``host`` is a testinfra Host, ``hostvars`` the
host's resolved inventory variables, ``manifest`` its build manifest. ``test_vif_sessions`` also
takes ``record_property``, to state each session's facts whether it passes or not. IOS-XE, NX-OS,
Junos and PAN-OS routers are not reached over testinfra; their checks are skipped.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, NamedTuple

import pytest

from bootstrap.roles.dx_router import bgpstate, capabilities

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


KERNEL_ROUTES = capabilities.FEATURES_BY_TITLE["Routes from AWS installed in the kernel"]


def _output(host: Any, command: str) -> str:
    """A command's output; a daemon that is not running answers nothing, read as unknown."""
    return str(host.run(command).stdout)


def _peers(host: Any, platform: str, sessions: list[Expected]) -> dict[str, bgpstate.Peer]:
    """Peer address -> its session as the daemon reports it."""
    if platform == "frr":
        return bgpstate.frr_neighbors(_output(host, "vtysh -c 'show bgp vrf all neighbors json'"))
    if platform == "bird":
        return {s.peer: bgpstate.bird_protocol(
            _output(host, f"birdc show protocols all {s.bird_protocol}"), s.bird_protocol)
            for s in sessions}
    return bgpstate.openbgpd_neighbors(_output(host, "bgpctl -j show neighbor"))


def _bfd_states(host: Any, platform: str, sessions: list[Expected]) -> dict[str, str]:
    """Peer address -> BFD state, lower case (only asked when a session wants BFD)."""
    if not any(s.bfd for s in sessions):
        return {}
    if platform == "frr":
        states = bgpstate.frr_bfd(_output(host, "vtysh -c 'show bfd peers json'"))
    else:
        states = bgpstate.bird_bfd(_output(host, "birdc show bfd sessions"))
    return {peer: state.lower() for peer, state in states.items()}


def _received(host: Any, platform: str, session: Expected) -> set[str]:
    if platform == "frr":
        return bgpstate.frr_received(_output(
            host, f"vtysh -c 'show bgp ipv{session.version} unicast neighbors {session.peer} routes json'"))
    return bgpstate.bird_received(_output(host, f"birdc show route protocol {session.bird_protocol}"))


class VifReport(NamedTuple):
    """What ``verify`` says about one session of a VIF, and what is wrong with it."""

    name: str  # "dxvif-... IPv4"
    facts: dict[str, Any]
    problems: list[str]


def vif_reports(host: Any, platform: str, sessions: list[Expected],
                bfd_asked: dict[str, bool]) -> list[VifReport]:
    """Per session: BGP state, uptime, prefixes received and sent, BFD, received routes in the kernel."""
    peers = _peers(host, platform, sessions)
    bfd = _bfd_states(host, platform, sessions)
    no_kernel = KERNEL_ROUTES.missing_on(platform)
    kernel = {} if no_kernel else {
        v: bgpstate.kernel_prefixes(_output(host, f"ip -j -{v} route show table all"), v)
        for v in sorted({s.version for s in sessions})}
    out = []
    for s in sessions:
        peer = peers.get(s.peer, bgpstate.Peer("not configured"))
        facts: dict[str, Any] = {"peer": s.peer, "state": peer.state}
        problems = []
        if peer.established:
            facts["up"] = peer.uptime or "unknown"
        else:
            problems.append(f"{peer.state}, not Established")
            if peer.last_error:
                facts["last error"] = peer.last_error
        facts["received"] = "unknown" if peer.received is None else peer.received
        facts["sent"] = "unknown" if peer.sent is None else peer.sent
        if s.bfd:
            facts["bfd"] = bfd.get(s.peer, "no session")
            if facts["bfd"] != "up":
                problems.append(f"BFD {facts['bfd']}")
        elif bfd_asked.get(s.peer):
            facts["bfd"] = f"not rendered ({capabilities.gap_for(platform, 'bfd')})"
        else:
            facts["bfd"] = "not asked"
        if no_kernel:
            facts["kernel"] = f"not checked: {no_kernel}"
        elif peer.established:
            received = _received(host, platform, s)
            missing = sorted(received - kernel[s.version])
            facts["kernel"] = (f"missing {', '.join(missing)} of {len(received)} received" if missing
                               else f"all {len(received)} received routes")
            if missing:
                problems.append(f"received routes not in the kernel: {', '.join(missing)}")
        else:
            facts["kernel"] = "no session"
        out.append(VifReport(f"{s.vif} IPv{s.version}", facts, problems))
    return out


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


# -- checks ----------------------------------------------------------------------------------------


def test_vif_sessions(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any],
                      record_property: Any) -> None:
    """One line per VIF and family: BGP state, uptime, prefixes received and sent, BFD, and whether
    the routes received are in the kernel table; a session not Established, BFD not up where the
    VIF asks for it, or a received route missing from the kernel fails the check."""
    platform = _platform(hostvars)
    sessions = _expected(hostvars)
    asked = {s.peer: _asks_bfd(hostvars, s.vif) for s in sessions}
    reports = vif_reports(host, platform, sessions, asked)
    for report in reports:
        record_property(report.name, report.facts)
    wrong = [f"{r.name} {r.facts['peer']}: {'; '.join(r.problems)}" for r in reports if r.problems]
    if wrong:
        pytest.fail("\n".join(wrong), pytrace=False)


def _asks_bfd(hostvars: dict[str, Any], vif_id: str) -> bool:
    vifs = (hostvars.get("dx") or {}).get("vifs", [])
    return any(bool(v.get("bfd")) for v in vifs if v.get("id") == vif_id)


def test_advertised_prefixes(host: Any, hostvars: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Each session sends AWS exactly the prefixes the inventory lists for it (a session that is not
    Established sends nothing; test_vif_sessions reports it, once)."""
    platform = _platform(hostvars)
    sessions = _expected(hostvars)
    peers = _peers(host, platform, sessions)
    wrong = []
    for s in sessions:
        if not peers.get(s.peer, bgpstate.Peer("not configured")).established:
            continue
        sent = _advertised(host, platform, s)
        if sent != s.advertise:
            wrong.append(f"{s.vif} IPv{s.version}: sends {sorted(sent)}, inventory: {sorted(s.advertise)}")
    if wrong:
        pytest.fail("; ".join(wrong), pytrace=False)


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
