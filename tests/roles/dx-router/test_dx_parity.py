"""``bootstrap dx parity``: what AWS's own router-configuration sample sets for a VIF is what the
render sets, on every platform, and a render that differs (key, VLAN, ASN) is caught."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from dx.routers import KEYS, changed, router, write_inventory
from support.cli import ROOT, Result, run_cli

SAMPLES = ROOT / "tests/fixtures/aws/router-samples"
KEY = KEYS["vif101.key"]
XML = "customer-router-config.xml"
IOS = ["cisco-2900-ios124.txt", "cisco-3700-ios124.txt", "cisco-7200-ios124.txt"]
NEXUS = ["cisco-nexus7000-nxos51.txt", "cisco-nexus9k-nxos93.txt"]
JUNOS = ["juniper-mmx-junos95.txt", "juniper-srx-junos95.txt", "juniper-t-junos95.txt"]
PANOS = ["paloalto-pa3000-5000-panos803.txt"]
# Each platform against the samples of its vendor; the Linux daemons, for which AWS has no
# template, against the XML record and a text sample of each vendor.
MATCHING = {
    "ios-xe": [*IOS, XML],
    "nxos": [*NEXUS, XML],
    "junos-set": [*JUNOS, XML],
    "junos-curly": [*JUNOS, XML],
    "panos": [*PANOS, XML],
    "frr": [XML, IOS[0], NEXUS[1]],
    "bird": [XML, JUNOS[0], PANOS[0]],
    "openbgpd": [XML, IOS[2], JUNOS[2]],
}
ELEMENTS = ["VLAN", "our address", "AWS's address", "neighbor", "our ASN", "AWS's ASN", "MD5 key"]


def dx_of(name: str) -> dict[str, Any]:
    if name == "junos-set":
        return router("junos")
    if name == "junos-curly":
        return router("junos", junos_style="curly")
    return router(name)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inventory(tmp_path_factory.mktemp("parity") / "inv",
                           {f"r-{name}": dx_of(name) for name in MATCHING})


def rows(result: Result) -> dict[str, list[str]]:
    """The table's rows by element: [AWS SAMPLE, RENDER, RESULT, NOTE...]."""
    out = {}
    for line in result.out.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] in [*ELEMENTS, "advertised network", "BFD"]:
            out[cells[0]] = cells[1:]
    return out


def parity(inv: Path, host: str, sample: Path | str) -> Result:
    return run_cli("dx", "parity", inv, host, "--sample", sample)


def test_the_samples_cover_every_router_type_aws_serves() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.txt")) == sorted([*IOS, *NEXUS, *JUNOS, *PANOS])
    assert "written from AWS's documentation" in " ".join((SAMPLES / "README.md").read_text().split())
    for name in [*IOS, *NEXUS, *JUNOS, *PANOS]:
        assert KEY in (SAMPLES / name).read_text(), name


@pytest.mark.parametrize(("platform", "sample"),
                         [(p, s) for p, samples in MATCHING.items() for s in samples])
def test_parity_holds_for_every_platform(inventory: Path, platform: str, sample: str) -> None:
    result = parity(inventory, f"r-{platform}", SAMPLES / sample)
    assert result.rc == 0, result.out + result.err
    assert KEY not in result.out + result.err
    table = rows(result)
    for element in ELEMENTS:
        assert table[element][2] == "ok", (element, table[element])
    assert table["VLAN"][:2] == ["101", "101"]
    assert table["our address"][:2] == ["169.254.10.2/30", "169.254.10.2/30"]
    assert table["AWS's ASN"][:2] == ["64512", "64512"]
    assert table["MD5 key"][:2] == ["<secret>", "<secret>"]
    if sample == XML:  # the record sets no network and no BFD
        assert "advertised network" not in table and "BFD" not in table
    else:
        assert table["advertised network"][:3] == ["0.0.0.0/0", "10.20.0.0/16, 10.21.0.0/16", "ok"]
        assert "placeholder" in table["advertised network"][3]
        # OpenBGPD has no BFD; AWS's sample marks it optional, so it is not a failure.
        assert table["BFD"][:3] == (["300 ms x 3", "-", "optional"] if platform == "openbgpd"
                                    else ["300 ms x 3", "300 ms x 3", "ok"])
    adds = next(line for line in result.out.splitlines() if line.startswith("the render adds: "))
    assert "communities 7224:7300" in adds
    assert "limit in: 1000 prefixes" in adds
    assert "policy in" in adds and "policy out" in adds
    assert "IPv6 session 2600:1f00:1::3/125 to 2600:1f00:1::2" in adds
    assert result.out.rstrip().endswith("0 missing, 0 different")


WRONG = {
    "key": ({"vif101.key": "Zz9wrongMD5key", "vif102.key": KEYS["vif102.key"]}, None, "MD5 key"),
    "vlan": (None, ("vifs.0.vlan", 999), "VLAN"),
    "customer asn": (None, ("asn", 65099), "our ASN"),
    "amazon asn": (None, ("vifs.0.amazon_asn", 64513), "AWS's ASN"),
}


@pytest.mark.parametrize("platform", list(MATCHING))
@pytest.mark.parametrize("fault", list(WRONG))
def test_a_wrong_render_is_caught(tmp_path: Path, platform: str, fault: str) -> None:
    keys, change, element = WRONG[fault]
    dx = dx_of(platform)
    if change:
        dx = changed(dx, *change)
    inv = write_inventory(tmp_path / "inv", {"r1": dx}, keys)
    sample = MATCHING[platform][0]
    result = parity(inv, "r1", SAMPLES / sample)
    assert result.rc == 2, result.out + result.err
    table = rows(result)
    assert table[element][2] == "DIFFERENT", table
    assert [e for e, row in table.items() if row[2] not in ("ok", "optional")] == [element]
    for secret in (KEY, "Zz9wrongMD5key"):
        assert secret not in result.out + result.err
    if fault == "vlan":
        assert table["VLAN"][:2] == ["101", "999"]
    if fault == "key":
        assert table["MD5 key"][:2] == ["<secret>", "<secret>"]
    assert "1 different" in result.out


def test_a_render_without_the_vif_misses_everything(tmp_path: Path) -> None:
    dx = router("ios-xe")
    dx["vifs"] = dx["vifs"][1:]
    inv = write_inventory(tmp_path / "inv", {"r1": dx})
    result = parity(inv, "r1", SAMPLES / IOS[0])
    assert result.rc == 2
    table = rows(result)
    for element in ("VLAN", "our address", "AWS's address", "neighbor", "AWS's ASN", "MD5 key"):
        assert table[element][2] == "MISSING", (element, table[element])
    assert table["our ASN"][2] == "ok"


def test_bfd_left_out_is_optional_and_slower_bfd_is_fine(tmp_path: Path) -> None:
    without = router("ios-xe")
    del without["vifs"][0]["bfd"]
    slower = changed(router("junos"), "vifs.0.bfd", {"interval_ms": 500, "multiplier": 5})
    inv = write_inventory(tmp_path / "inv", {"r1": without, "r2": slower})
    result = parity(inv, "r1", SAMPLES / IOS[1])
    assert result.rc == 0, result.out
    assert rows(result)["BFD"][:3] == ["300 ms x 3", "-", "optional"]
    result = parity(inv, "r2", SAMPLES / JUNOS[1])
    assert result.rc == 0, result.out
    assert rows(result)["BFD"][:3] == ["300 ms x 3", "500 ms x 5", "ok"]


@pytest.mark.parametrize(("network", "rc", "shown"), [
    ("network 10.20.0.0 mask 255.255.0.0", 0, "ok"),
    ("network 10.99.0.0 mask 255.255.0.0", 2, "DIFFERENT"),
])
def test_a_network_the_sample_names_must_be_advertised(inventory: Path, tmp_path: Path,
                                                       network: str, rc: int, shown: str) -> None:
    text = (SAMPLES / IOS[0]).read_text().replace("network 0.0.0.0\n", network + "\n")
    sample = tmp_path / "sample.txt"
    sample.write_text(text)
    result = parity(inventory, "r-frr", sample)
    assert result.rc == rc, result.out
    assert rows(result)["advertised network"][2] == shown
    if rc:
        assert "not advertised: 10.99.0.0/16" in result.out


# -- errors: one line, file:line for the sample, host for the inventory, no key -------------------

def one_error(result: Result) -> str:
    assert result.rc == 1, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err and KEY not in result.err + result.out
    return lines[0]


def test_unknown_router(inventory: Path) -> None:
    assert "host nope" in one_error(parity(inventory, "nope", SAMPLES / XML))


def test_host_without_the_role(tmp_path: Path) -> None:
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "hosts.yml").write_text("web:\n  hosts:\n    web1:\n")
    line = one_error(parity(inv, "web1", SAMPLES / XML))
    assert "host web1" in line and "no dx-router role" in line


def test_sample_that_is_no_router_config(inventory: Path, tmp_path: Path) -> None:
    sample = tmp_path / "notes.txt"
    sample.write_text("hello\nworld\n")
    assert f"{sample}:1:" in one_error(parity(inventory, "r-frr", sample))


def test_missing_sample(inventory: Path, tmp_path: Path) -> None:
    assert "cannot read it" in one_error(parity(inventory, "r-frr", tmp_path / "absent.txt"))


def test_unreadable_junos_line_names_it_without_the_key(inventory: Path, tmp_path: Path) -> None:
    lines = (SAMPLES / JUNOS[0]).read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if "authentication-key" in line)
    lines[number] = lines[number].replace(f'"{KEY}"', f'"{KEY}')  # an unclosed quote
    sample = tmp_path / "junos.txt"
    sample.write_text("\n".join(lines) + "\n")
    line = one_error(parity(inventory, "r-junos-set", sample))
    assert f"{sample}:{number + 1}:" in line


def test_sample_with_two_neighbors(inventory: Path, tmp_path: Path) -> None:
    text = (SAMPLES / IOS[0]).read_text().replace(
        "neighbor 169.254.10.1 remote-as 64512\n",
        "neighbor 169.254.10.1 remote-as 64512\nneighbor 169.254.99.1 remote-as 64512\n")
    sample = tmp_path / "two.txt"
    sample.write_text(text)
    assert "one BGP neighbor" in one_error(parity(inventory, "r-ios-xe", sample))


def test_xml_with_two_records(inventory: Path, tmp_path: Path) -> None:
    record = (SAMPLES / XML).read_text().split("?>", 1)[1]
    sample = tmp_path / "two.xml"
    sample.write_text(f"<records>{record}{record.replace('101', '102')}</records>")
    assert "give one" in one_error(parity(inventory, "r-frr", sample))


@pytest.mark.parametrize("name", [*IOS, *NEXUS, *JUNOS, *PANOS, XML])
def test_a_mangled_sample_is_an_error_never_a_crash(name: str) -> None:
    """Every sample cut short, and with each line's words shuffled or a value replaced, reads
    or fails with one BootstrapError that does not show the key."""
    from bootstrap.errors import BootstrapError
    from bootstrap.roles.dx_router import parity

    lines = (SAMPLES / name).read_text().splitlines()
    variants = ["\n".join(lines[:cut]) for cut in range(0, len(lines), 3)]
    for index, line in enumerate(lines):
        words = line.split()
        if len(words) > 1:
            for replacement in (words[::-1], [*words[:-1], "x"], [*words[:-1], '"'], words[:1]):
                variants.append("\n".join([*lines[:index], " ".join(replacement), *lines[index + 1:]]))
    for text in variants:
        try:
            parity.read_sample(text, "sample")
        except BootstrapError as exc:
            assert KEY not in str(exc)


def test_a_render_the_readers_cannot_read_back_is_one_line(tmp_path: Path) -> None:
    """An inventory's template override that breaks the Junos syntax (an unclosed quote around
    the key): the error names the host and the line, not the text, which holds the key."""
    inv = write_inventory(tmp_path / "inv", {"r1": router("junos")})
    override = inv / "templates/dx-router/junos/set.conf.j2"
    override.parent.mkdir(parents=True)
    override.write_text('{% for s in dx.sessions %}set protocols bgp group G neighbor {{ s.peer }} '
                        'authentication-key "{{ s.key }}\n{% endfor %}')
    line = one_error(parity(inv, "r1", SAMPLES / JUNOS[0]))
    assert "host r1" in line and "(line 1)" in line
