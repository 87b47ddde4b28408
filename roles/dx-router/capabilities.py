"""What each router platform can render, as one table: the code's truth and the README's.

A feature a platform lacks is a named gap. Asking for it is an error unless the router lists the
gap in ``dx.acknowledge``; then it is rendered without that feature. ``python -m
bootstrap.roles.dx_router.capabilities`` prints the table as Markdown for the README.
"""

from __future__ import annotations

from dataclasses import dataclass

PLATFORMS = ("ios-xe", "nxos", "junos", "panos", "frr", "bird", "openbgpd")
LINUX_PLATFORMS = frozenset({"frr", "bird", "openbgpd"})
TITLES = {"ios-xe": "Cisco IOS-XE", "nxos": "Cisco NX-OS", "junos": "Juniper Junos",
          "panos": "Palo Alto PAN-OS", "frr": "FRR", "bird": "BIRD 2", "openbgpd": "OpenBGPD"}


@dataclass(frozen=True)
class Feature:
    title: str
    how: dict[str, str]  # platform -> how the config does it; absent: the platform cannot
    gap: str | None = None  # the name to acknowledge where a platform cannot
    missing: str = ""  # why, for the error message

    def missing_on(self, platform: str) -> str | None:
        """Why ``platform`` lacks this feature, or None when it has it."""
        return None if platform in self.how else f"{TITLES[platform]} {self.missing}"


@dataclass(frozen=True)
class KeyLimit:
    """What one platform takes as a TCP-MD5 key, beyond AWS's 6-80 characters."""

    max_length: int
    why_length: str  # where the maximum comes from
    refuses: str = ""  # a start the platform reads as something else than a key, for the table
    why_start: str = ""


# Measured with each consumer where one runs here (``bgpd -n``); from the vendor's documentation
# for IOS-XE and Junos; the Linux kernel's TCP_MD5SIG_MAXKEYLEN (80) bounds every Linux daemon.
KEY_LIMITS = {
    # Cisco documents 25 characters when `service password-encryption` is on; that is the
    # device's setting, not the inventory's, so the README says it instead.
    "ios-xe": KeyLimit(80, "AWS's maximum",
                       refuses="a digit",
                       why_start="IOS-XE reads a leading digit as the encryption type of the key"),
    "junos": KeyLimit(80, "AWS's maximum (Junos takes up to 126)",
                      refuses="`$9$`",
                      why_start="Junos takes a key starting with $9$ as one already encrypted"),
    # NX-OS is told the key is clear text (`password 0`, as in AWS's NX-OS sample), so a
    # leading digit is part of the key; `password 3` and `7` would read it as ciphertext.
    "nxos": KeyLimit(80, "AWS's maximum"),
    # PAN-OS keeps the key in a BGP authentication profile's `secret`, quoted in the set line;
    # its configuration schema takes a secret of at most 63 characters.
    "panos": KeyLimit(63, "a BGP authentication profile's secret (PAN-OS schema: at most 63)"),
    "frr": KeyLimit(80, "the Linux kernel's TCP_MD5SIG_MAXKEYLEN"),
    "bird": KeyLimit(80, "the Linux kernel's TCP_MD5SIG_MAXKEYLEN"),
    "openbgpd": KeyLimit(79, "bgpd keeps the key in 80 bytes with its terminating NUL "
                             "('tcp md5sig password too long: max 79')"),
}


@dataclass(frozen=True)
class Ceiling:
    """A setting a platform's command takes only up to ``maximum``, below the inventory's own."""

    key: tuple[str, ...]  # under dx.vifs.N
    maximum: int
    what: str


# Cisco IOS-XE command reference: `bfd interval` 50-9999 ms, `multiplier` 3-50,
# `neighbor maximum-prefix` 1-2147483647. The Linux daemons take what the inventory allows
# (`vtysh -C`, `bird -p` and `bgpd -n` measured up to 4294967295 prefixes, 30000 ms x 255).
CEILINGS = {
    "ios-xe": (Ceiling(("bfd", "interval_ms"), 9999, "a BFD interval (`bfd interval`) in ms"),
               Ceiling(("bfd", "multiplier"), 50, "a BFD multiplier"),
               Ceiling(("max_prefix_in",), 2147483647, "an inbound prefix limit "
                                                       "(`neighbor … maximum-prefix`)")),
    # Cisco Nexus 9000 NX-OS unicast routing reference: `bfd interval` 50-999 ms, `multiplier`
    # 1-50, neighbor `maximum-prefix` 1-300000, `timers` keepalive 0-3600 and hold 3-3600.
    "nxos": (Ceiling(("bfd", "interval_ms"), 999, "a BFD interval (`bfd interval`) in ms"),
             Ceiling(("bfd", "multiplier"), 50, "a BFD multiplier"),
             Ceiling(("max_prefix_in",), 300000, "an inbound prefix limit (`maximum-prefix`)"),
             Ceiling(("timers", "keepalive"), 3600, "a keepalive (`timers`) in seconds"),
             Ceiling(("timers", "hold"), 3600, "a hold time (`timers`) in seconds")),
    # PAN-OS web interface reference: BFD profile intervals up to 10000 ms and a detection
    # multiplier of 2-50, a peer's `max-prefixes` 1-100000, keep-alive 0-1200 s, hold 3-3600 s.
    "panos": (Ceiling(("bfd", "interval_ms"), 10000, "a BFD interval (`min-tx-interval`) in ms"),
              Ceiling(("bfd", "multiplier"), 50, "a BFD detection multiplier"),
              Ceiling(("max_prefix_in",), 100000, "an inbound prefix limit (`max-prefixes`)"),
              Ceiling(("timers", "keepalive"), 1200, "a keep-alive interval in seconds"),
              Ceiling(("timers", "hold"), 3600, "a hold time in seconds")),
}


# What the Cisco command references give a BGP neighbor's `description`: "up to 80 characters"
# (IOS `neighbor … description`; NX-OS `neighbor` > `description`, "including spaces").
NEIGHBOR_DESCRIPTION_MAX = {"ios-xe": 80, "nxos": 80}
# PAN-OS web interface help (Network > Virtual Routers > Static Routes): a static route's name
# is "up to 31 characters", of "letters, numbers, spaces, hyphens, and underscores".
PANOS_NAME_MAX = 31


def neighbor_description(platform: str, vif_id: str, name: str) -> str:
    """What the platform's `neighbor … description` line carries for a VIF."""
    # NX-OS carries the name alone; its sub-interface's description holds id and name.
    return name if platform == "nxos" else f"{vif_id} {name}"


def key_limit_cell(platform: str) -> str:
    limit = KEY_LIMITS[platform]
    cell = f"6-{limit.max_length} characters"
    return f"{cell}, not starting with {limit.refuses}" if limit.refuses else cell


FEATURES = (
    Feature("TCP-MD5 key", {
        "ios-xe": "`neighbor … password`", "nxos": "`password 0` (clear text, as AWS's sample)",
        "junos": "`authentication-key`",
        "panos": "`auth-profile … secret` + `connection-options authentication`",
        "frr": "`neighbor … password`", "bird": "`password`", "openbgpd": "`tcp md5sig password`"}),
    Feature("MD5 key length (AWS: 6-80 printable ASCII characters; bootstrap also refuses "
            "whitespace, quotes, backslash and ! # ; { } ?)",
            {p: key_limit_cell(p) for p in PLATFORMS}),
    Feature("BFD", {
        "ios-xe": "`bfd interval` (at most 9999 ms, multiplier at most 50) + `fall-over bfd`",
        "nxos": "`feature bfd`, `bfd interval` (at most 999 ms, multiplier at most 50) + neighbor `bfd`",
        "junos": "`bfd-liveness-detection`",
        "panos": "`routing-profile bfd` (at most 10000 ms, multiplier at most 50) + peer `bfd profile`",
        "frr": "bfdd `profile` + `neighbor … bfd profile`", "bird": "`protocol bfd` + `bfd on`"},
        gap="bfd", missing="has no BFD"),
    Feature("Local-preference communities 7224:7100/7300", {
        "ios-xe": "`set community` + `send-community`", "nxos": "`set community` + `send-community`",
        "junos": "`community add`", "panos": "export rule `community append`",
        "frr": "`set community`", "bird": "`bgp_community.add`", "openbgpd": "`set { community }`"}),
    Feature("Public scope communities 7224:9100/9200/9300", {
        "ios-xe": "`set community` + `send-community`", "nxos": "`set community` + `send-community`",
        "junos": "`community add`", "panos": "export rule `community append`",
        "frr": "`set community`", "bird": "`bgp_community.add`", "openbgpd": "`set { community }`"}),
    Feature("AS-path prepend (passive VIF)", {
        "ios-xe": "`set as-path prepend`", "nxos": "`set as-path prepend`",
        "junos": "`as-path-prepend`", "panos": "export rule `as-path prepend`",
        "frr": "`set as-path prepend`", "bird": "`bgp_path.prepend`", "openbgpd": "`prepend-self`"}),
    Feature("Inbound prefix filter", {
        "ios-xe": "prefix-list + route-map", "nxos": "prefix-list + route-map (in and out)",
        "junos": "`route-filter` policy",
        "panos": "import rules `address-prefix … exact` (a range must reach /32 or /128)",
        "frr": "prefix-list + route-map (in and out, RFC 8212)", "bird": "prefix set filter",
        "openbgpd": "`prefix-set` + `allow from`"}),
    Feature("Inbound prefix limit", {
        "ios-xe": "`maximum-prefix` (at most 2147483647)", "nxos": "`maximum-prefix` (at most 300000)",
        "junos": "`prefix-limit … teardown`", "panos": "`max-prefixes` (at most 100000)",
        "frr": "`maximum-prefix`", "bird": "`import limit … action restart`",
        "openbgpd": "`max-prefix … restart`"}),
    Feature("Outbound prefix limit (`max_prefix_out`)", {
        "frr": "`maximum-prefix-out`", "bird": "`export limit … action block`",
        "openbgpd": "`max-prefix … out`"},
        gap="max-prefix-out", missing="has no outbound prefix limit (the advertised prefix "
        "count is still checked against the AWS limit at render time)"),
    Feature("Keepalive other than hold/3", {
        "ios-xe": "`neighbor … timers`", "nxos": "`timers` (at most 3600 s)",
        "panos": "`keep-alive-interval` (at most 1200 s) + `hold-time`", "frr": "`neighbor … timers`",
        "bird": "`keepalive time`"},
        gap="keepalive", missing="sets only the hold time; keepalive is always hold/3"),
    Feature("ECMP over VIFs (`redundancy: ecmp`)", {
        "ios-xe": "`maximum-paths`", "nxos": "`maximum-paths`",
        "junos": "`multipath` + load-balance export", "panos": "virtual-router `ecmp` (at most 4 paths)",
        "frr": "`maximum-paths`", "bird": "kernel `merge paths on`"},
        gap="ecmp", missing="cannot install more than one path per prefix"),
    Feature("Routes from AWS installed in the kernel", {
        "ios-xe": "yes", "nxos": "yes", "junos": "yes", "panos": "`install-route yes`", "frr": "zebra",
        "bird": "`protocol kernel`"},
        missing="portable 7.7 on Linux keeps them in its RIB only (measured: `fib-update yes` "
        "installs nothing); pair it with a FIB programmer or use FRR/BIRD"),
    Feature("Anchor route for advertised prefixes", {
        "ios-xe": "`ip route … Null0`", "nxos": "`ip route … Null0`",
        "junos": "`static route … discard`",
        "panos": "`static-route … nexthop discard` + `redist-rules`",
        "frr": "`ip route … blackhole` (staticd)", "bird": "`protocol static` blackhole",
        "openbgpd": "not needed: `network` announces without a route"}),
    Feature("One session per address family", {
        "ios-xe": "`address-family` activate", "nxos": "neighbor `address-family`",
        "junos": "a group per family", "panos": "a peer group per family",
        "frr": "`no bgp default ipv4-unicast` + activate", "bird": "one channel per protocol",
        "openbgpd": "`announce IPv4/IPv6 none`"}),
    Feature("VLAN interface", {
        "ios-xe": "sub-interface `encapsulation dot1Q`",
        "nxos": "sub-interface `encapsulation dot1q` on a routed (`no switchport`) parent",
        "panos": "Layer-3 subinterface `units PARENT.VLAN` + `tag`, in zone `AWS-DX`",
        "junos": "`unit` with `vlan-id` (media MTU = IP MTU + 22, at most 9216); on an SRX, "
                 "`junos_security_zone` puts each unit in a zone with host-inbound BGP and BFD",
        "frr": "systemd-networkd, netplan or ifupdown (`PARENT.VLAN`, at most 15 characters)",
        "bird": "systemd-networkd, netplan or ifupdown (`PARENT.VLAN`, at most 15 characters)",
        "openbgpd": "systemd-networkd, netplan or ifupdown (`PARENT.VLAN`, at most 15 characters)"}),
    # What `bootstrap verify` reads on the router (roles/dx-router/checks.py), one line per VIF.
    Feature("`verify` per VIF: BGP state, uptime, prefixes received and sent, BFD, received "
            "routes in the kernel", {
        "frr": "`show bgp vrf all neighbors json`, `show bfd peers json`, `ip -j route`",
        "bird": "`show protocols all`, `show route protocol`, `show bfd sessions`, `ip -j route`",
        "openbgpd": "`bgpctl -j show neighbor` (no BFD; kernel routes not checked, see above)"},
        missing="checked on the device (verify reaches Linux routers)"),
    # No inventory key asks for MACsec, so it is no gap to acknowledge: the row says what a
    # network engineer has to do on the device.
    Feature("MACsec (AWS: dedicated 10/100 Gbps connections only, keyed by a CKN/CAK pair "
            "associated with the connection; configure it on the device, keep CKN and CAK as "
            "secrets)", {}, missing="not rendered"),
)



GAPS = tuple(f.gap for f in FEATURES if f.gap)
FEATURES_BY_TITLE = {f.title: f for f in FEATURES}


def gap_for(platform: str, gap: str) -> str | None:
    """Why ``platform`` cannot do the feature named ``gap``, or None when it can."""
    for feature in FEATURES:
        if feature.gap == gap:
            return feature.missing_on(platform)
    raise KeyError(gap)


def table() -> str:
    """The capability table in Markdown, one row per feature, one column per platform."""
    head = "| Feature | " + " | ".join(TITLES[p] for p in PLATFORMS) + " |"
    rule = "|---" * (len(PLATFORMS) + 1) + "|"
    rows = [head, rule]
    for feature in FEATURES:
        missing = f"**no**: acknowledge `{feature.gap}`" if feature.gap else f"**no**: {feature.missing}"
        cells = [feature.how.get(p) or missing for p in PLATFORMS]
        rows.append(f"| {feature.title} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
