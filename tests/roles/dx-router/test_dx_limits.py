"""Platform limits are render-time errors: each value that lands in a router config or a Linux VLAN
file is checked against what that platform's consumer takes, and the value just inside each limit
passes the real consumer (``bootstrap validate`` runs ``vtysh -C``, ``bird -p``, ``bgpd -n``,
``netplan generate``, ``ifup --no-act`` and the networkd key check)."""

from __future__ import annotations

import errno
import re
import socket
import string
import struct
from pathlib import Path
from typing import Any

import pytest
from dx import networkd
from dx.routers import KEYS, changed, render, render_error, router
from support.cli import run_cli

from bootstrap.roles.dx_router.capabilities import KEY_LIMITS, PLATFORMS, TITLES

LINUX = ("frr", "bird", "openbgpd")
FORBIDDEN = " \t\"'\\!#;{}?"
# Every character an MD5 key may hold, on every platform.
KEY_CHARS = "".join(c for c in string.printable if c.isprintable() and c not in FORBIDDEN)
CONFIG = {"frr": "files/etc/frr/frr.conf", "bird": "files/etc/bird/bird.conf",
          "openbgpd": "files/etc/bgpd.conf", "ios-xe": "router/aws-dx.cfg",
          "junos": "router/aws-dx.set", "nxos": "router/aws-dx.cfg", "panos": "router/aws-dx.set"}


def assert_names(message: str, key: str, tmp_path: Path, line_has: str) -> None:
    """``host_vars/r1.yml:LINE: host r1: key KEY:`` where LINE holds ``line_has``."""
    match = re.match(r"error: (\S*host_vars/r1\.yml):(\d+): host r1: key (\S+): ", message)
    assert match, message
    assert match[3] == key, message
    line = (tmp_path / "inv/host_vars/r1.yml").read_text().splitlines()[int(match[2]) - 1]
    assert line_has in line, (message, line)


def renders_and_validates(tmp_path: Path, dx: dict[str, Any],
                          keys: dict[str, str] | None = None) -> Path:
    """Render, then run every consumer's own check on the build; returns the host's folder."""
    result = render(tmp_path, dx, keys)
    assert result.rc == 0, result.err
    check = run_cli("validate", tmp_path / "build", "--strict")
    assert check.rc == 0, check.out + check.err
    assert " 0 failed" in check.out, check.out
    return tmp_path / "build/r1"


def covering_keys(length: int) -> dict[str, str]:
    """Two keys of ``length`` characters that hold every allowed character between them."""
    first = ("K" + KEY_CHARS)[:length]
    rest = KEY_CHARS[length - 1:]
    second = ("K" + rest + "k" * length)[:length]
    assert set(first + second) >= set(KEY_CHARS)
    return {"vif101.key": first, "vif102.key": second}


# -- MD5 keys --------------------------------------------------------------------------------


def test_openbgpd_refuses_the_80_character_key_the_others_take(tmp_path: Path) -> None:
    keys = {**KEYS, "vif101.key": "Kq" * 40}
    message = render_error(tmp_path / "bgpd", router("openbgpd"), keys)
    assert "OpenBGPD takes an MD5 key of at most 79 characters (this one has 80)" in message
    assert "tcp md5sig password too long: max 79" in message
    assert_names(message, "dx.vifs.0.auth_key", tmp_path / "bgpd", "auth_key")
    assert "Kq" * 40 not in message
    for platform in ("ios-xe", "junos", "frr", "bird"):
        assert render(tmp_path / platform, router(platform), keys).rc == 0, platform


@pytest.mark.parametrize("platform", LINUX)
def test_the_longest_key_of_every_character_passes_the_daemon(tmp_path: Path, platform: str) -> None:
    longest = KEY_LIMITS[platform].max_length
    keys = covering_keys(longest)
    host = renders_and_validates(tmp_path, router(platform), keys)
    config = (host / CONFIG[platform]).read_text()
    for key in keys.values():
        assert len(key) == longest
        # the daemon gets the key byte for byte: no escaping was needed, none was added
        assert (f'"{key}"' if platform != "frr" else f" password {key}\n") in config


@pytest.mark.parametrize("platform", ("ios-xe", "nxos", "junos", "panos"))
def test_the_longest_key_renders_on_network_devices(tmp_path: Path, platform: str) -> None:
    keys = covering_keys(KEY_LIMITS[platform].max_length)
    assert KEY_LIMITS[platform].max_length == (63 if platform == "panos" else 80)
    host = renders_and_validates(tmp_path, router(platform), keys)
    config = (host / CONFIG[platform]).read_text()
    assert all(key in config for key in keys.values())


BAD_KEY_CHARS = [*FORBIDDEN, "é", "\x01", "\x7f"]


@pytest.mark.parametrize(("char", "platform"),
                         [(c, PLATFORMS[i % len(PLATFORMS)]) for i, c in enumerate(BAD_KEY_CHARS)],
                         ids=[repr(c) for c in BAD_KEY_CHARS])
def test_a_key_character_some_platform_misreads_is_refused(tmp_path: Path, char: str,
                                                           platform: str) -> None:
    message = render_error(tmp_path, router(platform), {**KEYS, "vif102.key": f"Ab9{char}key12"})
    assert "an MD5 key must" in message
    assert_names(message, "dx.vifs.1.auth_key", tmp_path, "auth_key")
    assert f"Ab9{char}key12" not in message


def test_a_leading_digit_is_refused_on_ios_xe_only(tmp_path: Path) -> None:
    keys = {**KEYS, "vif101.key": "7xY2secretKey"}
    message = render_error(tmp_path / "ios", router("ios-xe"), keys)
    assert ("on Cisco IOS-XE an MD5 key must not start with a digit: IOS-XE reads a leading digit "
            "as the encryption type of the key") in message
    assert_names(message, "dx.vifs.0.auth_key", tmp_path / "ios", "auth_key")
    renders_and_validates(tmp_path / "frr", router("frr"), keys)
    assert render(tmp_path / "junos", router("junos"), keys).rc == 0


def test_an_encrypted_looking_key_is_refused_on_junos_only(tmp_path: Path) -> None:
    keys = {**KEYS, "vif102.key": "$9$abcDEF123"}
    message = render_error(tmp_path / "junos", router("junos"), keys)
    assert "on Juniper Junos an MD5 key must not start with $9$" in message
    assert_names(message, "dx.vifs.1.auth_key", tmp_path / "junos", "auth_key")
    renders_and_validates(tmp_path / "bird", router("bird"), keys)
    assert render(tmp_path / "ios", router("ios-xe"), keys).rc == 0


def kernel_takes_md5_key(length: int) -> bool:
    """Whether Linux's TCP_MD5SIG takes a key of ``length`` bytes (FRR and BIRD hand it over)."""
    tcp_md5sig = 14  # linux/tcp.h
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        peer = struct.pack("=HH4s", socket.AF_INET, 0, socket.inet_aton("169.254.10.1"))
        request = (peer.ljust(128, b"\0") + struct.pack("=BBHi", 0, 0, length, 0)
                   + (b"K" * min(length, 80)).ljust(80, b"\0"))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, tcp_md5sig, request)
        except OSError as exc:
            assert exc.errno == errno.EINVAL, exc
            return False
    return True


def test_frr_and_bird_keys_end_where_the_kernel_does() -> None:
    assert kernel_takes_md5_key(80) and not kernel_takes_md5_key(81)
    assert KEY_LIMITS["frr"].max_length == KEY_LIMITS["bird"].max_length == 80


def test_the_capability_table_has_each_platforms_key_length() -> None:
    from bootstrap.roles.dx_router.capabilities import table

    row = next(line for line in table().splitlines() if line.startswith("| MD5 key length"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert cells == [f"6-{KEY_LIMITS[p].max_length} characters"
                     + (f", not starting with {KEY_LIMITS[p].refuses}" if KEY_LIMITS[p].refuses else "")
                     for p in PLATFORMS]
    assert dict(zip(PLATFORMS, cells, strict=True))["openbgpd"] == "6-79 characters"
    assert TITLES["openbgpd"] == "OpenBGPD"


# -- Router id, ASNs, prefixes ---------------------------------------------------------------


@pytest.mark.parametrize("router_id", ["0.0.0.0", "255.255.255.255", "224.0.0.5"])
def test_a_router_id_peers_refuse(tmp_path: Path, router_id: str) -> None:
    # vtysh -C, bird -p and bgpd -n all take these; the peer's OPEN check does not
    message = render_error(tmp_path, changed(router("frr"), "router_id", router_id))
    assert f"{router_id} is not a unicast address" in message
    assert_names(message, "dx.router_id", tmp_path, "router_id")


@pytest.mark.parametrize("path", ["asn", "vifs.0.amazon_asn"])
def test_reserved_asn_65535(tmp_path: Path, path: str) -> None:
    message = render_error(tmp_path, changed(router("bird"), path, 65535))
    assert "ASN 65535 is reserved (RFC 7300)" in message
    assert_names(message, f"dx.{path}", tmp_path, path.rsplit(".", 1)[-1])


@pytest.mark.parametrize("platform", LINUX)
def test_the_largest_asns_pass_the_daemon(tmp_path: Path, platform: str) -> None:
    dx = changed(changed(router(platform), "asn", 4294967294), "vifs.0.amazon_asn", 4200000000)
    host = renders_and_validates(tmp_path, dx)
    assert "4294967294" in (host / CONFIG[platform]).read_text()


GE_ALONE = {
    # 'ge 16' alone reaches /32 on every platform, as IOS and FRR read it
    "frr": "permit 10.0.0.0/8 ge 16\n", "ios-xe": "permit 10.0.0.0/8 ge 16\n",
    "nxos": "permit 10.0.0.0/8 ge 16\n",
    "bird": "10.0.0.0/8{16,32}", "openbgpd": "10.0.0.0/8 prefixlen 16 - 32",
    "junos": "route-filter 10.0.0.0/8 prefix-length-range /16-/32",
}


# PAN-OS matches a prefix exactly or with all longer ones: its own test below.
@pytest.mark.parametrize("platform", [p for p in PLATFORMS if p != "panos"])
def test_an_accept_range_means_the_same_on_every_platform(tmp_path: Path, platform: str) -> None:
    dx = changed(router(platform), "vifs.1.accept", {"ipv4": ["10.0.0.0/8 ge 16",
                                                              "172.16.0.0/12 ge 12 le 24"]})
    host = renders_and_validates(tmp_path, dx)
    config = (host / CONFIG[platform]).read_text()
    assert GE_ALONE[platform] in config
    # 'ge' equal to the prefix length says nothing; IOS refuses it, so it is left out
    assert " ge 12" not in config
    assert {"frr": "permit 172.16.0.0/12 le 24\n", "ios-xe": "permit 172.16.0.0/12 le 24\n",
            "nxos": "permit 172.16.0.0/12 le 24\n",
            "bird": "172.16.0.0/12{12,24}", "openbgpd": "172.16.0.0/12 prefixlen 12 - 24",
            "junos": "route-filter 172.16.0.0/12 upto /24"}[platform] in config


# -- Interface names and descriptions ---------------------------------------------------------


@pytest.mark.parametrize(("backend", "platform"), [("networkd", "frr"), ("netplan", "bird"),
                                                   ("ifupdown", "openbgpd")])
@pytest.mark.parametrize("parent", ["enp129s0f1", "br-dx_7"])
def test_the_longest_linux_vlan_name_passes_its_backend(tmp_path: Path, backend: str,
                                                        platform: str, parent: str) -> None:
    dx = changed(changed(router(platform, linux_net=backend), "interface", parent),
                 "vifs.1.vlan", 4094)
    host = renders_and_validates(tmp_path, dx)
    files = "\n".join(p.read_text() for p in (host / "files/etc").rglob("*") if p.is_file())
    assert f"{parent}.4094" in files  # enp129s0f1.4094: 15 characters, IFNAMSIZ less its NUL
    too_long = changed(dx, "interface", parent + "x" * (16 - len(parent) - 5))
    message = render_error(tmp_path / "long", too_long)
    assert "is not a Linux interface name (at most 15 characters" in message


@pytest.mark.parametrize("parent", ["all", "default"])
def test_linux_parent_names_systemd_refuses(tmp_path: Path, parent: str) -> None:
    message = render_error(tmp_path, changed(router("bird"), "interface", parent))
    assert f"{parent!r} cannot name a Linux interface" in message
    assert_names(message, "dx.interface", tmp_path, "interface")


@pytest.mark.skipif(not networkd.available(), reason="needs root, unshare and systemd-networkd")
def test_systemd_networkd_loads_the_edge_files_without_a_word(tmp_path: Path) -> None:
    dx = changed(changed(changed(router("frr"), "interface", "enp129s0f1"), "vifs.1.vlan", 4094),
                 "vifs.0.name", "N" + "ame (prod)/:@+=,._- " * 3 + "x" * 3)
    host = renders_and_validates(tmp_path, dx)
    files = sorted((host / "files/etc/systemd/network").iterdir())
    assert [p.name for p in files] == ["10-dx-enp129s0f1.network", "20-dx-enp129s0f1.101.netdev",
                                       "20-dx-enp129s0f1.4094.netdev", "30-dx-enp129s0f1.101.network",
                                       "30-dx-enp129s0f1.4094.network"]
    assert networkd.warnings(files) == []
    # the same check speaks up when a value is wrong
    broken = tmp_path / "30-dx-broken.network"
    broken.write_text(files[3].read_text().replace("Address=169.254.10.2/30", "Address=169.254.10.2/33"))
    assert networkd.warnings([broken]) == [
        "/etc/systemd/network/30-dx-broken.network:10: Invalid address '169.254.10.2/33', ignoring "
        "assignment: Numerical result out of range"]


@pytest.mark.parametrize(("platform", "parent", "good"), [
    ("ios-xe", "GigabitEthernet0/1.5", "Port-channel1"),
    ("ios-xe", "Gi0/1:", "TenGigabitEthernet1/0/1"),
    ("junos", "ge-0/0/1.0", "ae0"),
    ("junos", "ge-0/0", "xe-0/1/0:2"),
])
def test_network_device_parent_interface_names(tmp_path: Path, platform: str, parent: str,
                                               good: str) -> None:
    message = render_error(tmp_path / "bad", changed(router(platform), "interface", parent))
    assert f"{parent!r} is not a" in message
    assert_names(message, "dx.interface", tmp_path / "bad", "interface")
    renders_and_validates(tmp_path / "good", changed(router(platform), "interface", good))


@pytest.mark.parametrize("name", ["prod  primary", "prod primary "])
def test_a_description_that_routers_would_respace(tmp_path: Path, name: str) -> None:
    message = render_error(tmp_path, changed(router("frr"), "vifs.0.name", name))
    assert "trailing space or two spaces in a row" in message
    assert_names(message, "dx.vifs.0.name", tmp_path, "name")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_longest_id_and_name_pass_every_consumer(tmp_path: Path, platform: str) -> None:
    # OpenBGPD's descr holds 31 characters: the longest id, dxvif- and 16, plus -v4 is 25
    dx = changed(changed(router(platform), "vifs.0.id", "dxvif-" + "a1" * 8),
                 "vifs.0.name", "N" + "ame (prod)/:@+=,._- " * 3 + "x" * 3)
    assert len(dx["vifs"][0]["name"]) == 64
    if platform == "ios-xe":
        # IOS-XE's neighbor description carries both: 87 characters, over its 80
        # (tests/roles/dx-router/test_dx_text_limits.py has the rest of that limit)
        message = render_error(tmp_path, dx)
        assert "keeps at most 80 characters of a BGP neighbor's description" in message
        assert_names(message, "dx.vifs.0.name", tmp_path, "name")
        dx = changed(dx, "vifs.0.name", dx["vifs"][0]["name"][:57])
    renders_and_validates(tmp_path, dx)


# -- Numbers a platform takes only up to a point -----------------------------------------------


@pytest.mark.parametrize(("path", "over", "inside", "key", "says"), [
    ("vifs.0.bfd", {"interval_ms": 10000}, {"interval_ms": 9999}, "dx.vifs.0.bfd.interval_ms",
     "Cisco IOS-XE takes a BFD interval (`bfd interval`) in ms of at most 9999, not 10000"),
    ("vifs.0.bfd", {"multiplier": 51}, {"multiplier": 50}, "dx.vifs.0.bfd.multiplier",
     "Cisco IOS-XE takes a BFD multiplier of at most 50, not 51"),
    ("vifs.0.max_prefix_in", 2147483648, 2147483647, "dx.vifs.0.max_prefix_in",
     "Cisco IOS-XE takes an inbound prefix limit (`neighbor … maximum-prefix`) of at most "
     "2147483647, not 2147483648"),
])
def test_ios_xe_ceilings(tmp_path: Path, path: str, over: Any, inside: Any, key: str,
                         says: str) -> None:
    message = render_error(tmp_path / "over", changed(router("ios-xe"), path, over))
    assert says in message
    assert_names(message, key, tmp_path / "over", key.rsplit(".", 1)[-1])
    renders_and_validates(tmp_path / "inside", changed(router("ios-xe"), path, inside))
    assert render(tmp_path / "junos", changed(router("junos"), path, over)).rc == 0


@pytest.mark.parametrize("platform", ("frr", "bird"))
def test_the_largest_bfd_and_prefix_limits_pass_the_daemon(tmp_path: Path, platform: str) -> None:
    dx = changed(changed(router(platform), "vifs.0.bfd", {"interval_ms": 30000, "multiplier": 255}),
                 "vifs.0.max_prefix_in", 4294967295)
    renders_and_validates(tmp_path, dx)


def test_a_prefix_limit_no_daemon_takes(tmp_path: Path) -> None:
    # vtysh -C, bird -p and bgpd -n all refuse 4294967296
    message = render_error(tmp_path, changed(router("openbgpd"), "vifs.0.max_prefix_in", 2**32))
    assert "less than or equal to 4294967295" in message
    assert_names(message, "dx.vifs.0.max_prefix_in", tmp_path, "max_prefix_in")
    renders_and_validates(tmp_path / "inside",
                          changed(router("openbgpd"), "vifs.0.max_prefix_in", 2**32 - 1))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_advertising_the_default_route(tmp_path: Path, platform: str) -> None:
    dx = changed(router(platform), "vifs.0.advertise.ipv6", ["::/0"])
    if platform in ("bird", "openbgpd"):
        # BIRD's anchors stay out of the kernel; OpenBGPD announces without one
        host = renders_and_validates(tmp_path, dx)
        assert "::/0" in (host / CONFIG[platform]).read_text()
        return
    message = render_error(tmp_path, dx)
    assert (f"{TITLES[platform]} would anchor ::/0 with a discard route over the router's own "
            "default route") in message
    assert_names(message, "dx.vifs.0.advertise.ipv6.0", tmp_path, "::/0")


@pytest.mark.parametrize(("family", "customer", "amazon", "bad"), [
    ("ipv6", "fe80::3/125", "fe80::2/125", "customer"),
    ("ipv6", "::ffff:169.254.10.2/125", "::ffff:169.254.10.1/125", "customer"),
    ("ipv4", "127.0.0.2/30", "127.0.0.1/30", "customer"),
    ("ipv4", "224.0.0.2/30", "224.0.0.1/30", "customer"),
    ("ipv4", "240.0.0.2/30", "240.0.0.1/30", "customer"),
])
def test_peering_addresses_no_session_can_use(tmp_path: Path, family: str, customer: str,
                                              amazon: str, bad: str) -> None:
    # bird -p refuses an IPv6 link-local neighbor without an interface; the others take it
    message = render_error(tmp_path, changed(router("bird"), f"vifs.0.{family}",
                                             {"customer": customer, "amazon": amazon}))
    assert "cannot be a BGP peering address" in message
    assert_names(message, f"dx.vifs.0.{family}.{bad}", tmp_path, bad)


def test_validate_fails_on_what_netplan_only_warns_about(tmp_path: Path) -> None:
    # a name of 16 characters: netplan generate exits 0 and warns that networkd will ignore it
    renders_and_validates(tmp_path, router("bird", linux_net="netplan"))
    netplan = tmp_path / "build/r1/files/etc/netplan/60-aws-dx.yaml"
    netplan.write_text(netplan.read_text().replace("eth0.102", "enp129s0f1x.4094"))
    check = run_cli("validate", tmp_path / "build")
    assert check.rc == 1
    assert "Interface name 'enp129s0f1x.4094' is too long. It will be ignored by the backend." \
        in check.out


def test_a_private_vif_to_an_old_virtual_private_gateway_peers_with_7224(tmp_path: Path) -> None:
    # VGWs created before 2018-06-30 kept AS 7224 (Amazon VPC user guide); Direct Connect gateways
    # of transit VIFs take a private ASN
    renders_and_validates(tmp_path / "private", changed(router("frr"), "vifs.1.amazon_asn", 7224))
    transit = changed(changed(changed(router("frr"), "vifs.1.type", "transit"), "vifs.1.mtu", 8500),
                      "vifs.1.amazon_asn", 7224)
    message = render_error(tmp_path / "transit", transit)
    assert "7224 is not a private ASN: a transit VIF peers with its Direct Connect gateway's ASN" \
        in message
    assert_names(message, "dx.vifs.1.amazon_asn", tmp_path / "transit", "amazon_asn")


def test_junos_media_mtu_ceiling(tmp_path: Path) -> None:
    message = render_error(tmp_path / "over", {**router("junos"), "interface_mtu": 9195})
    assert "media MTU, which is at most 9216: interface_mtu 9195 needs 9217" in message
    assert_names(message, "dx.interface_mtu", tmp_path / "over", "interface_mtu")
    host = renders_and_validates(tmp_path / "inside", {**router("junos"), "interface_mtu": 9194})
    assert "set interfaces ge-0/0/1 mtu 9216\n" in (host / CONFIG["junos"]).read_text()
    assert render(tmp_path / "ios", {**router("ios-xe"), "interface_mtu": 9216}).rc == 0
