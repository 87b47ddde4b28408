"""Direct Connect router files and Linux VLAN interfaces, each checked by its own consumer.

FRR ``vtysh -C -f``, BIRD ``bird -p -c``, OpenBGPD ``bgpd -n -f``, ``netplan generate --root-dir``
and ``ifup --no-act`` read the files as they would in production. Where a consumer is known to let
mistakes through, a lint covers that gap: FRR's dry run accepts ``neighbor X password`` before
``neighbor X remote-as`` (dropped at load) and names that are never defined; ``ifup`` ignores
option names it does not know (so each option must change what ``--no-act`` would run);
systemd-networkd has no offline check at all (so each key must be one the networkd binary
parses). IOS-XE, NX-OS, Junos and PAN-OS have no consumer here: IOS-XE and NX-OS are read with
ciscoconfparse2, Junos with :mod:`bootstrap.roles.dx_router.junos`, PAN-OS with
:mod:`bootstrap.roles.dx_router.panos`, and each is checked for structure and dangling names.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bootstrap.build.manifest import FileRecord
from bootstrap.roles.dx_router import junos, panos
from bootstrap.validate.checker import Checker
from bootstrap.validate.programs import resolve

NETWORKD = "/lib/systemd/systemd-networkd"
TIMEOUT = 60


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([resolve(argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=TIMEOUT, **kwargs)


def _output(proc: subprocess.CompletedProcess[str], path: Path) -> list[str]:
    # The consumers name the file they read; show the build path instead of a temporary copy.
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return [line.strip() for line in lines if line.strip()] or [f"{path}: exit status {proc.returncode}"]


# -- FRR ---------------------------------------------------------------------------------------


def check_frr(path: Path, record: FileRecord, folder: Path) -> list[str]:
    proc = _run(["vtysh", "-C", "-f", str(path)])
    problems = _output(proc, path) if proc.returncode != 0 else []
    return problems + frr_lint(path.read_text())


def frr_lint(text: str) -> list[str]:
    """What ``vtysh -C`` lets through but a load drops or ignores."""
    problems = []
    first_seen: dict[str, str] = {}
    route_maps = set(re.findall(r"^route-map (\S+) (?:permit|deny) \d+", text, re.M))
    prefix_lists = set(re.findall(r"^ipv?6? ?prefix-list (\S+) ", text, re.M))
    profiles = set(re.findall(r"^ profile (\S+)$", text, re.M))
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if line.startswith(" neighbor ") and len(words) > 2:
            peer, command = words[1], words[2]
            if peer not in first_seen:
                first_seen[peer] = command
                if command not in ("remote-as", "peer-group", "interface"):
                    problems.append(f"line {number}: 'neighbor {peer} {command}' before "
                                    f"'neighbor {peer} remote-as': FRR drops it at load")
        if len(words) > 3 and words[0] == "neighbor" and words[2] == "route-map" \
                and words[3] not in route_maps:
            problems.append(f"line {number}: route-map {words[3]} is not defined")
        if words[:3] in (["match", "ip", "address"], ["match", "ipv6", "address"]) \
                and len(words) > 4 and words[4] not in prefix_lists:
            problems.append(f"line {number}: prefix-list {words[4]} is not defined")
        if words[:1] == ["neighbor"] and words[2:4] == ["bfd", "profile"] and words[4] not in profiles:
            problems.append(f"line {number}: bfd profile {words[4]} is not defined")
    return problems


# -- BIRD and OpenBGPD -------------------------------------------------------------------------


def check_bird(path: Path, record: FileRecord, folder: Path) -> list[str]:
    proc = _run(["bird", "-p", "-c", str(path)])
    return _output(proc, path) if proc.returncode != 0 else []


def check_openbgpd(path: Path, record: FileRecord, folder: Path) -> list[str]:
    proc = _run(["bgpd", "-n", "-f", str(path)])
    return _output(proc, path) if proc.returncode != 0 else []


# -- Linux VLAN interfaces ---------------------------------------------------------------------


def check_netplan(path: Path, record: FileRecord, folder: Path) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="bootstrap-netplan-") as root:
        target = Path(root, record.dest.lstrip("/"))
        target.parent.mkdir(parents=True)
        shutil.copyfile(path, target)
        target.chmod(0o600)
        proc = _run(["netplan", "generate", "--root-dir", root])
        if proc.returncode != 0:
            return [line.replace(str(target), str(path)) for line in _output(proc, path)]
    # netplan exits 0 on what the backend will ignore, a name too long for the kernel among them
    return [re.sub(r"^\s*[\d:.]+: ", "", line.split("WARNING **:", 1)[1]).strip()
            for line in proc.stderr.splitlines() if "WARNING **:" in line]


def check_ifupdown(path: Path, record: FileRecord, folder: Path) -> list[str]:
    text = path.read_text()
    base = _ifup(text)
    if base.returncode != 0:
        return _output(base, path)
    problems = []
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        words = line.split()
        if not line[:1].isspace() or not words or words[0].startswith("#"):
            continue
        # An option ifupdown knows changes what it would run; an unknown one changes nothing.
        without = _ifup("".join(lines[:index] + lines[index + 1:]))
        # --no-act prints the commands it would run on stderr
        if without.returncode == 0 and without.stderr == base.stderr:
            problems.append(f"line {index + 1}: option {words[0]!r} has no effect: "
                            "ifupdown does not know it for this method, or it is the default")
    return problems


def _ifup(text: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="bootstrap-ifupdown-") as tmp:
        interfaces = Path(tmp, "interfaces")
        interfaces.write_text(text)
        state = Path(tmp, "state")
        state.mkdir()
        return _run(["ifup", "--no-act", "-i", str(interfaces), "--state-dir", str(state), "-a"])


@functools.cache
def networkd_keys() -> frozenset[str]:
    """``Section.Key`` names compiled into systemd-networkd's config parser tables."""
    data = Path(NETWORKD).read_bytes()
    return frozenset(m.decode() for m in re.findall(rb"(?<=\x00)([A-Z][A-Za-z0-9]+\.[A-Z][A-Za-z0-9]+)"
                                                     rb"(?=\x00)", data))


def check_networkd(path: Path, record: FileRecord, folder: Path) -> list[str]:
    known = networkd_keys()
    problems = []
    section = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            problems.append(f"line {number}: not 'Key=value' inside a [Section]: {line!r}")
            continue
        name = f"{section}.{key.strip()}"
        if name not in known:
            problems.append(f"line {number}: systemd-networkd does not know [{section}] {key.strip()}=")
        problem = _networkd_value(name, value.strip())
        if problem:
            problems.append(f"line {number}: {problem}")
    return problems


def _networkd_value(name: str, value: str) -> str | None:
    if name == "VLAN.Id" and not (value.isdigit() and 0 <= int(value) <= 4094):
        return f"VLAN Id={value} is not 0-4094"
    if name.endswith(".MTUBytes") and not value.isdigit():
        return f"{name}={value} is not a number of bytes"
    if name == "Network.Address":
        try:
            ipaddress.ip_interface(value)
        except ValueError:
            return f"Address={value} is not an address with a prefix length"
    return None


# -- IOS-XE and Junos --------------------------------------------------------------------------


def check_ios(path: Path, record: FileRecord, folder: Path) -> list[str]:
    from ciscoconfparse2 import CiscoConfParse

    parse = CiscoConfParse(str(path), syntax="ios")
    problems = []
    for sub in parse.find_objects(r"^interface \S+\.\d+$"):
        vlan = sub.text.rsplit(".", 1)[1]
        lines = [c.text.strip() for c in sub.children]
        if f"encapsulation dot1Q {vlan}" not in lines:
            problems.append(f"{sub.text}: no 'encapsulation dot1Q {vlan}'")
        if not any(x.startswith(("ip address ", "ipv6 address ")) for x in lines):
            problems.append(f"{sub.text}: no address")
        for line in lines:
            if line.startswith("ip address "):
                _, _, address, mask = line.split()
                try:
                    ipaddress.ip_interface(f"{address}/{mask}")
                except ValueError:
                    problems.append(f"{sub.text}: {line!r} has no valid dotted mask")
    route_maps = {o.text.split()[1] for o in parse.find_objects(r"^route-map ")}
    prefix_lists = {o.text.split()[2] for o in parse.find_objects(r"^ipv?6? ?prefix-list ")}
    for rmap in parse.find_objects(r"^route-map "):
        for child in rmap.children:
            words = child.text.split()
            if words[:1] == ["match"] and "prefix-list" in words and words[-1] not in prefix_lists:
                problems.append(f"{rmap.text}: prefix-list {words[-1]} is not defined")
    for bgp in parse.find_objects(r"^router bgp "):
        problems += _ios_neighbors(bgp, route_maps)
    return problems


def _ios_neighbors(bgp: Any, route_maps: set[str]) -> list[str]:
    problems = []
    top = [c.text.split() for c in bgp.children]
    peers = [w[1] for w in top if len(w) > 3 and w[0] == "neighbor" and w[2] == "remote-as"]
    if not peers:
        problems.append(f"{bgp.text}: no neighbor with remote-as")
    families = [c for c in bgp.children if c.text.strip().startswith("address-family ")]
    for peer in peers:
        if [peer, "password"] not in [w[1:3] for w in top if len(w) > 3]:
            problems.append(f"neighbor {peer}: no password")
        af_lines = [c.text.split() for af in families for c in af.children
                    if c.text.split()[1:2] == [peer]]
        commands = {tuple(w[2:3]) for w in af_lines}
        for needed in ("activate", "send-community"):
            if (needed,) not in commands:
                problems.append(f"neighbor {peer}: no '{needed}' in its address-family")
        for w in af_lines:
            if len(w) > 3 and w[2] == "route-map" and w[3] not in route_maps:
                problems.append(f"neighbor {peer}: route-map {w[3]} is not defined")
    return problems


def check_nxos(path: Path, record: FileRecord, folder: Path) -> list[str]:
    from ciscoconfparse2 import CiscoConfParse

    return nxos_problems(CiscoConfParse(str(path), syntax="nxos"))


def nxos_problems(parse: Any) -> list[str]:
    """What an NX-OS config lacks or names without defining (``parse``: ciscoconfparse2)."""
    problems = []
    features = {o.text.split()[1] for o in parse.find_objects(r"^feature \S+$")}
    for sub in parse.find_objects(r"^interface \S+\.\d+$"):
        problems += _nxos_subinterface(sub, parse)
    route_maps = {o.text.split()[1] for o in parse.find_objects(r"^route-map ")}
    prefix_lists = {o.text.split()[2] for o in parse.find_objects(r"^ipv?6? prefix-list ")}
    for rmap in parse.find_objects(r"^route-map "):
        for child in rmap.children:
            words = child.text.split()
            if words[:1] == ["match"] and "prefix-list" in words and words[-1] not in prefix_lists:
                problems.append(f"{rmap.text}: prefix-list {words[-1]} is not defined")
    bfd_used = bool(parse.find_objects(r"^\s+bfd( interval .*)?$"))
    if bfd_used and "bfd" not in features:
        problems.append("BFD is configured without 'feature bfd'")
    for bgp in parse.find_objects(r"^router bgp "):
        if "bgp" not in features:
            problems.append(f"{bgp.text} without 'feature bgp'")
        problems += _nxos_neighbors(bgp, route_maps)
    return problems


def _nxos_subinterface(sub: Any, parse: Any) -> list[str]:
    problems = []
    parent_name, vlan = sub.text.split()[1].rsplit(".", 1)
    lines = [c.text.strip() for c in sub.children]
    if f"encapsulation dot1q {vlan}" not in lines:
        problems.append(f"{sub.text}: no 'encapsulation dot1q {vlan}'")
    if not any(x.startswith(("ip address ", "ipv6 address ")) for x in lines):
        problems.append(f"{sub.text}: no address")
    for line in lines:
        if line.startswith(("ip address ", "ipv6 address ")):
            try:
                ipaddress.ip_interface(line.split()[2])
            except (ValueError, IndexError):
                problems.append(f"{sub.text}: {line!r} is not an address with its length")
    parents = parse.find_objects(rf"^interface {re.escape(parent_name)}$")
    if not parents:
        problems.append(f"{sub.text}: its parent interface {parent_name} is not configured")
    elif "no switchport" not in [c.text.strip() for c in parents[0].children]:
        problems.append(f"interface {parent_name}: a sub-interface needs 'no switchport'")
    return problems


def _nxos_neighbors(bgp: Any, route_maps: set[str]) -> list[str]:
    problems = []
    neighbors = [c for c in bgp.children if c.text.strip().startswith("neighbor ")]
    if not neighbors:
        problems.append(f"{bgp.text}: no neighbor")
    for neighbor in neighbors:
        name = neighbor.text.strip()
        lines = [c.text.split() for c in neighbor.children]
        if not any(w[:1] == ["remote-as"] for w in lines):
            problems.append(f"{name}: no remote-as")
        for child in neighbor.children:
            text = child.text.strip()
            if text.startswith("description ") and len(text) - len("description ") > 80:
                problems.append(f"{name}: a neighbor description holds at most 80 characters")
        if not any(w[:2] == ["password", "0"] and len(w) == 3 for w in lines):
            problems.append(f"{name}: no 'password 0 KEY'")
        families = [c for c in neighbor.children if c.text.strip().startswith("address-family ")]
        if not families:
            problems.append(f"{name}: no address-family")
        for family in families:
            af_lines = [c.text.split() for c in family.children]
            if ["send-community"] not in af_lines:
                problems.append(f"{name} {family.text.strip()}: no 'send-community'")
            for direction in ("in", "out"):
                if not any(w[:1] == ["route-map"] and w[-1:] == [direction] for w in af_lines):
                    problems.append(f"{name} {family.text.strip()}: no route-map {direction}")
            for w in af_lines:
                if w[:1] == ["route-map"] and len(w) == 3 and w[1] not in route_maps:
                    problems.append(f"{name}: route-map {w[1]} is not defined")
    return problems


def check_panos(path: Path, record: FileRecord, folder: Path) -> list[str]:
    return panos.problems(path.read_text())


def check_junos(path: Path, record: FileRecord, folder: Path) -> list[str]:
    text = path.read_text()
    try:
        statements = junos.parse_set(text) if path.suffix == ".set" else junos.parse_curly(text)
    except junos.JunosSyntaxError as exc:
        return [str(exc)]
    return junos.problems(statements)


# Each artifact of role.yml names the checkers of its file (``check: vtysh -C``).
# -- sysctl drop-in -------------------------------------------------------------------------

PROC_SYS = Path("/proc/sys")
_SYSCTL_KEY = re.compile(r"[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)*")


def check_sysctl(path: Path, record: FileRecord, folder: Path) -> list[str]:
    """Each line of a sysctl.d file names a switch this machine's kernel has and sets it to 0 or 1.

    ``sysctl --system`` skips a line it cannot apply with a message at boot and goes on, so a
    misspelt key would leave forwarding off without failing anything.
    """
    return sysctl_problems(path.read_text(), PROC_SYS)


def sysctl_problems(text: str, proc_sys: Path) -> list[str]:
    problems = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, equals, value = line.partition("=")
        key, value = key.strip().lstrip("-"), value.strip()
        if not equals or not _SYSCTL_KEY.fullmatch(key):
            problems.append(f"line {number}: expected 'key = value', got {raw!r}")
            continue
        # sysctl reads dots and slashes alike as folder separators.
        if not (proc_sys / key.replace(".", "/")).is_file():
            problems.append(f"line {number}: {key} is not a kernel setting here "
                            f"(no {proc_sys}/{key.replace('.', '/')})")
        if value not in ("0", "1"):
            problems.append(f"line {number}: {key} is a switch: 0 or 1, not {value!r}")
    return problems


CHECKERS = [
    Checker("vtysh -C", check_frr, tools=("vtysh",), brought_by={"vtysh": "apt:frr"}),
    Checker("bird -p", check_bird, tools=("bird",), brought_by={"bird": "apt:bird2"}),
    Checker("bgpd -n", check_openbgpd, tools=("bgpd",), brought_by={"bgpd": "apt:openbgpd"}),
    Checker("netplan generate", check_netplan, tools=("netplan",),
            brought_by={"netplan": "apt:netplan.io"}),
    Checker("ifup --no-act", check_ifupdown, tools=("ifup",), brought_by={"ifup": "apt:ifupdown"}),
    Checker("networkd keys", check_networkd, tools=(NETWORKD,),
            brought_by={NETWORKD: "apt:systemd"}),
    Checker("ios-xe structure", check_ios, python=("ciscoconfparse2",),
            brought_by={"ciscoconfparse2": "pip:validate"}),
    Checker("nxos structure", check_nxos, python=("ciscoconfparse2",),
            brought_by={"ciscoconfparse2": "pip:validate"}),
    Checker("junos structure", check_junos),
    Checker("panos structure", check_panos),
    Checker("sysctl keys", check_sysctl),
]
