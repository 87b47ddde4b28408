"""PAN-OS ``set`` commands, read back into a tree: the offline check of the PAN-OS render.

No PAN-OS runs here, so the check is structural. Every line must be a ``set`` command that
tokenizes as the PAN-OS CLI reads it (bare words, ``"quoted strings"``, ``[ lists ]``); no two
lines may give one setting two values; a node that is a choice (``action allow``/``deny``, a
peer group's ``type``) holds one branch; every name a line refers to (authentication profile,
BFD profile, peer group, interface) is defined; every subinterface carries the VLAN tag its name
ends with and sits in a zone and in the virtual router; every BGP peer has its AS, its addresses
and an authentication profile with a secret.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_TOKEN = re.compile(r'\s*(?:("[^"\n]*")|(\[)|(\])|([^\s"\[\]]+))')
# Nodes that take one branch only: a second line choosing another branch replaces the first
# on the device, so the file would not say what it loads.
CHOICES = frozenset({"action", "type", "nexthop", "mode"})
# Values a peer's `bfd profile` may take without a routing profile of that name.
BUILT_IN_BFD = frozenset({"Inherit-vr-global-setting", "None"})


class PanosSyntaxError(ValueError):
    """A line the PAN-OS CLI would not take, with its number."""


Value = str | tuple[str, ...]


@dataclass(frozen=True)
class Line:
    number: int
    path: tuple[str, ...]  # every word after `set` but the last
    value: Value  # the last word, or a [ list ]


@dataclass
class Node:
    children: dict[str, Node] = field(default_factory=dict)
    value: Value | None = None
    line: int = 0

    def get(self, *path: str) -> Node | None:
        node: Node | None = self
        for part in path:
            node = node.children.get(part) if node else None
        return node

    def leaf(self, *path: str) -> Value | None:
        node = self.get(*path)
        return node.value if node else None


def _words(text: str, number: int) -> Iterator[str | tuple[str, ...]]:
    pos = 0
    listing: list[str] | None = None
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip():
                raise PanosSyntaxError(f"line {number}: cannot read {text[pos:pos + 20]!r} "
                                       "(an unclosed quote?)")
            break
        pos = match.end()
        quoted, opening, closing, word = match.groups()
        if opening:
            if listing is not None:
                raise PanosSyntaxError(f"line {number}: a list inside a list")
            listing = []
        elif closing:
            if listing is None:
                raise PanosSyntaxError(f"line {number}: ']' without '['")
            if not listing:
                raise PanosSyntaxError(f"line {number}: an empty list")
            yield tuple(listing)
            listing = None
        else:
            token = quoted[1:-1] if quoted else word
            if listing is not None:
                listing.append(token)
            else:
                yield token
    if listing is not None:
        raise PanosSyntaxError(f"line {number}: '[' without ']'")


def parse(text: str) -> list[Line]:
    """Every ``set`` line of ``text``; a line of anything else is a syntax error."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        words = list(_words(raw, number))
        if words[:1] != ["set"]:
            raise PanosSyntaxError(f"line {number}: not a 'set' command: {raw.split()[0]!r}")
        if len(words) < 3:
            raise PanosSyntaxError(f"line {number}: 'set' needs a path and a value")
        path = words[1:-1]
        if any(isinstance(w, tuple) for w in path):
            raise PanosSyntaxError(f"line {number}: a [ list ] can only be the last word")
        lines.append(Line(number, tuple(str(w) for w in path), words[-1]))
    return lines


def tree(lines: list[Line]) -> tuple[Node, list[str]]:
    """The configuration tree of ``lines``, and the lines that contradict an earlier one."""
    root = Node()
    problems = []
    for line in lines:
        node = root
        for depth, part in enumerate(line.path):
            if part in CHOICES and node.children.get(part) and node.children[part].children:
                chosen = next(iter(node.children[part].children))
                wanted = line.path[depth + 1] if depth + 1 < len(line.path) else line.value
                if wanted != chosen:
                    where = " ".join(line.path[:depth + 1])
                    problems.append(f"line {line.number}: {where} is already {chosen!r} "
                                    f"(line {node.children[part].children[chosen].line}), "
                                    f"not {wanted!r}")
            node = node.children.setdefault(part, Node(line=line.number))
        if isinstance(line.value, str) and line.path and line.path[-1] in CHOICES:
            node.children.setdefault(line.value, Node(line=line.number))
            continue
        if node.value is not None and node.value != line.value:
            problems.append(f"line {line.number}: {' '.join(line.path)} is already "
                            f"{_show(node.value)} (line {node.line}), not {_show(line.value)}")
            continue
        node.value, node.line = line.value, line.number
    return root, problems


def _show(value: Value) -> str:
    return f"[ {' '.join(value)} ]" if isinstance(value, tuple) else repr(value)


def _as_list(value: Value | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


def subinterfaces(root: Node) -> dict[str, Node]:
    """Every Layer-3 subinterface by name (``ethernet1/1.101``), under its parent."""
    out = {}
    for kind in ("ethernet", "aggregate-ethernet"):
        for parent in (root.get("network", "interface", kind) or Node()).children.values():
            units = parent.get("layer3", "units")
            out.update(units.children if units else {})
    return out


def problems(text: str) -> list[str]:
    """What is wrong with a PAN-OS set-command file; empty when it holds together."""
    try:
        lines = parse(text)
    except PanosSyntaxError as exc:
        return [str(exc)]
    root, found = tree(lines)
    found += _interface_problems(root)
    for name, vr in (root.get("network", "virtual-router") or Node()).children.items():
        found += _router_problems(root, name, vr)
    return found


def _interface_problems(root: Node) -> list[str]:
    found = []
    units = subinterfaces(root)
    for kind in ("ethernet", "aggregate-ethernet"):
        for parent_name, parent in (root.get("network", "interface", kind) or Node()).children.items():
            for name in (parent.get("layer3", "units") or Node()).children:
                if not name.startswith(parent_name + "."):
                    found.append(f"subinterface {name} is not named after its parent {parent_name}")
    for name, unit in units.items():
        vlan = name.rsplit(".", 1)[-1]
        tag = unit.leaf("tag")
        if tag is None:
            found.append(f"subinterface {name}: no VLAN tag")
        elif tag != vlan:
            found.append(f"subinterface {name}: tag {tag} is not the VLAN {vlan} its name ends with")
        elif not 1 <= int(vlan) <= 4094:
            found.append(f"subinterface {name}: VLAN {vlan} is outside 1-4094")
        addresses = [*_as_list(unit.leaf("ip")),
                     *(unit.get("ipv6", "address") or Node()).children]
        if not addresses:
            found.append(f"subinterface {name}: no address")
        for address in addresses:
            try:
                ipaddress.ip_interface(address)
            except ValueError:
                found.append(f"subinterface {name}: {address!r} is not an address with its length")
    zoned = {i for zone in (root.get("zone") or Node()).children.values()
             for i in _as_list(zone.leaf("network", "layer3"))}
    imported = set(_as_list(root.leaf("import", "network", "interface")))
    routed = {i for vr in (root.get("network", "virtual-router") or Node()).children.values()
              for i in _as_list(vr.leaf("interface"))}
    for where, names in (("zone", zoned), ("import network interface", imported),
                         ("virtual-router interface", routed)):
        for name in sorted(names - set(units)):
            found.append(f"{where} names {name}, which is not defined")
    for name in sorted(units):
        if name not in zoned:
            found.append(f"subinterface {name} is in no zone")
        if name not in routed:
            found.append(f"subinterface {name} is in no virtual router")
    return found


def _router_problems(root: Node, vr_name: str, vr: Node) -> list[str]:
    found = []
    paths = vr.leaf("ecmp", "max-path")
    if paths is not None and paths not in ("2", "3", "4"):
        found.append(f"virtual-router {vr_name}: ecmp max-path {_show(paths)} is not 2, 3 or 4")
    bgp = vr.get("protocol", "bgp")
    if bgp is None:
        return found
    where = f"virtual-router {vr_name}"
    for needed in ("router-id", "local-as"):
        if bgp.leaf(needed) is None:
            found.append(f"{where}: bgp has no {needed}")
    if bgp.leaf("enable") != "yes":
        found.append(f"{where}: bgp is not enabled")
    auth = bgp.get("auth-profile") or Node()
    for name, profile in auth.children.items():
        if not profile.leaf("secret"):
            found.append(f"{where}: auth-profile {name} has no secret")
    bfd_profiles = set((root.get("network", "routing-profile", "bfd") or Node()).children)
    units = subinterfaces(root)
    routed = set(_as_list(vr.leaf("interface")))
    groups = bgp.get("peer-group") or Node()
    for group_name, group in groups.children.items():
        peers = (group.get("peer") or Node()).children
        if not peers:
            found.append(f"{where}: peer-group {group_name} has no peer")
        for peer_name, peer in peers.items():
            found += _peer_problems(f"{where}: peer {peer_name}", peer, auth, bfd_profiles, units, routed)
    for direction in ("export", "import"):
        for rule_name, rule in ((bgp.get("policy", direction, "rules") or Node()).children.items()):
            for group_name in _as_list(rule.leaf("used-by")):
                if group_name not in groups.children:
                    found.append(f"{where}: {direction} rule {rule_name} is used by peer-group "
                                 f"{group_name}, which is not defined")
            if not rule.get("action"):
                found.append(f"{where}: {direction} rule {rule_name} has no action")
    statics = {r.leaf("destination")
               for table in ("ip", "ipv6")
               for r in (vr.get("routing-table", table, "static-route") or Node()).children.values()}
    for prefix in (bgp.get("redist-rules") or Node()).children:
        if "/" in prefix and prefix not in statics:
            found.append(f"{where}: redist-rules {prefix} has no static route to redistribute")
    return found


def _peer_problems(where: str, peer: Node, auth: Node, bfd_profiles: set[str],
                   units: dict[str, Node], routed: set[str]) -> list[str]:
    found = []
    for needed in (("peer-as",), ("peer-address", "ip"), ("local-address", "interface"),
                   ("local-address", "ip")):
        if peer.leaf(*needed) is None:
            found.append(f"{where}: no {' '.join(needed)}")
    # The address family of a peer is an MP-BGP setting: without the extensions it is ignored.
    if peer.get("subsequent-address-family-identifier") and peer.leaf("enable-mp-bgp") != "yes":
        found.append(f"{where}: an address family without enable-mp-bgp yes")
    profile = peer.leaf("connection-options", "authentication")
    if profile is None:
        found.append(f"{where}: no connection-options authentication")
    elif profile not in auth.children:
        found.append(f"{where}: auth-profile {profile} is not defined")
    bfd = peer.leaf("bfd", "profile")
    if isinstance(bfd, str) and bfd not in bfd_profiles | BUILT_IN_BFD:
        found.append(f"{where}: bfd profile {bfd} is not defined")
    interface = peer.leaf("local-address", "interface")
    local = peer.leaf("local-address", "ip")
    if isinstance(interface, str):
        if interface not in units:
            found.append(f"{where}: local-address interface {interface} is not defined")
        else:
            if interface not in routed:
                found.append(f"{where}: {interface} is not in this virtual router")
            unit = units[interface]
            own = {*_as_list(unit.leaf("ip")), *(unit.get("ipv6", "address") or Node()).children}
            if isinstance(local, str) and local not in own:
                found.append(f"{where}: local-address ip {local} is not an address of {interface}")
            peer_ip = peer.leaf("peer-address", "ip")
            if isinstance(local, str) and isinstance(peer_ip, str) and local in own:
                try:
                    same = ipaddress.ip_address(peer_ip) in ipaddress.ip_interface(local).network
                except ValueError:
                    same = False
                if not same:
                    found.append(f"{where}: peer-address {peer_ip} is not on {local}")
    return found
