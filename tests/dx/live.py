"""A live Direct Connect peering in network namespaces: the rendered router against an AWS side.

Two namespaces per topology, ``dxa<pid><n>`` (AWS: a BIRD the test configures, in the role of
the Amazon router) and ``dxc<pid><n>`` (the customer router running the rendered config). Each
VIF is a veth pair carrying the VIF's addresses; the customer end has the VLAN interface's name
(the kernel here has no 802.1Q, so the VLAN files are checked offline). The customer daemon runs
as its package runs it, with its usual config and socket paths, inside a private mount namespace
(``/run`` is a tmpfs there and the rendered ``/etc/frr`` or ``/etc/bird`` is bind-mounted), so
the role's checks run unchanged through :class:`NsenterBackend`.

A ``pushed`` topology is a router the build was pushed to: ``/etc`` and ``/usr/local/sbin`` are
overlays in its mount namespace (the machine's own stay untouched) and every file of the build's
manifest is installed at its destination with its mode and owner, as ``push`` leaves it; the
daemon then starts from its usual config path.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import waits
from testinfra.backend.local import LocalBackend
from testinfra.host import Host

_counter = itertools.count()
# wrong signature; signed where no key is set; unsigned where a key is set
MD5_COUNTERS = ("TcpExtTCPMD5Failure", "TcpExtTCPMD5Unexpected", "TcpExtTCPMD5NotFound")
NEEDS = ("ip", "unshare", "nsenter", "bird", "birdc")
DAEMON_TOOLS = {"frr": ("/usr/lib/frr/frrinit.sh", "vtysh"), "bird": ("bird", "birdc"),
                "openbgpd": ("bgpd", "bgpctl")}


def missing(platform: str) -> list[str]:
    tools = (*NEEDS, *DAEMON_TOOLS[platform])
    return [t for t in tools if shutil.which(t) is None]


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check,
                          timeout=waits.allowance(timeout))


def wait_for(what: str, predicate: Any, timeout: float, interval: float = 0.25) -> Any:
    """``predicate()`` once true; ``timeout`` is a quiet machine's figure (see support.waits)."""
    return waits.wait_for(what, predicate, timeout, interval=interval)


@dataclass(frozen=True)
class Session:
    """One BGP session as the AWS side sees it."""

    name: str  # BIRD protocol name on the AWS side
    vif: dict[str, Any]
    version: int
    aws: str
    customer: str
    key: str

    @property
    def bfd(self) -> bool:
        return bool(self.vif.get("bfd"))


class NsenterBackend(LocalBackend):
    """testinfra's local backend, every command run inside the customer's namespaces."""

    def __init__(self, holder: int) -> None:
        super().__init__()
        self.holder = holder

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        return self.run_local("nsenter -t %s -m -n -- sh -c %s", str(self.holder),
                              self.get_command(command, *args))


@dataclass
class Topology:
    platform: str
    dx: dict[str, Any]  # the router's dx settings as written in the inventory
    keys: dict[str, str]  # secret file name -> value
    build: Path  # the host's build folder
    workdir: Path
    pushed: bool = False  # the build's files installed at their destinations (see above)
    suffix: str = field(default_factory=lambda: f"{os.getpid()}{next(_counter)}")
    holder: subprocess.Popen[str] | None = None
    aws_bird: subprocess.Popen[str] | None = None
    customer: subprocess.Popen[str] | None = None

    @property
    def aws_ns(self) -> str:
        return f"dxa{self.suffix}"

    @property
    def customer_ns(self) -> str:
        return f"dxc{self.suffix}"

    @property
    def aws_socket(self) -> Path:
        return self.workdir / "aws.ctl"

    def sessions(self) -> list[Session]:
        out = []
        for vif in self.dx["vifs"]:
            key = self.keys[Path(vif["auth_key"]["file"]).name]
            for version in (4, 6):
                peering = vif.get(f"ipv{version}")
                if peering:
                    out.append(Session(f"vlan{vif['vlan']}_v{version}", vif, version,
                                       str(ipaddress.ip_interface(peering["amazon"]).ip),
                                       str(ipaddress.ip_interface(peering["customer"]).ip), key))
        return out

    # -- building and tearing down -------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        sh("ip", "netns", "add", self.aws_ns)
        sh("ip", "netns", "add", self.customer_ns)
        for ns in (self.aws_ns, self.customer_ns):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for index, vif in enumerate(self.dx["vifs"]):
            self._link(index, vif)
        # As push --apply does on the router: the rendered drop-in turns forwarding on.
        sh("ip", "netns", "exec", self.customer_ns, "sysctl", "-q", "-p",
           str(self.build / "files/etc/sysctl.d/60-aws-dx.conf"))
        self._start_aws()
        self._start_customer()

    def _link(self, index: int, vif: dict[str, Any]) -> None:
        a, c = f"dxva{self.suffix}{index}"[:15], f"dxvc{self.suffix}{index}"[:15]
        vlan_name = f"{vif.get('interface') or self.dx['interface']}.{vif['vlan']}"
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", c)
        sh("ip", "link", "set", a, "netns", self.aws_ns, "name", f"aws{vif['vlan']}")
        sh("ip", "link", "set", c, "netns", self.customer_ns, "name", vlan_name)
        for ns, dev, end in ((self.aws_ns, f"aws{vif['vlan']}", "amazon"),
                             (self.customer_ns, vlan_name, "customer")):
            for version in (4, 6):
                peering = vif.get(f"ipv{version}")
                if peering:
                    extra = ["nodad"] if version == 6 else []
                    sh("ip", "-n", ns, "addr", "add", peering[end], "dev", dev, *extra)
            sh("ip", "-n", ns, "link", "set", dev, "up")

    def aws_config(self, wrong_key_for: str | None = None) -> str:
        """The AWS side: AS per VIF, MD5, BFD where the VIF asks, a VPC prefix per family."""
        lines = [f'log "{self.workdir / "aws.log"}" all;', "router id 169.254.255.254;",
                 "protocol device {}",
                 'protocol bfd { interface "*" { min rx interval 300 ms; min tx interval 300 ms;'
                 " multiplier 3; }; }",
                 "protocol static vpc4 { ipv4; route 10.100.0.0/16 blackhole; }",
                 "protocol static vpc6 { ipv6; route 2600:1f18:100::/56 blackhole; }"]
        for s in self.sessions():
            key = "WrongMD5key42" if s.name == wrong_key_for else s.key
            lines.append(
                f"protocol bgp {s.name} {{ local {s.aws} as {s.vif['amazon_asn']}; "
                f"neighbor {s.customer} as {self.dx['asn']}; password \"{key}\"; "
                f"bfd {'on' if s.bfd else 'off'}; connect retry time 2; error wait time 1, 4; "
                f"ipv{s.version} {{ import all; export where source = RTS_STATIC; }}; }}")
        return "\n".join(lines) + "\n"

    def configure_aws(self, wrong_key_for: str | None = None) -> None:
        (self.workdir / "aws.conf").write_text(self.aws_config(wrong_key_for))
        result = self.birdc("configure")
        assert "Reconfigured" in result or "Reconfiguration in progress" in result, result

    def _start_aws(self) -> None:
        conf = self.workdir / "aws.conf"
        conf.write_text(self.aws_config())
        self.aws_bird = subprocess.Popen(
            ["ip", "netns", "exec", self.aws_ns, "bird", "-f", "-c", str(conf),
             "-s", str(self.aws_socket), "-P", str(self.workdir / "aws.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        wait_for("the AWS-side BIRD", self.aws_socket.exists, 10)

    def _start_customer(self) -> None:
        mounts = ["mount -t tmpfs tmpfs /run"]
        if self.pushed:
            mounts += self._overlays()
        elif self.platform in ("frr", "bird"):
            etc = self.workdir / "etc"
            etc.mkdir()
            source = self.build / "files/etc" / self.platform
            for path in source.iterdir():
                shutil.copy2(path, etc / path.name)
            if self.platform == "frr":
                shutil.copy2("/etc/frr/vtysh.conf", etc / "vtysh.conf")
            shutil.chown(etc, self.platform, self.platform)
            for path in etc.iterdir():
                shutil.chown(path, self.platform, self.platform)
            mounts.append(f"mount --bind {etc} /etc/{self.platform}")
        script = " && ".join([*mounts, "echo ready", "exec sleep infinity"])
        self.holder = subprocess.Popen(
            ["ip", "netns", "exec", self.customer_ns, "unshare", "-m", "--propagation", "private",
             "sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        ready = self.holder.stdout.readline().strip()
        assert ready == "ready", self.holder.stderr.read() if self.holder.stderr else ready
        enter = ["nsenter", "-t", str(self.holder.pid), "-m", "-n", "--"]
        if self.pushed:
            self._install_build(enter)
        if self.platform == "frr":
            sh(*enter, "/usr/lib/frr/frrinit.sh", "start", timeout=60)  # stretched by sh()
        elif self.platform == "bird":
            sh(*enter, "install", "-d", "-o", "bird", "-g", "bird", "/run/bird")
            self.customer = subprocess.Popen([*enter, "bird", "-f", "-u", "bird", "-g", "bird"],
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        else:
            sh(*enter, "install", "-d", "/run/openbgpd")
            conf = Path("/etc/bgpd.conf") if self.pushed else self.build / "files/etc/bgpd.conf"
            self.customer = subprocess.Popen([*enter, "bgpd", "-d", "-f", str(conf)],
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def _overlays(self) -> list[str]:
        out = []
        for index, target in enumerate(("/etc", "/usr/local/sbin")):
            upper, work = self.workdir / f"upper{index}", self.workdir / f"work{index}"
            upper.mkdir()
            work.mkdir()
            out.append(f"mount -t overlay overlay -o lowerdir={target},upperdir={upper},"
                       f"workdir={work} {target}")
        return out

    def _install_build(self, enter: list[str]) -> None:
        """Every file of the build's manifest at its destination, with its mode and owner."""
        manifest = json.loads((self.build / "manifest.json").read_text())
        for record in manifest["files"]:
            user, _, group = str(record.get("owner") or "root:root").partition(":")
            source = self.build / "files" / record["dest"].lstrip("/")
            sh(*enter, "install", "-D", "-m", record["mode"], "-o", user, "-g", group or user,
               str(source), record["dest"])

    def stop(self) -> None:
        if self.holder is not None and self.platform == "frr":
            self._stop_frr()
        for proc in (self.customer, self.aws_bird):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()
        for ns in (self.customer_ns, self.aws_ns):
            sh("ip", "netns", "delete", ns, check=False)

    def _stop_frr(self) -> None:
        assert self.holder is not None
        run = Path(f"/proc/{self.holder.pid}/root/run/frr")
        pids = []
        # watchfrr first, so it does not restart the daemons it sees go away
        for name in ["watchfrr", "zebra", "bgpd", "staticd", "bfdd"]:
            try:
                pids.append(int((run / f"{name}.pid").read_text()))
            except (OSError, ValueError):
                continue
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for pid in pids:
            deadline = time.monotonic() + waits.allowance(10)
            while Path(f"/proc/{pid}").exists() and _state(pid) != "Z" and time.monotonic() < deadline:
                time.sleep(0.1)

    # -- looking at it -------------------------------------------------------------------------

    def host(self) -> Host:
        assert self.holder is not None
        return Host(NsenterBackend(self.holder.pid))

    def birdc(self, *command: str) -> str:
        return sh("birdc", "-s", str(self.aws_socket), *command).stdout

    def aws_state(self, session: Session) -> str:
        match = re.search(r"BGP state:\s+(\S+)", self.birdc("show", "protocols", "all", session.name))
        return match[1] if match else "absent"

    def aws_routes(self, session: Session) -> dict[str, dict[str, str]]:
        """Prefix -> its BGP attributes, as the AWS side received them on this session."""
        routes: dict[str, dict[str, str]] = {}
        current: dict[str, str] | None = None
        for line in self.birdc("show", "route", "all", "protocol", session.name).splitlines():
            head = re.match(r"([0-9a-f:.]+/\d+)\s+unicast", line)
            if head:
                current = routes.setdefault(head[1], {})
            attr = re.match(r"\s+(BGP\.\w+):\s*(.*)", line)
            if attr and current is not None:
                current[attr[1]] = attr[2].strip()
        return routes

    def aws_bfd_up(self) -> set[str]:
        return {line.split()[0] for line in self.birdc("show", "bfd", "sessions").splitlines()
                if len(line.split()) > 2 and line.split()[2] == "Up"}

    def md5_failures(self) -> int:
        """Segments either kernel dropped for their MD5 signature (the receiving side counts)."""
        total = 0
        for ns in (self.aws_ns, self.customer_ns):
            text = sh("ip", "netns", "exec", ns, "nstat", "-az", *MD5_COUNTERS).stdout
            total += sum(int(n) for n in re.findall(r"TcpExtTCPMD5\w+\s+(\d+)", text))
        return total


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


# Seconds the AWS side may take to establish every session of a router just started.
ESTABLISH_TIMEOUT = 40


@contextlib.contextmanager
def established(platform: str, tmp: Path, *, pushed: bool = False) -> Iterator[tuple[Topology, Path]]:
    """A router of ``platform`` rendered into ``tmp``, started against its AWS side until every
    session is Established, and stopped afterwards: (its topology, its inventory). Skips where
    namespaces or the daemon are not available."""
    from dx.routers import KEYS, router, write_inventory
    from support.cli import run_cli

    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    absent = missing(platform)
    if absent:
        pytest.skip(f"not installed: {', '.join(absent)}")
    dx = router(platform, interface="dxp")
    name = f"live-{platform}"
    inventory = write_inventory(tmp / "inv", {name: dx})
    result = run_cli("render", inventory, "-o", tmp / "build")
    assert result.rc == 0, result.err
    topo = Topology(platform, dx, KEYS, tmp / "build" / name, tmp / "run", pushed=pushed)
    try:
        topo.start()
        wait_for("every session Established", lambda: all(
            topo.aws_state(s) == "Established" for s in topo.sessions()), ESTABLISH_TIMEOUT)
        yield topo, inventory
    finally:
        topo.stop()
