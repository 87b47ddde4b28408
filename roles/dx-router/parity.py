"""Parity with AWS's own sample: does the render configure every value AWS's router-configuration
download sets for a virtual interface?

AWS's sample (the text its console download produces for a router type, or the
``customerRouterConfig`` record its templates are made from) is read into the values it sets:
VLAN, both addresses, both ASNs, the MD5 key, the BGP neighbor, the advertised network and BFD.
The render of the router is read into the same shape by a reader per platform family
(Cisco-style, Junos, PAN-OS, FRR, BIRD, OpenBGPD and the Linux VLAN files), and each value is
compared. A key is compared, never shown.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from bootstrap.errors import BootstrapError, Origin

OK, MISSING, DIFFERENT, OPTIONAL = "ok", "MISSING", "DIFFERENT", "optional"
SECRET = "<secret>"
# AWS's minimums: BFD is optional, but when it runs it may not be faster than this.
BFD_MIN_INTERVAL, BFD_MIN_MULTIPLIER = 300, 3
DEFAULT_ROUTE = {"0.0.0.0/0", "::/0"}


# -- what a configuration sets -----------------------------------------------------------------

@dataclass
class Interface:
    name: str
    vlan: int | None = None
    addresses: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = field(default_factory=list)
    bfd: tuple[int, int] | None = None  # interval (ms), multiplier set on the interface


@dataclass
class Session:
    address: str
    remote_as: str | None = None
    local_as: str | None = None
    key: str | None = None
    key_note: str = ""  # why a key cannot be compared (stored encrypted)
    bfd: bool = False
    bfd_values: tuple[int, int] | None = None
    bfd_profile: str | None = None
    line: int = 0
    adds: list[str] = field(default_factory=list)


@dataclass
class Config:
    """The values a router configuration (a sample or a render) sets, read per platform family."""

    asn: str | None = None
    interfaces: dict[str, Interface] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    networks: list[str] = field(default_factory=list)
    bfd_profiles: dict[str, tuple[int, int]] = field(default_factory=dict)
    policies: dict[str, list[str]] = field(default_factory=dict)  # policy name -> what it sets

    def interface(self, name: str) -> Interface:
        return self.interfaces.setdefault(name, Interface(name))

    def session(self, address: str, line: int = 0) -> Session:
        key = _ip(address) or address
        if key not in self.sessions:
            self.sessions[key] = Session(key, line=line)
        return self.sessions[key]


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.split("/")[0]))
    except ValueError:
        return None


def _iface(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


def _network(text: str) -> str | None:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return None


def _unquote(word: str) -> str:
    return word[1:-1] if len(word) > 1 and word[0] == word[-1] == '"' else word


def _vlan_of_name(name: str) -> int | None:
    match = re.search(r"(?:^vlan|\.)(\d+)$", name, re.I)
    return int(match.group(1)) if match else None


# -- Cisco-style text: IOS, IOS-XE, NX-OS, FRR ------------------------------------------------

# A line opens a new top-level block when it starts with one of these, indented or not: AWS's
# own samples are not indented, so indentation alone cannot tell a block from its body.
_CISCO_TOP = re.compile(r"(interface|router|route-map|feature|vlan|hostname|end|line|access-list|"
                        r"key chain|ip (route|prefix-list|access-list|nat inside source|"
                        r"bgp-community|community-list|as-path)|ipv6 (route|prefix-list|"
                        r"unicast-routing|access-list)|bfd$|frr |log |service |exit$)\b")
_MASKED = re.compile(r"(\S+) (?:mask )?(\d+\.\d+\.\d+\.\d+)$")


def read_cisco(text: str) -> Config:
    config = Config()
    block: tuple[str, ...] = ()
    neighbor: str | None = None
    profile: str | None = None
    # A rendered file indents the body of each block, and then indentation decides; AWS's
    # samples indent nothing, and then the first words of a line do.
    indented = any(raw[:1].isspace() and raw.strip() for raw in text.splitlines())
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "!#":
            continue
        words = line.split()
        top = not raw[:1].isspace() if indented else bool(_CISCO_TOP.match(line)) \
            and not (line == "bfd" and neighbor is not None)
        if top or not block:
            opens = words[0] in ("interface", "router", "route-map")
            block, neighbor, profile = tuple(words[:2]) if opens else (words[0],), None, None
            if words[0] == "interface" and len(words) > 1:
                iface = config.interface(words[1])
                iface.vlan = iface.vlan or (_vlan_of_name(words[1]) if words[1].lower().startswith("vlan")
                                            else None)
            elif words[:2] == ["router", "bgp"] and len(words) > 2:
                config.asn = words[2]
            elif words[0] == "route-map" and len(words) > 1:
                config.policies.setdefault(words[1], [])
            continue
        if block[0] == "interface":
            _cisco_interface(config.interface(block[1]), words)
        elif block[:2] == ("router", "bgp"):
            neighbor = _cisco_bgp(config, words, neighbor, number)
        elif block[0] == "route-map":
            _cisco_route_map(config.policies.setdefault(block[1], []), words)
        elif block[0] == "bfd":
            if words[0] == "profile" and len(words) > 1:
                profile = words[1]
                config.bfd_profiles[profile] = (300, 3)  # FRR's defaults
            elif profile and words[0] in ("receive-interval", "detect-multiplier") and len(words) > 1:
                interval, multiplier = config.bfd_profiles[profile]
                value = int(words[1]) if words[1].isdigit() else 0
                config.bfd_profiles[profile] = ((value, multiplier) if words[0] == "receive-interval"
                                                else (interval, value))
    return config


def _cisco_interface(iface: Interface, words: list[str]) -> None:
    if words[0] == "encapsulation" and len(words) > 2 and words[1].lower() == "dot1q":
        iface.vlan = int(words[2]) if words[2].isdigit() else None
    elif words[:2] in (["ip", "address"], ["ipv6", "address"]) and len(words) > 2:
        text = " ".join(words[2:4]) if len(words) > 3 and "." in words[3] else words[2]
        masked = _MASKED.fullmatch(text)
        address = _iface(f"{masked.group(1)}/{masked.group(2)}" if masked else text)
        if address is not None:
            iface.addresses.append(address)
    elif words[0] == "bfd" and len(words) >= 7 and words[1] == "interval":
        iface.bfd = (int(words[2]), int(words[6])) if words[2].isdigit() and words[6].isdigit() else None


def _cisco_bgp(config: Config, words: list[str], neighbor: str | None, number: int) -> str | None:
    if words[0] == "network" and len(words) > 1:
        masked = _MASKED.fullmatch(" ".join(words[1:4])) if len(words) > 2 else None
        prefix = f"{masked.group(1)}/{masked.group(2)}" if masked else words[1]
        if "/" not in prefix:  # classful, as IOS reads 'network A' without a mask
            prefix = "0.0.0.0/0" if prefix == "0.0.0.0" else prefix + _classful(prefix)
        if (network := _network(prefix)) is not None:
            config.networks.append(network)
        return neighbor
    if words[0] == "neighbor" and len(words) > 1 and _ip(words[1]):
        neighbor = words[1]
        session = config.session(words[1], number)
        rest = words[2:]
    elif words[0] == "address-family" and neighbor is None:
        return None
    elif neighbor is not None:
        session, rest = config.session(neighbor, number), words
    else:
        return None
    if not rest:
        return neighbor
    if rest[0] == "remote-as" and len(rest) > 1:
        session.remote_as = rest[1]
    elif rest[0] == "local-as" and len(rest) > 1:
        session.local_as = rest[1]
    elif rest[0] == "password" and len(rest) > 1:
        kind = rest[1] if len(rest) > 2 and rest[1].isdigit() else "0"
        session.key = rest[-1]
        session.key_note = "" if kind == "0" else f"stored encrypted (type {kind})"
    elif rest[:2] == ["fall-over", "bfd"] or rest[0] == "bfd":
        session.bfd = True
        if rest[:2] == ["bfd", "profile"] and len(rest) > 2:
            session.bfd_profile = rest[2]
    elif rest[0] == "route-map" and len(rest) > 2:
        session.adds.append(f"policy {rest[2]}: route-map {rest[1]}")
    elif rest[0] in ("maximum-prefix", "maximum-prefix-out") and len(rest) > 1:
        direction = "out" if rest[0].endswith("-out") else "in"
        session.adds.append(f"limit {direction}: {rest[1]} prefixes")
    elif rest[0] == "timers" and len(rest) > 2:
        session.adds.append(f"timers: keepalive {rest[1]}, hold {rest[2]}")
    elif rest[0] == "send-community":
        session.adds.append("send-community")
    return neighbor


def _classful(address: str) -> str:
    first = int(address.split(".")[0]) if address.split(".")[0].isdigit() else 0
    return "/8" if first < 128 else "/16" if first < 192 else "/24"


def _cisco_route_map(sets: list[str], words: list[str]) -> None:
    if words[:2] == ["set", "community"]:
        sets.append("communities " + " ".join(w for w in words[2:] if w != "additive"))
    elif words[:3] == ["set", "as-path", "prepend"]:
        sets.append(f"prepend {' '.join(words[3:])}")
    elif words[:2] == ["set", "local-preference"] and len(words) > 2:
        sets.append(f"local-preference {words[2]}")


def _cisco_finish(config: Config) -> None:
    """Policies and BFD intervals named by a neighbor, resolved to what they set."""
    for session in config.sessions.values():
        if session.bfd:
            session.bfd_values = config.bfd_profiles.get(session.bfd_profile or "") \
                or _interface_bfd(config, session.address)
        _resolve_policies(config, session)


def _interface_bfd(config: Config, address: str) -> tuple[int, int] | None:
    iface = _interface_for(config, address)
    return iface.bfd if iface else None


def _interface_for(config: Config, address: str) -> Interface | None:
    ip = ipaddress.ip_address(address) if _ip(address) else None
    for iface in config.interfaces.values():
        if ip is not None and any(ip in a.network and ip != a.ip for a in iface.addresses):
            return iface
    return None


def _resolve_policies(config: Config, session: Session) -> None:
    for add in list(session.adds):
        if add.startswith("policy "):
            name = add.rsplit(" ", 1)[-1]
            session.adds += [f"{add.split(':')[0]} sets {s}" for s in config.policies.get(name, [])]


# -- Junos: set commands (with AWS's `edit`/`up`/`top` navigation) and curly text -----------------

def junos_set_text(text: str) -> str:
    """``edit``/``up``/``exit``/``top`` navigation flattened into full ``set`` commands, one
    line per input line (so line numbers stay), other operational commands blanked."""
    from bootstrap.roles.dx_router import junos

    path: list[list[str]] = []
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            tokens = [t for t, _ in junos._tokens(raw)] if raw.strip() else []
        except junos.JunosSyntaxError:
            raise junos.JunosSyntaxError(f"line {number}") from None
        head = tokens[0] if tokens else ""
        line = ""
        if head == "edit":
            path.append(tokens[1:])
        elif head in ("up", "exit"):
            count = int(tokens[1]) if len(tokens) > 1 and tokens[1].isdigit() else 1
            del path[max(0, len(path) - count):]
        elif head == "top":
            path = []
            if len(tokens) > 1 and tokens[1] in ("set", "edit"):
                line = " ".join(["set", *tokens[2:]]) if tokens[1] == "set" else ""
        elif head == "set":
            line = " ".join(["set", *(w for level in path for w in level), *tokens[1:]])
        out.append(line)
    return "\n".join(out)


def read_junos(statements: Iterable[tuple[str, ...]]) -> Config:
    config = Config()
    group_values: dict[str, dict[str, str]] = {}
    policies: dict[str, list[tuple[str, ...]]] = {}
    prefix_lists: dict[str, list[str]] = {}
    communities: dict[str, list[str]] = {}
    for raw in statements:
        st = tuple(_unquote(w) for w in raw)
        if st[0] == "interfaces" and len(st) > 5 and st[2] == "unit":
            iface = config.interface(f"{st[1]}.{st[3]}")
            if st[4] == "vlan-id" and st[5].isdigit():
                iface.vlan = int(st[5])
            elif st[4] == "family" and len(st) > 7 and st[6] == "address" and _iface(st[7]):
                iface.addresses.append(ipaddress.ip_interface(st[7]))
        elif st[:2] == ("routing-options", "autonomous-system") and len(st) > 2:
            config.asn = st[2]
        elif st[:2] == ("policy-options", "policy-statement") and len(st) > 3:
            policies.setdefault(st[2], []).append(st[3:])
        elif st[:2] == ("policy-options", "prefix-list") and len(st) > 3:
            prefix_lists.setdefault(st[2], []).append(st[3])
        elif st[:2] == ("policy-options", "community") and len(st) > 4 and st[3] == "members":
            communities.setdefault(st[2], []).extend(st[4:])
        elif st[:3] == ("protocols", "bgp", "group") and len(st) > 5:
            _junos_group(config, st[3], st[4:], group_values)
    for name, terms in policies.items():
        config.policies[name] = _junos_policy(terms, communities)
    for address, session in config.sessions.items():
        group = session.adds.pop(0)  # the group it sits in, put first by _junos_group
        values = {**group_values.get(group, {}), **group_values.get(address, {})}
        session.remote_as = values.get("peer-as")
        session.local_as = values.get("local-as")
        session.key = values.get("key")  # a neighbor's own key, else its group's
        if "bfd-interval" in values or "bfd-multiplier" in values:
            session.bfd = True
            session.bfd_values = (int(values.get("bfd-interval", "0")),
                                  int(values.get("bfd-multiplier", "3")))
        for key in ("import", "export"):
            for policy in values.get(key, "").split():
                session.adds.append(f"policy {'in' if key == 'import' else 'out'}: {policy}")
        if "limit" in values:
            session.adds.append(f"limit in: {values['limit']} prefixes")
        if "hold-time" in values:
            session.adds.append(f"timers: hold {values['hold-time']}")
        _resolve_policies(config, session)
        for policy in values.get("export", "").split():
            config.networks += _junos_exported(policies.get(policy, []), prefix_lists)
    config.networks = list(dict.fromkeys(config.networks))
    return config


def _junos_group(config: Config, group: str, rest: tuple[str, ...],
                 values: dict[str, dict[str, str]]) -> None:
    owner = group
    if rest[0] == "neighbor" and len(rest) > 1:
        owner = _ip(rest[1]) or rest[1]
        session = config.session(rest[1])
        if not session.adds:
            session.adds.append(group)
        rest = rest[2:]
        if not rest:
            return
    target = values.setdefault(owner, {})
    if rest[0] == "authentication-key" and len(rest) > 1:
        target["key"] = rest[1]
    elif rest[0] in ("peer-as", "local-as", "hold-time") and len(rest) > 1:
        target[rest[0]] = rest[1]
    elif rest[0] in ("import", "export") and len(rest) > 1:
        target[rest[0]] = " ".join([target.get(rest[0], ""), *rest[1:]]).strip()
    elif rest[0] == "bfd-liveness-detection" and len(rest) > 2:
        if rest[1] == "minimum-interval":
            target["bfd-interval"] = rest[2]
        elif rest[1] == "multiplier":
            target["bfd-multiplier"] = rest[2]
    elif "prefix-limit" in rest and "maximum" in rest:
        target["limit"] = rest[rest.index("maximum") + 1]


def _junos_policy(terms: list[tuple[str, ...]], communities: dict[str, list[str]]) -> list[str]:
    sets = []
    for term in terms:
        then = term[term.index("then") + 1:] if "then" in term else ()
        if then[:2] == ("community", "add") and len(then) > 2:
            sets.append("communities " + " ".join(communities.get(then[2], [then[2]])))
        elif then[:1] == ("as-path-prepend",) and len(then) > 1:
            sets.append(f"prepend {then[1]}")
        elif then[:1] == ("local-preference",) and len(then) > 1:
            sets.append(f"local-preference {then[1]}")
    return sets


def _junos_exported(terms: list[tuple[str, ...]], prefix_lists: dict[str, list[str]]) -> list[str]:
    out = []
    for term in terms:
        if "from" not in term:
            continue
        match = term[term.index("from") + 1:]
        if match[:1] == ("route-filter",) and len(match) > 1:
            out.append(match[1])
        elif match[:1] in (("prefix-list-filter",), ("prefix-list",)) and len(match) > 1:
            out += prefix_lists.get(match[1], [])
    return [n for n in map(_network, out) if n]


# -- PAN-OS set commands ----------------------------------------------------------------------

def read_panos(text: str) -> Config:
    from bootstrap.roles.dx_router import panos

    root, _ = panos.tree(panos.parse(text))
    config = Config()
    for name, unit in panos.subinterfaces(root).items():
        iface = config.interface(name)
        tag = unit.leaf("tag")
        iface.vlan = int(tag) if isinstance(tag, str) and tag.isdigit() else None
        for address in [*panos._as_list(unit.leaf("ip")),
                        *(unit.get("ipv6", "address") or panos.Node()).children]:
            if (parsed := _iface(address)) is not None:
                iface.addresses.append(parsed)
    for bfd_name, profile in (root.get("network", "routing-profile", "bfd") or panos.Node()).children.items():
        interval, multiplier = profile.leaf("min-rx-interval"), profile.leaf("detection-multiplier")
        config.bfd_profiles[bfd_name] = (int(str(interval or 1000)), int(str(multiplier or 3)))
    for vr in (root.get("network", "virtual-router") or panos.Node()).children.values():
        bgp = vr.get("protocol", "bgp")
        if bgp is None:
            continue
        config.asn = str(bgp.leaf("local-as") or "") or None
        config.networks += [n for n in map(_network, (bgp.get("redist-rules") or panos.Node()).children)
                            if n]
        _panos_peers(config, bgp)
    config.networks = list(dict.fromkeys(config.networks))
    return config


def _panos_peers(config: Config, bgp: Any) -> None:
    from bootstrap.roles.dx_router.panos import Node, _as_list

    auth = bgp.get("auth-profile") or Node()
    rules: dict[str, list[tuple[str, str, Any]]] = {}  # peer group -> (in/out, rule name, rule)
    for direction in ("export", "import"):
        for rule_name, rule in (bgp.get("policy", direction, "rules") or Node()).children.items():
            for group in _as_list(rule.leaf("used-by")):
                rules.setdefault(group, []).append((_DIRECTION[direction], rule_name, rule))
            if direction == "export" and rule.get("action", "allow") is not None:
                for prefix, match in (rule.get("match", "address-prefix") or Node()).children.items():
                    if match.leaf("exact") != "no" and (network := _network(prefix)):
                        config.networks.append(network)
    for group_name, group in (bgp.get("peer-group") or Node()).children.items():
        for peer in (group.get("peer") or Node()).children.values():
            address = peer.leaf("peer-address", "ip")
            if not isinstance(address, str):
                continue
            session = config.session(address)
            session.remote_as = str(peer.leaf("peer-as") or "") or None
            profile = peer.leaf("connection-options", "authentication")
            secret = auth.leaf(profile, "secret") if isinstance(profile, str) else None
            session.key = secret if isinstance(secret, str) else None
            bfd = peer.leaf("bfd", "profile")
            if isinstance(bfd, str) and bfd != "None":
                session.bfd = True
                session.bfd_values = config.bfd_profiles.get(bfd)
            if (limit := peer.leaf("max-prefixes")) is not None:
                session.adds.append(f"limit in: {limit} prefixes")
            for direction, rule_name, rule in rules.get(group_name, []):
                session.adds.append(f"policy {direction}: {rule_name}")
                community = rule.leaf("action", "allow", "update", "community", "append")
                if community is not None:
                    session.adds.append(f"policy {direction} sets communities "
                                        f"{' '.join(_as_list(community))}")


_DIRECTION = {"export": "out", "import": "in"}


# -- BIRD 2 and OpenBGPD ------------------------------------------------------------------------

_BIRD_PROTOCOL = re.compile(r"^protocol bgp (\S+) \{(.*?)^\}", re.M | re.S)
_BIRD_FILTER = re.compile(r"^filter (\S+) \{(.*?)^\}", re.M | re.S)
_BIRD_BFD = re.compile(r'interface "([^"]+)" \{(.*?)\};', re.S)


def read_bird(text: str) -> Config:
    config = Config()
    filters = {}
    for name, body in _BIRD_FILTER.findall(text):
        added = re.findall(r"bgp_community\.add\(\((\d+), ?(\d+)\)\)", body)
        sets = [f"communities {a}:{b}" for a, b in added]
        prepends = re.findall(r"bgp_path\.prepend\((\d+)\)", body)
        if prepends:
            sets.append(f"prepend {' '.join(prepends)}")
        filters[name] = sets
    config.policies = filters
    bfd_by_iface = {}
    for name, body in _BIRD_BFD.findall(text):
        interval = re.search(r"min rx interval (\d+) ms", body)
        multiplier = re.search(r"multiplier (\d+)", body)
        bfd_by_iface[name] = (int(interval.group(1)) if interval else 10,
                              int(multiplier.group(1)) if multiplier else 5)
    for _name, body in _BIRD_PROTOCOL.findall(text):
        neighbor = re.search(r"neighbor (\S+) as (\d+);", body)
        if not neighbor:
            continue
        session = config.session(neighbor.group(1))
        session.remote_as = neighbor.group(2)
        local = re.search(r"local (?:\S+ )?as (\d+);", body)
        session.local_as = local.group(1) if local else None
        config.asn = config.asn or session.local_as
        key = re.search(r'password "([^"]*)";', body)
        session.key = key.group(1) if key else None
        session.bfd = bool(re.search(r"\bbfd (on|yes|\{)", body))
        for direction, policy in re.findall(r"(import|export) filter (\w+);", body):
            session.adds.append(f"policy {'in' if direction == 'import' else 'out'}: filter {policy}")
        for direction, limit in re.findall(r"(import|export) limit (\d+)", body):
            session.adds.append(f"limit {'in' if direction == 'import' else 'out'}: {limit} prefixes")
        _resolve_policies(config, session)
        session.adds = [a.replace("filter ", "", 1) if a.startswith("policy ") and " sets " not in a
                        else a for a in session.adds]
    config.networks = [n for n in map(_network, re.findall(r"^\s*route (\S+) blackhole;", text, re.M)) if n]
    config.bfd_profiles = bfd_by_iface
    return config


def read_openbgpd(text: str) -> Config:
    config = Config()
    asn = re.search(r"^AS (\d+)", text, re.M)
    config.asn = asn.group(1) if asn else None
    config.networks = [n for n in map(_network, re.findall(r"^network (\S+)", text, re.M)) if n]
    for address, body in re.findall(r"^neighbor (\S+) \{(.*?)^\}", text, re.M | re.S):
        session = config.session(address)
        remote = re.search(r"remote-as (\d+)", body)
        session.remote_as = remote.group(1) if remote else None
        key = re.search(r'tcp md5sig password "?([^"\s]+)"?', body)
        session.key = key.group(1) if key else None
        for limit, out in re.findall(r"max-prefix (\d+)( out)?", body):
            session.adds.append(f"limit {'out' if out else 'in'}: {limit} prefixes")
        where = re.escape(address)
        for direction, word, name in re.findall(rf"^allow (from|to) {where} (prefix-set|prefix) (\S+)",
                                                text, re.M):
            session.adds.append(f"policy {_OPENBGPD_DIRECTION[direction]}: {word} {name}")
        for direction, rule in re.findall(rf"^match (from|to) {where} .*set \{{ (.*) \}}", text, re.M):
            session.adds += [f"policy {_OPENBGPD_DIRECTION[direction]} sets {s}"
                             for s in _openbgpd_sets(rule.split())]
    return config


_OPENBGPD_DIRECTION = {"from": "in", "to": "out"}


def _openbgpd_sets(words: list[str]) -> list[str]:
    """``community 7224:7100 prepend-self 2`` as the other readers word it."""
    named = {"community": "communities", "prepend-self": "prepend", "localpref": "local-preference"}
    return [f"{named[w]} {v}" for w, v in pairwise(words) if w in named]


# -- Linux VLAN interfaces: netplan, systemd-networkd, ifupdown -----------------------------------

def read_linux_net(files: dict[str, str], config: Config) -> None:
    """The VLAN interfaces of the network backend's files, added to ``config``."""
    import yaml

    for dest, text in files.items():
        if dest.endswith(".yaml"):
            data = yaml.safe_load(text) or {}
            for name, vlan in ((data.get("network") or {}).get("vlans") or {}).items():
                iface = config.interface(str(name))
                iface.vlan = vlan.get("id")
                iface.addresses += [a for a in map(_iface, vlan.get("addresses") or []) if a]
        elif dest.endswith(".netdev"):
            name, vlan = re.search(r"^Name=(\S+)", text, re.M), re.search(r"^Id=(\d+)", text, re.M)
            if name and vlan:
                config.interface(name.group(1)).vlan = int(vlan.group(1))
        elif dest.endswith(".network"):
            name = re.search(r"^Name=(\S+)", text, re.M)
            if name:
                config.interface(name.group(1)).addresses += [
                    a for a in map(_iface, re.findall(r"^Address=(\S+)", text, re.M)) if a]
        else:  # ifupdown
            current = None
            for line in text.splitlines():
                words = line.split()
                if words[:1] == ["iface"] and len(words) > 1:
                    current = config.interface(words[1])
                    current.vlan = current.vlan or _vlan_of_name(words[1])
                elif current is not None and words[:1] == ["address"] and len(words) > 1:
                    if (address := _iface(words[1])) is not None:
                        current.addresses.append(address)
                elif current is not None and words[:1] == ["vlan-id"] and len(words) > 1:
                    current.vlan = int(words[1]) if words[1].isdigit() else current.vlan


def bird_bfd(config: Config) -> None:
    """BIRD sets BFD per interface: a session's values are those of its VLAN interface."""
    for session in config.sessions.values():
        if session.bfd:
            iface = _interface_for(config, session.address)
            session.bfd_values = config.bfd_profiles.get(iface.name if iface else "") \
                or config.bfd_profiles.get("*")


# -- AWS's sample -----------------------------------------------------------------------------

@dataclass
class Sample:
    """The values AWS's sample sets for one virtual interface."""

    kind: str
    vlan: int | None
    customer: ipaddress.IPv4Interface | ipaddress.IPv6Interface
    amazon: ipaddress.IPv4Interface | ipaddress.IPv6Interface
    asn: str | None
    amazon_asn: str | None
    key: str | None
    networks: list[str] | None  # None: the sample names none (the XML record)
    bfd: tuple[int, int] | None
    vif_id: str | None = None


_KINDS = (
    ("PaloAltoNetworks", "Palo Alto PAN-OS", "panos"),
    ("Palo Alto", "Palo Alto PAN-OS", "panos"),
    ("Juniper", "Juniper Junos", "junos"),
    ("Nexus", "Cisco NX-OS", "cisco"),
    ("Cisco", "Cisco IOS", "cisco"),
)


def read_sample(text: str, source: str) -> Sample:
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return _xml_sample(stripped, source)
    head = "\n".join(text.splitlines()[:20])
    kind, family = next(((k, f) for word, k, f in _KINDS if word in head), ("", ""))
    if not family:
        family, kind = _guess_family(text)
    if not family:
        raise BootstrapError("neither a customerRouterConfig XML record nor a router configuration "
                             "downloaded from AWS (no Cisco, Juniper or Palo Alto configuration)",
                             origin=Origin(source, 1))
    try:
        if family == "cisco":
            config = read_cisco(text)
            _cisco_finish(config)
        elif family == "junos":
            from bootstrap.roles.dx_router import junos

            config = read_junos(junos.parse_set(junos_set_text(text)))
        else:
            config = read_panos(_panos_commands(text))
    except (ValueError, IndexError) as exc:
        # The parsers quote the text they stop at, which may be the key: only the line is shown.
        line = re.search(r"line (\d+)", str(exc))
        raise BootstrapError(f"cannot read this line as {kind} configuration",
                             origin=Origin(source, int(line.group(1)) if line else None)) from None
    vif = re.search(r"Virtual Interface ID:\s*(dxvif-[a-z0-9]+)", head)
    return _sample_of(config, kind, source, vif.group(1) if vif else None, text)


def _guess_family(text: str) -> tuple[str, str]:
    if re.search(r"^set network (interface|virtual-router)", text, re.M):
        return "panos", "Palo Alto PAN-OS"
    if re.search(r"^\s*(edit|set) (interfaces|protocols|routing-options)", text, re.M):
        return "junos", "Juniper Junos"
    if re.search(r"^\s*router bgp \d", text, re.M):
        return "cisco", "Cisco IOS"
    return "", ""


def _panos_commands(text: str) -> str:
    """Only the ``set`` lines (comments, ``configure`` and ``commit`` blanked, numbers kept)."""
    return "\n".join(line if line.lstrip().startswith("set ") else "" for line in text.splitlines())


def _sample_of(config: Config, kind: str, source: str, vif_id: str | None, text: str) -> Sample:
    addressed = [i for i in config.interfaces.values() if i.addresses]
    sessions = list(config.sessions.values())
    if len(addressed) != 1:
        raise BootstrapError(f"expected one interface with an address (the virtual interface), found "
                             f"{len(addressed)}", origin=Origin(source))
    if len(sessions) != 1:
        raise BootstrapError(f"expected one BGP neighbor (AWS's side of the virtual interface), found "
                             f"{len(sessions)}", origin=Origin(source))
    iface, session = addressed[0], sessions[0]
    if _ip(session.address) is None:
        raise BootstrapError("the BGP neighbor is not an IP address",
                             origin=Origin(source, session.line or None))
    customer = iface.addresses[0]
    amazon_ip = ipaddress.ip_address(session.address)
    if amazon_ip not in customer.network:
        raise BootstrapError(f"the BGP neighbor {amazon_ip} is not on the interface's network "
                             f"{customer.network}", origin=Origin(source, session.line or None))
    amazon = ipaddress.ip_interface(f"{amazon_ip}/{customer.network.prefixlen}")
    bfd = session.bfd_values if session.bfd else None
    return Sample(kind, iface.vlan, customer, amazon, config.asn or session.local_as,
                  session.remote_as, session.key, config.networks, bfd, vif_id)


def _xml_sample(text: str, source: str) -> Sample:
    from bootstrap.roles.dx_router import importer

    imported = importer.from_xml(text, source)
    if len(imported.vifs) != 1:
        raise BootstrapError(f"the record holds {len(imported.vifs)} virtual interfaces; give one",
                             origin=Origin(source))
    vif = imported.vifs[0]
    key_ref = (vif.get("auth_key") or {}).get("file", "")
    return Sample("customerRouterConfig XML", vif.get("vlan"),
                  ipaddress.ip_interface(vif["ipv4"]["customer"]),
                  ipaddress.ip_interface(vif["ipv4"]["amazon"]),
                  str(imported.asn) if imported.asn is not None else None,
                  str(vif["amazon_asn"]) if vif.get("amazon_asn") is not None else None,
                  imported.keys.get(key_ref.rsplit("/", 1)[-1]), None, None, vif.get("id"))


# -- the comparison ---------------------------------------------------------------------------

@dataclass
class Row:
    element: str
    aws: str
    render: str
    result: str
    note: str = ""


def compare(sample: Sample, render: Config) -> tuple[list[Row], list[str]]:
    """One row per element AWS's sample sets, and what the render adds for that VIF."""
    rows = []
    iface = next((i for i in render.interfaces.values()
                  if any(a.ip == sample.customer.ip for a in i.addresses)), None)
    by_vlan = next((i for i in render.interfaces.values()
                    if sample.vlan is not None and i.vlan == sample.vlan and i.addresses), None)
    iface = iface or by_vlan
    if sample.vlan is not None:
        rows.append(_row("VLAN", str(sample.vlan), str(iface.vlan) if iface and iface.vlan else None,
                         lambda got: got == str(sample.vlan)))
    ours = next((a for a in (iface.addresses if iface else []) if a.version == sample.customer.version),
                None)
    rows.append(_row("our address", str(sample.customer), str(ours) if ours else None,
                     lambda got: got == str(sample.customer)))
    on_link = ours is not None and sample.amazon.ip in ours.network and sample.amazon.ip != ours.ip
    rows.append(Row("AWS's address", str(sample.amazon),
                    str(sample.amazon) if on_link else (str(ours.network) if ours else "-"),
                    OK if on_link else (DIFFERENT if ours else MISSING),
                    "" if on_link else "not on the VIF's network"))
    session = render.sessions.get(str(sample.amazon.ip))
    if session is None and ours is not None:
        others = [s for s in render.sessions.values()
                  if _ip(s.address) and ipaddress.ip_address(s.address) in ours.network
                  and ipaddress.ip_address(s.address) != ours.ip]
        session = others[0] if others else None
    rows.append(_row("neighbor", str(sample.amazon.ip), session.address if session else None,
                     lambda got: got == str(sample.amazon.ip)))
    local_as = (session.local_as if session else None) or render.asn
    rows.append(_row("our ASN", sample.asn, local_as, lambda got: got == sample.asn))
    rows.append(_row("AWS's ASN", sample.amazon_asn, session.remote_as if session else None,
                     lambda got: got == sample.amazon_asn))
    rows.append(_key_row(sample, session))
    if sample.networks is not None:
        rows.append(_network_row(sample.networks, render.networks))
    if sample.bfd is not None:
        rows.append(_bfd_row(sample.bfd, session))
    adds = list(session.adds) if session else []
    # AWS runs IPv6 as a second session on the same VIF; the sample knows only the first.
    for address in (iface.addresses if iface else []):
        if address.version != sample.customer.version:
            peers = [s.address for s in render.sessions.values() if _ip(s.address)
                     and ipaddress.ip_address(s.address) in address.network]
            adds.append(f"IPv{address.version} session {address} to {', '.join(peers) or '-'}")
    return rows, adds


def _row(element: str, aws: str | None, got: str | None, same: object) -> Row:
    if aws is None:
        return Row(element, "-", got or "-", OK)
    if got is None:
        return Row(element, aws, "-", MISSING)
    return Row(element, aws, got, OK if same(got) else DIFFERENT)  # type: ignore[operator]


def _key_row(sample: Sample, session: Session | None) -> Row:
    if sample.key is None:
        return Row("MD5 key", "-", SECRET if session and session.key else "-", OK)
    if session is None or session.key is None:
        return Row("MD5 key", SECRET, "-", MISSING)
    if session.key_note:
        return Row("MD5 key", SECRET, SECRET, DIFFERENT, session.key_note)
    return Row("MD5 key", SECRET, SECRET, OK if session.key == sample.key else DIFFERENT)


def _network_row(wanted: list[str], rendered: list[str]) -> Row:
    shown_aws = ", ".join(wanted) or "-"
    own = [n for n in rendered if ":" not in n] or rendered
    shown = ", ".join(own) or "-"
    placeholder = [n for n in wanted if n in DEFAULT_ROUTE]
    specific = [n for n in wanted if n not in DEFAULT_ROUTE]
    if not rendered:
        return Row("advertised network", shown_aws, "-", MISSING)
    missing = [n for n in specific if n not in rendered]
    if missing:
        return Row("advertised network", shown_aws, shown, DIFFERENT,
                   f"not advertised: {', '.join(missing)}")
    note = "AWS's sample advertises a default route as a placeholder for your prefixes" \
        if placeholder and not any(n in DEFAULT_ROUTE for n in rendered) else ""
    return Row("advertised network", shown_aws, shown, OK, note)


def _bfd_row(wanted: tuple[int, int], session: Session | None) -> Row:
    aws = f"{wanted[0]} ms x {wanted[1]}"
    if session is None or not session.bfd:
        return Row("BFD", aws, "-", OPTIONAL, "AWS's sample marks BFD optional")
    if session.bfd_values is None:
        return Row("BFD", aws, "on", OK, "the platform's default interval")
    interval, multiplier = session.bfd_values
    got = f"{interval} ms x {multiplier}"
    if interval < BFD_MIN_INTERVAL or multiplier < BFD_MIN_MULTIPLIER:
        return Row("BFD", aws, got, DIFFERENT, f"below AWS's minimum {BFD_MIN_INTERVAL} ms x "
                   f"{BFD_MIN_MULTIPLIER}")
    return Row("BFD", aws, got, OK, "" if (interval, multiplier) == wanted else "slower than the sample")


def failed(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.result in (MISSING, DIFFERENT)]


def table(rows: list[Row]) -> str:
    header = ["ELEMENT", "AWS SAMPLE", "RENDER", "RESULT", "NOTE"]
    cells = [header, *([r.element, r.aws, r.render, r.result, r.note] for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header) - 1)]
    return "".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
                   + "\n" for row in cells)


# -- the render -------------------------------------------------------------------------------

NET_FILES = re.compile(r"^/etc/(netplan/|systemd/network/|network/interfaces\.d/)")


def read_render(platform: str, style: str | None, files: dict[str, str]) -> Config:
    """The values the rendered files of a router set (``files``: destination -> text)."""
    from bootstrap.roles.dx_router import junos

    if platform in ("ios-xe", "nxos"):
        config = read_cisco(files.get("router/aws-dx.cfg", ""))
        _cisco_finish(config)
    elif platform == "junos":
        config = read_junos(junos.parse_curly(files.get("router/aws-dx.conf", "")) if style == "curly"
                            else junos.parse_set(files.get("router/aws-dx.set", "")))
    elif platform == "panos":
        config = read_panos(files.get("router/aws-dx.set", ""))
    elif platform == "frr":
        config = read_cisco(files.get("/etc/frr/frr.conf", ""))
    elif platform == "bird":
        config = read_bird(files.get("/etc/bird/bird.conf", ""))
    else:
        config = read_openbgpd(files.get("/etc/bgpd.conf", ""))
    read_linux_net({d: t for d, t in files.items() if NET_FILES.match(d)}, config)
    if platform == "frr":
        _cisco_finish(config)
    elif platform == "bird":
        bird_bfd(config)
    return config
