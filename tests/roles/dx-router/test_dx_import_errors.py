"""``bootstrap dx import`` on broken input: one line naming the file and what is wrong, exit 1, no
traceback, and no key file written anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import waits
from support.cli import run_cli


def vif(**changes: Any) -> dict[str, Any]:
    record = {"virtualInterfaceId": "dxvif-ffhhk74f", "virtualInterfaceType": "private",
              "virtualInterfaceName": "prod", "vlan": 101, "asn": 65000, "amazonSideAsn": 64512,
              "authKey": "Qx8RfT2mZk9LpW4v", "amazonAddress": "169.254.10.1/30",
              "customerAddress": "169.254.10.2/30", "addressFamily": "ipv4"}
    record.update(changes)
    return {key: value for key, value in record.items() if value is not ...}


def described(*records: Any) -> str:
    return json.dumps({"virtualInterfaces": list(records)})


XML = ('<logical_connection id="dxvif-ffhhk74f"><vlan>{vlan}</vlan>'
       "<customer_address>192.168.1.2/30</customer_address>"
       "<amazon_address>192.168.1.1/30</amazon_address><bgp_asn>65000</bgp_asn>"
       "<bgp_auth_key>asdf34example</bgp_auth_key><amazon_bgp_asn>7224</amazon_bgp_asn>"
       "<connection_type>public</connection_type></logical_connection>")
BOMB = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        '<logical_connection id="dxvif-x"><vlan>&c;</vlan></logical_connection>')

CORPUS: list[tuple[str, str | bytes, str | None, str]] = [
    # (name, content, key named, what the message says)
    ("not-json.txt", "virtual interfaces, please", None, "1:1: neither JSON nor XML"),
    ("truncated.json", '{"virtualInterfaces": [', None, "neither JSON nor XML"),
    ("binary.dat", b"\x00\x01\xff\xfe\x80binary", None, "not UTF-8 text"),
    ("nul.json", "{\x00}", None, "NUL bytes"),
    ("string.json", '"dxvif-ffhhk74f"', None, "expected the output of describe-virtual-interfaces"),
    ("number.json", "42", None, "expected the output of describe-virtual-interfaces"),
    ("empty-list.json", '{"virtualInterfaces": []}', None, "no virtual interfaces"),
    ("object-not-list.json", '{"virtualInterfaces": {"a": 1}}', "virtualInterfaces",
     "a list of virtual interfaces, not an object"),
    ("null-record.json", described(None), "virtualInterfaces.0", "is an object, not null"),
    ("numbers.json", "[1, 2]", "0", "is an object, not a number"),
    ("no-vlan.json", described(vif(vlan=...)), "virtualInterfaces.0.vlan", "vlan is missing"),
    ("vlan-text.json", described(vif(vlan="many")), "virtualInterfaces.0.vlan",
     "a number, not 'many'"),
    ("vlan-bool.json", described(vif(vlan=True)), "virtualInterfaces.0.vlan", "not a boolean"),
    ("no-id.json", described(vif(virtualInterfaceId=...)), "virtualInterfaces.0.virtualInterfaceId",
     "virtualInterfaceId is missing"),
    ("id-path.json", described(vif(virtualInterfaceId="../../../etc/cron.d/x")),
     "virtualInterfaces.0.virtualInterfaceId", "is not a virtual interface id"),
    ("no-address.json", described(vif(customerAddress=...)), "virtualInterfaces.0.customerAddress",
     "no customerAddress"),
    ("bad-address.json", described(vif(customerAddress="here")),
     "virtualInterfaces.0.customerAddress", "'here' is not an address with a prefix length"),
    ("mixed-family.json", described(vif(amazonAddress="2600:1f00::2/125")),
     "virtualInterfaces.0.amazonAddress", "different address families"),
    ("asn-text.json", described(vif(asn="sixty-five")), "virtualInterfaces.0.asn", "a number"),
    ("amazon-asn-list.json", described(vif(amazonSideAsn=[64512])),
     "virtualInterfaces.0.amazonSideAsn", "a number, not a list"),
    ("key-number.json", described(vif(authKey=123456)), "virtualInterfaces.0.authKey",
     "a string, not a number"),
    ("peers-text.json", described(vif(bgpPeers="all")), "virtualInterfaces.0.bgpPeers",
     "a list of BGP peers"),
    ("peer-null.json", described(vif(bgpPeers=[None, {}])), "virtualInterfaces.0.bgpPeers.0",
     "a BGP peer is an object"),
    ("type.json", described(vif(virtualInterfaceType="hosted")),
     "virtualInterfaces.0.virtualInterfaceType", "not private, transit or public"),
    ("prefixes.json", described(vif(routeFilterPrefixes=[{"cidr": "everything"}])),
     "virtualInterfaces.0.routeFilterPrefixes.0", "not an address with a prefix length"),
    ("second.json", described(vif(), vif(virtualInterfaceId="dxvif-b2", vlan="x")),
     "virtualInterfaces.1.vlan", "dxvif-b2: a number"),
    ("deep.json", "[" * 100000 + "]" * 100000, None, "nested too deeply"),
    ("other.xml", "<html><body>hello</body></html>", None, "not a customerRouterConfig"),
    ("malformed.xml", "<logical_connection><vlan>1</logical_connection>", None, "malformed XML"),
    ("vlan.xml", XML.format(vlan="abc"), "vlan", "a number, not 'abc'"),
    ("no-vlan.xml", XML.format(vlan=""), "vlan", "vlan is missing"),
    ("bomb.xml", BOMB, None, "DOCTYPE or entities"),
]


@pytest.mark.parametrize(("name", "content", "key", "says"), CORPUS, ids=[c[0] for c in CORPUS])
def test_broken_input_is_one_line(tmp_path: Path, name: str, content: str | bytes, key: str | None,
                                  says: str) -> None:
    source = tmp_path / name
    if isinstance(content, bytes):
        source.write_bytes(content)
    else:
        source.write_text(content)
    result = run_cli("dx", "import", source, "--write-secrets", tmp_path / "secrets")
    assert result.rc == 1, result.out
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"error: {source}"), lines[0]
    if key:
        assert f": key {key}: " in lines[0], lines[0]
    else:
        assert ": key " not in lines[0], lines[0]
    assert says in lines[0], lines[0]
    assert "Qx8RfT2mZk9LpW4v" not in result.err and "asdf34example" not in result.err
    assert not (tmp_path / "secrets").exists()


def test_a_huge_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    source = tmp_path / "huge.json"
    with source.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2 GiB that cost nothing to write
    result = run_cli("dx", "import", source)
    assert result.rc == 1
    assert result.err.strip() == (f"error: {source}: larger than 16 MiB; expected the output of "
                                  "describe-virtual-interfaces")


def test_a_folder_or_missing_file(tmp_path: Path) -> None:
    for path, says in ((tmp_path, "Is a directory"), (tmp_path / "nope.json", "No such file or directory")):
        result = run_cli("dx", "import", path)
        assert result.rc == 1 and "Traceback" not in result.err
        assert result.err.strip() == f"error: {path}: cannot read it: {says}"


def test_broken_stdin_names_stdin() -> None:
    proc = subprocess.run([sys.executable, "-m", "bootstrap", "dx", "import", "-"],
                          input=b"\xff\xfe<", capture_output=True, timeout=waits.allowance(60))
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == "error: stdin:1: not UTF-8 text (a binary file?)"
