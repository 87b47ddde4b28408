"""The BGP policy of a Direct Connect router, decided here so the templates only print it.

From the validated ``dx`` settings this derives, per VIF and address family, the session: which
communities to attach (active 7224:7300, passive 7224:7100 plus an AS-path prepend, public scope
7224:9100/9200/9300), the local preference of what it receives (active over passive), the prefix
limits, BFD and timers after the platform's gaps, and the names
of the filters; per router the anchor routes of the advertised prefixes, ECMP path counts,
interface names, IOS dotted masks and Junos media MTUs.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.hosts.secrets import SecretRef
from bootstrap.roles.dx_router.capabilities import (
    KEY_LIMITS,
    LINUX_PLATFORMS,
    PANOS_NAME_MAX,
    TITLES,
    gap_for,
)
from bootstrap.roles.dx_router.settings import (
    ADVERTISE_LIMIT,
    JUNOS_L2_OVERHEAD,
    MAX_PREFIX_IN,
    AcceptRule,
    Dx,
    Vif,
    is_private_asn,
)

LOCAL_PREF = {"active": "7224:7300", "passive": "7224:7100"}
# Our side of active/passive: routes learned on the active VIF win over the passive one's, so
# traffic to AWS leaves over the active VIF too (ECMP VIFs keep the default of 100).
RECEIVED_LOCAL_PREF = {"active": 200, "passive": 50}
SCOPE = {"region": "7224:9100", "continent": "7224:9200", "global": "7224:9300"}
# Junos names its communities; the names say what AWS does with them.
COMMUNITY_NAMES = {"7224:7300": "AWS-LP-HIGH", "7224:7100": "AWS-LP-LOW",
                   "7224:9100": "AWS-SCOPE-REGION", "7224:9200": "AWS-SCOPE-CONTINENT",
                   "7224:9300": "AWS-SCOPE-GLOBAL"}
# FRR's bfdd leaves values equal to its defaults out of the running config; printing only the
# others keeps the rendered file and the running config line for line the same.
FRR_BFD_DEFAULTS = {"detect-multiplier": 3, "receive-interval": 300, "transmit-interval": 300}
# Characters that could end a word, a string or a line on some platform, or that IOS reads as
# interactive help.
KEY_FORBIDDEN = frozenset(" \t\"'\\!#;{}?")


@dataclass(frozen=True)
class Accept:
    """An inbound filter entry with its prefix-length range worked out."""

    prefix: str
    low: int
    high: int
    exact: bool
    ge: int | None
    le: int | None


@dataclass(frozen=True)
class Session:
    """One BGP session: one VIF, one address family."""

    family: str  # ipv4 | ipv6
    version: int  # 4 | 6
    tag: str  # dxvif-abc123-v4: names every filter of this session
    symbol: str  # dxvif_abc123_v4: the same, for BIRD/OpenBGPD identifiers
    upper: str  # DXVIF-ABC123-V4: the same, for IOS/Junos/FRR names
    description: str
    interface: str  # the Linux VLAN interface, IOS sub-interface, or Junos unit
    local: str
    peer: str
    local_asn: int
    peer_asn: int
    key: SecretRef
    advertise: list[str]
    accept: list[Accept]
    communities: list[str]
    community_names: list[str]
    local_pref: int | None  # set on the routes received on this session
    prepend: int
    prepend_path: str  # "65000 65000"
    max_prefix_in: int
    max_prefix_out: int | None
    bfd_interval: int | None
    bfd_multiplier: int | None
    keepalive: int | None  # None where the platform derives it from hold
    hold: int
    frr_bfd: list[tuple[str, int]] = field(default_factory=list)  # non-default bfdd lines
    local_interface: str = ""  # the local address with its prefix length: 169.254.10.2/30

    @property
    def bfd_profile(self) -> str:
        """The PAN-OS BFD profile of the session: one per interval and multiplier."""
        return f"BFD-{self.bfd_interval}X{self.bfd_multiplier}"


@dataclass(frozen=True)
class VifPlan:
    id: str
    name: str
    parent: str
    vlan: int
    mtu: int
    linux_name: str  # eth0.101
    ios_name: str  # GigabitEthernet0/1.101
    ipv4: str | None  # 169.254.10.2/30
    ipv4_address: str | None
    ipv4_mask: str | None  # 255.255.255.252
    ipv6: str | None  # 2600:1f00:1::3/125
    addresses: list[str]  # both, with prefix lengths
    link_local: bool  # keep IPv6 link-local (needed for ND) only where IPv6 runs
    bfd_interval: int | None
    bfd_multiplier: int | None
    sessions: list[Session]


@dataclass(frozen=True)
class Parent:
    name: str
    mtu: int  # IP MTU
    media_mtu: int  # Junos: IP MTU + 22
    vlans: list[str]  # Linux names of its VLAN interfaces


@dataclass(frozen=True)
class Anchor:
    prefix: str
    version: int
    network: str  # IOS: address part
    mask: str  # IOS: dotted mask

    @property
    def panos_name(self) -> str:
        """The PAN-OS static route's name: DX-10-20-0-0_16, of letters, digits, - and _ only, at
        most PANOS_NAME_MAX characters (a long IPv6 prefix keeps its start and a digest)."""
        name = "DX-" + self.prefix.replace(":", "-").replace(".", "-").replace("/", "_")
        if len(name) <= PANOS_NAME_MAX:
            return name
        digest = hashlib.sha256(self.prefix.encode()).hexdigest()[:8]
        return f"{name[:PANOS_NAME_MAX - len(digest) - 1]}-{digest}"


@dataclass(frozen=True)
class Router:
    host: str
    platform: str
    asn: int
    router_id: str
    parents: list[Parent]
    vifs: list[VifPlan]
    sessions: list[Session]
    anchors: list[Anchor]
    networks4: list[Anchor]
    networks6: list[Anchor]
    multipath4: int  # maximum-paths; 1 when no ECMP
    multipath6: int
    ecmp: bool
    communities: list[tuple[str, str]]  # (Junos name, value) of every community used
    has_ipv6: bool
    has_bfd: bool
    warnings: list[str]
    security_zone: str | None = None  # Junos SRX: the zone of the VLAN units
    # PAN-OS: one BFD profile per distinct interval and multiplier (name, interval, multiplier)
    bfd_profiles: list[tuple[str, int, int]] = field(default_factory=list)


def plan(settings: Dx, host: str, basedir: Any) -> Router:
    """Everything the templates print for one router; checks the MD5 keys on the way."""
    for vif_index, vif in enumerate(settings.vifs):
        _check_key(vif.auth_key, basedir, host, f"dx.vifs.{vif_index}.auth_key", settings.platform)
    vifs = [_vif(settings, vif) for vif in settings.vifs]
    sessions = [s for v in vifs for s in v.sessions]
    anchors = sorted({(a.version, ipaddress.ip_network(a.prefix)): a
                      for a in (_anchor(p) for s in sessions for p in s.advertise)}.items())
    anchor_list = [a for _, a in anchors]
    used = sorted({c for s in sessions for c in s.communities})
    multipath = {f: sum(1 for v, s in _ecmp_sessions(settings) if s == f) for f in ("ipv4", "ipv6")}
    ecmp_ok = gap_for(settings.platform, "ecmp") is None
    parents = []
    for name in dict.fromkeys(settings.parent(v) for v in settings.vifs):
        mine = [v for v in settings.vifs if settings.parent(v) == name]
        mtu = settings.interface_mtu or max(v.mtu for v in mine)
        parents.append(Parent(name, mtu, mtu + JUNOS_L2_OVERHEAD, [f"{name}.{v.vlan}" for v in mine]))
    return Router(
        host=host,
        platform=settings.platform,
        asn=settings.asn,
        router_id=str(settings.router_id),
        parents=parents,
        vifs=vifs,
        sessions=sessions,
        anchors=anchor_list,
        networks4=[a for a in anchor_list if a.version == 4],
        networks6=[a for a in anchor_list if a.version == 6],
        multipath4=max(multipath["ipv4"], 1) if ecmp_ok else 1,
        multipath6=max(multipath["ipv6"], 1) if ecmp_ok else 1,
        ecmp=ecmp_ok and max(multipath.values()) > 1,
        communities=[(COMMUNITY_NAMES[c], c) for c in used],
        has_ipv6=any(s.version == 6 for s in sessions),
        has_bfd=any(s.bfd_interval for s in sessions),
        warnings=_warnings(settings, host),
        security_zone=settings.junos_security_zone,
        bfd_profiles=sorted({(s.bfd_profile, s.bfd_interval, s.bfd_multiplier)
                             for s in sessions if s.bfd_interval and s.bfd_multiplier}),
    )


def _ecmp_sessions(settings: Dx) -> list[tuple[Vif, str]]:
    return [(v, f) for v in settings.vifs if v.redundancy == "ecmp" for f in v.families]


def _vif(settings: Dx, vif: Vif) -> VifPlan:
    platform = settings.platform
    parent = settings.parent(vif)
    linux_name = f"{parent}.{vif.vlan}"
    bfd = vif.bfd if gap_for(platform, "bfd") is None else None
    sessions = [_session(settings, vif, family, linux_name, bfd) for family in vif.families]
    v4 = vif.ipv4
    return VifPlan(
        id=vif.id,
        name=vif.name,
        parent=parent,
        vlan=vif.vlan,
        mtu=vif.mtu,
        linux_name=linux_name,
        ios_name=f"{parent}.{vif.vlan}",
        ipv4=str(v4.customer) if v4 else None,
        ipv4_address=str(v4.customer.ip) if v4 else None,
        ipv4_mask=str(v4.customer.netmask) if v4 else None,
        ipv6=str(vif.ipv6.customer) if vif.ipv6 else None,
        addresses=[str(p.customer) for p in (vif.ipv4, vif.ipv6) if p is not None],
        link_local=vif.ipv6 is not None,
        bfd_interval=bfd.interval_ms if bfd else None,
        bfd_multiplier=bfd.multiplier if bfd else None,
        sessions=sessions,
    )


def _session(settings: Dx, vif: Vif, family: str, interface: str, bfd: Any) -> Session:
    platform = settings.platform
    peering = getattr(vif, family)
    version = 4 if family == "ipv4" else 6
    tag = f"{vif.id}-v{version}"
    communities = []
    if vif.type == "public":
        if vif.scope:
            communities.append(SCOPE[vif.scope])
    elif vif.redundancy in LOCAL_PREF:
        communities.append(LOCAL_PREF[vif.redundancy])
    prepend = vif.prepend if vif.redundancy == "passive" else 0
    if vif.max_prefix_out is not None:
        limit_out = vif.max_prefix_out if gap_for(platform, "max-prefix-out") is None else None
    else:
        # Where the platform can, guard AWS's limit on the box too (above it the session idles).
        limit_out = ADVERTISE_LIMIT[vif.type] if gap_for(platform, "max-prefix-out") is None else None
    keepalive = vif.timers.keepalive if gap_for(platform, "keepalive") is None else None
    frr_bfd = []
    if bfd is not None:
        wanted = {"detect-multiplier": bfd.multiplier, "receive-interval": bfd.interval_ms,
                  "transmit-interval": bfd.interval_ms}
        frr_bfd = [(k, v) for k, v in wanted.items() if FRR_BFD_DEFAULTS[k] != v]
    return Session(
        family=family,
        version=version,
        tag=tag,
        symbol=tag.replace("-", "_"),
        upper=tag.upper(),
        description=f"{vif.id} {vif.name}",
        interface=interface,
        local=str(peering.customer.ip),
        peer=str(peering.amazon.ip),
        local_asn=settings.asn,
        peer_asn=vif.amazon_asn,
        key=vif.auth_key,
        advertise=[str(p) for p in getattr(vif.advertise, family)],
        accept=[_accept(r) for r in getattr(vif.accept, family)],
        communities=communities,
        community_names=[COMMUNITY_NAMES[c] for c in communities],
        local_pref=RECEIVED_LOCAL_PREF.get(vif.redundancy),
        prepend=prepend,
        prepend_path=" ".join([str(settings.asn)] * prepend),
        max_prefix_in=vif.max_prefix_in or MAX_PREFIX_IN[vif.type],
        max_prefix_out=limit_out,
        bfd_interval=bfd.interval_ms if bfd else None,
        bfd_multiplier=bfd.multiplier if bfd else None,
        keepalive=keepalive,
        hold=vif.timers.hold,
        frr_bfd=frr_bfd,
        local_interface=str(peering.customer),
    )


def _accept(rule: AcceptRule) -> Accept:
    length, longest = rule.prefix.prefixlen, rule.prefix.max_prefixlen
    low = rule.ge if rule.ge is not None else length
    high = rule.le if rule.le is not None else (longest if rule.ge is not None else low)
    # One spelling per range for IOS and FRR: 'ge' only above the prefix's length (IOS refuses
    # 'ge' equal to it), 'le' only where it bounds something (FRR drops 'le 32' after 'ge').
    ge = low if low > length else None
    le = high if high > length and (ge is None or high < longest) else None
    return Accept(str(rule.prefix), low, high, low == high == length, ge, le)


def _anchor(prefix: str) -> Anchor:
    net = ipaddress.ip_network(prefix)
    return Anchor(prefix, net.version, str(net.network_address), str(net.netmask))


def _warnings(settings: Dx, host: str) -> list[str]:
    out = []
    for index, vif in enumerate(settings.vifs):
        if vif.type == "public" and vif.redundancy == "passive" and is_private_asn(settings.asn):
            out.append(f"host {host}: key dx.vifs.{index}.prepend: AWS ignores AS-path prepend "
                       f"from a private ASN ({settings.asn}) on a public VIF")
        unfiltered = open_families(vif)
        if unfiltered:
            out.append(f"host {host}: key dx.vifs.{index}.accept: {vif.id} accepts any "
                       f"{' and any '.join(unfiltered)} prefix AWS sends; name the VPC or transit "
                       "gateway CIDRs it expects in accept")
    return out


def open_families(vif: Vif) -> list[str]:
    """The families of a private or transit VIF whose inbound filter the inventory left open.

    A private or transit VIF carries the CIDRs of known VPCs or transit gateways, so an open
    filter lets a mistake on the AWS side (a default route, an overlapping CIDR) into the
    router. A public VIF carries AWS's changing public ranges: accepting them all is the norm.
    """
    if vif.type == "public":
        return []
    named = vif.accept.model_fields_set if "accept" in vif.model_fields_set else set()
    return [family for family in vif.families if family not in named]


def key_problem(value: str, platform: str) -> str | None:
    """What is wrong with an MD5 key for AWS and for ``platform``, without showing the key."""
    if not 6 <= len(value) <= 80:
        return f"an MD5 key must be 6-80 characters long (this one has {len(value)})"
    if not value.isascii() or not value.isprintable():
        return "an MD5 key must be printable ASCII"
    if set(value) & KEY_FORBIDDEN:
        return "an MD5 key must not contain whitespace, quotes, a backslash or any of ! # ; { } ?"
    limit = KEY_LIMITS[platform]
    if len(value) > limit.max_length:
        return (f"{TITLES[platform]} takes an MD5 key of at most {limit.max_length} characters "
                f"(this one has {len(value)}): {limit.why_length}")
    misread = ((platform == "ios-xe" and value[0].isdigit())
               or (platform == "junos" and value.startswith("$9$")))
    if misread:
        return f"on {TITLES[platform]} an MD5 key must not start with {limit.refuses.strip('`')}: " \
               f"{limit.why_start}"
    return None


def _check_key(ref: SecretRef, basedir: Any, host: str, key: str, platform: str) -> None:
    problem = key_problem(ref.reveal(basedir), platform)
    if problem:
        raise BootstrapError(f"{ref.label}: {problem}", origin=ref.locate() if ref.locate else None,
                             host=ref.host or host, key=ref.key or key)


def context(target: Any, settings: Dx) -> dict[str, Any]:
    """Template values of the ``dx-router`` role; the flags choose which files it renders."""
    router = plan(settings, target.name, target.basedir)
    platform, backend = settings.platform, settings.net_backend
    return {
        "dx": router,
        "ios_xe": platform == "ios-xe",
        "nxos": platform == "nxos",
        "panos": platform == "panos",
        "junos_set": settings.style == "set",
        "junos_curly": settings.style == "curly",
        "frr": platform == "frr",
        "bird": platform == "bird",
        "openbgpd": platform == "openbgpd",
        "linux": platform in LINUX_PLATFORMS,
        "sysctl_file": SYSCTL_FILE,
        "networkd": backend == "networkd",
        "netplan": backend == "netplan",
        "ifupdown": backend == "ifupdown",
        # networkd needs a file per parent and two per VLAN
        "networkd_parents": router.parents if backend == "networkd" else [],
        "networkd_vifs": router.vifs if backend == "networkd" else [],
        "reload": RELOAD.get(platform),
        "reload_net": _reload_net(router) if platform in LINUX_PLATFORMS else None,
        "warnings": router.warnings,
    }


def _reload_net(router: Router) -> dict[str, Any]:
    """What the reload script needs to bring the VLAN interfaces to the build's state."""
    return {
        "state": NET_STATE,
        "wait": NET_WAIT_SECONDS,
        "netplan_file": NETPLAN_FILE,
        "networkd_dir": NETWORKD_DIR,
        # addresses in the order `sort` gives the ones the kernel lists, to compare them as text
        "vlans": [{"name": v.linux_name, "parent": v.parent, "vlan": v.vlan, "mtu": v.mtu,
                   "addresses": " ".join(sorted(v.addresses))} for v in router.vifs],
        "parents": router.parents,
    }


# The forwarding switches of a Linux router; the reload script applies them before the daemon.
SYSCTL_FILE = "/etc/sysctl.d/60-aws-dx.conf"
# Where the network files of each dx.linux_net backend are installed (role.yml says the same).
NETWORKD_DIR = "/etc/systemd/network"
NETPLAN_FILE = "/etc/netplan/60-aws-dx.yaml"
# The reload script records here the VLAN interfaces it brought up, so that the next one deletes
# those the inventory no longer has: push leaves a removed file in place, and netplan and
# ifupdown forget an interface once it is out of their file.
NET_STATE = "/var/lib/bootstrap/dx-router"
# How long the reload script waits for every VLAN interface to be up with its addresses (IPv6
# duplicate address detection included) before it reloads the daemon anyway and fails.
NET_WAIT_SECONDS = 60

# How `bootstrap push --apply` makes a running daemon take its new config. FRR's own reload
# script applies the difference (vtysh -f alone would only add lines); without it, vtysh -f.
# A daemon that is not running yet (the first push: Debian's FRR starts without bgpd, and its
# OpenBGPD package has no config to start with) starts with its service instead, from the
# files just installed: frr-reload.py and bgpctl only talk to running daemons.
RELOAD = {
    "frr": ("if pgrep -x bgpd >/dev/null && { ! grep -q '^bfdd=yes' /etc/frr/daemons "
            "|| pgrep -x bfdd >/dev/null; }; then\n"
            "  if [ -x /usr/lib/frr/frr-reload.py ]; then\n"
            "    /usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf\n"
            "  else\n"
            "    vtysh -f /etc/frr/frr.conf\n"
            "  fi\n"
            "else\n"
            "  systemctl restart frr\n"
            "fi"),
    "bird": "birdc configure",
    "openbgpd": ("if bgpctl show summary >/dev/null 2>&1; then\n"
                 "  bgpctl reload\n"
                 "else\n"
                 "  systemctl restart openbgpd\n"
                 "fi"),
}
