"""``bootstrap lab dx ROUTER``: what a Direct Connect rehearsal needs from this role.

The lab boots the router and a second machine in the role of AWS, joined by one Ethernet link
(the router's ``dx.interface`` is the router machine's second NIC). This module says what runs on
the AWS side: one VLAN interface per VIF with the Amazon addresses and the VIF's MTU, and a BIRD
that peers as each VIF's Amazon ASN with the VIF's MD5 key, BFD where the VIF asks, and
originates, per VIF, a prefix of each of the router's ``accept`` entries (so the router receives
what AWS would send it). It reads back, per VIF, what a Direct Connect engineer checks: the VLAN
up with its MTU, each session Established (the AWS side requires the key, so Established means
both ends signed with it), the prefixes and communities AWS received, and BFD.

The MD5 keys are read from the router's secret files and reach the AWS side only inside the
BIRD configuration, written over SSH's standard input; :attr:`DxPlan.secrets` lists them so
the lab can withhold them from anything it prints.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.roles.dx_router import bgpstate
from bootstrap.roles.dx_router.capabilities import FEATURES_BY_TITLE, LINUX_PLATFORMS, TITLES

# Where an ``accept`` entry takes any prefix (0.0.0.0/0 le 32), AWS sends a VPC's CIDR: these.
STAND_IN = {4: ipaddress.ip_network("10.100.0.0/16"),
            6: ipaddress.ip_network("2600:1f18:100::/56")}
AWS_ROUTER_ID = "169.254.255.254"
BIRD_CONF = "/etc/bird/bird.conf"
# The unit each platform's package runs its daemon under.
SERVICES = {"frr": "frr", "bird": "bird", "openbgpd": "openbgpd"}
# The process that speaks BGP (FRR's unit runs watchfrr, which is up without bgpd).
SPEAKERS = {"frr": "bgpd", "bird": "bird", "openbgpd": "bgpd"}
# Run on the router before its first push: the network tool its VLAN files are written for
# must be the one managing the link (networkd and netplan's default backend need networkd).
PREPARE = {"networkd": "systemctl enable --now systemd-networkd >/dev/null 2>&1",
           "netplan": "systemctl enable --now systemd-networkd >/dev/null 2>&1",
           "ifupdown": "true"}
KERNEL_ROUTES = "Routes from AWS installed in the kernel"

Run = Callable[[list[str]], list[str]]


@dataclass(frozen=True)
class Peering:
    """One BGP session of a VIF, as the AWS side runs it."""

    name: str  # BIRD protocol on the AWS side: vlan101_v4
    version: int
    amazon: str  # with its prefix length
    customer: str
    amazon_asn: int
    key: str
    bfd: tuple[int, int] | None  # interval ms, multiplier
    hold: int
    keepalive: int | None
    originate: list[str]  # what AWS sends on it
    expected: list[str]  # what the router advertises: exactly what AWS must receive
    communities: list[str]


@dataclass(frozen=True)
class VifSide:
    id: str
    name: str
    vlan: int
    mtu: int
    redundancy: str
    router_if: str  # eth1.101 on the router
    aws_if: str  # eth1.101 on the AWS side
    addresses: list[str]  # the router's, with prefix lengths
    peerings: list[Peering]


@dataclass(frozen=True)
class Status:
    ok: bool
    lines: list[str]
    established: bool  # every session is (what a state before a change is awaited for)
    # each session ("dxvif-fgabc101 IPv4") -> since when it is up as AWS sees it ("" if not)
    sessions: dict[str, str]


@dataclass(frozen=True)
class Failover:
    """Take ``down``'s VLAN away on the AWS side; the router's route to ``prefix`` moves from
    ``active`` to ``passive`` (their Amazon addresses)."""

    prefix: str
    version: int
    active: str
    passive: str
    peer_down: str  # run on the AWS side
    peer_up: str
    watch: str  # run on the router: prints the route each time the kernel's routes change
    detection: str  # what should notice: BFD 300 ms x 3 (0.9 s) or the hold time
    detection_seconds: float

    def via(self, line: str) -> str | None:
        """"active", "passive" or None: where the route a ``watch`` line shows goes."""
        if re.search(rf"\bvia {re.escape(self.passive)}\b", line):
            return "passive"
        if re.search(rf"\bvia {re.escape(self.active)}\b", line):
            return "active"
        return None


@dataclass(frozen=True)
class DxPlan:
    host: str
    platform: str
    net: str
    nic: str
    vifs: list[VifSide]
    secrets: list[str]
    service: str
    failover_problem: str | None
    failover_plan: Failover | None
    asn: int = 0

    @property
    def peer_name(self) -> str:
        return f"{self.host}-aws"[:63]

    @property
    def summary(self) -> str:
        sessions = sum(len(v.peerings) for v in self.vifs)
        return (f"{TITLES[self.platform]} router with {self.net}, {len(self.vifs)} VIF"
                f"{'s' if len(self.vifs) != 1 else ''} ({sessions} BGP session"
                f"{'s' if sessions != 1 else ''}) on {self.nic}")

    def host_prepare(self) -> str:
        return PREPARE[self.net]

    def peer_setup(self) -> bytes:
        """The AWS side's script (read by ``sh -s``): VLANs, addresses, then BIRD. It holds the
        keys: the lab sends it over SSH's standard input and prints none of it."""
        lines = ["set -eu", "modprobe 8021q", f"ip link set {self.nic} up",
                 f"ip link set {self.nic} mtu {max(v.mtu for v in self.vifs)}"]
        for vif in self.vifs:
            lines.append(f"ip link add link {self.nic} name {vif.aws_if} type vlan id {vif.vlan}")
            lines.append(f"ip link set {vif.aws_if} mtu {vif.mtu}")
            for p in vif.peerings:
                lines.append(f"ip addr add {p.amazon} dev {vif.aws_if}"
                             + (" nodad" if p.version == 6 else ""))
            lines.append(f"ip link set {vif.aws_if} up")
        lines += [f"cat > {BIRD_CONF} <<'EOF_BIRD'", self.bird_conf().rstrip("\n"), "EOF_BIRD",
                  f"chown bird:bird {BIRD_CONF}", f"chmod 0640 {BIRD_CONF}",
                  "bird -p -c /etc/bird/bird.conf", "systemctl restart bird"]
        return ("\n".join(lines) + "\n").encode()

    def bird_conf(self) -> str:
        out = ["# The AWS side of a bootstrap lab rehearsal.", "log syslog all;",
               f"router id {AWS_ROUTER_ID};", "protocol device {}"]
        bfd = [(v, p.bfd) for v in self.vifs for p in v.peerings if p.bfd]
        if bfd:
            out.append("protocol bfd {")
            for vif, (interval, multiplier) in dict((v.aws_if, (v, b)) for v, b in bfd).values():
                out.append(f'  interface "{vif.aws_if}" {{ min rx interval {interval} ms; '
                           f"min tx interval {interval} ms; multiplier {multiplier}; }};")
            out.append("}")
        # One static protocol per family: a prefix two VIFs send is one route, which each
        # session exports when it is one of that VIF's (BGP exports best routes only).
        for version in (4, 6):
            nets = dict.fromkeys(r for v in self.vifs for p in v.peerings
                                 if p.version == version for r in p.originate)
            if nets:
                routes = " ".join(f"route {r} blackhole;" for r in nets)
                out.append(f"protocol static vpc_v{version} {{ ipv{version}; {routes} }}")
        for vif in self.vifs:
            for p in vif.peerings:
                keepalive = f"keepalive time {p.keepalive}; " if p.keepalive else ""
                out.append(
                    f"protocol bgp {p.name} {{ local {p.amazon.split('/')[0]} as {p.amazon_asn}; "
                    f"neighbor {p.customer.split('/')[0]} as {self.asn}; "
                    f"password \"{p.key}\"; bfd {'on' if p.bfd else 'off'}; "
                    f"hold time {p.hold}; {keepalive}connect retry time 2; "
                    f"error wait time 1, 4; ipv{p.version} {{ import all; "
                    f"export where net ~ [ {', '.join(p.originate)} ]; }}; }}")
        return "\n".join(out) + "\n"

    # -- reading back --------------------------------------------------------------------------

    def peer_queries(self) -> list[str]:
        queries = ["birdc show bfd sessions"]
        for vif in self.vifs:
            for p in vif.peerings:
                queries += [f"birdc show protocols all {p.name}",
                            f"birdc show route all protocol {p.name}"]
        return queries

    def host_queries(self) -> list[str]:
        speaker = SPEAKERS[self.platform]
        return ["ip -j -d addr show",
                f"echo {self.service}.service $(systemctl is-active {self.service}), {speaker} "
                f"$(pgrep -x {speaker} >/dev/null && echo running || echo NOT running)"]

    def status(self, on_host: Run, on_peer: Run) -> Status:
        """Per VIF: its VLAN on the router, each session as AWS sees it, what AWS received."""
        links_json, daemon = on_host(self.host_queries())
        links = _json_list(links_json)
        answers = on_peer(self.peer_queries())
        bfd = bgpstate.bird_bfd(answers[0])
        daemon = daemon.strip()
        ok, at = daemon.endswith(" running") and "NOT" not in daemon, 1
        established = True
        sessions: dict[str, str] = {}
        lines = [f"router: {daemon}"]
        for vif in self.vifs:
            link = next((i for i in links if i.get("ifname") == vif.router_if), None)
            vlan_ok, said = _vlan(link, vif)
            ok &= vlan_ok
            lines.append(f"{vif.id} {vif.name!r} ({vif.redundancy}) VLAN {vif.vlan}: {said}")
            for p in vif.peerings:
                peer = bgpstate.bird_protocol(answers[at], p.name)
                routes = _routes(answers[at + 1])
                at += 2
                got = sorted(routes, key=_net_key)
                communities = sorted({c for attrs in routes.values() for c in attrs})
                prefixes_ok = got == sorted(p.expected, key=_net_key)
                state = peer.state + (" with MD5" if peer.established else "")
                bfd_state = bfd.get(p.customer.split("/")[0], "none") if p.bfd else "off"
                bfd_ok = not p.bfd or bfd_state == "Up"
                communities_ok = set(communities) == set(p.communities)
                ok &= peer.established and prefixes_ok and bfd_ok and communities_ok
                established &= peer.established
                sessions[f"{vif.id} IPv{p.version}"] = peer.uptime or ""
                lines.append(
                    f"  IPv{p.version} {p.amazon.split('/')[0]} AS{p.amazon_asn} <-> "
                    f"{p.customer.split('/')[0]}: {state}; BFD {bfd_state}")
                lines.append(
                    f"    AWS received {', '.join(got) or 'nothing'}"
                    f" [{' '.join(communities) or 'no community'}]"
                    + ("" if prefixes_ok else f" (expected {', '.join(p.expected) or 'nothing'})")
                    + ("" if communities_ok else
                       f" (expected communities {' '.join(p.communities) or 'none'})"))
        # A VIF the build no longer has must be gone from the router, not left up beside it.
        ours = {vif.router_if for vif in self.vifs}
        stray = sorted(str(i.get("ifname")) for i in links if i.get("link") == self.nic
                       and (i.get("linkinfo") or {}).get("info_kind") == "vlan"
                       and i.get("ifname") not in ours)
        ok &= not stray
        lines.append(f"{self.nic}: " + (f"{', '.join(stray)} not in the build" if stray
                                         else "no VLAN outside the build"))
        return Status(ok, lines, established, sessions)

    def failover(self) -> Failover:
        if self.failover_plan is None:
            raise BootstrapError(f"--failover: {self.failover_problem}", host=self.host,
                                 key="dx.vifs")
        return self.failover_plan


def _vlan(link: dict[str, Any] | None, vif: VifSide) -> tuple[bool, str]:
    if link is None:
        return False, f"{vif.router_if} absent on the router"
    info = (link.get("linkinfo") or {}).get("info_data") or {}
    up = "UP" in (link.get("flags") or []) and link.get("operstate") in ("UP", "UNKNOWN")
    # IPv6 link-local addresses are the kernel's own; any other must be one the build gives
    # (the VIFs' IPv4 ones are link-local too, and networkd scopes them so).
    addresses = {f"{a.get('local')}/{a.get('prefixlen')}" for a in link.get("addr_info") or []
                 if not (a.get("family") == "inet6" and a.get("scope") == "link")}
    wanted = {str(ipaddress.ip_interface(a)) for a in vif.addresses}
    ok = (up and link.get("mtu") == vif.mtu and info.get("id") == vif.vlan
          and wanted == addresses)
    said = (f"{vif.router_if} {'up' if up else str(link.get('operstate')).lower()}, "
            f"802.1Q id {info.get('id')}, mtu {link.get('mtu')}"
            + ("" if link.get("mtu") == vif.mtu else f" (expected {vif.mtu})")
            + ("" if wanted <= addresses else
               f", missing {', '.join(sorted(wanted - addresses))}")
            + ("" if addresses <= wanted else
               f", also {', '.join(sorted(addresses - wanted))} (not in the build)"))
    return ok, said


def _json_list(text: str) -> list[dict[str, Any]]:
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _routes(text: str) -> dict[str, set[str]]:
    """``birdc show route all protocol NAME``: prefix -> its communities (standard and large)."""
    routes: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        head = re.match(r"([0-9a-fA-F:.]+/\d+)\s+unicast", line)
        if head and (net := bgpstate.prefix(head[1])):
            current = routes.setdefault(net, set())
        attr = re.match(r"\s+BGP\.(?:large_)?community:\s*(.*)", line)
        if attr and current is not None:
            current |= {f"{a}:{b}" for a, b in re.findall(r"\((\d+),\s*(\d+)", attr[1])}
    return routes


def _net_key(text: str) -> tuple[int, Any]:
    net = ipaddress.ip_network(text)
    return net.version, net


def _originate(rules: list[Any], version: int) -> list[str]:
    out = []
    for rule in rules:
        net = ipaddress.ip_network(rule.prefix)
        length = max(net.prefixlen, rule.ge or net.prefixlen)
        chosen = STAND_IN[version] if net.prefixlen == 0 else next(net.subnets(new_prefix=length))
        if str(chosen) not in out:
            out.append(str(chosen))
    return out


class DxRehearsal:
    """The ``lab dx`` command's role side (role.yml ``rehearsal:``)."""

    name = "dx"
    help = ("rehearse a Linux Direct Connect router: boot it and an AWS side joined by its VIFs' "
            "VLANs, push and apply its build, report each VIF's BGP, BFD and prefixes")
    peer_role = "AWS side"

    def plan(self, target: Any, nic: str) -> DxPlan:
        from bootstrap.roles.dx_router import policy

        settings = target.settings.get("dx")
        if settings is None:
            raise BootstrapError("is not a Direct Connect router (no dx-router role and dx "
                                 "settings)", host=target.name, key="bootstrap_roles")
        if settings.platform not in LINUX_PLATFORMS:
            raise BootstrapError(f"platform {settings.platform} is not a Linux router: the lab "
                                 f"rehearses {', '.join(sorted(LINUX_PLATFORMS))} routers",
                                 host=target.name, key="dx.platform")
        for index, vif in enumerate(settings.vifs):
            if settings.parent(vif) != nic:
                where = f"dx.vifs.{index}.interface" if vif.interface else "dx.interface"
                raise BootstrapError(f"the lab joins the router's second network card, {nic}, to "
                                     f"the AWS side; {settings.parent(vif)} is not it",
                                     host=target.name, key=where)
        router = policy.plan(settings, target.name, target.basedir)
        secrets, vifs = [], []
        for vif, planned in zip(settings.vifs, router.vifs, strict=True):
            peerings = []
            for session in planned.sessions:
                key = session.key.reveal(target.basedir)
                secrets.append(key)
                rules = getattr(vif.accept, session.family)
                peering = getattr(vif, session.family)
                peerings.append(Peering(
                    name=f"vlan{vif.vlan}_v{session.version}", version=session.version,
                    amazon=str(peering.amazon), customer=str(peering.customer),
                    amazon_asn=vif.amazon_asn, key=key,
                    bfd=((session.bfd_interval, session.bfd_multiplier or 3)
                         if session.bfd_interval else None),
                    hold=session.hold, keepalive=session.keepalive,
                    originate=_originate(rules, session.version),
                    expected=[str(ipaddress.ip_network(p)) for p in session.advertise],
                    communities=list(session.communities)))
            vifs.append(VifSide(vif.id, vif.name, vif.vlan, vif.mtu, vif.redundancy,
                                planned.linux_name, planned.linux_name, planned.addresses,
                                peerings))
        problem, failover = _failover(settings.platform, vifs)
        return DxPlan(host=target.name, platform=settings.platform,
                      net=settings.net_backend or "networkd", nic=nic, vifs=vifs,
                      secrets=secrets, service=SERVICES[settings.platform],
                      failover_problem=problem, failover_plan=failover, asn=settings.asn)


def _failover(platform: str, vifs: list[VifSide]) -> tuple[str | None, Failover | None]:
    gap = FEATURES_BY_TITLE[KERNEL_ROUTES].missing_on(platform)
    if gap:
        return f"{gap}, so the lab cannot see the routes move on it", None
    for version in (4, 6):
        for active in (v for v in vifs if v.redundancy == "active"):
            for passive in (v for v in vifs if v.redundancy == "passive"):
                a = next((p for p in active.peerings if p.version == version), None)
                b = next((p for p in passive.peerings if p.version == version), None)
                common = [r for r in (a.originate if a else []) if b and r in b.originate]
                if not (a and b and common):
                    continue
                prefix = common[0]
                flag = f"-{version}"
                watch = (f"ip {flag} route show {shlex.quote(prefix)}; "
                         f"ip -o {flag} monitor route | while read -r _; do "
                         f"ip {flag} route show {shlex.quote(prefix)} | head -n 1; echo .; done")
                if a.bfd:
                    interval, multiplier = a.bfd
                    detection = (f"BFD {interval} ms x {multiplier} "
                                 f"({interval * multiplier / 1000:g} s)")
                    seconds = interval * multiplier / 1000
                else:
                    detection, seconds = f"the hold time ({a.hold} s, no BFD)", float(a.hold)
                return None, Failover(
                    prefix=prefix, version=version, active=a.amazon.split("/")[0],
                    passive=b.amazon.split("/")[0],
                    peer_down=f"ip link set {active.aws_if} down",
                    peer_up=f"ip link set {active.aws_if} up", watch=watch,
                    detection=detection, detection_seconds=seconds)
    return ("it needs an active and a passive VIF of one address family whose accept entries "
            "share a prefix (the AWS side sends it on both)"), None


REHEARSAL = DxRehearsal()
