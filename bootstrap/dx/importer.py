"""Virtual interfaces as AWS describes them, turned into the inventory's ``dx`` settings.

Sources: the JSON of ``aws directconnect describe-virtual-interfaces`` (or one of its
``VirtualInterface`` objects), the ``customerRouterConfig`` XML record AWS's router-configuration
download is made from, or boto3's ``describe_virtual_interfaces``. Each ``authKey`` becomes a
``{file: secrets/dx-<vif id>.key}`` reference; the key itself is only ever written to that file.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.errors import BootstrapError

SECRETS_DIR = "secrets"
_NAME_BAD = re.compile(r"[^A-Za-z0-9 _.,:/()@+=-]+")


@dataclass
class Imported:
    """The ``dx`` settings of the imported VIFs, and the keys their references point to."""

    asn: int | None
    vifs: list[dict[str, Any]]
    keys: dict[str, str] = field(default_factory=dict)  # secret file name -> key, never printed


def parse(text: str, source: str) -> Imported:
    """VIFs from describe-virtual-interfaces JSON or a customerRouterConfig XML record."""
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return from_xml(stripped, source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BootstrapError(f"{source}: neither JSON nor XML: {exc.msg} at line {exc.lineno}") from None
    if isinstance(data, dict) and "virtualInterfaces" in data:
        records = data["virtualInterfaces"]
    elif isinstance(data, dict) and "virtualInterfaceId" in data:
        records = [data]
    elif isinstance(data, list):
        records = data
    else:
        raise BootstrapError(f"{source}: expected the output of describe-virtual-interfaces "
                             "({\"virtualInterfaces\": [...]})")
    return from_records(records, source)


def from_records(records: list[dict[str, Any]], source: str) -> Imported:
    if not records:
        raise BootstrapError(f"{source}: no virtual interfaces")
    imported = Imported(None, [])
    asns: set[int] = set()
    for record in records:
        vif_id = str(record.get("virtualInterfaceId", ""))
        where = f"{source}: {vif_id or 'a virtual interface'}"
        vif: dict[str, Any] = {"id": vif_id, "name": _name(record.get("virtualInterfaceName") or vif_id),
                               "type": record.get("virtualInterfaceType", "private"),
                               "vlan": record.get("vlan")}
        if record.get("mtu"):
            vif["mtu"] = record["mtu"]
        if record.get("amazonSideAsn") is not None:
            vif["amazon_asn"] = int(record["amazonSideAsn"])
        peers = record.get("bgpPeers") or [record]
        keys = set()
        for peer in peers:
            family = peer.get("addressFamily") or _family(peer.get("customerAddress"))
            if not peer.get("customerAddress") or not peer.get("amazonAddress"):
                raise BootstrapError(f"{where}: the {family} peer has no addresses")
            vif[family] = {"customer": peer["customerAddress"], "amazon": peer["amazonAddress"]}
            asn = peer.get("asnLong") or peer.get("asn") or record.get("asnLong") or record.get("asn")
            if asn:
                asns.add(int(asn))
            key = peer.get("authKey") or record.get("authKey")
            if key:
                keys.add(key)
        if len(keys) > 1:
            raise BootstrapError(f"{where}: its IPv4 and IPv6 peers have different MD5 keys; "
                                 "bootstrap uses one key per VIF")
        if keys:
            name = f"dx-{vif_id}.key"
            imported.keys[name] = keys.pop()
            vif["auth_key"] = {"file": f"{SECRETS_DIR}/{name}"}
        advertise: dict[str, list[str]] = {}
        for prefix in record.get("routeFilterPrefixes") or []:
            cidr = prefix.get("cidr") if isinstance(prefix, dict) else prefix
            advertise.setdefault(_family(cidr), []).append(cidr)
        if advertise:
            vif["advertise"] = advertise
        imported.vifs.append(vif)
    if len(asns) > 1:
        raise BootstrapError(f"{source}: the VIFs use different customer ASNs "
                             f"({', '.join(str(a) for a in sorted(asns))}); import each router's "
                             "VIFs on their own (--vif-id)")
    imported.asn = asns.pop() if asns else None
    return imported


def from_xml(text: str, source: str) -> Imported:
    """A ``<logical_connection>`` record (the input of AWS's router-configuration XSLT)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise BootstrapError(f"{source}: malformed XML: {exc}") from None
    records = [root] if root.tag == "logical_connection" else root.findall(".//logical_connection")
    if not records:
        raise BootstrapError(f"{source}: no <logical_connection> record")
    converted = []
    for node in records:
        def value(tag: str, node: ET.Element = node) -> str | None:
            found = node.find(tag)
            return found.text.strip() if found is not None and found.text else None

        customer = value("customer_address")
        converted.append({
            "virtualInterfaceId": node.get("id", ""),
            "virtualInterfaceType": value("connection_type") or "private",
            "vlan": int(value("vlan") or 0),
            "asn": value("bgp_asn"),
            "amazonSideAsn": value("amazon_bgp_asn"),
            "authKey": value("bgp_auth_key"),
            "customerAddress": customer,
            "amazonAddress": value("amazon_address"),
            "addressFamily": _family(customer),
        })
    return from_records(converted, source)


def from_aws(client: Any, *, connection_id: str | None = None, vif_id: str | None = None) -> Imported:
    """Ask Direct Connect (a boto3 ``directconnect`` client) for the VIFs."""
    params = {}
    if connection_id:
        params["connectionId"] = connection_id
    if vif_id:
        params["virtualInterfaceId"] = vif_id
    response = client.describe_virtual_interfaces(**params)
    shown = f"connection {connection_id}" if connection_id else f"virtual interface {vif_id}"
    return from_records(response.get("virtualInterfaces", []), f"AWS {shown}")


def _family(address: Any) -> str:
    try:
        return f"ipv{ipaddress.ip_interface(str(address)).version}"
    except ValueError:
        raise BootstrapError(f"{address!r} is not an address with a prefix length") from None


def _name(value: str) -> str:
    # AWS names are free text; the inventory takes only what no router config can misread.
    cleaned = _NAME_BAD.sub("-", value).strip(" -")[:64]
    return cleaned if cleaned and cleaned[0].isalnum() else f"vif {cleaned}".strip()[:64]


def document(imported: Imported) -> dict[str, Any]:
    """The inventory value to paste under a router's host_vars."""
    dx: dict[str, Any] = {}
    if imported.asn is not None:
        dx["asn"] = imported.asn
    dx["vifs"] = imported.vifs
    return {"dx": dx}


def write_keys(imported: Imported, folder: Path) -> list[Path]:
    """Each key in its own file, mode 0600; an existing file with another key is not replaced."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, key in imported.keys.items():
        path = folder / name
        if path.exists():
            if path.read_text().rstrip("\n") == key:
                continue
            raise BootstrapError(f"{path} exists with another key; move it away to import this one")
        tmp = path.with_name(f".{name}.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        os.replace(tmp, path)
        written.append(path)
    return written
