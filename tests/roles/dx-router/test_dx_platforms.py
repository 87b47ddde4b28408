"""Cisco NX-OS and Palo Alto PAN-OS routers: they render what AWS asks and the policy the other
platforms carry, match the golden files, pass ``bootstrap validate`` (ciscoconfparse2 for NX-OS,
the project's PAN-OS set-command parser), and a broken file fails it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from dx import routers
from dx.platforms import ROUTERS
from dx.regenerate import GOLDEN_PLATFORMS, router_files
from dx.routers import KEYS, render, router, write_inventory
from support.cli import run_cli

from bootstrap.roles.dx_router import junos, panos


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("platforms")
    inv = write_inventory(base / "inv", ROUTERS)
    result = run_cli("render", inv, "-o", base / "build")
    assert result.rc == 0, result.err
    return base / "build"


def text(build: Path, host: str) -> str:
    name = "aws-dx.cfg" if "nxos" in host else "aws-dx.set"
    return (build / host / "router" / name).read_text()


def test_golden_files(build: Path) -> None:
    """Rendered files equal tests/dx/golden-platforms (regenerate: python tests/dx/regenerate.py)."""
    rendered = router_files(build)
    golden = {p.relative_to(GOLDEN_PLATFORMS).as_posix(): p.read_bytes()
              for p in GOLDEN_PLATFORMS.rglob("*") if p.is_file()}
    assert sorted(rendered) == sorted(golden) == [
        "_fleet/dx-redundancy.json", "dx-nxos01/router/aws-dx.cfg", "dx-nxos02/router/aws-dx.cfg",
        "dx-panos01/router/aws-dx.set", "dx-panos02/router/aws-dx.set"]
    for rel, content in rendered.items():
        assert content.decode() == golden[rel].decode(), rel


def test_both_pass_bootstrap_validate(build: Path) -> None:
    result = run_cli("validate", build, "--strict")
    assert result.rc == 0, result.out + result.err
    assert result.out.count("(nxos structure)") == 2 and result.out.count("(panos structure)") == 2
    assert "4 checks, 0 failed" in result.out


def test_keys_only_in_0600_router_files(build: Path) -> None:
    for host in ROUTERS:
        config = next((build / host / "router").iterdir())
        assert oct(config.stat().st_mode & 0o777) == "0o600"
        assert KEYS["vif101.key"] in config.read_text()
        redacted = (build / host / ".redacted/router" / config.name).read_text()
        assert not any(key in redacted for key in KEYS.values())


def test_nxos_carries_what_aws_asks_and_the_policy(build: Path) -> None:
    nxos = text(build, "dx-nxos01")
    for line in ("feature bgp", "feature bfd", "interface Ethernet1/1.101",
                 "  encapsulation dot1q 101", "  ip address 169.254.10.2/30",
                 "  ipv6 address 2600:1f00:1::3/125", "  mtu 9001",
                 "  bfd interval 300 min_rx 300 multiplier 3", "router bgp 65000",
                 "  neighbor 169.254.10.1", "    remote-as 64512",
                 # a clear-text key from the inventory is type 0, as in AWS's NX-OS sample
                 f"    password 0 {KEYS['vif101.key']}",
                 f"    password 0 {KEYS['vif102.key']}",
                 "    address-family ipv6 unicast", "  network 10.20.0.0/16",
                 "ip route 10.20.0.0/16 Null0", "ipv6 route 2001:db8:100::/48 Null0"):
        assert f"{line}\n" in nxos, line
    assert "password 3" not in nxos and "password 7" not in nxos
    assert nxos.count("      send-community\n") == 3  # every session
    assert nxos.count("      maximum-prefix 1000\n") == 3
    assert re.search(r"route-map DXVIF-FGABC101-V4-OUT permit 10\n.*\n  set community 7224:7300\n", nxos)
    assert re.search(r"route-map DXVIF-FGABC102-V4-OUT permit 10\n.*\n  set community 7224:7100\n"
                     r"  set as-path prepend 65000 65000\n", nxos)
    assert re.search(r"route-map DXVIF-FGABC102-V4-IN permit 10\n.*\n  set local-preference 50\n", nxos)
    # BFD on the active VIF's neighbors only
    assert nxos.count("    bfd\n") == 2
    public = text(build, "dx-nxos02")
    assert "set community 7224:9200" in public and "7224:7" not in public
    assert "    maximum-paths 3\n" in public and "timers 10 40" in public
    assert "interface port-channel10.201\n" in public and "  mtu 8500\n" in public


def test_panos_carries_what_aws_asks_and_the_policy(build: Path) -> None:
    lines = set(text(build, "dx-panos01").splitlines())
    unit = "set network interface ethernet ethernet1/1 layer3 units ethernet1/1.101"
    bgp = "set network virtual-router default protocol bgp"
    peer = f"{bgp} peer-group DXVIF-FGABC102-V4 peer DXVIF-FGABC102-V4"
    for line in (f"{unit} tag 101", f"{unit} ip 169.254.10.2/30", f"{unit} mtu 9001",
                 f"{unit} ipv6 address 2600:1f00:1::3/125 enable-on-interface yes",
                 "set network interface ethernet ethernet1/1 layer3 mtu 9001",
                 "set zone AWS-DX network layer3 [ ethernet1/1.101 ethernet1/1.102 ]",
                 "set network virtual-router default interface [ ethernet1/1.101 ethernet1/1.102 ]",
                 f"{bgp} enable yes", f"{bgp} router-id 169.254.10.2", f"{bgp} local-as 65000",
                 f'{bgp} auth-profile AUTH-DXVIF-FGABC102-V4 secret "{KEYS["vif102.key"]}"',
                 f"{peer} peer-as 64512", f"{peer} peer-address ip 169.254.11.1",
                 f"{peer} local-address ip 169.254.11.2/30",
                 f"{peer} connection-options authentication AUTH-DXVIF-FGABC102-V4",
                 f"{peer} max-prefixes 1000",
                 f"{bgp} peer-group DXVIF-FGABC101-V4 peer DXVIF-FGABC101-V4 bfd profile BFD-300X3",
                 "set network routing-profile bfd BFD-300X3 min-tx-interval 300",
                 "set network routing-profile bfd BFD-300X3 detection-multiplier 3",
                 f"{bgp} policy export rules DXVIF-FGABC101-V4-OUT action allow update community "
                 "append [ 7224:7300 ]",
                 f"{bgp} policy export rules DXVIF-FGABC102-V4-OUT action allow update community "
                 "append [ 7224:7100 ]",
                 f"{bgp} policy export rules DXVIF-FGABC102-V4-OUT action allow update as-path "
                 "prepend 2",
                 f"{bgp} policy import rules DXVIF-FGABC101-V4-IN action allow update "
                 "local-preference 200",
                 f"{bgp} redist-rules 10.20.0.0/16 enable yes",
                 "set network virtual-router default routing-table ip static-route DX-10-20-0-0_16 "
                 "nexthop discard"):
        assert line in lines, line
    # the passive VIF has no BFD, so no BFD profile
    assert not any(line.startswith(f"{peer} bfd") for line in lines)
    public = set(text(build, "dx-panos02").splitlines())
    assert "set network virtual-router default ecmp max-path 3" in public
    assert (f"{bgp} policy import rules DXVIF-FGABC101-V4-IN match address-prefix 54.240.0.0/16 "
            "exact yes") in public
    assert (f"{bgp} policy import rules DXVIF-FGABC101-V4-IN match address-prefix 52.0.0.0/8 "
            "exact no") in public
    assert "set network interface aggregate-ethernet ae1 layer3 units ae1.201 tag 201" in public


# -- bootstrap validate on a broken file ---------------------------------------------------------


def broken_build(build: Path, tmp_path: Path, host: str, edit: Any) -> Path:
    """A copy of ``host``'s build with ``edit`` applied to the router file and its redacted copy
    alike (so validate may print what it finds)."""
    out = tmp_path / "build"
    shutil.copytree(build / host, out / host)
    for path in (out / host).rglob("aws-dx.*"):
        path.write_text(edit(path.read_text()))
    return out


BREAKS = [
    ("dx-panos01", lambda t: re.sub(r"^.*auth-profile AUTH-DXVIF-FGABC102-V4 secret.*\n", "", t, flags=re.M),
     "peer DXVIF-FGABC102-V4: auth-profile AUTH-DXVIF-FGABC102-V4 is not defined"),
    ("dx-panos01", lambda t: t.replace("units ethernet1/1.102 tag 102", "units ethernet1/1.102 tag 120"),
     "subinterface ethernet1/1.102: tag 120 is not the VLAN 102 its name ends with"),
    ("dx-panos01", lambda t: t.replace("bfd profile BFD-300X3", "bfd profile BFD-999X3"),
     "bfd profile BFD-999X3 is not defined"),
    ("dx-panos01", lambda t: t.replace("[ ethernet1/1.101 ethernet1/1.102 ]", "[ ethernet1/1.101 ]", 1),
     "subinterface ethernet1/1.102 is in no zone"),
    ("dx-panos01", lambda t: t + "set network virtual-router default protocol bgp policy export "
     "rules DXVIF-FGABC102-V4-OUT-DENY action allow\n",
     "rules DXVIF-FGABC102-V4-OUT-DENY action is already 'deny'"),
    ("dx-nxos01", lambda t: t.replace("encapsulation dot1q 102", "encapsulation dot1q 120"),
     "interface Ethernet1/1.102: no 'encapsulation dot1q 102'"),
    ("dx-nxos01", lambda t: t.replace("feature bfd\n", ""),
     "BFD is configured without 'feature bfd'"),
    ("dx-nxos01", lambda t: t.replace("      send-community\n", "", 1),
     "neighbor 169.254.10.1 address-family ipv4 unicast: no 'send-community'"),
    ("dx-nxos01", lambda t: t.replace("route-map DXVIF-FGABC102-V4-IN permit", "route-map OTHER permit"),
     "neighbor 169.254.11.1: route-map DXVIF-FGABC102-V4-IN is not defined"),
    ("dx-nxos01", lambda t: t.replace("  no switchport\n", ""),
     "interface Ethernet1/1: a sub-interface needs 'no switchport'"),
    ("dx-nxos01", lambda t: t.replace("    description prod backup\n", "    description " + "x" * 81 + "\n"),
     "neighbor 169.254.11.1: a neighbor description holds at most 80 characters"),
]


@pytest.mark.parametrize(("host", "edit", "says"), BREAKS, ids=[b[2][:40] for b in BREAKS])
def test_validate_fails_on_a_broken_file(build: Path, tmp_path: Path, host: str, edit: Any,
                                         says: str) -> None:
    broken = broken_build(build, tmp_path, host, edit)
    result = run_cli("validate", broken, "--strict")
    assert result.rc == 1, result.out
    assert f"FAIL {host} router/" in result.out
    assert says in result.out, result.out
    assert not any(key in result.out + result.err for key in KEYS.values())


# -- The PAN-OS set-command parser, feature by feature ------------------------------------------

VR = "set network virtual-router default"
GOOD = "\n".join([
    "set network interface ethernet ethernet1/1 layer3 units ethernet1/1.7 tag 7",
    "set network interface ethernet ethernet1/1 layer3 units ethernet1/1.7 ip 169.254.1.2/30",
    "set zone Z network layer3 [ ethernet1/1.7 ]",
    f"{VR} interface [ ethernet1/1.7 ]",
    f"{VR} routing-table ip static-route S destination 10.0.0.0/8",
    f"{VR} routing-table ip static-route S nexthop discard",
    "set network routing-profile bfd B min-tx-interval 300",
    f"{VR} protocol bgp enable yes",
    f"{VR} protocol bgp router-id 1.1.1.1",
    f"{VR} protocol bgp local-as 65000",
    f"{VR} protocol bgp redist-rules 10.0.0.0/8 enable yes",
    f'{VR} protocol bgp auth-profile A secret "k[e]y$x"',
    f"{VR} protocol bgp peer-group G type ebgp export-nexthop resolve",
    f"{VR} protocol bgp peer-group G peer P peer-as 64512",
    f"{VR} protocol bgp peer-group G peer P enable-mp-bgp yes",
    f"{VR} protocol bgp peer-group G peer P subsequent-address-family-identifier unicast yes",
    f"{VR} protocol bgp peer-group G peer P peer-address ip 169.254.1.1",
    f"{VR} protocol bgp peer-group G peer P local-address interface ethernet1/1.7",
    f"{VR} protocol bgp peer-group G peer P local-address ip 169.254.1.2/30",
    f"{VR} protocol bgp peer-group G peer P connection-options authentication A",
    f"{VR} protocol bgp peer-group G peer P bfd profile B",
    f"{VR} protocol bgp policy export rules R used-by [ G ]",
    f"{VR} protocol bgp policy export rules R action allow update as-path prepend 2",
])


def test_parser_reads_quotes_and_lists_into_a_tree() -> None:
    root, found = panos.tree(panos.parse(GOOD))
    assert found == [] and panos.problems(GOOD) == []
    assert root.leaf("network", "virtual-router", "default", "protocol", "bgp", "auth-profile", "A",
                     "secret") == "k[e]y$x"
    assert root.leaf("zone", "Z", "network", "layer3") == ("ethernet1/1.7",)


@pytest.mark.parametrize(("change", "says"), [
    # each feature's reference must resolve
    (("connection-options authentication A", "connection-options authentication X"),
     "auth-profile X is not defined"),
    (("bfd profile B", "bfd profile C"), "bfd profile C is not defined"),
    (("used-by [ G ]", "used-by [ H ]"), "peer-group H, which is not defined"),
    (("set zone Z network layer3 [ ethernet1/1.7 ]", "set zone Z network layer3 [ ethernet1/1.8 ]"),
     "zone names ethernet1/1.8, which is not defined"),
    ((f"{VR} interface [ ethernet1/1.7 ]", f"{VR} interface [ ethernet1/1.9 ]"),
     "subinterface ethernet1/1.7 is in no virtual router"),
    (("units ethernet1/1.7 tag 7", "units ethernet1/1.7 tag 70"), "tag 70 is not the VLAN 7"),
    (("units ethernet1/1.7 ip 169.254.1.2/30", "units ethernet1/1.7 ip 169.254.1.6/30"),
     "local-address ip 169.254.1.2/30 is not an address of ethernet1/1.7"),
    (("units ethernet1/1.7 ip 169.254.1.2/30", "units ethernet1/1.7 ip 169.254.1.2/33"),
     "'169.254.1.2/33' is not an address with its length"),
    (("peer-address ip 169.254.1.1", "peer-address ip 169.254.2.1"),
     "peer-address 169.254.2.1 is not on 169.254.1.2/30"),
    (("peer-as 64512", "description x"), "peer P: no peer-as"),
    (("destination 10.0.0.0/8", "destination 10.1.0.0/16"),
     "redist-rules 10.0.0.0/8 has no static route"),
    (("router-id 1.1.1.1", "hold-time 9"), "bgp has no router-id"),
    (('secret "k[e]y$x"', 'secret ""'), "auth-profile A has no secret"),
    (("enable-mp-bgp yes", "enable-mp-bgp no"), "an address family without enable-mp-bgp yes"),
])
def test_parser_finds_each_dangling_or_missing_piece(change: tuple[str, str], says: str) -> None:
    old, new = change
    assert old in GOOD
    found = panos.problems(GOOD.replace(old, new))
    assert any(says in p for p in found), found


@pytest.mark.parametrize(("extra", "says"), [
    ("set network interface ethernet ethernet1/1 layer3 units ethernet1/1.7 tag 8",
     "tag is already '7' (line 1), not '8'"),
    (f"{VR} protocol bgp peer-group G type ibgp", "type is already 'ebgp'"),
    (f"{VR} protocol bgp policy export rules R action deny", "action is already 'allow'"),
    # the same line twice says nothing new and is no problem
    (f"{VR} protocol bgp local-as 65000", None),
])
def test_parser_finds_a_path_set_twice_to_different_values(extra: str, says: str | None) -> None:
    found = panos.problems(GOOD + "\n" + extra)
    if says is None:
        assert found == []
    else:
        assert any(says in p for p in found), found


@pytest.mark.parametrize(("line", "says"), [
    ('set zone Z network layer3 "unclosed', "cannot read"),
    ("delete zone Z", "not a 'set' command"),
    ("set zone", "needs a path and a value"),
    ("set zone [ a ] network layer3 x", "a [ list ] can only be the last word"),
    ("set zone Z network layer3 [ ]", "an empty list"),
    ("set zone Z network layer3 [ a", "'[' without ']'"),
    ("set zone Z network layer3 a ]", "']' without '['"),
    ("# a note", "not a 'set' command"),
])
def test_parser_refuses_lines_the_cli_would_not_take(line: str, says: str) -> None:
    found = panos.problems(GOOD + "\n" + line)
    assert len(found) == 1 and says in found[0] and "line 24" in found[0], found


# -- AWS rules and platform limits on the new platforms -----------------------------------------


def render_error(tmp_path: Path, dx: dict[str, Any], keys: dict[str, str] | None = None) -> str:
    """``KEY: MESSAGE`` of the one error line, after checking it names the file and the host."""
    line = routers.render_error(tmp_path, dx, keys)
    match = re.match(r"error: \S*host_vars/r1\.yml:\d+: host r1: key (\S+): (.*)", line)
    assert match, line
    return f"{match[1]}: {match[2]}"


def changed(dx: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    from dx.routers import changed as change

    return change(dx, path, value)


AWS_RULES = [
    ("vifs.0.vlan", 4095, "dx.vifs.0.vlan: ", "less than or equal to 4094"),
    ("vifs.1.vlan", 101, "dx.vifs.1.vlan: ", "VLAN 101 is already used on"),
    ("vifs.0.advertise.ipv4", [f"10.{i // 256}.{i % 256}.0/24" for i in range(101)],
     "dx.vifs.0.advertise.ipv4: ", "AWS takes at most 100 on a private VIF"),
    ("vifs.0.mtu", 9000, "dx.vifs.0.mtu: ", "AWS allows MTU 1500 or 9001 on a private VIF"),
    ("vifs.0.bfd", {"interval_ms": 299}, "dx.vifs.0.bfd.interval_ms: ", "greater than or equal to 300"),
    ("vifs.0.bfd", {"multiplier": 2}, "dx.vifs.0.bfd.multiplier: ", "greater than or equal to 3"),
    ("vifs.0.amazon_asn", 65000, "dx.vifs.0.amazon_asn: ", "Direct Connect peers over eBGP"),
]


@pytest.mark.parametrize("platform", ["nxos", "panos"])
@pytest.mark.parametrize(("path", "value", "key", "says"), AWS_RULES, ids=[r[0] for r in AWS_RULES])
def test_aws_rules_hold(tmp_path: Path, platform: str, path: str, value: Any, key: str,
                        says: str) -> None:
    message = render_error(tmp_path, changed(router(platform), path, value))
    assert message.startswith(key) and says in message, message


@pytest.mark.parametrize("platform", ["nxos", "panos"])
@pytest.mark.parametrize(("key", "says"), [("Kq3", "6-80 characters long"),
                                           ("K" * 81, "6-80 characters long"),
                                           ("Kq3 secret", "must not contain whitespace")])
def test_aws_key_rules_hold(tmp_path: Path, platform: str, key: str, says: str) -> None:
    message = render_error(tmp_path, router(platform), {**KEYS, "vif101.key": key})
    assert message.startswith("dx.vifs.0.auth_key: ") and says in message
    assert key not in message


@pytest.mark.parametrize("platform", ["nxos", "panos"])
def test_transit_and_public_mtus_hold(tmp_path: Path, platform: str) -> None:
    transit = changed(changed(router(platform), "vifs.0.type", "transit"), "vifs.0.mtu", 9001)
    message = render_error(tmp_path / "t", transit)
    assert message.startswith("dx.vifs.0.mtu: ") and "MTU 1500 or 8500 on a transit VIF" in message
    public = changed(changed(router(platform), "vifs.1.type", "public"), "vifs.1.mtu", 9001)
    message = render_error(tmp_path / "p", public)
    assert "MTU 1500 on a public VIF" in message


def test_a_leading_digit_is_a_key_on_nxos(tmp_path: Path) -> None:
    """`password 0` says the key is clear text, so NX-OS takes a key IOS-XE refuses."""
    keys = {**KEYS, "vif101.key": "7xY2secretKey"}
    assert render(tmp_path, router("nxos"), keys).rc == 0
    assert "    password 0 7xY2secretKey\n" in (tmp_path / "build/r1/router/aws-dx.cfg").read_text()
    assert "must not start with a digit" in render_error(tmp_path / "ios", router("ios-xe"), keys)


@pytest.mark.parametrize(("platform", "path", "over", "inside", "key", "says"), [
    ("nxos", "vifs.0.bfd", {"interval_ms": 1000}, {"interval_ms": 999}, "dx.vifs.0.bfd.interval_ms",
     "Cisco NX-OS takes a BFD interval (`bfd interval`) in ms of at most 999, not 1000"),
    ("nxos", "vifs.0.max_prefix_in", 300001, 300000, "dx.vifs.0.max_prefix_in",
     "Cisco NX-OS takes an inbound prefix limit (`maximum-prefix`) of at most 300000"),
    ("nxos", "vifs.0.timers", {"keepalive": 30, "hold": 3601}, {"keepalive": 30, "hold": 3600},
     "dx.vifs.0.timers.hold", "Cisco NX-OS takes a hold time (`timers`) in seconds of at most 3600"),
    ("panos", "vifs.0.bfd", {"interval_ms": 10001}, {"interval_ms": 10000},
     "dx.vifs.0.bfd.interval_ms", "Palo Alto PAN-OS takes a BFD interval (`min-tx-interval`)"),
    ("panos", "vifs.0.bfd", {"multiplier": 51}, {"multiplier": 50}, "dx.vifs.0.bfd.multiplier",
     "Palo Alto PAN-OS takes a BFD detection multiplier of at most 50, not 51"),
    ("panos", "vifs.0.max_prefix_in", 100001, 100000, "dx.vifs.0.max_prefix_in",
     "Palo Alto PAN-OS takes an inbound prefix limit (`max-prefixes`) of at most 100000"),
    ("panos", "vifs.0.timers", {"keepalive": 1201, "hold": 3600}, {"keepalive": 1200, "hold": 3600},
     "dx.vifs.0.timers.keepalive", "Palo Alto PAN-OS takes a keep-alive interval in seconds of at "
     "most 1200"),
])
def test_platform_ceilings(tmp_path: Path, platform: str, path: str, over: Any, inside: Any,
                           key: str, says: str) -> None:
    message = render_error(tmp_path / "over", changed(router(platform), path, over))
    assert message.startswith(f"{key}: ") and says in message, message
    assert render(tmp_path / "inside", changed(router(platform), path, inside)).rc == 0
    check = run_cli("validate", tmp_path / "inside/build", "--strict")
    assert check.rc == 0 and " 0 failed" in check.out, check.out


@pytest.mark.parametrize("accept", ["10.0.0.0/8 ge 16", "10.0.0.0/8 le 24", "10.0.0.0/8 ge 9 le 32"])
def test_panos_refuses_an_accept_range_it_cannot_match(tmp_path: Path, accept: str) -> None:
    message = render_error(tmp_path, changed(router("panos"), "vifs.1.accept", {"ipv4": [accept]}))
    assert message.startswith("dx.vifs.1.accept.ipv4.0: PAN-OS matches 10.0.0.0/8 exactly or with "
                              "every longer prefix"), message
    # the same range renders on NX-OS, which has ge/le
    assert render(tmp_path / "nxos", changed(router("nxos"), "vifs.1.accept", {"ipv4": [accept]})).rc == 0


def test_panos_takes_exact_and_every_longer_prefix(tmp_path: Path) -> None:
    dx = changed(router("panos"), "vifs.1.accept", {"ipv4": ["10.0.0.0/8", "172.16.0.0/12 le 32"]})
    assert render(tmp_path, dx).rc == 0
    config = (tmp_path / "build/r1/router/aws-dx.set").read_text()
    assert "match address-prefix 10.0.0.0/8 exact yes\n" in config
    assert "match address-prefix 172.16.0.0/12 exact no\n" in config


def test_panos_layer3_mtu_ceiling(tmp_path: Path) -> None:
    message = render_error(tmp_path, router("panos", interface_mtu=9216))
    assert message.startswith("dx.interface_mtu: PAN-OS takes a Layer-3 MTU of at most 9192")
    assert render(tmp_path / "ok", router("panos", interface_mtu=9192)).rc == 0


@pytest.mark.parametrize(("platform", "parent", "good"), [
    ("nxos", "Ethernet1/1.5", "Ethernet1/49/2"),
    ("nxos", "GigabitEthernet0/1", "port-channel10"),
    ("panos", "ethernet1/1.5", "ae1"),
    ("panos", "Ethernet1/1", "ethernet1/2"),
])
def test_parent_interface_names(tmp_path: Path, platform: str, parent: str, good: str) -> None:
    message = render_error(tmp_path / "bad", router(platform, interface=parent))
    assert message.startswith(f"dx.interface: {parent!r} is not a"), message
    assert render(tmp_path / "good", router(platform, interface=good)).rc == 0
    check = run_cli("validate", tmp_path / "good/build", "--strict")
    assert check.rc == 0 and " 0 failed" in check.out, check.out


@pytest.mark.parametrize("platform", ["nxos", "panos"])
def test_gaps_are_errors_unless_acknowledged(tmp_path: Path, platform: str) -> None:
    dx = changed(router(platform), "vifs.0.max_prefix_out", 50)
    message = render_error(tmp_path, dx)
    assert message.startswith("dx.vifs.0.max_prefix_out: ") and "has no outbound prefix limit" in message
    assert render(tmp_path / "ack", {**dx, "acknowledge": ["max-prefix-out"]}).rc == 0


# -- Junos SRX: the VLAN units in a security zone ------------------------------------------------


def test_srx_zone_in_both_junos_styles(tmp_path: Path) -> None:
    dx = router("junos", junos_security_zone="AWS-DX")
    inv = write_inventory(tmp_path / "inv", {"srx-set": dx, "srx-curly": {**dx, "junos_style": "curly"}})
    assert run_cli("render", inv, "-o", tmp_path / "build").rc == 0
    check = run_cli("validate", tmp_path / "build", "--strict")
    assert check.rc == 0 and "2 checks, 0 failed" in check.out, check.out
    as_set = junos.parse_set((tmp_path / "build/srx-set/router/aws-dx.set").read_text())
    as_curly = junos.parse_curly((tmp_path / "build/srx-curly/router/aws-dx.conf").read_text())
    assert sorted(as_set) == sorted(as_curly)
    zone = ("security", "zones", "security-zone", "AWS-DX", "interfaces")
    inbound = ("host-inbound-traffic", "protocols")
    assert (*zone, "ge-0/0/1.101", *inbound, "bgp") in as_set
    assert (*zone, "ge-0/0/1.101", *inbound, "bfd") in as_set  # the active VIF runs BFD
    assert (*zone, "ge-0/0/1.102", *inbound, "bgp") in as_set
    assert (*zone, "ge-0/0/1.102", *inbound, "bfd") not in as_set
    # an MX (no zone) renders no security hierarchy
    assert run_cli("render", write_inventory(tmp_path / "mx", {"mx": router("junos")}),
                   "-o", tmp_path / "mx-build").rc == 0
    assert "security" not in (tmp_path / "mx-build/mx/router/aws-dx.set").read_text()


@pytest.mark.parametrize(("dx", "says"), [
    (router("ios-xe", junos_security_zone="AWS-DX"),
     "dx.junos_security_zone: junos_security_zone applies to junos (SRX), not ios-xe"),
    (router("junos", junos_security_zone="AWS DX"), "dx.junos_security_zone: "),
    (router("junos", junos_security_zone="Z" * 64), "is not a security zone name"),
])
def test_srx_zone_errors(tmp_path: Path, dx: dict[str, Any], says: str) -> None:
    assert says in render_error(tmp_path, dx)


@pytest.mark.parametrize(("drop", "says"), [
    ("interfaces ge-0/0/1.102 host-inbound-traffic protocols bgp",
     "unit ge-0/0/1.102 is in no security zone: the SRX drops BGP to it"),
    ("interfaces ge-0/0/1.101 host-inbound-traffic protocols bfd",
     "BFD runs but no security zone lets it in"),
])
def test_srx_zone_checker(drop: str, says: str, tmp_path: Path) -> None:
    dx = router("junos", junos_security_zone="AWS-DX")
    assert run_cli("render", write_inventory(tmp_path / "inv", {"srx": dx}), "-o", tmp_path / "b").rc == 0
    text = (tmp_path / "b/srx/router/aws-dx.set").read_text()
    kept = "".join(line for line in text.splitlines(keepends=True) if drop not in line)
    assert kept != text
    assert says in " ".join(junos.problems(junos.parse_set(kept)))
    extra = text + "set security zones security-zone AWS-DX interfaces ge-0/0/9.5 host-inbound-traffic " \
                   "protocols bgp\n"
    assert "ge-0/0/9.5 is not a rendered unit" in " ".join(junos.problems(junos.parse_set(extra)))


def test_panos_installs_at_most_four_equal_cost_paths(tmp_path: Path) -> None:
    dx = router("panos")
    base = dx["vifs"][1]
    dx["vifs"] = [{**base, "id": f"dxvif-fgecmp{n}", "vlan": 300 + n, "redundancy": "ecmp",
                   "ipv4": {"customer": f"169.254.{n}.2/30", "amazon": f"169.254.{n}.1/30"}}
                  for n in range(5)]
    for vif in dx["vifs"]:
        vif.pop("prepend")
    message = render_error(tmp_path / "five", dx)
    assert message.startswith("dx.vifs.4.redundancy: Palo Alto PAN-OS installs at most 4 "
                              "equal-cost paths"), message
    dx["vifs"] = dx["vifs"][:4]
    assert render(tmp_path / "four", dx).rc == 0
    config = (tmp_path / "four/build/r1/router/aws-dx.set").read_text()
    assert "set network virtual-router default ecmp max-path 4\n" in config
    assert "ecmp max-path '5' is not 2, 3 or 4" in " ".join(
        panos.problems(config.replace("ecmp max-path 4", "ecmp max-path 5")))
