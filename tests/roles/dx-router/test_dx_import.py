"""``bootstrap dx import``: AWS's description of virtual interfaces becomes inventory that renders."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import waits
from support.cli import run_cli

from bootstrap import cli

KEY_A, KEY_B = "Qx8RfT2mZk9LpW4v", "Hj3nMq7sKd2PzR8y"


def describe_output() -> dict[str, Any]:
    """The shape of ``aws directconnect describe-virtual-interfaces`` (fields of VirtualInterface)."""
    return {"virtualInterfaces": [
        {
            "ownerAccount": "111122223333", "virtualInterfaceId": "dxvif-ffhhk74f",
            "location": "EqDC2", "connectionId": "dxcon-fguhmqlc",
            "virtualInterfaceType": "private", "virtualInterfaceName": "prod #1 {primary}",
            "vlan": 101, "asn": 65000, "amazonSideAsn": 64512, "authKey": KEY_A,
            "amazonAddress": "169.254.10.1/30", "customerAddress": "169.254.10.2/30",
            "addressFamily": "ipv4", "virtualInterfaceState": "available", "mtu": 9001,
            "jumboFrameCapable": True, "virtualGatewayId": "", "directConnectGatewayId": "abcd-1234",
            "routeFilterPrefixes": [],
            "customerRouterConfig": "<?xml version=\"1.0\"?><logical_connection id=\"dxvif-ffhhk74f\">"
                                    "</logical_connection>",
            "bgpPeers": [
                {"bgpPeerId": "dxpeer-1", "asn": 65000, "authKey": KEY_A, "addressFamily": "ipv4",
                 "amazonAddress": "169.254.10.1/30", "customerAddress": "169.254.10.2/30",
                 "bgpPeerState": "available", "bgpStatus": "up"},
                {"bgpPeerId": "dxpeer-2", "asn": 65000, "authKey": KEY_A, "addressFamily": "ipv6",
                 "amazonAddress": "2600:1f00:1::2/125", "customerAddress": "2600:1f00:1::3/125",
                 "bgpPeerState": "available", "bgpStatus": "up"}],
            "region": "us-east-1",
        },
        {
            "ownerAccount": "111122223333", "virtualInterfaceId": "dxvif-fgq0z8nm",
            "connectionId": "dxcon-fguhmqlc", "virtualInterfaceType": "private",
            "virtualInterfaceName": "prod backup", "vlan": 102, "asn": 65000, "amazonSideAsn": 64512,
            "authKey": KEY_B, "amazonAddress": "169.254.11.1/30", "customerAddress": "169.254.11.2/30",
            "addressFamily": "ipv4", "virtualInterfaceState": "available", "mtu": 9001,
            "bgpPeers": [
                {"bgpPeerId": "dxpeer-3", "asn": 65000, "authKey": KEY_B, "addressFamily": "ipv4",
                 "amazonAddress": "169.254.11.1/30", "customerAddress": "169.254.11.2/30",
                 "bgpPeerState": "available", "bgpStatus": "up"}],
            "region": "us-east-1",
        },
    ]}


def test_import_file_renders_as_a_router(tmp_path: Path) -> None:
    source = tmp_path / "vifs.json"
    source.write_text(json.dumps(describe_output()))
    inv = tmp_path / "inv"
    result = run_cli("dx", "import", source, "--write-secrets", inv / "secrets")
    assert result.rc == 0, result.err
    assert KEY_A not in result.out + result.err and KEY_B not in result.out + result.err
    imported = yaml.safe_load(result.out)
    first = imported["dx"]["vifs"][0]
    assert imported["dx"]["asn"] == 65000
    assert first["auth_key"] == {"file": "secrets/dx-dxvif-ffhhk74f.key"}
    assert first["ipv6"] == {"customer": "2600:1f00:1::3/125", "amazon": "2600:1f00:1::2/125"}
    assert (first["name"], first["amazon_asn"], first["mtu"]) == ("prod -1 -primary", 64512, 9001)
    key_file = inv / "secrets/dx-dxvif-ffhhk74f.key"
    assert key_file.read_text() == KEY_A + "\n"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"wrote {key_file} (mode 0600)" in result.err

    # What the operator adds: the router's own facts and the policy
    dx = {**imported["dx"], "platform": "bird", "router_id": "169.254.10.2", "interface": "eth1"}
    dx["vifs"][0].update(redundancy="active", advertise={"ipv4": ["10.20.0.0/16"]})
    dx["vifs"][1].update(redundancy="passive", advertise={"ipv4": ["10.20.0.0/16"]})
    (inv / "hosts.yml").write_text(yaml.safe_dump(
        {"dx_routers": {"hosts": {"r1": None}, "vars": {"bootstrap_roles": ["dx-router"]}}}))
    (inv / "host_vars").mkdir()
    (inv / "host_vars/r1.yml").write_text(yaml.safe_dump({"dx": dx}))
    assert run_cli("render", inv, "-o", tmp_path / "build").rc == 0
    bird = (tmp_path / "build/r1/files/etc/bird/bird.conf").read_text()
    assert f'password "{KEY_A}";' in bird and "neighbor 2600:1f00:1::2 as 64512;" in bird
    check = run_cli("validate", tmp_path / "build", "--strict")
    assert check.rc == 0, check.out


def test_import_without_write_secrets_writes_no_key(tmp_path: Path) -> None:
    source = tmp_path / "vifs.json"
    source.write_text(json.dumps(describe_output()))
    result = run_cli("dx", "import", source, cwd=tmp_path)
    assert result.rc == 0
    assert "The MD5 keys were not written" in result.out
    assert not (tmp_path / "secrets").exists()


def test_import_customer_router_config_xml_from_stdin() -> None:
    xml = ('<logical_connection id="dxvif-ffhhk74f"><vlan>101</vlan>'
           "<customer_address>192.168.1.2/30</customer_address>"
           "<amazon_address>192.168.1.1/30</amazon_address><bgp_asn>65000</bgp_asn>"
           "<bgp_auth_key>asdf34example</bgp_auth_key><amazon_bgp_asn>7224</amazon_bgp_asn>"
           "<connection_type>public</connection_type></logical_connection>")
    proc = subprocess.run([sys.executable, "-m", "bootstrap", "dx", "import", "-"], input=xml,
                          capture_output=True, text=True, timeout=waits.allowance(60))
    assert proc.returncode == 0, proc.stderr
    assert "asdf34example" not in proc.stdout + proc.stderr
    vif = yaml.safe_load(proc.stdout)["dx"]["vifs"][0]
    assert vif == {"id": "dxvif-ffhhk74f", "name": "dxvif-ffhhk74f", "type": "public", "vlan": 101,
                   "amazon_asn": 7224,
                   "ipv4": {"customer": "192.168.1.2/30", "amazon": "192.168.1.1/30"},
                   "auth_key": {"file": "secrets/dx-dxvif-ffhhk74f.key"}}


@pytest.mark.parametrize(("flag", "value", "params"), [
    ("--vif-id", "dxvif-ffhhk74f", {"virtualInterfaceId": "dxvif-ffhhk74f"}),
    ("--connection-id", "dxcon-fguhmqlc", {"connectionId": "dxcon-fguhmqlc"}),
])
def test_import_from_aws(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                         tmp_path: Path, flag: str, value: str, params: dict[str, str]) -> None:
    """boto3's describe_virtual_interfaces, stubbed by botocore (moto has no VIF API)."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("directconnect", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    stubber = Stubber(client)
    stubber.add_response("describe_virtual_interfaces", describe_output(), params)
    stubber.activate()
    monkeypatch.setattr(boto3, "client", lambda service, region_name=None: client)
    rc = cli.main(["dx", "import", flag, value, "--region", "us-east-1",
                   "--write-secrets", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    stubber.assert_no_pending_responses()
    assert [v["id"] for v in yaml.safe_load(out)["dx"]["vifs"]] == ["dxvif-ffhhk74f", "dxvif-fgq0z8nm"]
    assert (tmp_path / "dx-dxvif-fgq0z8nm.key").read_text() == KEY_B + "\n"
    assert KEY_A not in out + err


def test_import_refuses_what_one_router_cannot_hold(tmp_path: Path) -> None:
    data = describe_output()
    data["virtualInterfaces"][1]["asn"] = 65001
    data["virtualInterfaces"][1]["bgpPeers"][0]["asn"] = 65001
    source = tmp_path / "vifs.json"
    source.write_text(json.dumps(data))
    result = run_cli("dx", "import", source)
    assert result.rc == 1
    assert "different customer ASNs (65000, 65001)" in result.err

    data = describe_output()
    data["virtualInterfaces"][0]["bgpPeers"][1]["authKey"] = "Other6keyValue"
    source.write_text(json.dumps(data))
    result = run_cli("dx", "import", source)
    assert result.rc == 1 and "different MD5 keys" in result.err
    assert KEY_A not in result.err and "Other6keyValue" not in result.err


def test_an_existing_different_key_is_not_replaced(tmp_path: Path) -> None:
    source = tmp_path / "vifs.json"
    source.write_text(json.dumps(describe_output()))
    (tmp_path / "s").mkdir()
    (tmp_path / "s/dx-dxvif-ffhhk74f.key").write_text("SomeOtherKey1\n")
    result = run_cli("dx", "import", source, "--write-secrets", tmp_path / "s")
    assert result.rc == 1 and "exists with another key" in result.err
    assert (tmp_path / "s/dx-dxvif-ffhhk74f.key").read_text() == "SomeOtherKey1\n"


def test_help_does_not_import_boto3() -> None:
    proc = subprocess.run([sys.executable, "-c", "import sys; from bootstrap import cli; cli.parser(); "
                           "print('boto3' in sys.modules or 'botocore' in sys.modules)"],
                          capture_output=True, text=True, timeout=waits.allowance(60))
    assert proc.stdout.strip() == "False"
