"""Bad Direct Connect input: each AWS rule and platform gap fails the render with one message that
names the file:line, the host and the key; no name can add a config line on any platform."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from dx.routers import changed, router, write_inventory
from support.cli import run_cli

PLATFORMS = ("ios-xe", "junos", "frr", "bird", "openbgpd")


def render_error(tmp_path: Path, dx: dict[str, Any], keys: dict[str, str] | None = None) -> str:
    inv = write_inventory(tmp_path / "inv", {"r1": dx}, keys)
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 1, result.out
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]


def assert_names(message: str, key: str, tmp_path: Path, line_has: str | None = None) -> None:
    """The message names host_vars/r1.yml:LINE, host r1 and the key; LINE holds ``line_has``."""
    match = re.match(r"error: (\S*host_vars/r1\.yml):(\d+): host r1: key (\S+): ", message)
    assert match, message
    assert match[3] == key, message
    if line_has:
        line = (tmp_path / "inv/host_vars/r1.yml").read_text().splitlines()[int(match[2]) - 1]
        assert line_has in line, (message, line)


AWS_RULES = [
    # (change, value, key, what the message says, what the pointed-at line holds)
    ("vifs.0.vlan", 0, "dx.vifs.0.vlan", "greater than or equal to 1", "vlan"),
    ("vifs.0.vlan", 4095, "dx.vifs.0.vlan", "less than or equal to 4094", "vlan"),
    ("vifs.1.vlan", 101, "dx.vifs.1.vlan", "VLAN 101 is already used on eth0", "vlan"),
    ("asn", 0, "dx.asn", "outside 1-4294967294", "asn"),
    ("asn", 4294967295, "dx.asn", "outside 1-4294967294", "asn"),
    ("asn", "65536.1", "dx.asn", "each half must be 0-65535", "asn"),
    ("vifs.0.amazon_asn", 23456, "dx.vifs.0.amazon_asn", "AS_TRANS", "amazon_asn"),
    ("vifs.0.advertise.ipv4", [f"10.{i // 256}.{i % 256}.0/24" for i in range(101)],
     "dx.vifs.0.advertise.ipv4", "AWS takes at most 100 on a private VIF", "ipv4"),
    ("vifs.0.advertise.ipv4", ["10.20.0.1/16"], "dx.vifs.0.advertise.ipv4.0",
     "has host bits set; the prefix is 10.20.0.0/16", "10.20.0.1/16"),
    ("vifs.0.advertise.ipv6", ["2001:db8:100::1/48"], "dx.vifs.0.advertise.ipv6.0", "host bits", "2001"),
    ("vifs.0.mtu", 9000, "dx.vifs.0.mtu", "AWS allows MTU 1500 or 9001 on a private VIF, not 9000", "mtu"),
    ("interface_mtu", 1500, "dx.interface_mtu", "parent MTU 1500 is below vifs[0].mtu 9001",
     "interface_mtu"),
    ("vifs.0.bfd", {"interval_ms": 200, "multiplier": 3}, "dx.vifs.0.bfd.interval_ms",
     "greater than or equal to 300", "interval_ms"),
    ("vifs.0.bfd", {"interval_ms": 300, "multiplier": 2}, "dx.vifs.0.bfd.multiplier",
     "greater than or equal to 3", "multiplier"),
    ("vifs.0.ipv4", {"customer": "169.254.10.2/30", "amazon": "169.254.10.5/30"},
     "dx.vifs.0.ipv4.amazon", "is not in the customer's subnet 169.254.10.0/30", "amazon"),
    ("vifs.0.ipv6", {"customer": "2600:1f00:1::3/64", "amazon": "2600:1f00:1::2/64"},
     "dx.vifs.0.ipv6.customer", "IPv6 peering is on a /125", "customer"),
    ("vifs.0.timers", {"keepalive": 30, "hold": 0}, "dx.vifs.0.timers.hold",
     "greater than or equal to 3", "hold"),
    ("vifs.0.colour", "red", "dx.vifs.0.colour", "unknown key 'colour'", "colour"),
]


@pytest.mark.parametrize(("path", "value", "key", "says", "line_has"), AWS_RULES,
                         ids=[f"{r[0]}={str(r[1])[:20]}" for r in AWS_RULES])
def test_aws_rule(tmp_path: Path, path: str, value: Any, key: str, says: str, line_has: str) -> None:
    message = render_error(tmp_path, changed(router("frr"), path, value))
    assert says in message
    assert_names(message, key, tmp_path, line_has)


def test_transit_and_public_mtus_and_public_limits(tmp_path: Path) -> None:
    dx = changed(router("frr"), "vifs.0.type", "transit")
    message = render_error(tmp_path, dx)  # 9001 is not a transit MTU
    assert "AWS allows MTU 1500 or 8500 on a transit VIF, not 9001" in message
    assert_names(message, "dx.vifs.0.mtu", tmp_path, "mtu")

    public = changed(router("frr"), "vifs.1", {
        **router("frr")["vifs"][1], "type": "public", "mtu": 1500, "amazon_asn": 7224,
        "advertise": {"ipv4": [f"203.{i // 256}.{i % 256}.0/24" for i in range(1001)]}})
    message = render_error(tmp_path / "p", public)
    assert "AWS takes at most 1000 on a public VIF" in message

    jumbo = changed(changed(public, "vifs.1.advertise.ipv4", ["203.0.113.0/24"]), "vifs.1.mtu", 9001)
    message = render_error(tmp_path / "m", jumbo)
    assert "AWS allows MTU 1500 on a public VIF, not 9001" in message
    assert_names(message, "dx.vifs.1.mtu", tmp_path / "m", "mtu")


@pytest.mark.parametrize(("key", "says"), [
    ("short", "6-80 characters long (this one has 5)"),
    ("K" * 81, "6-80 characters long (this one has 81)"),
    ("has space1", "must not contain whitespace"),
    ('quo"ted12', "must not contain whitespace, quotes"),
    ("semi;colon1", "! # ; { } ?"),
])
def test_md5_key_rules_never_show_the_key(tmp_path: Path, key: str, says: str) -> None:
    message = render_error(tmp_path, router("frr"), {"vif101.key": key, "vif102.key": "Ab9otherMD5key"})
    assert says in message
    assert_names(message, "dx.vifs.0.auth_key", tmp_path, "auth_key")
    assert key not in message


def test_a_literal_key_is_refused(tmp_path: Path) -> None:
    message = render_error(tmp_path, changed(router("frr"), "vifs.0.auth_key", "Xy7secretMD5key"))
    assert "must be a secret reference" in message
    assert "Xy7secretMD5key" not in message


@pytest.mark.parametrize(("platform", "path", "value", "key", "gap"), [
    ("openbgpd", "vifs.0.bfd", {"interval_ms": 300, "multiplier": 3}, "dx.vifs.0.bfd", "bfd"),
    ("ios-xe", "vifs.0.max_prefix_out", 100, "dx.vifs.0.max_prefix_out", "max-prefix-out"),
    ("junos", "vifs.0.max_prefix_out", 100, "dx.vifs.0.max_prefix_out", "max-prefix-out"),
    ("junos", "vifs.0.timers", {"keepalive": 10, "hold": 90}, "dx.vifs.0.timers.keepalive", "keepalive"),
    ("openbgpd", "vifs.1.redundancy", "ecmp", "dx.vifs.1.redundancy", "ecmp"),
])
def test_platform_gap_is_an_error_unless_acknowledged(tmp_path: Path, platform: str, path: str,
                                                      value: Any, key: str, gap: str) -> None:
    dx = changed(router(platform), path, value)
    if gap == "ecmp":
        dx = changed(dx, "vifs.0.redundancy", "ecmp")
    message = render_error(tmp_path, dx)
    assert f"add '{gap}' to dx.acknowledge" in message
    assert_names(message, key, tmp_path)
    inv = write_inventory(tmp_path / "ack", {"r1": {**dx, "acknowledge": [gap]}})
    result = run_cli("render", inv, "-o", tmp_path / "ack-build")
    assert result.rc == 0, result.err


def test_acknowledged_bfd_is_left_out_on_openbgpd(tmp_path: Path) -> None:
    dx = changed(router("openbgpd"), "vifs.0.bfd", {"interval_ms": 300, "multiplier": 3})
    inv = write_inventory(tmp_path / "inv", {"r1": {**dx, "acknowledge": ["bfd"]}})
    assert run_cli("render", inv, "-o", tmp_path / "b").rc == 0
    assert "bfd" not in (tmp_path / "b/r1/files/etc/bgpd.conf").read_text().lower()


def test_prepend_from_a_private_asn_on_a_public_vif_warns(tmp_path: Path) -> None:
    dx = router("frr")
    dx["vifs"][1].update(type="public", mtu=1500, amazon_asn=7224,
                         ipv4={"customer": "44.31.15.2/30", "amazon": "44.31.15.1/30"},
                         advertise={"ipv4": ["44.31.16.0/24"]})
    inv = write_inventory(tmp_path / "inv", {"r1": dx})
    result = run_cli("render", inv, "-o", tmp_path / "b")
    assert result.rc == 0
    assert ("warning: host r1: key dx.vifs.1.prepend: AWS ignores AS-path prepend from a private "
            "ASN (65000) on a public VIF") in result.err


BAD_TEXT = ["two\nlines", "bang!", "semi;colon", "hash#tag", "brace{", "brace}", 'double"quote',
            "single'quote"]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("text", BAD_TEXT, ids=[repr(t) for t in BAD_TEXT])
def test_names_cannot_add_config_lines(tmp_path: Path, platform: str, text: str) -> None:
    message = render_error(tmp_path, changed(router(platform), "vifs.0.name", text))
    assert "cannot be put in a router config" in message
    assert_names(message, "dx.vifs.0.name", tmp_path, "name")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_interface_names_cannot_add_config_lines(tmp_path: Path, platform: str) -> None:
    message = render_error(tmp_path, changed(router(platform), "interface", "eth0\n neighbor 1.2.3.4"))
    assert "is not an interface name" in message
    assert_names(message, "dx.interface", tmp_path, "interface")


def test_linux_vlan_interface_name_length(tmp_path: Path) -> None:
    message = render_error(tmp_path, changed(router("bird"), "interface", "enp129s0f1np1"))
    assert "'enp129s0f1np1.101' is not a Linux interface name" in message
    assert_names(message, "dx.interface", tmp_path, "interface")


def test_linux_net_only_for_linux_platforms(tmp_path: Path) -> None:
    message = render_error(tmp_path, {**router("ios-xe"), "linux_net": "netplan"})
    assert "linux_net applies to bird, frr, openbgpd, not ios-xe" in message
    assert_names(message, "dx.linux_net", tmp_path, "linux_net")


def test_a_failed_render_keeps_the_previous_build(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path / "inv", {"r1": router("bird")})
    build = tmp_path / "build"
    assert run_cli("render", inv, "-o", build).rc == 0
    before = (build / "r1/files/etc/bird/bird.conf").read_bytes()
    write_inventory(tmp_path / "inv", {"r1": changed(router("bird"), "vifs.0.mtu", 9000)})
    assert run_cli("render", inv, "-o", build).rc == 1
    assert (build / "r1/files/etc/bird/bird.conf").read_bytes() == before
