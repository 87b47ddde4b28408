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
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.errors import BootstrapError, Origin

SECRETS_DIR = "secrets"
# describe-virtual-interfaces of a whole account is a few hundred KiB; anything far larger is not
# what the command expects, and reading it whole would only cost memory.
MAX_SOURCE_BYTES = 16 * 1024 * 1024
_NAME_BAD = re.compile(r"[^A-Za-z0-9 _.,:/()@+=-]+")
# AWS's ids: the id also names the key file, so nothing else may pass (no separators, no dots).
_VIF_ID = re.compile(r"dxvif-[a-z0-9]{1,16}")


@dataclass
class Imported:
    """The ``dx`` settings of the imported VIFs, and the keys their references point to."""

    asn: int | None
    vifs: list[dict[str, Any]]
    keys: dict[str, str] = field(default_factory=dict)  # secret file name -> key, never printed


class _Bad(ValueError):
    """A value of the source that is not what AWS writes there; ``path`` is where it sits."""

    def __init__(self, message: str, *path: str | int) -> None:
        super().__init__(message)
        self.path = path


def read_source(name: str) -> tuple[str, str]:
    """The text of FILE (or stdin for ``-``) and the name to show; bounded, UTF-8 text only."""
    source = "stdin" if name == "-" else name
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1)
        else:
            with open(name, "rb") as handle:
                data = handle.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        raise BootstrapError(f"cannot read it: {exc.strerror}", origin=Origin(source)) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise BootstrapError(f"larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MiB; expected the "
                             "output of describe-virtual-interfaces", origin=Origin(source))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BootstrapError("not UTF-8 text (a binary file?)", origin=Origin(source, line)) from None
    if "\x00" in text:
        raise BootstrapError("not text: it holds NUL bytes", origin=Origin(source)) from None
    return text, source


def parse(text: str, source: str) -> Imported:
    """VIFs from describe-virtual-interfaces JSON or a customerRouterConfig XML record."""
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return from_xml(stripped, source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BootstrapError(f"neither JSON nor XML: {exc.msg}",
                             origin=Origin(source, exc.lineno, exc.colno)) from None
    except RecursionError:
        raise BootstrapError("JSON nested too deeply", origin=Origin(source)) from None
    if isinstance(data, dict) and "virtualInterfaces" in data:
        records, where = data["virtualInterfaces"], ("virtualInterfaces",)
    elif isinstance(data, dict) and "virtualInterfaceId" in data:
        records, where = [data], ()
    elif isinstance(data, list):
        records, where = data, ()
    else:
        raise BootstrapError("expected the output of describe-virtual-interfaces "
                             "({\"virtualInterfaces\": [...]})", origin=Origin(source))
    if not isinstance(records, list):
        raise BootstrapError(f"a list of virtual interfaces, not {_kind(records)}",
                             origin=Origin(source), key=".".join(where) or None)
    return from_records(records, source, where)


def from_records(records: list[Any], source: str, where: tuple[str, ...] = ()) -> Imported:
    if not records:
        raise BootstrapError("no virtual interfaces", origin=Origin(source))
    imported = Imported(None, [])
    asns: set[int] = set()
    for index, record in enumerate(records):
        try:
            _record(record, imported, asns)
        except _Bad as exc:
            path = [*where, index, *exc.path] if len(records) > 1 or where else list(exc.path)
            vif_id = record.get("virtualInterfaceId") if isinstance(record, dict) else None
            shown = f"{vif_id}: " if isinstance(vif_id, str) and _VIF_ID.fullmatch(vif_id) else ""
            raise BootstrapError(f"{shown}{exc}", origin=Origin(source),
                                 key=".".join(str(p) for p in path) or None) from None
    if len(asns) > 1:
        raise BootstrapError(f"the VIFs use different customer ASNs "
                             f"({', '.join(str(a) for a in sorted(asns))}); import each router's "
                             "VIFs on their own (--vif-id)", origin=Origin(source))
    imported.asn = asns.pop() if asns else None
    return imported


def _record(record: Any, imported: Imported, asns: set[int]) -> None:
    if not isinstance(record, dict):
        raise _Bad(f"a virtual interface is an object, not {_kind(record)}")
    vif_id = _string(record, "virtualInterfaceId", required=True)
    if not _VIF_ID.fullmatch(vif_id):
        raise _Bad(f"{vif_id[:40]!r} is not a virtual interface id like dxvif-fgabc123",
                   "virtualInterfaceId")
    name = _string(record, "virtualInterfaceName") or vif_id
    vif: dict[str, Any] = {"id": vif_id, "name": _name(name),
                           "type": _string(record, "virtualInterfaceType") or "private",
                           "vlan": _number(record, "vlan", required=True)}
    if vif["type"] not in ("private", "transit", "public"):
        raise _Bad(f"{vif['type'][:20]!r} is not private, transit or public", "virtualInterfaceType")
    mtu = _number(record, "mtu")
    if mtu:
        vif["mtu"] = mtu
    amazon_asn = _number(record, "amazonSideAsn")
    if amazon_asn is not None:
        vif["amazon_asn"] = amazon_asn
    peers: Any = record.get("bgpPeers") or [record]
    if not isinstance(peers, list):
        raise _Bad(f"a list of BGP peers, not {_kind(peers)}", "bgpPeers")
    keys = set()
    for number, peer in enumerate(peers):
        at: tuple[str | int, ...] = ("bgpPeers", number) if peer is not record else ()
        try:
            family, addresses, asn, key = _peer(peer, record)
        except _Bad as exc:
            raise _Bad(str(exc), *at, *exc.path) from None
        vif[family] = addresses
        if asn is not None:
            asns.add(asn)
        if key:
            keys.add(key)
    if len(keys) > 1:
        raise _Bad("its IPv4 and IPv6 peers have different MD5 keys; bootstrap uses one key per VIF")
    if keys:
        file_name = f"dx-{vif_id}.key"
        imported.keys[file_name] = keys.pop()
        vif["auth_key"] = {"file": f"{SECRETS_DIR}/{file_name}"}
    advertise: dict[str, list[str]] = {}
    prefixes = record.get("routeFilterPrefixes") or []
    if not isinstance(prefixes, list):
        raise _Bad(f"a list of prefixes, not {_kind(prefixes)}", "routeFilterPrefixes")
    for number, prefix in enumerate(prefixes):
        cidr = prefix.get("cidr") if isinstance(prefix, dict) else prefix
        family = _family(cidr, "routeFilterPrefixes", number)
        advertise.setdefault(family, []).append(str(cidr))
    if advertise:
        vif["advertise"] = advertise
    imported.vifs.append(vif)


def _peer(peer: Any, record: dict[str, Any]) -> tuple[str, dict[str, str], int | None, str | None]:
    """(family, addresses, customer ASN, MD5 key) of one BGP peer of a VIF."""
    if not isinstance(peer, dict):
        raise _Bad(f"a BGP peer is an object, not {_kind(peer)}")
    customer = _string(peer, "customerAddress")
    amazon = _string(peer, "amazonAddress")
    if not customer or not amazon:
        raise _Bad("the peer has no customerAddress and amazonAddress",
                   "amazonAddress" if customer else "customerAddress")
    family = _family(customer, "customerAddress")
    if _family(amazon, "amazonAddress") != family:
        raise _Bad("amazonAddress and customerAddress are of different address families",
                   "amazonAddress")
    stated = _string(peer, "addressFamily")
    if stated and stated != family:
        raise _Bad(f"says {stated[:10]!r} but customerAddress is {family}", "addressFamily")
    asn = None
    for holder in (peer, record):
        for name in ("asnLong", "asn"):
            if asn is None and holder.get(name):
                asn = _number(holder, name)
    key = _string(peer, "authKey") or _string(record, "authKey")
    return family, {"customer": customer, "amazon": amazon}, asn, key


def _string(record: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise _Bad(f"{name} is missing", name)
        return ""
    if not isinstance(value, str):
        raise _Bad(f"a string, not {_kind(value)}", name)
    return value


def _number(record: dict[str, Any], name: str, *, required: bool = False) -> Any:
    value = record.get(name)
    if value is None:
        if required:
            raise _Bad(f"{name} is missing", name)
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 10:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"a number, not {_kind(value)}", name)
    return value


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:40])
    return {dict: "an object", list: "a list", type(None): "null", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def from_xml(text: str, source: str) -> Imported:
    """A ``<logical_connection>`` record (the input of AWS's router-configuration XSLT)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        # AWS's record has no document type; entities only serve to expand text.
        raise BootstrapError("XML with a DOCTYPE or entities is not a customerRouterConfig record",
                             origin=Origin(source))
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        raise BootstrapError(f"malformed XML: {str(exc).rsplit(':', 1)[0]}",
                             origin=Origin(source, line, column + 1)) from None
    nodes = [root] if root.tag == "logical_connection" else root.findall(".//logical_connection")
    if not nodes:
        raise BootstrapError(f"no <logical_connection> record (the root is <{root.tag[:40]}>): not "
                             "a customerRouterConfig", origin=Origin(source))
    converted = []
    for node in nodes:
        def value(tag: str, node: ET.Element = node) -> str | None:
            found = node.find(tag)
            return found.text.strip() if found is not None and found.text else None

        customer = value("customer_address")
        converted.append({
            "virtualInterfaceId": node.get("id", ""),
            "virtualInterfaceType": value("connection_type") or "private",
            "vlan": value("vlan"),
            "asn": value("bgp_asn"),
            "amazonSideAsn": value("amazon_bgp_asn"),
            "authKey": value("bgp_auth_key"),
            "customerAddress": customer,
            "amazonAddress": value("amazon_address"),
        })
    try:
        return from_records(converted, source)
    except BootstrapError as exc:
        # The record's own element names say more than the JSON names they were mapped to.
        raise BootstrapError(exc.message, origin=exc.origin,
                             key=_XML_NAMES.get((exc.key or "").rsplit(".", 1)[-1], exc.key)) from None


_XML_NAMES = {"virtualInterfaceId": "logical_connection@id", "vlan": "vlan",
              "customerAddress": "customer_address", "amazonAddress": "amazon_address",
              "asn": "bgp_asn", "amazonSideAsn": "amazon_bgp_asn",
              "virtualInterfaceType": "connection_type", "authKey": "bgp_auth_key"}


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


def _family(address: Any, *where: str | int) -> str:
    try:
        return f"ipv{ipaddress.ip_interface(str(address)).version}"
    except ValueError:
        raise _Bad(f"{str(address)[:50]!r} is not an address with a prefix length", *where) from None


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
