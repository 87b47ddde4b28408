"""Direct Connect router configs: the example routers render, pass their real checkers, and match
the golden files; derived policy is what AWS expects; both Junos styles say the same thing."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dx.regenerate import GOLDEN, router_files
from dx.routers import router, write_inventory
from support.cli import ROOT, run_cli

from bootstrap.roles.dx_router import capabilities, junos


@pytest.fixture(scope="module")
def example_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    result = run_cli("render", ROOT / "inventory", "--limit", "dx_routers", "-o", out)
    assert result.rc == 0, result.err
    return out


def test_every_platform_style_and_backend_in_the_example(example_build: Path) -> None:
    outputs = {p.relative_to(example_build).as_posix() for p in example_build.rglob("*")
               if p.is_file() and ".redacted" not in p.parts}
    for expected in ("dx-iosxe01/router/aws-dx.cfg", "dx-junos01/router/aws-dx.set",
                     "dx-junos02/router/aws-dx.conf", "dx-frr01/files/etc/frr/frr.conf",
                     "dx-frr01/files/etc/frr/daemons", "dx-bird01/files/etc/bird/bird.conf",
                     "dx-bgpd01/files/etc/bgpd.conf",
                     "dx-frr01/files/etc/systemd/network/20-dx-eth1.101.netdev",
                     "dx-frr01/files/etc/systemd/network/30-dx-eth1.102.network",
                     "dx-frr01/files/etc/systemd/network/10-dx-eth1.network",
                     "dx-bird01/files/etc/netplan/60-aws-dx.yaml",
                     "dx-bgpd01/files/etc/network/interfaces.d/aws-dx"):
        assert expected in outputs


def test_example_routers_pass_bootstrap_validate(example_build: Path) -> None:
    result = run_cli("validate", example_build, "--limit", "dx-*", "--strict")
    assert result.rc == 0, result.out + result.err
    for checker in ("vtysh -C", "bird -p", "bgpd -n", "netplan generate", "ifup --no-act",
                    "networkd keys", "ios-xe structure", "junos structure"):
        assert f"({checker})" in result.out
    assert " 0 failed" in result.out


def test_golden_files(example_build: Path) -> None:
    """Rendered router files equal tests/dx/golden (regenerate: python tests/dx/regenerate.py)."""
    rendered = router_files(example_build)
    golden = {p.relative_to(GOLDEN).as_posix(): p.read_bytes()
              for p in GOLDEN.rglob("*") if p.is_file()}
    assert sorted(rendered) == sorted(golden)
    for rel, content in rendered.items():
        assert content.decode() == golden[rel].decode(), rel


def test_keys_only_in_0600_files_never_in_redacted_copies(example_build: Path) -> None:
    keys = {p.read_text().strip() for p in (ROOT / "inventory" / "secrets").glob("dx-*.key")}
    for path in example_build.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        holds = [k for k in keys if k in text]
        if ".redacted" in path.parts or path.name == "manifest.json":
            assert not holds, path
        elif holds:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    netplan = example_build / "dx-bird01/files/etc/netplan/60-aws-dx.yaml"
    assert stat.S_IMODE(netplan.stat().st_mode) == 0o600
    manifest = json.loads((example_build / "dx-frr01/manifest.json").read_text())
    frr = next(r for r in manifest["files"] if r["dest"] == "/etc/frr/frr.conf")
    assert (frr["secret"], frr["mode"], frr["owner"]) == (True, "0600", "frr:frr")


def test_derived_policy_per_platform(example_build: Path) -> None:
    frr = (example_build / "dx-frr01/files/etc/frr/frr.conf").read_text()
    assert re.search(r"route-map DXVIF-FFRR0101-V4-OUT permit 10\n.*\n set community 7224:7300\n", frr)
    assert re.search(r"route-map DXVIF-FFRR0102-V4-OUT permit 10\n.*\n set community 7224:7100\n"
                     r" set as-path prepend 65020 65020\n", frr)
    # our side of active/passive: what the active VIF learns wins
    assert re.search(r"route-map DXVIF-FFRR0101-V4-IN permit 10\n.*\n set local-preference 200\n", frr)
    assert re.search(r"route-map DXVIF-FFRR0102-V4-IN permit 10\n.*\n set local-preference 50\n", frr)
    assert "ip route 10.20.0.0/16 blackhole" in frr and "ipv6 route 2001:db8:20::/48 blackhole" in frr
    # RFC 8212: every neighbor has both an inbound and an outbound route-map
    for peer in ("169.254.20.1", "2600:1f00:20::2", "169.254.21.1"):
        assert f"neighbor {peer} route-map" in frr and re.search(rf"neighbor {peer} route-map \S+ in", frr)
        assert re.search(rf"neighbor {peer} route-map \S+ out", frr)
    ios = (example_build / "dx-iosxe01/router/aws-dx.cfg").read_text()
    assert " ip address 169.254.11.2 255.255.255.252" in ios
    assert "  network 10.11.0.0 mask 255.255.0.0" in ios
    assert "ip route 10.11.0.0 255.255.0.0 Null0" in ios
    assert " set as-path prepend 65001 65001 65001" in ios  # prepend: 3
    assert ios.count("send-community") == 3  # every session
    assert "  maximum-paths" not in ios  # active/passive, no ECMP
    junos_set = (example_build / "dx-junos01/router/aws-dx.set").read_text()
    assert "set interfaces xe-0/0/1 mtu 8522" in junos_set  # 8500 + 22
    assert "set routing-options static route 10.13.0.0/16 discard" in junos_set
    assert "then as-path-prepend \"4200000001 4200000001\"" in junos_set
    curly = (example_build / "dx-junos02/router/aws-dx.conf").read_text()
    assert "community AWS-SCOPE-REGION members 7224:9100;" in curly  # public VIF scope
    assert "7224:7300" not in curly  # local-preference communities are for private/transit only
    bird = (example_build / "dx-bird01/files/etc/bird/bird.conf").read_text()
    assert "bgp_community.add((7224, 7100));\n\t\tbgp_path.prepend(65030);\n\t\tbgp_path.prepend(65030);" \
        in bird
    assert "route 10.30.0.0/16 blackhole;" in bird
    bgpd = (example_build / "dx-bgpd01/files/etc/bgpd.conf").read_text()
    assert "set { community 7224:7100 prepend-self 2 }" in bgpd
    assert bgpd.count("announce IPv6 none") == 2 and bgpd.count("announce IPv4 none") == 1
    daemons = (example_build / "dx-frr01/files/etc/frr/daemons").read_text()
    assert {"bgpd=yes", "bfdd=yes", "staticd=yes"} <= set(daemons.splitlines())


def test_vlan_files_use_the_parent_mtu(example_build: Path) -> None:
    parent = (example_build / "dx-frr01/files/etc/systemd/network/10-dx-eth1.network").read_text()
    assert "MTUBytes=9001" in parent and "VLAN=eth1.101" in parent and "VLAN=eth1.102" in parent
    netdev = (example_build / "dx-frr01/files/etc/systemd/network/20-dx-eth1.101.netdev").read_text()
    assert "Kind=vlan" in netdev and "Id=101" in netdev
    ifupdown = (example_build / "dx-bgpd01/files/etc/network/interfaces.d/aws-dx").read_text()
    assert "iface eth1 inet manual\n    mtu 1500" in ifupdown


def test_networkd_files_match_what_netplan_generates(tmp_path: Path) -> None:
    """The networkd and netplan backends, from the same model, configure the same interfaces."""
    dx = router("frr", linux_net="networkd")
    inv = write_inventory(tmp_path / "inv", {"r-networkd": dx,
                                             "r-netplan": {**dx, "linux_net": "netplan"}})
    build = tmp_path / "build"
    assert run_cli("render", inv, "-o", build).rc == 0
    root = tmp_path / "root"
    (root / "etc/netplan").mkdir(parents=True)
    (root / "etc/netplan/60-aws-dx.yaml").write_bytes(
        (build / "r-netplan/files/etc/netplan/60-aws-dx.yaml").read_bytes())
    subprocess.run(["netplan", "generate", "--root-dir", str(root)], check=True, capture_output=True)

    def settings(folder: Path, pattern: str) -> dict[str, set[str]]:
        out = {}
        for path in folder.glob(pattern):
            lines = {x for x in path.read_text().splitlines() if x and not x.startswith("#")}
            name = next(x for x in lines if x.startswith("Name="))
            out[f"{path.suffix} {name}"] = lines
        return out

    ours = settings(build / "r-networkd/files/etc/systemd/network", "*")
    theirs = settings(root / "run/systemd/network", "*.net*")
    assert ours == theirs


def test_junos_set_and_curly_say_the_same(tmp_path: Path) -> None:
    dx = router("junos", junos_style="set")
    inv = write_inventory(tmp_path / "inv", {"j-set": dx, "j-curly": {**dx, "junos_style": "curly"}})
    build = tmp_path / "build"
    assert run_cli("render", inv, "-o", build).rc == 0
    as_set = junos.parse_set((build / "j-set/router/aws-dx.set").read_text())
    as_curly = junos.parse_curly((build / "j-curly/router/aws-dx.conf").read_text())
    assert sorted(as_set) == sorted(as_curly)
    assert junos.problems(as_set) == []
    assert ("protocols", "bgp", "group", "DXVIF-FGABC101-V4", "neighbor", "169.254.10.1",
            "bfd-liveness-detection", "minimum-interval", "300") in as_set


def test_junos_checker_finds_dangling_names_and_bad_syntax() -> None:
    statements = junos.parse_set("set protocols bgp group G type external\n"
                                 "set protocols bgp group G peer-as 64512\n"
                                 "set protocols bgp group G export MISSING\n"
                                 "set protocols bgp group G neighbor 169.254.10.1 local-address x\n")
    found = junos.problems(statements)
    assert "policy-statement MISSING is not defined" in " ".join(found)
    assert "no authentication-key" in " ".join(found)
    with pytest.raises(junos.JunosSyntaxError, match="lacks its ';'"):
        junos.parse_curly("protocols {\n    bgp {\n        group G\n    }\n}\n")


def test_ecmp_renders_multipath_where_asked(tmp_path: Path) -> None:
    dx = router("frr")
    for vif in dx["vifs"]:
        vif["redundancy"] = "ecmp"
    inv = write_inventory(tmp_path / "inv", {"r1": dx})
    assert run_cli("render", inv, "-o", tmp_path / "b").rc == 0
    frr = (tmp_path / "b/r1/files/etc/frr/frr.conf").read_text()
    assert "  maximum-paths 2" in frr and "7224:7" not in frr and "as-path prepend" not in frr


def test_capability_table_in_readme_is_generated_from_code() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- capabilities:start -->\n", "<!-- capabilities:end -->"
    assert start in readme and end in readme, "README.md lacks the capability table markers"
    shown = readme.split(start, 1)[1].split(end, 1)[0]
    assert shown == capabilities.table()
    printed = subprocess.run([sys.executable, "-m", "bootstrap.roles.dx_router.capabilities"],
                             capture_output=True, text=True, check=True).stdout
    assert printed == capabilities.table()
    for gap in capabilities.GAPS:
        assert f"acknowledge `{gap}`" in shown

