"""What a network engineer checks on a Direct Connect router, as a user of bootstrap sees it: public
space on public VIFs, inbound filters that accept exactly what the inventory names, forwarding on
Linux routers, and VIFs that back each other up not sharing a router, connection or location."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest
from dx.routers import changed, router, write_inventory
from support.cli import ROOT, run_cli

from bootstrap.fleet.checks import load_module

LINUX = ("frr", "bird", "openbgpd")
PLATFORMS = ("ios-xe", "nxos", "junos", "panos", "frr", "bird", "openbgpd")
CONFIG = {"frr": "files/etc/frr/frr.conf", "bird": "files/etc/bird/bird.conf",
          "openbgpd": "files/etc/bgpd.conf", "ios-xe": "router/aws-dx.cfg",
          "junos": "router/aws-dx.set", "nxos": "router/aws-dx.cfg", "panos": "router/aws-dx.set"}
SYSCTL = "files/etc/sysctl.d/60-aws-dx.conf"
CHECKS = load_module("dx-router", ROOT / "roles/dx-router/checks.py")


def render(tmp_path: Path, routers: dict[str, dict[str, Any]]) -> Any:
    return run_cli("render", write_inventory(tmp_path / "inv", routers), "-o", tmp_path / "build")


def render_error(tmp_path: Path, dx: dict[str, Any]) -> str:
    result = render(tmp_path, {"r1": dx})
    assert result.rc == 1, result.out + result.err
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def names(message: str, key: str, tmp_path: Path, line_has: str) -> None:
    match = re.match(r"error: (\S*host_vars/r1\.yml):(\d+): host r1: key (\S+): ", message)
    assert match and match[3] == key, message
    line = (tmp_path / "inv/host_vars/r1.yml").read_text().splitlines()[int(match[2]) - 1]
    assert line_has in line, (message, line)


# -- 1. Public space on public VIFs -------------------------------------------------------------


def public(platform: str = "frr") -> dict[str, Any]:
    """A router whose first VIF is public, on public addresses, advertising public prefixes."""
    dx = router(platform)
    dx["vifs"][0].update(type="public", mtu=1500, amazon_asn=7224,
                         ipv4={"customer": "44.31.15.2/30", "amazon": "44.31.15.1/30"},
                         advertise={"ipv4": ["44.31.16.0/24"], "ipv6": ["2a0e:15::/48"]})
    return dx


def test_a_public_vif_on_public_space_renders(tmp_path: Path) -> None:
    result = render(tmp_path, {"r1": public()})
    assert result.rc == 0, result.err
    frr = (tmp_path / "build/r1" / CONFIG["frr"]).read_text()
    assert "neighbor 44.31.15.1 remote-as 7224" in frr and "permit 44.31.16.0/24" in frr


NOT_PUBLIC_PREFIXES = [
    # (family, prefix, what the message says)
    ("ipv4", "10.20.0.0/16", "is private (RFC 1918) space"),
    ("ipv4", "172.16.0.0/12", "is private (RFC 1918) space"),
    ("ipv4", "192.168.10.0/24", "is private (RFC 1918) space"),
    ("ipv4", "100.64.0.0/10", "is carrier-grade NAT shared (RFC 6598) space"),
    ("ipv4", "100.100.0.0/16", "is carrier-grade NAT shared (RFC 6598) space"),
    ("ipv4", "127.0.0.0/8", "is loopback space"),
    ("ipv4", "169.254.0.0/16", "is link-local (RFC 3927) space"),
    ("ipv4", "192.0.2.0/24", "is documentation (RFC 5737) space"),
    ("ipv4", "198.51.100.0/24", "is documentation (RFC 5737) space"),
    ("ipv4", "203.0.113.0/24", "is documentation (RFC 5737) space"),
    ("ipv4", "198.18.0.0/15", "is benchmarking (RFC 2544) space"),
    ("ipv4", "10.0.0.0/7", "covers 10.0.0.0/8, which is private (RFC 1918) space"),
    ("ipv4", "0.0.0.0/0", "covers 0.0.0.0/8"),
    ("ipv6", "fd00:1::/48", "is unique local (RFC 4193) space"),
    ("ipv6", "fe80::/64", "is link-local space"),
    ("ipv6", "2001:db8:100::/48", "is documentation (RFC 3849) space"),
]


@pytest.mark.parametrize(("family", "prefix", "says"), NOT_PUBLIC_PREFIXES,
                         ids=[p[1] for p in NOT_PUBLIC_PREFIXES])
def test_a_public_vif_refuses_to_advertise_non_public_space(tmp_path: Path, family: str, prefix: str,
                                                           says: str) -> None:
    dx = public("bird")  # BIRD takes a default route, so only the public rule can refuse 0.0.0.0/0
    dx["vifs"][0]["advertise"][family] = [dx["vifs"][0]["advertise"][family][0], prefix]
    message = render_error(tmp_path, dx)
    assert f"{prefix} {says}" in message, message
    assert "a public VIF advertises public prefixes you own" in message
    names(message, f"dx.vifs.0.advertise.{family}.1", tmp_path, prefix.split("/")[0])


NOT_PUBLIC_PEERS = [
    # (side, customer, amazon, what the message says)
    ("customer", "10.0.0.2/30", "10.0.0.1/30", "10.0.0.2 is private (RFC 1918) space"),
    ("customer", "100.64.0.2/30", "100.64.0.1/30", "100.64.0.2 is carrier-grade NAT shared (RFC 6598) space"),
    ("customer", "169.254.10.2/30", "169.254.10.1/30", "169.254.10.2 is link-local (RFC 3927) space"),
    ("customer", "192.0.2.2/30", "192.0.2.1/30", "192.0.2.2 is documentation (RFC 5737) space"),
    ("customer", "172.31.0.2/31", "172.31.0.3/31", "172.31.0.2 is private (RFC 1918) space"),
]


@pytest.mark.parametrize(("side", "customer", "amazon", "says"), NOT_PUBLIC_PEERS,
                         ids=[p[1] for p in NOT_PUBLIC_PEERS])
def test_a_public_vif_refuses_non_public_peer_addresses(tmp_path: Path, side: str, customer: str,
                                                       amazon: str, says: str) -> None:
    dx = changed(public(), "vifs.0.ipv4", {"customer": customer, "amazon": amazon})
    message = render_error(tmp_path, dx)
    assert says in message and "a public VIF peers on public addresses" in message, message
    names(message, f"dx.vifs.0.ipv4.{side}", tmp_path, "customer")


def test_the_ipv6_peering_of_a_public_vif_is_checked_too(tmp_path: Path) -> None:
    dx = changed(public(), "vifs.0.ipv6", {"customer": "fd00:15::3/125", "amazon": "fd00:15::2/125"})
    message = render_error(tmp_path, dx)
    assert "fd00:15::3 is unique local (RFC 4193) space" in message
    names(message, "dx.vifs.0.ipv6.customer", tmp_path, "customer")


@pytest.mark.parametrize("kind", ["private", "transit"])
def test_private_and_transit_vifs_take_any_peer_space(tmp_path: Path, kind: str) -> None:
    """AWS peers a private or transit VIF on link-local, RFC 1918 or the customer's own public
    addresses, and carries whatever the customer advertises: no address-class rule applies."""
    dx = router("frr")
    dx["vifs"][1].update(type=kind, mtu=1500, amazon_asn=4200000001,
                         ipv4={"customer": "44.31.15.2/30", "amazon": "44.31.15.1/30"},
                         advertise={"ipv4": ["44.31.16.0/24", "192.168.0.0/16", "100.64.0.0/10"]})
    dx["vifs"][0]["ipv4"] = {"customer": "10.0.0.2/30", "amazon": "10.0.0.1/30"}
    result = render(tmp_path, {"r1": dx})
    assert result.rc == 0, result.err
    frr = (tmp_path / "build/r1" / CONFIG["frr"]).read_text()
    assert "neighbor 44.31.15.1 remote-as 4200000001" in frr and "neighbor 10.0.0.1 remote-as" in frr
    assert "permit 192.168.0.0/16" in frr


# -- 2. Inbound filters ----------------------------------------------------------------------------

# What vifs[1] (IPv4) and vifs[0] (IPv6) accept: (prefix, shortest, longest length)
WANT4 = {("10.100.0.0/16", 16, 24), ("10.101.0.0/16", 16, 16)}
WANT6 = {("2600:1f18:100::/56", 56, 64)}
# PAN-OS matches a prefix exactly or with every longer one.
WANT4_PANOS = {("10.100.0.0/16", 16, 32), ("10.101.0.0/16", 16, 16)}
WANT6_PANOS = {("2600:1f18:100::/56", 56, 128)}


def with_accept(platform: str) -> dict[str, Any]:
    panos = platform == "panos"
    dx = changed(router(platform), "vifs.1.accept",
                 {"ipv4": [f"10.100.0.0/16 le {32 if panos else 24}", "10.101.0.0/16"]})
    return changed(dx, "vifs.0.accept", {"ipv4": ["10.100.0.0/16 le 24"] if not panos else
                                         ["10.100.0.0/16 le 32"],
                                         "ipv6": [f"2600:1f18:100::/56 le {128 if panos else 64}"]})


def _range(prefix: str, ge: str | None, le: str | None) -> tuple[str, int, int]:
    net = ipaddress.ip_network(prefix)
    low = int(ge) if ge else net.prefixlen
    high = int(le) if le else (net.max_prefixlen if ge else low)
    return (prefix, low, high)


def cisco_filter(text: str, name: str, peer: str, family: str) -> set[tuple[str, int, int]]:
    """FRR, IOS-XE, NX-OS: the prefix list of the inbound route-map, the only entry of that map."""
    keyword = "ip" if family == "ipv4" else "ipv6"
    entries = re.findall(rf"^{keyword} prefix-list {name} seq \d+ (\w+) (\S+)(?: ge (\d+))?(?: le (\d+))?$",
                         text, re.M)
    assert entries and {e[0] for e in entries} == {"permit"}, entries
    maps = re.findall(rf"^route-map {name} (\w+) \d+\n +match {keyword} address prefix-list (\S+)$",
                      text, re.M)
    assert maps == [("permit", name)], maps  # then the implicit deny: nothing else gets in
    if not re.search(rf"^\s+neighbor {re.escape(peer)} route-map {name} in$", text, re.M):
        # NX-OS: the route-map sits in the neighbor's block, under its address family
        block = re.search(rf"^  neighbor {re.escape(peer)}\n((?:   .*\n)*)", text, re.M)
        assert block and re.search(rf"^ +route-map {name} in$", block[1], re.M), name
    return {_range(p, ge, le) for _, p, ge, le in entries}


def junos_filter(text: str, name: str, peer: str, family: str) -> set[tuple[str, int, int]]:
    statement = f"set policy-options policy-statement {name} "
    lines = [line[len(statement):] for line in text.splitlines() if line.startswith(statement)]
    terms = {line.split()[1] for line in lines}
    assert terms == {"ACCEPT", "REJECT"} and lines[-1] == "term REJECT then reject", lines
    out = set()
    for line in lines:
        match = re.fullmatch(r"term ACCEPT from route-filter (\S+) (exact|upto /(\d+)|"
                             r"prefix-length-range /(\d+)-/(\d+))", line)
        if match:
            prefix, _, upto, low, high = match.groups()
            out.add(_range(prefix, low, upto or high))
    assert f"import {name}\n" in text
    return out


def bird_filter(text: str, name: str, peer: str, family: str) -> set[tuple[str, int, int]]:
    body = re.search(rf"^filter {name.lower().replace('-', '_')} {{\n(.*?)^}}", text, re.M | re.S)
    assert body, name
    match = re.fullmatch(r"\tif net ~ \[ (.*) \] then \{\n(?:\t\t.*\n)*\t\}\n\treject;\n", body[1])
    assert match, body[1]
    return {_range(p, low, high) for p, low, high in re.findall(r"(\S+)\{(\d+),(\d+)\}", match[1])}


def openbgpd_filter(text: str, name: str, peer: str, family: str) -> set[tuple[str, int, int]]:
    symbol = name.lower().replace("-", "_")
    assert "deny from any\n" in text
    assert re.findall(rf"^allow from {re.escape(peer)} (.*)$", text, re.M) == [f"prefix-set {symbol}"]
    body = re.search(rf"^prefix-set {symbol} {{ (.*) }}$", text, re.M)
    assert body
    out = set()
    for item in body[1].split(", "):
        match = re.fullmatch(r"(\S+)(?: prefixlen (\d+) - (\d+))?", item)
        assert match, item
        prefix, low, high = match.groups()
        out.add(_range(prefix, low, high))
    return out


def panos_filter(text: str, name: str, peer: str, family: str) -> set[tuple[str, int, int]]:
    rules = "set network virtual-router default protocol bgp policy import rules "
    mine = [line[len(rules):] for line in text.splitlines() if line.startswith(rules + name)]
    actions = [line for line in mine if line.startswith(f"{name} action ")]
    assert len(actions) == 1 and actions[0].startswith(f"{name} action allow"), actions
    assert f"{name}-DENY action deny" in mine
    everything = "0.0.0.0/0" if family == "ipv4" else "::/0"
    assert f"{name}-DENY match address-prefix {everything} exact no" in mine
    out = set()
    for line in mine:
        match = re.fullmatch(rf"{name} match address-prefix (\S+) exact (yes|no)", line)
        if match:
            net = ipaddress.ip_network(match[1])
            out.add((match[1], net.prefixlen,
                     net.prefixlen if match[2] == "yes" else net.max_prefixlen))
    return out


FILTERS = {"frr": cisco_filter, "ios-xe": cisco_filter, "nxos": cisco_filter, "junos": junos_filter,
           "bird": bird_filter, "openbgpd": openbgpd_filter, "panos": panos_filter}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_inbound_filter_accepts_exactly_what_accept_names(tmp_path: Path, platform: str) -> None:
    result = render(tmp_path, {"r1": with_accept(platform)})
    assert result.rc == 0, result.err
    assert "accepts any" not in result.err  # every family of every VIF names its CIDRs
    check = run_cli("validate", tmp_path / "build")
    assert check.rc == 0 and " 0 failed" in check.out, check.out
    text = (tmp_path / "build/r1" / CONFIG[platform]).read_text()
    read = FILTERS[platform]
    panos = platform == "panos"
    assert read(text, "DXVIF-FGABC102-V4-IN", "169.254.11.1", "ipv4") == (WANT4_PANOS if panos else WANT4)
    assert read(text, "DXVIF-FGABC101-V6-IN", "2600:1f00:1::2", "ipv6") == (WANT6_PANOS if panos else WANT6)
    assert read(text, "DXVIF-FGABC101-V4-IN", "169.254.10.1", "ipv4") == {
        ("10.100.0.0/16", 16, 32 if panos else 24)}


@pytest.mark.parametrize("platform", ["frr", "junos"])
def test_without_accept_the_filter_stays_open_and_render_warns(tmp_path: Path, platform: str) -> None:
    result = render(tmp_path, {"r1": router(platform)})
    assert result.rc == 0, result.err
    warnings = [line for line in result.err.splitlines() if "accepts any" in line]
    assert warnings == [
        "warning: host r1: key dx.vifs.0.accept: dxvif-fgabc101 accepts any ipv4 and any ipv6 "
        "prefix AWS sends; name the VPC or transit gateway CIDRs it expects in accept",
        "warning: host r1: key dx.vifs.1.accept: dxvif-fgabc102 accepts any ipv4 prefix AWS "
        "sends; name the VPC or transit gateway CIDRs it expects in accept"]
    text = (tmp_path / "build/r1" / CONFIG[platform]).read_text()
    assert FILTERS[platform](text, "DXVIF-FGABC102-V4-IN", "169.254.11.1", "ipv4") == {
        ("0.0.0.0/0", 0, 32)}


def test_the_warning_names_only_the_families_left_open(tmp_path: Path) -> None:
    dx = changed(router("bird"), "vifs.0.accept", {"ipv4": ["10.100.0.0/16 le 24"]})
    dx = changed(dx, "vifs.1.type", "transit")
    dx = changed(changed(dx, "vifs.1.mtu", 8500), "vifs.1.amazon_asn", 4200000001)
    result = render(tmp_path, {"r1": dx})
    assert result.rc == 0, result.err
    warnings = [line for line in result.err.splitlines() if "accepts any" in line]
    assert warnings == [
        "warning: host r1: key dx.vifs.0.accept: dxvif-fgabc101 accepts any ipv6 prefix AWS sends; "
        "name the VPC or transit gateway CIDRs it expects in accept",
        "warning: host r1: key dx.vifs.1.accept: dxvif-fgabc102 accepts any ipv4 prefix AWS sends; "
        "name the VPC or transit gateway CIDRs it expects in accept"]


def test_a_public_vif_without_accept_does_not_warn(tmp_path: Path) -> None:
    """A public VIF carries AWS's changing public ranges: accepting them all is the norm."""
    dx = public()
    dx["vifs"][1]["accept"] = {"ipv4": ["10.100.0.0/16"]}
    result = render(tmp_path, {"r1": dx})
    assert result.rc == 0, result.err
    assert "accepts any" not in result.err


# -- 3. Forwarding on Linux routers ----------------------------------------------------------------


@pytest.mark.parametrize("platform", LINUX)
def test_a_linux_router_forwards_with_a_checked_sysctl_drop_in(tmp_path: Path, platform: str) -> None:
    dual = router(platform)
    v4 = changed(router(platform), "vifs.0.advertise", {"ipv4": ["10.20.0.0/16"]})
    del v4["vifs"][0]["ipv6"]
    result = render(tmp_path, {"dual": dual, "v4only": v4})
    assert result.rc == 0, result.err
    build = tmp_path / "build"
    dual_lines = (build / "dual" / SYSCTL).read_text().splitlines()
    assert {"net.ipv4.ip_forward = 1", "net.ipv6.conf.all.forwarding = 1"} <= set(dual_lines)
    v4_lines = (build / "v4only" / SYSCTL).read_text().splitlines()
    assert "net.ipv4.ip_forward = 1" in v4_lines and not any("ipv6" in line for line in v4_lines)
    manifest = json.loads((build / "dual/manifest.json").read_text())
    record = next(f for f in manifest["files"] if f["dest"] == "/etc/sysctl.d/60-aws-dx.conf")
    assert record["mode"] == "0644" and "sysctl keys" in record["check"]
    # push --apply runs the reload script: it applies the drop-in before the daemon reloads
    reload = (build / "dual/files/usr/local/sbin/bootstrap-dx-reload").read_text()
    assert reload.index("sysctl -q -p /etc/sysctl.d/60-aws-dx.conf") < reload.index(
        {"frr": "frr-reload.py", "bird": "birdc configure", "openbgpd": "bgpctl reload"}[platform])
    check = run_cli("validate", build)
    assert "ok   dual /etc/sysctl.d/60-aws-dx.conf (sysctl keys)" in check.out, check.out
    assert "ok   v4only /etc/sysctl.d/60-aws-dx.conf (sysctl keys)" in check.out


@pytest.mark.parametrize("platform", ["ios-xe", "junos", "nxos", "panos"])
def test_network_devices_get_no_sysctl_file(tmp_path: Path, platform: str) -> None:
    result = render(tmp_path, {"r1": router(platform)})
    assert result.rc == 0, result.err
    assert not list((tmp_path / "build/r1").rglob("*sysctl*"))


@pytest.mark.parametrize(("line", "says"), [
    ("net.ipv4.ip_forwarding = 1", "line 2: net.ipv4.ip_forwarding is not a kernel setting here"),
    ("net.ipv4.ip_forward = 2", "line 2: net.ipv4.ip_forward is a switch: 0 or 1, not '2'"),
    ("net.ipv4.ip_forward = on", "is a switch: 0 or 1, not 'on'"),
    ("net.ipv4.ip_forward 1", "line 2: expected 'key = value'"),
    ("net/../../etc/passwd = 1", "line 2: expected 'key = value'"),
])
def test_validate_fails_a_broken_sysctl_drop_in(tmp_path: Path, line: str, says: str) -> None:
    result = render(tmp_path, {"r1": router("bird")})
    assert result.rc == 0, result.err
    path = tmp_path / "build/r1" / SYSCTL
    lines = path.read_text().splitlines()
    lines[1] = line
    path.write_text("\n".join(lines) + "\n")
    check = run_cli("validate", tmp_path / "build")
    assert check.rc == 1, check.out
    assert "FAIL r1 /etc/sysctl.d/60-aws-dx.conf (sysctl keys)" in check.out
    assert says in check.out, check.out


class FakeHost:
    """What verify's testinfra host answers to ``sysctl -n KEY``."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.asked: list[str] = []

    def check_output(self, command: str) -> str:
        self.asked.append(command)
        return self.values[command.removeprefix("sysctl -n ")]


def test_verify_checks_forwarding_on_the_router() -> None:
    dual = {"dx": router("frr")}
    on = FakeHost({"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1\n"})
    CHECKS.test_forwarding_on(on, dual, {})
    assert on.asked == ["sysctl -n net.ipv4.ip_forward", "sysctl -n net.ipv6.conf.all.forwarding"]
    off6 = FakeHost({"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "0"})
    with pytest.raises(AssertionError, match=r"forwarding is off: net\.ipv6\.conf\.all\.forwarding = 0"):
        CHECKS.test_forwarding_on(off6, dual, {})
    v4only = {"dx": changed(router("frr"), "vifs.0.ipv6", None)}
    off4 = FakeHost({"net.ipv4.ip_forward": "0"})
    with pytest.raises(AssertionError, match=r"net\.ipv4\.ip_forward = 0 .*60-aws-dx\.conf"):
        CHECKS.test_forwarding_on(off4, v4only, {})
    assert off4.asked == ["sysctl -n net.ipv4.ip_forward"]  # no IPv6 VIF: IPv6 forwarding not asked


def test_verify_skips_forwarding_on_network_devices() -> None:
    with pytest.raises(pytest.skip.Exception):
        CHECKS.test_forwarding_on(FakeHost({}), {"dx": router("ios-xe")}, {})


# -- 4. Redundancy across routers ------------------------------------------------------------------


def split(platform: str = "frr", **extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The active VIF of router() on r1 and its passive partner on r2, with ``extra`` per VIF."""
    both = router(platform)
    r1, r2 = router(platform), router(platform)
    r1["vifs"] = [{**both["vifs"][0], **extra.get("active", {})}]
    r2["vifs"] = [{**both["vifs"][1], **extra.get("passive", {})}]
    r2["router_id"] = "169.254.11.2"
    return {"r1": r1, "r2": r2}


def redundancy(tmp_path: Path, routers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    result = render(tmp_path, routers)
    assert result.rc == 0, result.err
    return json.loads((tmp_path / "build/_fleet/dx-redundancy.json").read_text())


def test_active_and_passive_on_two_routers_pass(tmp_path: Path) -> None:
    report = redundancy(tmp_path, split(active={"location": "EqDC2", "connection": "dxcon-fgaaa111"},
                                        passive={"location": "CSDC1", "connection": "dxcon-fgbbb222"}))
    assert report["warnings"] == []
    [group] = report["groups"]
    assert [(v["host"], v["vif"], v["redundancy"], v["location"]) for v in group["vifs"]] == [
        ("r1", "dxvif-fgabc101", "active", "EqDC2"), ("r2", "dxvif-fgabc102", "passive", "CSDC1")]


def test_active_and_passive_on_one_router_warn(tmp_path: Path) -> None:
    report = redundancy(tmp_path, {"r1": router("frr")})
    assert report["warnings"] == [
        "group private to AS64512 (r1 dxvif-fgabc101): active dxvif-fgabc101 (r1 dx.vifs.0) and "
        "passive dxvif-fgabc102 (r1 dx.vifs.1) share router r1; one failure there takes both down"]


@pytest.mark.parametrize(("what", "value"), [("location", "EqDC2"), ("connection", "dxcon-fgaaa111"),
                                             ("connection", "dxlag-ffabc123")])
def test_two_routers_on_one_connection_or_location_warn(tmp_path: Path, what: str, value: str) -> None:
    report = redundancy(tmp_path, split(active={what: value}, passive={what: value}))
    assert report["warnings"] == [
        f"group private to AS64512 (r1 dxvif-fgabc101): active dxvif-fgabc101 (r1 dx.vifs.0) and "
        f"passive dxvif-fgabc102 (r2 dx.vifs.0) share {what} {value}; one failure there takes "
        "both down"]


def test_a_named_group_joins_vifs_with_different_prefixes(tmp_path: Path) -> None:
    routers = split(active={"group": "prod", "location": "EqDC2"},
                    passive={"group": "prod", "location": "EqDC2", "amazon_asn": 64513,
                             "advertise": {"ipv4": ["10.99.0.0/16"]}})
    report = redundancy(tmp_path, routers)
    assert [g["group"] for g in report["groups"]] == ["prod"]
    assert report["warnings"] == [
        "group prod: active dxvif-fgabc101 (r1 dx.vifs.0) and passive dxvif-fgabc102 (r2 dx.vifs.0) "
        "share location EqDC2; one failure there takes both down"]


def test_vifs_to_other_gateways_or_prefixes_are_not_partners(tmp_path: Path) -> None:
    other_asn = split(active={"location": "EqDC2"}, passive={"location": "EqDC2", "amazon_asn": 64513})
    assert redundancy(tmp_path / "asn", other_asn) == {"groups": [], "warnings": []}
    other_prefix = split(active={"location": "EqDC2"},
                         passive={"location": "EqDC2", "advertise": {"ipv4": ["10.99.0.0/16"]}})
    assert redundancy(tmp_path / "prefix", other_prefix) == {"groups": [], "warnings": []}


def test_one_vif_id_on_two_routers_warns(tmp_path: Path) -> None:
    routers = split()
    routers["r2"]["vifs"][0]["id"] = "dxvif-fgabc101"
    report = redundancy(tmp_path, routers)
    assert "dxvif-fgabc101 is on r1 dx.vifs.0 and on r2 dx.vifs.0: a VIF ends on one router" \
        in report["warnings"]


@pytest.mark.parametrize(("key", "value", "says"), [
    ("connection", "dxvif-fgabc101", "is not a connection or LAG id"),
    ("connection", "dxcon-FG!", "is not a connection or LAG id"),
    ("location", "Eq DC2\nx", "cannot be put in a router config"),
    ("group", "", "cannot be put in a router config"),
])
def test_bad_redundancy_keys_fail_the_render(tmp_path: Path, key: str, value: str, says: str) -> None:
    message = render_error(tmp_path, changed(router("frr"), f"vifs.0.{key}", value))
    assert says in message, message
    names(message, f"dx.vifs.0.{key}", tmp_path, key)
