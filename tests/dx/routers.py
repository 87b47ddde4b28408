"""Small Direct Connect inventories for tests: one router, two VIFs (active dual-stack, passive)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KEYS = {"vif101.key": "Xy7secretMD5key", "vif102.key": "Ab9otherMD5key"}


def router(platform: str, **top: Any) -> dict[str, Any]:
    """The ``dx`` value of a router with an active dual-stack VIF and a passive IPv4 VIF."""
    dx: dict[str, Any] = {
        "platform": platform,
        "asn": 65000,
        "router_id": "169.254.10.2",
        "interface": "eth0" if platform in ("frr", "bird", "openbgpd") else
                     {"ios-xe": "GigabitEthernet0/1", "junos": "ge-0/0/1", "nxos": "Ethernet1/1",
                      "panos": "ethernet1/1"}[platform],
        "vifs": [
            {
                "id": "dxvif-fgabc101",
                "name": "prod primary",
                "type": "private",
                "vlan": 101,
                "mtu": 9001,
                "amazon_asn": 64512,
                "ipv4": {"customer": "169.254.10.2/30", "amazon": "169.254.10.1/30"},
                "ipv6": {"customer": "2600:1f00:1::3/125", "amazon": "2600:1f00:1::2/125"},
                "auth_key": {"file": "secrets/vif101.key"},
                "advertise": {"ipv4": ["10.20.0.0/16", "10.21.0.0/16"], "ipv6": ["2001:db8:100::/48"]},
                "redundancy": "active",
            },
            {
                "id": "dxvif-fgabc102",
                "name": "prod backup",
                "type": "private",
                "vlan": 102,
                "mtu": 9001,
                "amazon_asn": 64512,
                "ipv4": {"customer": "169.254.11.2/30", "amazon": "169.254.11.1/30"},
                "auth_key": {"file": "secrets/vif102.key"},
                "advertise": {"ipv4": ["10.20.0.0/16", "10.21.0.0/16"]},
                "redundancy": "passive",
                "prepend": 2,
            },
        ],
    }
    if platform != "openbgpd":
        dx["vifs"][0]["bfd"] = {"interval_ms": 300, "multiplier": 3}
    dx.update(top)
    return dx


def write_inventory(base: Path, routers: dict[str, dict[str, Any]],
                    keys: dict[str, str] | None = None) -> Path:
    """An inventory folder with one host per router, all in group dx_routers."""
    base.mkdir(parents=True, exist_ok=True)
    hosts = {name: None for name in routers}
    (base / "hosts.yml").write_text(yaml.safe_dump(
        {"dx_routers": {"hosts": hosts, "vars": {"bootstrap_roles": ["dx-router"]}}}))
    (base / "host_vars").mkdir(exist_ok=True)
    for name, dx in routers.items():
        (base / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump({"dx": dx}, sort_keys=False))
    (base / "secrets").mkdir(exist_ok=True)
    for name, value in (keys or KEYS).items():
        path = base / "secrets" / name
        path.write_text(value + "\n")
        path.chmod(0o600)
    return base


def changed(dx: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``dx`` with the dotted ``path`` (``vifs.0.mtu``) set to ``value``."""
    out = copy.deepcopy(dx)
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = out
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return out


def render(tmp_path: Path, dx: dict[str, Any], keys: dict[str, str] | None = None) -> Any:
    """Render a one-router inventory (host r1 with ``dx``) as a user would."""
    from support.cli import run_cli

    inv = write_inventory(tmp_path / "inv", {"r1": dx}, keys)
    return run_cli("render", inv, "-o", tmp_path / "build")


def render_error(tmp_path: Path, dx: dict[str, Any], keys: dict[str, str] | None = None) -> str:
    """The one error line a render of ``dx`` prints (exit 1, no traceback)."""
    result = render(tmp_path, dx, keys)
    assert result.rc == 1, result.out
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    return lines[0]
