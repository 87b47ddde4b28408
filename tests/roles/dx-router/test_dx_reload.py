"""`push --apply` on a Linux router: the reload script brings the VLAN interfaces to the build with
the router's own network tool (networkd, netplan or ifupdown) before forwarding and the daemon.

The kernel here has no 802.1Q, so the rendered script runs against :mod:`dx.fakenet` (``ip``,
the network tools and the daemons' reload commands, as Debian 12's behave in what the script
relies on) in private mount and network namespaces: the build's files are installed over /etc
as push installs them (a file gone from the build stays), /var/lib and /run are private, and
nothing of this machine is read or changed. What only a real kernel and systemd can show (the
VLANs with their tags, networkd's and netplan's own behaviour) is for the lab's VM tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dx import fakenet
from dx.routers import changed, router, write_inventory
from support import waits
from support.cli import run_cli

STYLES = [("networkd", "frr"), ("netplan", "bird"), ("ifupdown", "openbgpd")]
SCRIPT = "usr/local/sbin/bootstrap-dx-reload"
SYSCTL = "sysctl -q -p /etc/sysctl.d/60-aws-dx.conf"
FRR_RELOAD = Path("/usr/lib/frr/frr-reload.py")
V101 = ("169.254.10.2/30", "2600:1f00:1::3/125")
V102 = ("169.254.11.2/30",)


def can_run() -> str:
    if os.geteuid() != 0:
        return "private mount namespaces need root"
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    return ""


needs_namespaces = pytest.mark.skipif(bool(can_run()), reason=can_run() or "-")


def dx_of(style: str, platform: str, **top: Any) -> dict[str, Any]:
    return router(platform, linux_net=style, interface="eth1", **top)


def daemon_reloaded(platform: str, line: str) -> bool:
    return {"frr": line.startswith(("frr-reload.py --reload", "vtysh -f")),
            "bird": line == "birdc configure", "openbgpd": line == "bgpctl reload"}[platform]


class Ran:
    def __init__(self, proc: subprocess.CompletedProcess[str], log: list[str],
                 links: dict[str, Any]) -> None:
        self.rc, self.out, self.err = proc.returncode, proc.stdout, proc.stderr
        self.log = log
        self.links = links

    def index(self, platform: str, word: str) -> int:
        """Where the first log line of ``word`` is (``daemon``: the daemon's reload)."""
        for number, line in enumerate(self.log):
            if (daemon_reloaded(platform, line) if word == "daemon" else line.startswith(word)):
                return number
        raise AssertionError(f"{word} never ran:\n" + "\n".join(self.log))

    def ran(self, word: str) -> list[str]:
        return [line for line in self.log if line.startswith(word)]

    def addresses(self, name: str) -> list[str]:
        return sorted(self.links[name]["addrs"])


class Router:
    """A pretend Linux router: builds are pushed to it, then its reload script runs."""

    def __init__(self, tmp: Path, style: str, platform: str) -> None:
        self.tmp, self.style, self.platform = tmp, style, platform
        self.fake = tmp / "fakenet"
        self.fake.mkdir()
        self.bin = tmp / "bin"
        fakenet.install(self.fake, self.bin)
        for name in ("etc", "var"):
            (tmp / name).mkdir()
            (tmp / f"{name}.work").mkdir()
        # networkd's runtime files outlive a push, as /run does until a reboot
        (tmp / "run-network").mkdir()
        self.script = tmp / "script"
        self.pushes = 0
        self.set_state(fakenet.initial({"eth1": 9001}))

    def set_state(self, state: dict[str, Any]) -> None:
        (self.fake / "state.json").write_text(json.dumps(state))
        fakenet.save_view(self.fake, state)

    def state(self) -> dict[str, Any]:
        return json.loads((self.fake / "state.json").read_text())

    def edit(self, **changes: Any) -> None:
        state = self.state()
        state.update(changes)
        self.set_state(state)

    def push(self, dx: dict[str, Any]) -> Path:
        """Render ``dx`` and install its files as push does: each file of the manifest that
        differs from the host's, none removed."""
        self.pushes += 1
        name = f"r{self.pushes}"
        inventory = write_inventory(self.tmp / f"inv{self.pushes}", {name: dx})
        out = self.tmp / f"build{self.pushes}"
        result = run_cli("render", inventory, "-o", out)
        assert result.rc == 0, result.err
        build = out / name
        manifest = json.loads((build / "manifest.json").read_text())
        for record in manifest["files"]:
            if record["dest"].startswith("/etc/"):
                target = self.tmp / "etc" / record["dest"][len("/etc/"):]
                source = build / "files" / record["dest"].lstrip("/")
                if not target.exists() or target.read_bytes() != source.read_bytes():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, target)
        shutil.copyfile(build / "files" / SCRIPT, self.script)
        return build

    def run(self, systemd: bool = True, env: dict[str, str] | None = None) -> Ran:
        """The pushed reload script, as push --apply runs it."""
        log = self.fake / "log"
        log.write_text("")
        mounts = [f"mount -t overlay overlay -o lowerdir=/etc,upperdir={self.tmp}/etc,"
                  f"workdir={self.tmp}/etc.work /etc",
                  f"mount -t overlay overlay -o lowerdir=/var/lib,upperdir={self.tmp}/var,"
                  f"workdir={self.tmp}/var.work /var/lib",
                  "mount -t tmpfs tmpfs /run", "mkdir -p /run/systemd/network",
                  f"mount --bind {self.tmp}/run-network /run/systemd/network"]
        if systemd:
            mounts.append("mkdir -p /run/systemd/system")
        if FRR_RELOAD.exists():
            mounts.append(f"mount --bind {self.bin}/frr-reload.py {FRR_RELOAD}")
        inner = " && ".join([*mounts, f"exec sh {self.script}"])
        path = f"{self.bin}:{os.environ['PATH']}"
        proc = subprocess.run(["unshare", "--mount", "--net", "sh", "-c", inner],
                              env={**os.environ, "PATH": path, **(env or {})},
                              capture_output=True, text=True, timeout=waits.allowance(120))
        return Ran(proc, log.read_text().splitlines(), self.state()["links"])


@pytest.fixture(params=STYLES, ids=[s for s, _ in STYLES])
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Router:
    if can_run():
        pytest.skip(can_run())
    style, platform = request.param
    return Router(tmp_path, style, platform)


# --- what the script says, per style ----------------------------------------------------------

@pytest.mark.parametrize(("style", "platform"), STYLES)
def test_rendered_script_passes_shellcheck_in_bootstrap_validate(tmp_path: Path, style: str,
                                                                 platform: str) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    inventory = write_inventory(tmp_path / "inv", {"r1": dx_of(style, platform)})
    assert run_cli("render", inventory, "-o", tmp_path / "build").rc == 0
    result = run_cli("validate", tmp_path / "build")
    assert result.rc == 0, result.out + result.err
    assert f"ok   r1 /{SCRIPT} (shellcheck)" in result.out.splitlines()


@pytest.mark.parametrize(("style", "platform", "network", "others"), [
    ("networkd", "frr", "networkctl reload", ("netplan/generate", "ifup ", "ifdown ")),
    ("netplan", "bird", '"$generator" --root-dir', ("run netplan apply", "netplan generate --",
                                                    "ifup ", "ifdown ")),
    ("ifupdown", "openbgpd", 'run ifup "$name"', ("networkctl", "netplan apply")),
])
def test_each_style_names_its_own_tool_before_forwarding_and_the_daemon(
        tmp_path: Path, style: str, platform: str, network: str, others: tuple[str, ...]) -> None:
    inventory = write_inventory(tmp_path / "inv", {"r1": dx_of(style, platform)})
    assert run_cli("render", inventory, "-o", tmp_path / "build").rc == 0
    text = (tmp_path / "build/r1/files" / SCRIPT).read_text()
    daemon = {"frr": "frr-reload.py --reload", "bird": "birdc configure",
              "openbgpd": "bgpctl reload"}[platform]
    assert text.index(network) < text.index(SYSCTL) < text.index(daemon)
    for other in others:
        assert other not in text
    assert "VLANS='eth1.101 eth1.102'" in text


# --- what it does ------------------------------------------------------------------------------

@needs_namespaces
def test_first_apply_brings_up_every_vlan_before_forwarding_and_the_daemon(box: Router) -> None:
    box.push(dx_of(box.style, box.platform))
    ran = box.run()
    assert ran.rc == 0, ran.out + ran.err
    for name, addrs in (("eth1.101", V101), ("eth1.102", V102)):
        link = ran.links[name]
        assert (link["parent"], link["vlan"], link["mtu"]) == ("eth1", int(name[-3:]), 9001)
        assert ran.addresses(name) == sorted(addrs)
        assert set(link["addrs"].values()) == {"ok"}  # IPv6 past duplicate address detection
    network = {"networkd": "networkctl reload", "netplan": "networkctl reload",
               "ifupdown": "ifup eth1.101"}[box.style]
    assert ran.index(box.platform, network) < ran.index(box.platform, "sysctl") \
        < ran.index(box.platform, "daemon")
    # the daemon reloads once the IPv6 address is usable: after the wait for its DAD
    assert ran.index(box.platform, "sleep") < ran.index(box.platform, "daemon")
    assert f"+ {network.split()[0]}" in ran.out
    assert "eth0" not in " ".join(ran.ran("networkctl") + ran.ran("ifup") + ran.ran("ifdown"))


@needs_namespaces
def test_nothing_changed_leaves_the_vlans_alone(box: Router) -> None:
    dx = dx_of(box.style, box.platform)
    box.push(dx)
    assert box.run().rc == 0
    box.push(changed(dx, "vifs.0.advertise.ipv4", ["10.20.0.0/16"]))  # the daemon's file only
    ran = box.run()
    assert ran.rc == 0, ran.err
    disruptive = ran.ran("networkctl reconfigure") + ran.ran("netplan apply") + ran.ran("ifup") \
        + ran.ran("ifdown") + ran.ran("ip link delete")
    assert disruptive == []
    assert ran.index(box.platform, "daemon") >= 0
    # netplan's networkd files are generated again, and none replaced: networkd reloads nothing
    assert ": replaced by what netplan generates now" not in ran.out


@needs_namespaces
def test_changed_vif_is_reconfigured_and_the_unchanged_one_is_not(box: Router) -> None:
    dx = dx_of(box.style, box.platform)
    box.push(dx)
    assert box.run().rc == 0
    new = changed(changed(dx, "vifs.1.ipv4", {"customer": "169.254.12.2/30",
                                              "amazon": "169.254.12.1/30"}), "vifs.1.mtu", 1500)
    box.push(new)
    ran = box.run()
    assert ran.rc == 0, ran.out + ran.err
    assert ran.addresses("eth1.102") == ["169.254.12.2/30"]  # the old address is gone
    assert ran.links["eth1.102"]["mtu"] == 1500
    assert ran.addresses("eth1.101") == sorted(V101)
    touched = {"networkd": ["networkctl reconfigure eth1.102"],
               "netplan": ["networkctl reconfigure eth1.102"],
               "ifupdown": ["ifdown --force eth1.102", "ifup eth1.102"]}[box.style]
    for line in touched:
        assert line in ran.log
    # the unchanged VIF keeps its addresses and sessions: no tool touches it
    assert not [line for line in ran.log if "eth1.101" in line and not line.startswith("ip -o")]
    assert ran.index(box.platform, touched[-1]) < ran.index(box.platform, "daemon")


@needs_namespaces
def test_removed_vif_loses_its_vlan_interface_and_files(box: Router) -> None:
    dx = dx_of(box.style, box.platform)
    box.push(dx)
    assert box.run().rc == 0
    only = {**dx, "vifs": dx["vifs"][:1]}
    box.push(only)
    ran = box.run()
    assert ran.rc == 0, ran.out + ran.err
    assert "eth1.102" not in ran.links
    assert ran.addresses("eth1.101") == sorted(V101)
    assert "ip link delete dev eth1.102" in ran.log
    assert ran.index(box.platform, "ip link delete dev eth1.102") < ran.index(box.platform, "daemon")
    if box.style == "networkd":
        # push leaves the files of a removed VIF; the script removes them (networkd would make
        # the VLAN again at the next boot) before networkd reloads
        network = box.tmp / "etc/systemd/network"
        assert sorted(p.name for p in network.iterdir()) == [
            "10-dx-eth1.network", "20-dx-eth1.101.netdev", "30-dx-eth1.101.network"]
        assert "+ rm -f -- /etc/systemd/network/20-dx-eth1.102.netdev" in ran.out
        assert ran.index(box.platform, "ip link delete") > ran.index(box.platform, "networkctl reload")
    if box.style == "netplan":
        # netplan's generated files of the VIF leave /run/systemd/network, the others stay
        # the same files (networkd would otherwise configure their links again)
        assert sorted(p.name for p in (box.tmp / "run-network").iterdir()) == [
            "10-netplan-eth1.101.netdev", "10-netplan-eth1.101.network", "10-netplan-eth1.link",
            "10-netplan-eth1.network"]
        assert "networkd configures eth1.101" not in ran.log
    if box.style == "ifupdown":
        assert "eth1.102" not in box.state()["ifstate"]  # ifupdown forgets it too
    # the next apply has nothing left to remove
    again = box.run()
    assert again.rc == 0 and again.ran("ip link delete") == []
    # and the VIF can come back
    box.push(dx)
    back = box.run()
    assert back.rc == 0, back.err
    assert back.addresses("eth1.102") == list(V102)


@needs_namespaces
def test_vifs_moved_to_another_parent_leave_nothing_on_the_old_one(box: Router) -> None:
    """A new parent renames every VLAN (eth1.101 -> eth2.101): the old ones go, files included."""
    state = box.state()
    state["links"]["eth2"] = fakenet._link(None, None, 9001, [], kind="parent")
    box.set_state(state)
    dx = dx_of(box.style, box.platform)
    box.push(dx)
    assert box.run().rc == 0
    box.push({**dx, "interface": "eth2"})
    ran = box.run()
    assert ran.rc == 0, ran.out + ran.err
    assert sorted(n for n in ran.links if "." in n) == ["eth2.101", "eth2.102"]
    assert ran.addresses("eth2.101") == sorted(V101) and ran.links["eth2.101"]["parent"] == "eth2"
    if box.style == "networkd":
        network = box.tmp / "etc/systemd/network"
        assert sorted(p.name for p in network.iterdir()) == [
            "10-dx-eth2.network", "20-dx-eth2.101.netdev", "20-dx-eth2.102.netdev",
            "30-dx-eth2.101.network", "30-dx-eth2.102.network"]
    assert (box.tmp / "var/bootstrap/dx-router/vlans").read_text().split() == ["eth2.101",
                                                                                "eth2.102"]


@needs_namespaces
def test_networkd_files_of_a_vif_removed_before_any_record_are_found(tmp_path: Path) -> None:
    """A router applied by an older script has no record: the files push left name the VLAN."""
    box = Router(tmp_path, "networkd", "frr")
    dx = dx_of("networkd", "frr")
    box.push(dx)
    assert box.run().rc == 0
    (tmp_path / "var/bootstrap/dx-router/vlans").unlink()
    box.push({**dx, "vifs": dx["vifs"][:1]})
    ran = box.run()
    assert ran.rc == 0, ran.err
    assert "eth1.102" not in ran.links


@needs_namespaces
def test_wrong_vlan_of_the_same_name_is_made_again(box: Router) -> None:
    """A link named eth1.101 tagged 999 (made by hand): deleted, then made with tag 101."""
    box.push(dx_of(box.style, box.platform))
    state = box.state()
    state["links"]["eth1.101"] = fakenet._link("eth1", 999, 9001, list(V101))
    box.set_state(state)
    ran = box.run()
    assert ran.rc == 0, ran.out + ran.err
    assert ran.links["eth1.101"]["vlan"] == 101
    assert ran.addresses("eth1.101") == sorted(V101)
    # ifupdown's own down of a VLAN deletes it; the other tools need the script to
    deleted = "ifdown --force eth1.101" if box.style == "ifupdown" else "ip link delete dev eth1.101"
    assert ran.index(box.platform, deleted) < ran.index(box.platform, "daemon")


@needs_namespaces
def test_a_link_that_is_no_vlan_is_never_touched(box: Router) -> None:
    box.push(dx_of(box.style, box.platform))
    state = box.state()
    state["links"]["eth1.101"] = fakenet._link(None, None, 1500, list(V101), kind="veth")
    box.set_state(state)
    ran = box.run()
    assert ran.rc == 1
    assert "eth1.101 exists and is not an 802.1Q VLAN: left as it is" in ran.err
    assert ran.links["eth1.101"]["kind"] == "veth"
    # the script itself neither deletes, takes down nor reconfigures it (networkd would still
    # configure a link of that name by its own .network file)
    assert not [line for line in ran.log
                if "eth1.101" in line and not line.startswith(("ip -o", "networkd "))]
    assert ran.index(box.platform, "daemon") >= 0  # the other VIF still gets its session


@needs_namespaces
def test_a_vlan_carrying_the_default_route_or_the_session_is_not_deleted(box: Router) -> None:
    dx = dx_of(box.style, box.platform)
    box.push(dx)
    assert box.run().rc == 0
    box.edit(defaults=["eth1.102"])
    box.push({**dx, "vifs": dx["vifs"][:1]})
    ran = box.run()
    assert ran.rc == 1
    assert "eth1.102 is no longer in the build but carries a default route or this session: " \
           "left as it is" in ran.err
    assert "eth1.102" in ran.links and ran.ran("ip link delete") == []
    if box.style == "netplan":  # nor does networkd lose its configuration
        assert ("10-netplan-eth1.102.network is for eth1.102, which carries a default route or "
                "this session: kept") in ran.out
        assert (box.tmp / "run-network" / "10-netplan-eth1.102.network").exists()
    # the session's link, known from SSH_CONNECTION, is never taken down to change it: ifupdown
    # would have to; networkd and netplan change it in place with their own reload
    box.edit(defaults=["eth0"], ssh_dev="eth1.101")
    box.push(changed(dx, "vifs.0.mtu", 1500))
    ran = box.run(env={"SSH_CONNECTION": "198.51.100.7 50000 169.254.10.2 22"})
    assert not [line for line in ran.log
                if "eth1.101" in line and not line.startswith(("ip -o", "networkd "))]
    if box.style == "ifupdown":
        assert ran.rc == 1
        assert "eth1.101 differs from the build but carries a default route or this session: " \
               "not taken down; apply from another connection" in ran.err
        assert ran.links["eth1.101"]["mtu"] == 9001
    else:
        assert ran.rc == 0, ran.err
        assert ran.links["eth1.101"]["mtu"] == 1500


@needs_namespaces
def test_an_address_that_never_becomes_usable_fails_the_apply_after_the_daemon(tmp_path: Path) -> None:
    """The same wait for every style; shown with ifupdown."""
    box = Router(tmp_path, "ifupdown", "openbgpd")
    box.edit(dad_never=["2600:1f00:1::3/125"])
    box.push(dx_of(box.style, box.platform))
    ran = box.run()
    assert ran.rc == 1
    assert "after 60s: eth1.101: 2600:1f00:1::3/125 is still tentative" in ran.err
    assert len(ran.ran("sleep")) == 60
    # the daemon still takes its config: the other VIF and the IPv4 session work
    assert ran.index(box.platform, "sleep") < ran.index(box.platform, "daemon")
    assert ran.ran(SYSCTL)
    # the record is written: the interfaces were applied, only their readiness failed
    assert (box.tmp / "var/bootstrap/dx-router/vlans").read_text().split() == ["eth1.101", "eth1.102"]


@needs_namespaces
@pytest.mark.parametrize(("style", "platform"), STYLES[:2])
def test_without_systemd_the_vlans_are_left_and_the_daemon_reloads(tmp_path: Path, style: str,
                                                                  platform: str) -> None:
    """As in a network namespace with no init: interfaces already there are used as they are."""
    box = Router(tmp_path, style, platform)
    state = box.state()
    state["links"]["eth1.101"] = fakenet._link("eth1", 101, 9001, list(V101))
    state["links"]["eth1.102"] = fakenet._link("eth1", 102, 9001, list(V102))
    box.set_state(state)
    box.push(dx_of(style, platform))
    ran = box.run(systemd=False)
    assert ran.rc == 0, ran.err
    assert "systemd is not running: the VLAN interfaces are left as they are" in ran.out
    assert ran.ran("networkctl") == ran.ran("netplan") == ran.ran("systemctl") == []
    assert ran.index(platform, "daemon") >= 0
    # and where they are missing, the apply fails once the daemon has its config
    box.set_state(fakenet.initial({"eth1": 9001}))
    ran = box.run(systemd=False)
    assert ran.rc == 1
    assert "eth1.101 does not exist" in ran.err and ran.index(platform, "daemon") >= 0


@needs_namespaces
def test_networkd_not_running_is_said(tmp_path: Path) -> None:
    box = Router(tmp_path, "networkd", "frr")
    box.edit(networkd_active=False)
    box.push(dx_of("networkd", "frr"))
    ran = box.run()
    assert ran.rc == 1
    assert "systemd-networkd is not running: the files in /etc/systemd/network take effect when " \
           "it runs" in ran.err
    assert ran.ran("networkctl") == []


@needs_namespaces
def test_ifupdown_parent_gets_its_mtu_and_an_unknown_record_is_cleared(tmp_path: Path) -> None:
    box = Router(tmp_path, "ifupdown", "openbgpd")
    box.set_state(fakenet.initial({"eth1": 1500}))
    box.edit(ifstate=["eth1.101"])  # a record ifupdown kept of a VLAN deleted behind its back
    box.push(dx_of("ifupdown", "openbgpd"))
    ran = box.run()
    assert ran.rc == 0, ran.out + ran.err
    assert ran.links["eth1"]["mtu"] == 9001 and ran.links["eth1.101"]["mtu"] == 9001
    assert ran.log.index("ifup eth1") < ran.log.index("ifup eth1.101")
    assert ran.log.index("ifdown --force eth1.101") < ran.log.index("ifup eth1.101")
    # a parent carrying the default route is left to its own configuration
    box.edit(defaults=["eth1"])
    box.push(changed(dx_of("ifupdown", "openbgpd"), "interface_mtu", 9100))
    ran = box.run()
    assert "eth1 carries a default route or this session: left as it is" in ran.out
    assert ran.links["eth1"]["mtu"] == 9001


# --- with the real ip and kernel ---------------------------------------------------------------

@needs_namespaces
def test_real_kernel_the_daemon_reloads_only_once_ipv6_duplicate_address_detection_is_done(
        tmp_path: Path) -> None:
    """The live tests' router: links named as the VLANs (veth here: no 802.1Q in this kernel)
    carrying their addresses, no systemd. The real ``ip`` output is read: the IPv6 address,
    added without nodad, is tentative at first, and the daemon reloads only after it is usable."""
    namespace = f"dxr{os.getpid()}"
    box = Router(tmp_path, "networkd", "openbgpd")
    box.push(dx_of("networkd", "openbgpd"))
    # the daemon's reload shows what the kernel has at that moment
    (box.bin / "bgpctl").write_text(
        f"#!/bin/sh\n{{ echo \"bgpctl $*\"; ip -o addr show dev eth1.101; }} >> {box.fake}/log\n")
    (box.bin / "sleep").write_text(
        f"#!/bin/sh\necho \"sleep $*\" >> {box.fake}/log\nexec /bin/sleep \"$@\"\n")
    for tool in ("ip", "networkctl", "systemctl", "ifup", "ifdown", "ifquery"):
        (box.bin / tool).unlink()  # the real ones, or none
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        def inside(*args: str) -> None:
            subprocess.run(["ip", "-n", namespace, *args], check=True, capture_output=True)

        for vlan, addrs in ((101, V101), (102, V102)):
            inside("link", "add", f"eth1.{vlan}", "type", "veth", "peer", "name", f"peer{vlan}")
            for addr in addrs:
                inside("addr", "add", addr, "dev", f"eth1.{vlan}")
            inside("link", "set", f"peer{vlan}", "up")
            inside("link", "set", f"eth1.{vlan}", "up")
        log = box.fake / "log"
        log.write_text("")
        inner = " && ".join([
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={tmp_path}/etc,"
            f"workdir={tmp_path}/etc.work /etc",
            f"mount -t overlay overlay -o lowerdir=/var/lib,upperdir={tmp_path}/var,"
            f"workdir={tmp_path}/var.work /var/lib",
            "mount -t tmpfs tmpfs /run", f"exec sh {box.script}"])
        proc = subprocess.run(["ip", "netns", "exec", namespace, "unshare", "--mount", "sh", "-c",
                               inner], env={**os.environ, "PATH": f"{box.bin}:{os.environ['PATH']}"},
                              capture_output=True, text=True, timeout=waits.allowance(120))
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "systemd is not running: the VLAN interfaces are left as they are" in proc.stdout
    lines = log.read_text().splitlines()
    reload_at = lines.index("bgpctl reload")
    assert [line for line in lines[:reload_at] if line.startswith("sleep")], lines
    at_reload = "\n".join(lines[reload_at + 1:])
    assert "inet6 2600:1f00:1::3/125 scope global" in at_reload
    assert "tentative" not in at_reload
    # forwarding first, then the daemon: asked whether it runs (it does), then reloaded
    asked_at = lines.index("bgpctl show summary")
    assert lines[asked_at - 1] == SYSCTL and asked_at < reload_at
