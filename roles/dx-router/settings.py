"""The ``dx`` namespace: an AWS Direct Connect customer router and its virtual interfaces (VIFs).

AWS's rules are validators here, so a bad value fails the render with the file:line, the host
and the key (AWS Direct Connect user guide: "Virtual interfaces", "Quotas", "BGP-specific
settings", "MTUs for private virtual interfaces or transit virtual interfaces"). What a platform
cannot do is decided with the capability table of :mod:`bootstrap.roles.dx_router.capabilities`.

Every string that reaches a config line is checked here: names, descriptions and interface names
take a small character set, so none of them can end a line, start a comment or open a block on
any platform. The MD5 key is a secret reference; its value is checked when it is revealed
(:mod:`bootstrap.roles.dx_router.policy`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from bootstrap.hosts.model import KeyProblem, Secret, Settings
from bootstrap.roles.dx_router.capabilities import (
    CEILINGS,
    GAPS,
    LINUX_PLATFORMS,
    NEIGHBOR_DESCRIPTION_MAX,
    PLATFORMS,
    TITLES,
    gap_for,
    neighbor_description,
)

AS_TRANS = 23456
LAST_2BYTE_ASN = 65535
MAX_ASN = 4294967294
PRIVATE_ASNS = ((64512, 65534), (4200000000, 4294967294))

# MTUs AWS accepts per VIF type, and how many prefixes it takes per family before the session
# goes idle.
VIF_MTUS = {"private": (1500, 9001), "transit": (1500, 8500), "public": (1500,)}
ADVERTISE_LIMIT = {"private": 100, "transit": 100, "public": 1000}
# Inbound limits when none is given: a VPC or TGW sends few routes, a public VIF thousands.
MAX_PREFIX_IN = {"private": 1000, "transit": 1000, "public": 20000}

_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.,:/()@+=-]*")
_INTERFACE = re.compile(r"[A-Za-z][A-Za-z0-9_./:-]*")
_VIF_ID = re.compile(r"dxvif-[a-z0-9]{1,16}")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
_CONNECTION_ID = re.compile(r"dx(con|lag)-[a-z0-9]{1,16}")
LINUX_IFNAMSIZ = 15


def _asn(value: Any) -> int:
    if isinstance(value, bool | float):
        raise ValueError("an ASN is asplain (65000, 4200000000) or a quoted asdot string ('1.10')")
    if isinstance(value, str):
        asdot = re.fullmatch(r"(\d{1,5})\.(\d{1,5})", value.strip())
        if asdot:
            high, low = int(asdot[1]), int(asdot[2])
            if high > 65535 or low > 65535:
                raise ValueError(f"asdot {value!r}: each half must be 0-65535")
            value = high * 65536 + low
        elif value.strip().isdigit():
            value = int(value)
        else:
            raise ValueError(f"{value!r} is not an ASN (asplain 65000 or asdot '1.10')")
    if not isinstance(value, int):
        raise ValueError("an ASN is a number")
    if not 1 <= value <= MAX_ASN:
        raise ValueError(f"ASN {value} is outside 1-{MAX_ASN}")
    if value == AS_TRANS:
        raise ValueError(f"ASN {AS_TRANS} is AS_TRANS, reserved for 2-byte speakers")
    if value == LAST_2BYTE_ASN:
        raise ValueError(f"ASN {LAST_2BYTE_ASN} is reserved (RFC 7300) and AWS refuses it")
    return value


def is_private_asn(asn: int) -> bool:
    return any(low <= asn <= high for low, high in PRIVATE_ASNS)


def _text(value: str) -> str:
    if len(value) > 64 or not _TEXT.fullmatch(value):
        raise ValueError(
            f"{value!r} cannot be put in a router config: use at most 64 letters, digits, spaces "
            "and _ . , : / ( ) @ + = - (no line break, !, ;, #, braces or quotes)")
    if value.endswith(" ") or "  " in value:
        # FRR and IOS keep a description as words: the running config would differ from the file.
        raise ValueError(f"{value!r} has a trailing space or two spaces in a row; routers keep "
                         "descriptions as single-spaced words")
    return value


def _interface(value: str) -> str:
    if len(value) > 32 or not _INTERFACE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an interface name: a letter, then letters, digits and _ . / : -")
    return value


def _vif_id(value: str) -> str:
    if not _VIF_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a virtual interface id like dxvif-fgabc123")
    return value


def _router_id(value: ipaddress.IPv4Address) -> ipaddress.IPv4Address:
    # The daemons' checks take any dotted quad; the peer refuses these in the OPEN message.
    if value.is_unspecified or value.is_multicast or value == ipaddress.IPv4Address("255.255.255.255"):
        raise ValueError(f"{value} is not a unicast address: BGP peers refuse it as a router id "
                         "(RFC 4271, RFC 6286)")
    return value


def _connection_id(value: str) -> str:
    if not _CONNECTION_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a connection or LAG id like dxcon-fgabc123 or dxlag-ffabc123")
    return value


Asn = Annotated[int, BeforeValidator(_asn)]
Text = Annotated[str, AfterValidator(_text)]
Interface = Annotated[str, AfterValidator(_interface)]


def _zone(value: str) -> str:
    if not _ZONE.fullmatch(value):
        raise ValueError(f"{value!r} is not a security zone name: a letter, then at most 62 "
                         "letters, digits, _ and -")
    return value


def _network(family: int) -> Any:
    example = "10.20.0.0/16" if family == 4 else "2001:db8::/48"

    def parse(value: Any) -> Any:
        if not isinstance(value, str) or "/" not in value:
            raise ValueError(f"{value!r} is not a prefix with its length, like {example}")
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv{family} prefix") from None
        if net.version != family:
            raise ValueError(f"{value!r} is not an IPv{family} prefix")
        if ipaddress.ip_interface(value).ip != net.network_address:
            raise ValueError(f"{value!r} has host bits set; the prefix is {net}")
        return net

    return parse


Prefix4 = Annotated[ipaddress.IPv4Network, BeforeValidator(_network(4))]
Prefix6 = Annotated[ipaddress.IPv6Network, BeforeValidator(_network(6))]


class AcceptRule(Settings):
    """An inbound prefix filter entry: ``PREFIX [ge N] [le N]``."""

    prefix: ipaddress.IPv4Network | ipaddress.IPv6Network
    ge: int | None = None
    le: int | None = None

    @property
    def exact(self) -> bool:
        return self.ge is None and self.le is None


def _accept_rule(family: int) -> Any:
    parse_prefix = _network(family)

    def parse(value: Any) -> AcceptRule:
        if isinstance(value, AcceptRule):
            return value
        if not isinstance(value, str):
            raise ValueError("an accept entry is a string 'PREFIX [ge N] [le N]'")
        words = value.split()
        if not words:
            raise ValueError("an accept entry is a string 'PREFIX [ge N] [le N]'")
        prefix = parse_prefix(words[0])
        bounds: dict[str, int] = {}
        rest = words[1:]
        while rest:
            if len(rest) < 2 or rest[0] not in ("ge", "le") or rest[0] in bounds or not rest[1].isdigit():
                raise ValueError(f"{value!r}: expected 'PREFIX [ge N] [le N]'")
            bounds[rest[0]] = int(rest[1])
            rest = rest[2:]
        low = bounds.get("ge", prefix.prefixlen)
        # As IOS and FRR read it: 'ge N' alone reaches the longest prefix, 'le N' alone starts at
        # the prefix's own length.
        high = bounds.get("le", prefix.max_prefixlen if "ge" in bounds else low)
        if not prefix.prefixlen <= low <= high <= prefix.max_prefixlen:
            raise ValueError(f"{value!r}: need {prefix.prefixlen} <= ge <= le <= {prefix.max_prefixlen}")
        return AcceptRule(prefix=prefix, ge=bounds.get("ge"), le=bounds.get("le"))

    return parse


Accept4 = Annotated[AcceptRule, BeforeValidator(_accept_rule(4))]
Accept6 = Annotated[AcceptRule, BeforeValidator(_accept_rule(6))]


class Peering4(Settings):
    """The IPv4 BGP session of a VIF: both ends of the peering subnet."""

    customer: ipaddress.IPv4Interface
    amazon: ipaddress.IPv4Interface

    @model_validator(mode="after")
    def _same_subnet(self) -> Peering4:
        _check_pair(self.customer, self.amazon)
        if self.customer.network.prefixlen > 31:
            raise KeyProblem("a peering subnet needs two addresses: use /31, /30 or /29", "customer")
        if self.customer.network.prefixlen < 31:
            for key, addr in (("customer", self.customer), ("amazon", self.amazon)):
                if addr.ip in (addr.network.network_address, addr.network.broadcast_address):
                    raise KeyProblem(f"{addr} is the network or broadcast address of its subnet", key)
        return self


class Peering6(Settings):
    """The IPv6 BGP session of a VIF, always on an AWS-assigned /125."""

    customer: ipaddress.IPv6Interface
    amazon: ipaddress.IPv6Interface

    @model_validator(mode="after")
    def _on_125(self) -> Peering6:
        for key, addr in (("customer", self.customer), ("amazon", self.amazon)):
            if addr.network.prefixlen != 125:
                raise KeyProblem(f"IPv6 peering is on a /125 (AWS assigns it), not /{addr.network.prefixlen}",
                                 key)
        _check_pair(self.customer, self.amazon)
        return self


def _check_pair(customer: Any, amazon: Any) -> None:
    for key, addr in (("customer", customer), ("amazon", amazon)):
        ip = addr.ip
        # AWS peers on 169.254.0.0/16 or routable IPv4 and on global IPv6 from its own pool. An
        # IPv6 link-local peer needs an interface scope no template gives (bird -p refuses it;
        # vtysh -C and bgpd -n take it and never connect).
        odd = (ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip.is_reserved
               or (ip.version == 6 and (ip.is_link_local or ip.ipv4_mapped is not None)))
        if odd:
            raise KeyProblem(f"{ip} cannot be a BGP peering address (loopback, multicast, "
                             "reserved, or an IPv6 link-local or IPv4-mapped address)", key)
    if customer.network != amazon.network:
        raise KeyProblem(f"{amazon} is not in the customer's subnet {customer.network}", "amazon")
    if customer.ip == amazon.ip:
        raise KeyProblem("the Amazon and customer addresses must differ", "amazon")


# What AWS refuses on a public VIF: its peer addresses and advertised prefixes are public space
# the customer owns ("Virtual interfaces": a public VIF needs public IPv4 addresses you own or
# that AWS assigns). Private and transit VIFs take any of these, so no such rule applies there.
NOT_PUBLIC = tuple((ipaddress.ip_network(net), what) for net, what in (
    ("0.0.0.0/8", "'this network' (RFC 791)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT shared (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (RFC 3927)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation (RFC 5737)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation (RFC 5737)"),
    ("203.0.113.0/24", "documentation (RFC 5737)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (RFC 1112)"),
    ("::/8", "loopback, unspecified or IPv4-mapped"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
))


def not_public(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    """Why ``net`` (a prefix or a single address) is not public space, or None when it is."""
    for special, what in NOT_PUBLIC:
        if special.version == net.version and net.overlaps(special):
            if net.subnet_of(special):  # type: ignore[arg-type]
                return f"is {what} space"
            return f"covers {special}, which is {what} space"
    return None


def _check_public(vif: Vif) -> None:
    for family in vif.families:
        peering = getattr(vif, family)
        for side in ("customer", "amazon"):
            address = getattr(peering, side)
            why = not_public(ipaddress.ip_network(address.ip))
            if why:
                raise KeyProblem(f"{address.ip} {why}: a public VIF peers on public addresses "
                                 "you own or that AWS assigns", family, side)
        for index, net in enumerate(getattr(vif.advertise, family)):
            why = not_public(net)
            if why:
                raise KeyProblem(f"{net} {why}: a public VIF advertises public prefixes you own "
                                 "(AWS refuses the others)", "advertise", family, index)


class Advertise(Settings):
    ipv4: list[Prefix4] = Field(default_factory=list)
    ipv6: list[Prefix6] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Advertise:
        for family in ("ipv4", "ipv6"):
            seen: set[Any] = set()
            for index, net in enumerate(getattr(self, family)):
                if net in seen:
                    raise KeyProblem(f"{net} is listed twice", family, index)
                seen.add(net)
        return self


class Accept(Settings):
    ipv4: list[Accept4] = Field(default_factory=lambda: ["0.0.0.0/0 le 32"], validate_default=True)
    ipv6: list[Accept6] = Field(default_factory=lambda: ["::/0 le 128"], validate_default=True)


class Bfd(Settings):
    interval_ms: int = Field(default=300, ge=300, le=30000)
    multiplier: int = Field(default=3, ge=3, le=255)


def _bfd(value: Any) -> Any:
    # false: off; true: AWS's minimum (300 ms x 3); a mapping: those values.
    if value is False or value is None:
        return None
    if value is True:
        return {}
    return value


class Timers(Settings):
    keepalive: int = Field(default=30, ge=1, le=21845)
    hold: int = Field(default=90, ge=3, le=65535)

    @model_validator(mode="after")
    def _order(self) -> Timers:
        if self.keepalive >= self.hold:
            raise KeyProblem(f"keepalive {self.keepalive} must be shorter than hold {self.hold}",
                             "keepalive")
        return self


class Vif(Settings):
    """One Direct Connect virtual interface: a VLAN with one BGP session per address family."""

    id: Annotated[str, AfterValidator(_vif_id)]
    name: Text
    type: Literal["private", "transit", "public"]
    interface: Interface | None = None  # the parent, when not the router's interface
    vlan: int = Field(ge=1, le=4094)
    mtu: int = 1500
    amazon_asn: Asn
    ipv4: Peering4 | None = None
    ipv6: Peering6 | None = None
    auth_key: Secret
    advertise: Advertise = Field(default_factory=Advertise)
    redundancy: Literal["active", "passive", "ecmp"] = "ecmp"
    prepend: int = Field(default=2, ge=1, le=10)
    scope: Literal["region", "continent", "global"] | None = None
    bfd: Annotated[Bfd | None, BeforeValidator(_bfd)] = None
    timers: Timers = Field(default_factory=Timers)
    max_prefix_in: int | None = Field(default=None, ge=1, le=4294967295)
    max_prefix_out: int | None = Field(default=None, ge=1)
    accept: Accept = Field(default_factory=Accept)
    # Redundancy across routers: the VIFs that back each other up share a group (by default,
    # the VIFs of one type to one Amazon ASN that advertise a prefix in common); the connection
    # (or LAG) and the Direct Connect location each sits on, when known.
    group: Text | None = None
    connection: Annotated[str, AfterValidator(_connection_id)] | None = None
    location: Text | None = None

    @field_validator("mtu")
    @classmethod
    def _mtu(cls, value: int, info: Any) -> int:
        kind = info.data.get("type")
        allowed = VIF_MTUS.get(kind or "", ())
        if allowed and value not in allowed:
            choices = " or ".join(str(m) for m in allowed)
            raise ValueError(f"AWS allows MTU {choices} on a {kind} VIF, not {value}")
        return value

    @model_validator(mode="after")
    def _aws_rules(self) -> Vif:
        if self.ipv4 is None and self.ipv6 is None:
            raise KeyProblem("a VIF needs an ipv4 or an ipv6 peering (or both)", "ipv4")
        limit = ADVERTISE_LIMIT[self.type]
        total = 0
        for family in ("ipv4", "ipv6"):
            prefixes = getattr(self.advertise, family)
            total += len(prefixes)
            if prefixes and getattr(self, family) is None:
                raise KeyProblem(f"advertises {family} prefixes but has no {family} peering",
                                 "advertise", family)
            if len(prefixes) > limit:
                raise KeyProblem(f"{len(prefixes)} {family} prefixes: AWS takes at most {limit} on a "
                                 f"{self.type} VIF (above that the session goes idle)",
                                 "advertise", family)
        if self.type == "public":
            _check_public(self)
            if total == 0:
                raise KeyProblem("a public VIF must advertise at least one prefix", "advertise")
            for index, net in enumerate(self.advertise.ipv6):
                if net.prefixlen > 64:
                    raise KeyProblem(f"{net}: AWS accepts IPv6 prefixes of /64 or shorter on a public VIF",
                                     "advertise", "ipv6", index)
        elif self.scope is not None:
            raise KeyProblem("scope (7224:9100/9200/9300) applies to public VIFs only", "scope")
        if self.max_prefix_out is not None and self.max_prefix_out > limit:
            raise KeyProblem(f"AWS takes at most {limit} prefixes per family on a {self.type} VIF",
                             "max_prefix_out")
        if self.type == "transit" and not is_private_asn(self.amazon_asn):
            # A private VIF may peer with a virtual private gateway created before 2018-06-30,
            # which kept 7224 (or 9059, 10124, 17493); a Direct Connect gateway has a private ASN.
            raise KeyProblem(f"{self.amazon_asn} is not a private ASN: a transit VIF peers with its "
                             "Direct Connect gateway's ASN (64512-65534 or "
                             "4200000000-4294967294)", "amazon_asn")
        return self

    @property
    def families(self) -> list[str]:
        return [f for f in ("ipv4", "ipv6") if getattr(self, f) is not None]


# Junos's media MTU holds the Ethernet header and two VLAN tags (AWS's Junos sample: 1500 + 22)
# and goes up to 9216 on EX, QFX and SRX (less on some MX line cards).
JUNOS_L2_OVERHEAD = 22
JUNOS_MEDIA_MTU = 9216

# The physical interfaces a VLAN can sit on, by the platform's own naming: IOS-XE `type slot/port`
# (GigabitEthernet0/1, Port-channel1), NX-OS `Ethernet slot/port[/breakout]` or `port-channel N`,
# Junos `type-fpc/pic/port[:channel]` or an aggregate (ae0), PAN-OS `ethernetSLOT/PORT` or an
# aggregate group (ae1). A dot would name a sub-interface or a logical unit already.
_PARENTS = {
    "ios-xe": (re.compile(r"[A-Za-z][A-Za-z-]*\d+(/\d+)*(:\d+)?"),
               "an IOS-XE interface like GigabitEthernet0/1 or Port-channel1"),
    "junos": (re.compile(r"[a-z]+(-\d+/\d+/\d+(:\d+)?|\d+)"),
              "a Junos physical interface like ge-0/0/1, xe-0/1/0:2 or ae0"),
    "nxos": (re.compile(r"Ethernet\d+/\d+(/\d+)?|port-channel\d+"),
             "an NX-OS interface like Ethernet1/1, Ethernet1/49/2 or port-channel10"),
    "panos": (re.compile(r"ethernet\d+/\d+|ae\d+"),
              "a PAN-OS Layer-3 interface like ethernet1/1 or ae1"),
}
# PAN-OS takes a Layer-3 MTU of 576-9192.
PANOS_MAX_MTU = 9192
# Equal-cost paths a platform installs at most: PAN-OS `ecmp max-path` is 2-4.
MAX_PATHS = {"panos": 4}
# systemd refuses these as interface names: /proc/sys/net/*/conf/ has folders of the same names.
LINUX_RESERVED = frozenset({"all", "default"})
# Platforms whose anchor routes for advertised prefixes go into the forwarding table.
FIB_ANCHORS = frozenset({"ios-xe", "nxos", "junos", "panos", "frr"})


def parent_problem(platform: str, parent: str, vlan: int) -> str | None:
    """Why ``parent`` cannot carry VLAN ``vlan`` on ``platform``, or None."""
    if platform not in LINUX_PLATFORMS:
        pattern, what = _PARENTS[platform]
        if not pattern.fullmatch(parent):
            return f"{parent!r} is not {what}"
        return None
    name = f"{parent}.{vlan}"
    if len(name) > LINUX_IFNAMSIZ or not re.fullmatch(r"[A-Za-z0-9_-]+", parent):
        return (f"the VLAN interface {name!r} is not a Linux interface name "
                f"(at most {LINUX_IFNAMSIZ} characters; letters, digits, _ -)")
    if parent in LINUX_RESERVED:
        return (f"{parent!r} cannot name a Linux interface: systemd keeps 'all' and 'default' for "
                "the sysctl folders of the same names")
    return None


def _check_panos_accept(index: int, vif: Vif) -> None:
    # A PAN-OS import rule matches a prefix exactly or with every longer prefix (`exact no`);
    # it has no ge/le, so any other range would be widened or narrowed on the device.
    for family in vif.families:
        for number, rule in enumerate(getattr(vif.accept, family)):
            length, longest = rule.prefix.prefixlen, rule.prefix.max_prefixlen
            low = rule.ge if rule.ge is not None else length
            high = rule.le if rule.le is not None else (longest if rule.ge is not None else low)
            if low != length or high not in (length, longest):
                raise KeyProblem(f"PAN-OS matches {rule.prefix} exactly or with every longer "
                                 f"prefix (le {longest}); it cannot match lengths {low}-{high}",
                                 "vifs", index, "accept", family, number)


class Dx(Settings):
    """A customer router of AWS Direct Connect."""

    platform: Literal[PLATFORMS]  # type: ignore[valid-type]
    asn: Asn
    router_id: Annotated[ipaddress.IPv4Address, AfterValidator(_router_id)]
    interface: Interface
    interface_mtu: int | None = Field(default=None, ge=576, le=9216)
    linux_net: Literal["networkd", "netplan", "ifupdown"] | None = None
    junos_style: Literal["set", "curly"] | None = None
    # Junos SRX: the security zone the VLAN units sit in, with host-inbound BGP (and BFD).
    junos_security_zone: Annotated[str, AfterValidator(_zone)] | None = None
    acknowledge: list[Literal[GAPS]] = Field(default_factory=list)  # type: ignore[valid-type]
    vifs: list[Vif] = Field(min_length=1)

    @model_validator(mode="after")
    def _router_rules(self) -> Dx:
        linux = self.platform in LINUX_PLATFORMS
        if self.linux_net is not None and not linux:
            raise KeyProblem(f"linux_net applies to {', '.join(sorted(LINUX_PLATFORMS))}, "
                             f"not {self.platform}", "linux_net")
        if self.junos_style is not None and self.platform != "junos":
            raise KeyProblem(f"junos_style applies to junos, not {self.platform}", "junos_style")
        if self.junos_security_zone is not None and self.platform != "junos":
            raise KeyProblem(f"junos_security_zone applies to junos (SRX), not {self.platform}",
                             "junos_security_zone")
        if self.platform == "junos" and (self.interface_mtu or 0) + JUNOS_L2_OVERHEAD > JUNOS_MEDIA_MTU:
            raise KeyProblem(f"Junos counts {JUNOS_L2_OVERHEAD} bytes of Ethernet header and tags in "
                             f"the media MTU, which is at most {JUNOS_MEDIA_MTU}: interface_mtu "
                             f"{self.interface_mtu} needs {self.interface_mtu + JUNOS_L2_OVERHEAD}",
                             "interface_mtu")
        if self.platform == "panos" and (self.interface_mtu or 0) > PANOS_MAX_MTU:
            raise KeyProblem(f"PAN-OS takes a Layer-3 MTU of at most {PANOS_MAX_MTU}, not "
                             f"{self.interface_mtu}", "interface_mtu")
        seen_vlans: dict[tuple[str, int], int] = {}
        seen_ids: dict[str, int] = {}
        for index, vif in enumerate(self.vifs):
            parent = self.parent(vif)
            if vif.id in seen_ids:
                raise KeyProblem(f"{vif.id} is already vifs[{seen_ids[vif.id]}]", "vifs", index, "id")
            seen_ids[vif.id] = index
            if (parent, vif.vlan) in seen_vlans:
                raise KeyProblem(f"VLAN {vif.vlan} is already used on {parent} by "
                                 f"vifs[{seen_vlans[parent, vif.vlan]}]", "vifs", index, "vlan")
            seen_vlans[parent, vif.vlan] = index
            if self.interface_mtu is not None and self.interface_mtu < vif.mtu:
                raise KeyProblem(f"the parent MTU {self.interface_mtu} is below vifs[{index}].mtu "
                                 f"{vif.mtu}; a VLAN cannot carry more than its parent",
                                 "interface_mtu")
            if vif.amazon_asn == self.asn:
                raise KeyProblem(f"the Amazon ASN equals the router's ASN {self.asn}; Direct Connect "
                                 "peers over eBGP", "vifs", index, "amazon_asn")
            where = ("vifs", index, "interface") if vif.interface else ("interface",)
            problem = parent_problem(self.platform, parent, vif.vlan)
            if problem:
                raise KeyProblem(problem, *where)
        for index, vif in enumerate(self.vifs):
            self._check_ceilings(index, vif)
            self._check_description(index, vif)
            self._check_default_route(index, vif)
            if self.platform == "panos":
                _check_panos_accept(index, vif)
            for gap, key in self._asked(vif):
                if gap_for(self.platform, gap) and gap not in self.acknowledge:
                    raise KeyProblem(f"{gap_for(self.platform, gap)}; add {gap!r} to dx.acknowledge "
                                     "to render without it", "vifs", index, *key)
        self._check_ecmp()
        return self

    def _check_default_route(self, index: int, vif: Vif) -> None:
        # The anchor of an advertised prefix is a discard route in the forwarding table; for the
        # default route it would replace the router's own. BIRD keeps its anchors out of the
        # kernel and OpenBGPD needs none.
        if self.platform not in FIB_ANCHORS:
            return
        for family in ("ipv4", "ipv6"):
            for number, net in enumerate(getattr(vif.advertise, family)):
                if net.prefixlen == 0:
                    raise KeyProblem(f"{TITLES[self.platform]} would anchor {net} with a discard "
                                     "route over the router's own default route; advertise more "
                                     "specific prefixes, or the default route from BIRD or "
                                     "OpenBGPD", "vifs", index, "advertise", family, number)

    def _check_description(self, index: int, vif: Vif) -> None:
        # The device would cut the line short, or refuse it, when the config is loaded.
        limit = NEIGHBOR_DESCRIPTION_MAX.get(self.platform)
        text = neighbor_description(self.platform, vif.id, vif.name)
        if limit is not None and len(text) > limit:
            room = limit - len(text) + len(vif.name)
            raise KeyProblem(f"{TITLES[self.platform]} keeps at most {limit} characters of a BGP "
                             f"neighbor's description (`neighbor … description`); the VIF's id and "
                             f"name {text!r} have {len(text)}: shorten the name to at most {room} "
                             "characters", "vifs", index, "name")

    def _check_ceilings(self, index: int, vif: Vif) -> None:
        for limit in CEILINGS.get(self.platform, ()):
            value: Any = vif
            for part in limit.key:
                value = getattr(value, part, None)
            if isinstance(value, int) and value > limit.maximum:
                raise KeyProblem(f"{TITLES[self.platform]} takes {limit.what} of at most "
                                 f"{limit.maximum}, not {value}", "vifs", index, *limit.key)

    def _asked(self, vif: Vif) -> list[tuple[str, tuple[str, ...]]]:
        """The capabilities a VIF asks of its platform, with the key that asks."""
        asked = []
        if vif.bfd is not None:
            asked.append(("bfd", ("bfd",)))
        if vif.max_prefix_out is not None:
            asked.append(("max-prefix-out", ("max_prefix_out",)))
        if vif.timers.keepalive * 3 != vif.timers.hold:
            asked.append(("keepalive", ("timers", "keepalive")))
        return asked

    def _check_ecmp(self) -> None:
        paths = MAX_PATHS.get(self.platform)
        for family in ("ipv4", "ipv6"):
            ecmp = [i for i, v in enumerate(self.vifs)
                    if v.redundancy == "ecmp" and getattr(v, family) is not None]
            if paths and len(ecmp) > paths:
                raise KeyProblem(f"{TITLES[self.platform]} installs at most {paths} equal-cost "
                                 f"paths, and {len(ecmp)} {family} VIFs are ecmp; make some "
                                 "active/passive", "vifs", ecmp[paths], "redundancy")
        gap = gap_for(self.platform, "ecmp")
        if not gap or "ecmp" in self.acknowledge:
            return
        for family in ("ipv4", "ipv6"):
            ecmp = [i for i, v in enumerate(self.vifs)
                    if v.redundancy == "ecmp" and getattr(v, family) is not None]
            if len(ecmp) > 1:
                raise KeyProblem(f"{gap}; add 'ecmp' to dx.acknowledge to render without it, or "
                                 "make the VIFs active/passive", "vifs", ecmp[1], "redundancy")

    def parent(self, vif: Vif) -> str:
        return vif.interface or self.interface

    @property
    def net_backend(self) -> str | None:
        if self.platform not in LINUX_PLATFORMS:
            return None
        return self.linux_net or "networkd"

    @property
    def style(self) -> str | None:
        return (self.junos_style or "set") if self.platform == "junos" else None
