"""Routers of the platforms the example inventory does not hold (NX-OS, PAN-OS), in the style of
:mod:`dx.routers`; their renders are the golden files of ``tests/dx/golden-platforms``."""

from __future__ import annotations

from typing import Any

from dx.routers import changed, router


def public_ecmp(platform: str, parent: str) -> dict[str, Any]:
    """A public VIF (scope, exact accept rules, own timers) and two ECMP transit VIFs."""
    dx = router(platform, interface=parent)
    public = changed(dx["vifs"][0], "type", "public")
    public.update({"mtu": 1500, "scope": "continent", "redundancy": "ecmp", "amazon_asn": 7224,
                   "ipv4": {"customer": "44.31.20.2/30", "amazon": "44.31.20.1/30"},
                   "advertise": {"ipv4": ["44.31.21.0/24"], "ipv6": ["2a0e:21::/48"]},
                   "accept": {"ipv4": ["52.0.0.0/8 le 32", "54.240.0.0/16"],
                              "ipv6": ["2600:1f00::/24 le 128"]},
                   "timers": {"keepalive": 10, "hold": 40}})
    transit = []
    for number, vlan in enumerate((201, 202)):
        vif = changed(dx["vifs"][1], "type", "transit")
        vif.update({"id": f"dxvif-fgtgw{vlan}", "name": f"tgw {number + 1}", "vlan": vlan,
                    "mtu": 8500, "redundancy": "ecmp", "amazon_asn": 4200000001,
                    "ipv4": {"customer": f"169.254.{vlan}.2/30", "amazon": f"169.254.{vlan}.1/30"},
                    "bfd": {"interval_ms": 500, "multiplier": 5}})
        vif.pop("prepend")
        transit.append(vif)
    dx["vifs"] = [public, *transit]
    return dx


ROUTERS: dict[str, dict[str, Any]] = {
    "dx-nxos01": router("nxos"),
    "dx-nxos02": public_ecmp("nxos", "port-channel10"),
    "dx-panos01": router("panos"),
    "dx-panos02": public_ecmp("panos", "ae1"),
}
