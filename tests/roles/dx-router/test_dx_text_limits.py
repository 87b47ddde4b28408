"""What a network device keeps of a text or a name the render writes: a BGP neighbor's description
on IOS-XE and NX-OS (80 characters), PAN-OS's MD5 secret (63) and static route names (31
characters of letters, digits, - and _). Too long for the device is an error at render naming
the host and key, never a config the device cuts short or refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dx.routers import KEYS, changed, render, render_error, router

# 22 characters: the longest VIF id the inventory takes
LONG_ID = "dxvif-abcdefghijklmnop"


def long_named(platform: str, name_length: int) -> dict:
    dx = changed(router(platform), "vifs.0.id", LONG_ID)
    return changed(dx, "vifs.0.name", ("n" * name_length)[:name_length])


def error_names(message: str, tmp_path: Path, key: str, line_has: str) -> None:
    match = re.match(r"error: (\S*host_vars/r1\.yml):(\d+): host r1: key (\S+): ", message)
    assert match and match[3] == key, message
    line = (tmp_path / "inv/host_vars/r1.yml").read_text().splitlines()[int(match[2]) - 1]
    assert line_has in line, (message, line)


def test_ios_xe_refuses_a_neighbor_description_over_80_characters(tmp_path: Path) -> None:
    message = render_error(tmp_path, long_named("ios-xe", 58))
    assert ("Cisco IOS-XE keeps at most 80 characters of a BGP neighbor's description "
            "(`neighbor … description`); the VIF's id and name") in message
    assert "have 81: shorten the name to at most 57 characters" in message
    error_names(message, tmp_path, "dx.vifs.0.name", "name:")
    assert not (tmp_path / "build/r1/router/aws-dx.cfg").exists()


def test_ios_xe_takes_a_description_of_exactly_80(tmp_path: Path) -> None:
    assert render(tmp_path, long_named("ios-xe", 57)).rc == 0
    config = (tmp_path / "build/r1/router/aws-dx.cfg").read_text()
    lines = re.findall(r"^ neighbor \S+ description (.*)$", config, re.M)
    assert lines and f"{LONG_ID} {'n' * 57}" in lines
    assert max(len(line) for line in lines) == 80


def test_nxos_neighbor_description_is_the_name_and_always_fits(tmp_path: Path) -> None:
    # the longest id and name the inventory takes: the sub-interface holds both
    assert render(tmp_path, long_named("nxos", 64)).rc == 0
    config = (tmp_path / "build/r1/router/aws-dx.cfg").read_text()
    assert re.findall(r"^    description (.*)$", config, re.M)[0] == "n" * 64
    assert f"  description {LONG_ID} {'n' * 64}\n" in config


@pytest.mark.parametrize("platform", ["junos", "panos", "frr", "bird", "openbgpd"])
def test_platforms_without_the_80_character_limit_take_the_longest_description(
        tmp_path: Path, platform: str) -> None:
    result = render(tmp_path, long_named(platform, 64))
    assert result.rc == 0, result.err


def test_panos_refuses_a_key_over_63_characters(tmp_path: Path) -> None:
    keys = {**KEYS, "vif102.key": "Kq" * 32}
    message = render_error(tmp_path / "64", router("panos"), keys)
    assert "Palo Alto PAN-OS takes an MD5 key of at most 63 characters (this one has 64)" in message
    assert "Kq" * 32 not in message
    error_names(message, tmp_path / "64", "dx.vifs.1.auth_key", "auth_key")
    assert render(tmp_path / "63", router("panos"), {**KEYS, "vif102.key": "Kq" * 31 + "K"}).rc == 0
    assert render(tmp_path / "ios", router("ios-xe"), keys).rc == 0  # 64 is fine elsewhere


PANOS_NAME = re.compile(r"[A-Za-z0-9_-]{1,31}")


def static_route_names(config: str) -> dict[str, str]:
    """PAN-OS static route name -> its destination."""
    return dict(re.findall(r" static-route (\S+) destination (\S+)$", config, re.M))


def test_panos_static_route_names_fit_even_for_long_ipv6_prefixes(tmp_path: Path) -> None:
    longest = ["2600:1f18:1234:5678:9abc:def0:1234:5600/120", "2600:1f18:1234:5678:9abc:def0:1234:5700/120"]
    dx = changed(router("panos"), "vifs.0.advertise.ipv6", [*longest, "2001:db8:100::/48"])
    assert render(tmp_path, dx).rc == 0
    names = static_route_names((tmp_path / "build/r1/router/aws-dx.set").read_text())
    assert sorted(names.values()) == sorted([*longest, "2001:db8:100::/48", "10.20.0.0/16",
                                             "10.21.0.0/16"])
    for name in names:
        assert PANOS_NAME.fullmatch(name), name
    # readable where it fits, and two long prefixes sharing their start stay apart
    assert names["DX-10-20-0-0_16"] == "10.20.0.0/16"
    assert names["DX-2001-db8-100--_48"] == "2001:db8:100::/48"
    long_names = [n for n, p in names.items() if p in longest]
    assert len(set(long_names)) == 2 and all(n.startswith("DX-2600-1f18-1234-5") for n in long_names)


def test_golden_panos_renders_hold_only_valid_static_route_names() -> None:
    golden = Path(__file__).resolve().parents[2] / "dx" / "golden-platforms"
    files = sorted(golden.glob("dx-panos*/router/aws-dx.set"))
    assert files
    for file in files:
        names = static_route_names(file.read_text())
        assert names and all(PANOS_NAME.fullmatch(n) for n in names), file
