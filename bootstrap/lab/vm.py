"""One lab machine: a QEMU process over a copy-on-write overlay of the image.

A machine boots the image's kernel directly, with its overlay as /dev/vda, the seed as a
read-only CD-ROM-like disk, extra blank disks when asked, user-mode networking with SSH
forwarded on a loopback port, and the lab's public key in the firmware configuration. QEMU
daemonizes and writes its PID; the lab records it and later stops only that PID, and only while
its command line still names the machine's overlay.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bootstrap.errors import BootstrapError
from bootstrap.lab.image import KERNEL_ARGS, KEY_FW_CFG, Image
from bootstrap.lab.state import Lab, Machine, child_dir, remove_file, write_private

QEMU = "qemu-system-x86_64"
ENV_ACCEL = "BOOTSTRAP_LAB_ACCEL"
# Software emulation: 'max' offers every feature QEMU can emulate; the translation cache is
# capped because QEMU's default (1 GiB) doubles the memory each machine takes.
TCG = ["-accel", "tcg,tb-size=256", "-cpu", "max"]
KVM = ["-accel", "kvm", "-cpu", "host"]
PROBE_SECONDS = 20.0
# How long the first boot may take, from power-on to cloud-init's final stage.
READY_SECONDS = {"kvm": 300.0, "tcg": 1200.0}
DISK_SIZE = "1G"
LAB_USER = "root"
DISK_NAME = re.compile(r"/dev/[A-Za-z0-9._:+-][A-Za-z0-9._:+/-]*")
HOST_KEYS = re.compile(r"-----BEGIN SSH HOST KEY KEYS-----\r?\n(.*?)-----END SSH HOST KEY KEYS",
                       re.S)


class CloudInitFailed(BootstrapError):
    """cloud-init finished with errors: the machine is up and kept for inspection."""


@dataclass(frozen=True)
class Accel:
    name: str  # "kvm" or "tcg"
    reason: str

    @property
    def args(self) -> list[str]:
        return KVM if self.name == "kvm" else TCG


def require_qemu() -> None:
    for program, package in ((QEMU, "qemu-system-x86"), ("qemu-img", "qemu-utils"),
                             ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client")):
        if shutil.which(program) is None:
            raise BootstrapError(f"{program} is not installed (Debian package {package}; see "
                                 f"requirements/apt-lab.txt)")


def lab_key(lab: Lab) -> Path:
    """The lab's own SSH key (made once), which logs in as root on every lab machine."""
    folder = child_dir(lab.root, "key")
    key = folder / "id_ed25519"
    if not os.path.isfile(key):
        for stale in (key, Path(f"{key}.pub")):
            remove_file(stale)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bootstrap-lab",
                        "-f", str(key)], check=True, capture_output=True)
    return key


def accel(lab: Lab, image: Image) -> Accel:
    """KVM if it boots this image's kernel here, software emulation otherwise (remembered
    per image and host kernel, since finding out costs a short boot)."""
    forced = os.environ.get(ENV_ACCEL, "")
    if forced in ("kvm", "tcg"):
        return Accel(forced, f"{ENV_ACCEL}={forced}")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return Accel("tcg", "no usable /dev/kvm")
    memo = lab.root / "accel.json"
    key = f"{image.digest} {os.uname().release}"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if key not in known:
        works = _kvm_boots(image, lab)
        known[key] = "kvm" if works else "tcg"
        write_private(memo, json.dumps(known, indent=2).encode(), 0o644)
    if known[key] == "kvm":
        return Accel("kvm", "/dev/kvm boots the image's kernel")
    return Accel("tcg", "/dev/kvm is present but does not boot the image's kernel")


def _kvm_boots(image: Image, lab: Lab) -> bool:
    """Does a KVM guest print the kernel's banner within a few seconds? (Some hypervisors
    offer /dev/kvm yet stall or abort on a stock kernel.)"""
    console = lab.root / f".kvm-probe.{os.getpid()}.log"
    proc = subprocess.Popen(
        [QEMU, "-name", f"bootstrap-lab-probe-{secrets.token_hex(4)}", *KVM, "-m", "256",
         "-nodefaults", "-display", "none", "-no-reboot", "-kernel", str(image.kernel),
         "-append", "console=ttyS0 panic=-1", "-serial", f"file:{console}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + PROBE_SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            if b"Linux version" in _read(console):
                return True
            time.sleep(0.5)
        return b"Linux version" in _read(console)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        remove_file(console)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def free_port() -> int:
    """A loopback port the kernel says is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Files:
    """A machine's files in its folder of the lab."""

    folder: Path

    overlay = property(lambda self: self.folder / "disk.qcow2")
    seed = property(lambda self: self.folder / "seed.iso")
    console = property(lambda self: self.folder / "console.log")
    pidfile = property(lambda self: self.folder / "qemu.pid")
    known_hosts = property(lambda self: self.folder / "known_hosts")
    inventory = property(lambda self: self.folder / "inventory.yml")

    def data_disk(self, n: int) -> Path:
        return self.folder / f"data{n}.qcow2"

    def all(self) -> list[Path]:
        extra = [self.folder / n for n in os.listdir(self.folder)
                 if re.fullmatch(r"data[0-9]+\.qcow2", n)]
        return [self.overlay, self.seed, self.console, self.pidfile, self.known_hosts,
                self.inventory, self.folder / "machine.json", *extra]


def check_disk_name(name: str) -> str:
    """``name`` if it can name a blank disk in the guest (a path under /dev, one word)."""
    parts = name.split("/")
    if (not DISK_NAME.fullmatch(name) or len(name) > 200
            or any(p in ("", ".", "..") for p in parts[2:]) or re.fullmatch(r"/dev/vd[a-z]+", name)):
        raise BootstrapError(f"--disk {name!r}: give a device path under /dev, such as "
                             f"/dev/nvme1n1 or /dev/disk/by-id/NAME (not /dev/vd*)", key="--disk")
    return name


def start(lab: Lab, image: Image, host: str, *, accel_: Accel, disks: int, memory: int,
          key: Path, disk_names: tuple[str, ...] = (), nics: tuple[str, ...] = ()) -> Machine:
    """Boot ``host`` (its seed already written) with ``disks`` blank disks, the first ones
    also known in the guest by ``disk_names``, and ``nics`` (QEMU arguments of more network
    cards, eth1... in the guest); the machine as recorded."""
    files = Files(lab.machine_dir(host))
    for stale in (files.overlay, files.console, files.pidfile, files.known_hosts):
        remove_file(stale)
    _qemu_img(["create", "-q", "-f", "qcow2", "-b", str(image.disk), "-F", "raw",
               str(files.overlay)])
    # Every disk is an explicit device, in this order, so the guest names them in this order:
    # /dev/vda the root, /dev/vdb the seed, /dev/vdc... the blank disks.
    drives = ["-drive", f"file={files.overlay},if=none,id=root,format=qcow2",
              "-device", "virtio-blk-pci,drive=root",
              "-drive", f"file={files.seed},if=none,id=seed,format=raw,readonly=on",
              "-device", "virtio-blk-pci,drive=seed"]
    for n in range(1, disks + 1):
        disk = files.data_disk(n)
        remove_file(disk)
        _qemu_img(["create", "-q", "-f", "qcow2", str(disk), DISK_SIZE])
        # The serial shows in the guest as /dev/disk/by-id/virtio-lab-data<N>.
        drives += ["-drive", f"file={disk},if=none,id=data{n},format=qcow2",
                   "-device", f"virtio-blk-pci,drive=data{n},serial=lab-data{n}"]
    names = [f"bootstrap.lab.disk{n}={check_disk_name(d)}" for n, d in enumerate(disk_names, 1)]
    name = f"bootstrap-lab-{host}-{secrets.token_hex(4)}"
    last = ""
    for _attempt in range(3):
        port = free_port()
        args = [QEMU, "-name", name, "-nodefaults", *accel_.args, "-m", str(memory), "-smp", "1",
                "-kernel", str(image.kernel), "-initrd", str(image.initrd),
                "-append", " ".join([KERNEL_ARGS, *names]), *drives,
                "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
                "-device", "virtio-net-pci,netdev=n0", *nics, "-device", "virtio-rng-pci",
                "-fw_cfg", f"name={KEY_FW_CFG},file={key}.pub",
                "-display", "none", "-serial", f"file:{files.console}",
                "-pidfile", str(files.pidfile), "-daemonize"]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            pid = int(files.pidfile.read_text().strip())
            machine = Machine(host, pid, port, LAB_USER, str(key), image.folder.name, accel_.name)
            lab.record(machine)
            return machine
        last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        if "hostfwd" not in last and "host forwarding" not in last:
            break  # not a port taken between our check and QEMU's bind: retrying cannot help
    remove_file(files.overlay)
    raise BootstrapError(f"QEMU did not start: {last}", host=host)


def _qemu_img(args: list[str]) -> None:
    result = subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BootstrapError(f"qemu-img {args[0]} failed: {result.stderr.strip()}")


def ssh_command(machine: Machine, files: Files, command: str, *, connect_timeout: int = 10
                ) -> list[str]:
    return ["ssh", "-i", machine.key, "-p", str(machine.ssh_port), "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
            "-o", f"UserKnownHostsFile={files.known_hosts}", "-o", "HashKnownHosts=no",
            # The machine was started just now and answers on loopback only: its first key is
            # recorded, and checked below against the keys cloud-init printed on its console.
            "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR",
            f"{machine.user}@127.0.0.1", command]


def wait_ready(lab: Lab, machine: Machine, timeout: float,
               say: Callable[[str], None]) -> str:
    """Wait for cloud-init's final stage; its ``status --long`` (errors raise)."""
    files = Files(lab.machine_dir(machine.host))
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not alive(machine, files):
            raise BootstrapError(f"the machine stopped while booting; its console: "
                                 f"{files.console} ({_tail(files.console)})", host=machine.host)
        left = max(1, int(deadline - time.monotonic()))
        try:
            result = subprocess.run(
                ssh_command(machine, files, "cloud-init status --wait >/dev/null; "
                                            "cloud-init status --long"),
                capture_output=True, text=True, timeout=left, check=False)
        except subprocess.TimeoutExpired:
            break
        if result.returncode != 255:  # 255: ssh itself failed (not up yet)
            _check_host_key(files, machine.host)
            if "status: done" not in result.stdout:
                said = "; ".join(line.strip() for line in result.stdout.splitlines()
                                 if line.strip())
                raise CloudInitFailed(f"cloud-init did not finish cleanly ({said[:400]}); the "
                                      f"machine keeps running to be inspected (`bootstrap lab "
                                      f"verify`, ssh), then `bootstrap lab down {machine.host}`",
                                      host=machine.host)
            return result.stdout
        last = result.stderr.strip()
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
    raise BootstrapError(f"cloud-init was not done after {timeout:.0f} s ({last or 'no answer'}); "
                         f"console: {files.console}", host=machine.host)


def _check_host_key(files: Files, host: str) -> None:
    """The key ssh recorded must be one cloud-init printed on the console, when it printed any."""
    printed = HOST_KEYS.search(_read(files.console).decode(errors="replace"))
    if not printed:
        return
    keys = {tuple(line.split()[:2]) for line in printed.group(1).splitlines() if line.strip()}
    for line in _read(files.known_hosts).decode().splitlines():
        parts = line.split()
        if len(parts) >= 3 and (parts[1], parts[2]) not in keys:
            raise BootstrapError("the machine's SSH host key is not one its console printed: "
                                 "another process answered on its port", host=host)


def _tail(path: Path) -> str:
    lines = _read(path).decode(errors="replace").strip().splitlines()
    return lines[-1][:200] if lines else "empty"


def alive(machine: Machine, files: Files) -> bool:
    """Is ``machine.pid`` still this machine's QEMU (its command line names its overlay)?"""
    try:
        raw = Path(f"/proc/{machine.pid}/cmdline").read_bytes()
    except OSError:
        return False
    argv = raw.split(b"\0")
    return (os.path.basename(argv[0]).startswith(b"qemu-system")
            and any(a.startswith(f"file={files.overlay},".encode()) for a in argv))


def stop(lab: Lab, host: str) -> str:
    """Stop ``host``'s machine if it is still the lab's, and remove its files; what was done."""
    folder = lab.machine_dir(host)
    files = Files(folder)
    machine = lab.recorded(host)
    said = "no machine was running"
    if machine is not None:
        if alive(machine, files):
            os.kill(machine.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while alive(machine, files) and time.monotonic() < deadline:
                time.sleep(0.2)
            if alive(machine, files):
                os.kill(machine.pid, signal.SIGKILL)
            said = f"stopped QEMU PID {machine.pid}"
        else:
            said = f"PID {machine.pid} is no longer this machine's QEMU: left alone"
    for path in files.all():
        remove_file(path)
    with contextlib.suppress(OSError):  # something not the lab's is in it: left for its owner
        os.rmdir(folder)
    return said


def write_inventory(machine: Machine, files: Files) -> None:
    """The inventory fragment that points push and verify at the machine."""
    text = (f"# bootstrap lab: host {machine.host} runs in a local machine (QEMU PID "
            f"{machine.pid}); host keys: {files.known_hosts}\n"
            f"all:\n  hosts:\n    {json.dumps(machine.host)}:\n"
            f"      ansible_host: 127.0.0.1\n"
            f"      ansible_port: {machine.ssh_port}\n"
            f"      ansible_user: {machine.user}\n"
            f"      ansible_ssh_private_key_file: {json.dumps(machine.key)}\n")
    write_private(files.inventory, text.encode(), 0o644)
