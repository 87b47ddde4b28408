"""The lab's bootable image: Debian packages assembled by mmdebstrap into a raw ext4 disk.

One image per recipe: its folder under ``images/`` is named by the digest of everything that
decides its content (the suite, the packages, the hooks, the files added), so a changed recipe
builds a new image and an unchanged one is reused. An image is built in a temporary folder and
renamed into place when complete: a folder named by a digest is always a whole image.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bootstrap.errors import BootstrapError
from bootstrap.lab.state import Lab, child_dir, write_private

SYSTEMS = {"debian-12": "bookworm"}
DISK_SIZE = "3G"
# What every lab machine needs to boot from a NoCloud seed and be checked over SSH, and what
# the hosts' recipes use on a real kernel (mdadm for mirrors, VLANs, filesystems), and what a
# Direct Connect rehearsal runs: the three BGP daemons a Linux router may use (BIRD also plays
# the AWS side) and the three ways of writing its VLAN interfaces; Debian's Puppet agent, so a
# Puppet host's user-data finds it installed as on a prepared AMI. One string: these are Debian
# package names, whatever role shares one.
PACKAGES = tuple("""
    linux-image-amd64 initramfs-tools systemd-sysv udev dbus kmod
    cloud-init cloud-guest-utils locales openssh-server sudo
    mdadm e2fsprogs iproute2 ifupdown isc-dhcp-client iputils-ping
    netbase procps less python3 ca-certificates curl gzip
    frr bird2 openbgpd netplan.io puppet-agent
""".split())  # noqa: SIM905
# Set in the image, not by cloud-init: /etc/fstab's root, a hostname until cloud-init sets
# one, the locale cloud-init's locale module expects generated, mdadm's config before mdadm
# installs (its postinst would otherwise scan the build machine), the 802.1Q module at boot,
# and timers that only cost CPU under emulation.
HOOKS = (
    ("essential", 'mkdir -p "$1/etc/mdadm"; echo "MAILADDR root" > "$1/etc/mdadm/mdadm.conf"'),
    ("customize", 'echo "/dev/vda / ext4 errors=remount-ro 0 1" > "$1/etc/fstab"'),
    ("customize", 'echo lab > "$1/etc/hostname"; '
                  'printf "127.0.0.1 localhost\\n127.0.1.1 lab\\n" > "$1/etc/hosts"'),
    ("customize", 'printf "8021q\\n" > "$1/etc/modules-load.d/8021q.conf"'),
    ("customize", 'echo "en_US.UTF-8 UTF-8" > "$1/etc/locale.gen"; chroot "$1" locale-gen; '
                  'echo LANG=en_US.UTF-8 > "$1/etc/default/locale"'),
    ("customize", 'chroot "$1" systemctl mask e2scrub_reap.service e2scrub_all.timer '
                  'apt-daily.timer apt-daily-upgrade.timer fstrim.timer'),
    # Installed, not started: the host's own user-data decides whether the agent runs.
    ("customize", 'chroot "$1" systemctl disable puppet.service'),
    # The lab boots this initrd from outside the machine, so a host's own update-initramfs
    # never reaches it: it must leave data arrays alone (AUTO -all) for the machine's root and
    # its mdadm.conf to assemble them, under the names that file gives, as the host's own
    # initrd would. The machine's mdadm.conf stays Debian's.
    ("customize", 'printf "MAILADDR root\\nAUTO -all\\n" > "$1/etc/mdadm/mdadm.conf"; '
                  'chroot "$1" update-initramfs -u -k all; '
                  'echo "MAILADDR root" > "$1/etc/mdadm/mdadm.conf"'),
)
# The lab's SSH key reaches a machine through QEMU's firmware configuration, not through the
# seed: the seed carries the host's user-data and nothing else it would read. Root's
# authorized_keys2 is a file cloud-init never writes, so the user-data's own keys, users and
# disable_root stay exactly as on EC2.
KEY_FW_CFG = "opt/org.bootstrap.lab/key"
KEY_SCRIPT = f"""#!/bin/sh
# Authorize the key the lab passed to this machine (QEMU fw_cfg {KEY_FW_CFG}) for root.
set -eu
modprobe qemu_fw_cfg 2>/dev/null || true
src=/sys/firmware/qemu_fw_cfg/by_name/{KEY_FW_CFG}/raw
[ -r "$src" ] || exit 0
umask 077
mkdir -p /root/.ssh
cat "$src" > /root/.ssh/authorized_keys2
"""
KEY_UNIT = """[Unit]
Description=Authorize the bootstrap lab's SSH key for root
After=systemd-modules-load.service local-fs.target
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/bootstrap-lab-key

[Install]
WantedBy=multi-user.target
"""
# A blank disk the lab attaches (virtio serial lab-dataN) is /dev/vdc... in the guest, where an
# EC2 instance has /dev/nvme1n1 or /dev/disk/by-id/nvme-Amazon_...: asked with
# ``lab up --disk NAME``, the lab passes bootstrap.lab.diskN=NAME on the kernel command line and
# udev adds NAME as a link to that disk, so the host's user-data runs unchanged.
DISK_SCRIPT = """#!/bin/sh
# Print the name under /dev the lab asked for the disk with serial $1 (lab-dataN), or fail.
n=${1#lab-data}
for word in $(cat /proc/cmdline); do
  case "$word" in bootstrap.lab.disk$n=/dev/*) echo "${word#*=/dev/}"; exit 0;; esac
done
exit 1
"""
DISK_RULE = """# Blank disks of the bootstrap lab also get the name the lab asked for (see the program).
SUBSYSTEM=="block", ENV{DEVTYPE}=="disk", KERNEL=="vd*", ATTR{serial}=="lab-data*", \
  PROGRAM="/usr/local/sbin/bootstrap-lab-disk-name $attr{serial}", SYMLINK+="%c"
"""
# No EC2 instance metadata service answers in the lab, and a request to its address would leave
# through the host's network to whatever answers there: the kernel refuses it before any
# network is up, so user-data that asks IMDS fails over at once, as off EC2.
NO_IMDS_UNIT = """[Unit]
Description=Refuse the EC2 metadata address in the bootstrap lab (no IMDS here)
DefaultDependencies=no
Before=network-pre.target cloud-init-local.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip route replace prohibit 169.254.169.254/32
ExecStart=-/sbin/ip -6 route replace prohibit fd00:ec2::254/128

[Install]
WantedBy=sysinit.target
"""
# The lab boots the image's initrd, never one a machine builds for itself; a host's own
# update-initramfs (the RAID1 recipe runs it) then only needs to finish, and under emulation it
# takes minutes with every module: the machine's initramfs holds the modules its hardware uses.
INITRAMFS_CONF = "# Written by bootstrap lab: the lab boots its own initrd.\nMODULES=dep\n"
FILES = (
    ("etc/initramfs-tools/conf.d/bootstrap-lab.conf", INITRAMFS_CONF, 0o644),
    ("usr/local/sbin/bootstrap-lab-disk-name", DISK_SCRIPT, 0o755),
    ("etc/udev/rules.d/61-bootstrap-lab-disks.rules", DISK_RULE, 0o644),
    ("usr/local/sbin/bootstrap-lab-key", KEY_SCRIPT, 0o755),
    ("etc/systemd/system/bootstrap-lab-key.service", KEY_UNIT, 0o644),
    ("etc/systemd/system/bootstrap-lab-no-imds.service", NO_IMDS_UNIT, 0o644),
    ("etc/systemd/system/sysinit.target.wants/bootstrap-lab-no-imds.service",
     "->/etc/systemd/system/bootstrap-lab-no-imds.service", 0o777),
    ("etc/systemd/system/multi-user.target.wants/bootstrap-lab-key.service",
     "->/etc/systemd/system/bootstrap-lab-key.service", 0o777),
)
# The kernel command line every machine boots with (root is the whole disk, no partition).
KERNEL_ARGS = "root=/dev/vda rw console=ttyS0 net.ifnames=0 ds=nocloud"
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Image:
    """A complete image: a raw root disk, and the kernel and initrd it boots with."""

    system: str
    digest: str
    folder: Path

    @property
    def disk(self) -> Path:
        return self.folder / "base.raw"

    @property
    def kernel(self) -> Path:
        return self.folder / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.folder / "initrd.img"


def recipe(system: str) -> dict[str, object]:
    """Everything that decides the image's content."""
    if system not in SYSTEMS:
        raise BootstrapError(f"--os {system}: the lab builds {', '.join(SYSTEMS)}", key="--os")
    return {"version": RECIPE_VERSION, "system": system, "suite": SYSTEMS[system],
            "packages": sorted(PACKAGES), "hooks": [list(h) for h in HOOKS],
            "files": [list(f) for f in FILES], "size": DISK_SIZE, "kernel_args": KERNEL_ARGS}


def digest(system: str) -> str:
    text = json.dumps(recipe(system), sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:16]


def find(lab: Lab, system: str) -> Image | None:
    """The image of ``system``'s current recipe if it was built, None otherwise."""
    name = f"{system}-{digest(system)}"
    folder = lab.images / name
    try:
        if not os.path.isdir(folder) or os.path.islink(folder):
            return None
    except OSError:
        return None
    image = Image(system, digest(system), folder)
    if all(os.path.isfile(p) and not os.path.islink(p)
           for p in (image.disk, image.kernel, image.initrd)):
        return image
    return None


def build(lab: Lab, system: str, say: Callable[[str], None]) -> tuple[Image, bool]:
    """The image of ``system``, built now if it was not; True when it was built now."""
    found = find(lab, system)
    if found:
        _remove_replaced(lab, found, say)
        return found, False
    _require("mmdebstrap", "mmdebstrap")
    _require("mkfs.ext4", "e2fsprogs")
    if os.geteuid() != 0:
        raise BootstrapError("building the lab image needs root (mmdebstrap writes device "
                             "files and file owners into the image): run "
                             "`sudo bootstrap lab image` once; booting needs no root")
    name = f"{system}-{digest(system)}"
    debs = child_dir(lab.root, "debs")
    _remove_abandoned(lab.images)
    temp = Path(tempfile.mkdtemp(prefix=f".build-{name}.{os.getpid()}.", dir=lab.images))
    started = time.monotonic()
    try:
        say(f"building the {system} image {name} (mmdebstrap, a few minutes)")
        _bootstrap(system, temp, debs)
        _make_disk(temp)
        write_private(temp / "recipe.json", json.dumps(recipe(system), indent=2).encode(), 0o644)
        try:
            os.rename(temp, lab.images / name)
        except OSError:
            # Another build finished the same recipe first: its image is as good as this one.
            if not find(lab, system):
                raise
            shutil.rmtree(temp)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    say(f"built {name} in {time.monotonic() - started:.0f} s")
    image = find(lab, system)
    assert image is not None
    _remove_replaced(lab, image, say)
    return image, True


def _remove_replaced(lab: Lab, current: Image, say: Callable[[str], None]) -> None:
    """Remove the images of ``current``'s system built from earlier recipes (gigabytes each;
    the recipe never goes back), except one a machine of the lab still boots from: its overlay
    needs it. A machine whose record cannot be read might, so then none is removed."""
    in_use = set()
    for host in lab.known_machines():
        machine = lab.recorded(host)
        if machine is None:
            if os.path.lexists(lab.machine_dir(host) / "disk.qcow2"):  # vm.Files.overlay
                return
            continue
        in_use.add(machine.image)
    earlier = re.compile(rf"{re.escape(current.system)}-[0-9a-f]{{16}}")
    for entry in sorted(os.listdir(lab.images)):
        path = lab.images / entry
        if (entry != current.folder.name and earlier.fullmatch(entry) and entry not in in_use
                and os.path.isdir(path) and not os.path.islink(path)):
            shutil.rmtree(path)
            say(f"removed image {entry}: an earlier recipe, no machine boots from it")


def _remove_abandoned(images: Path) -> None:
    """Remove the temporary folders of builds whose process is gone (killed mid-build)."""
    for entry in os.listdir(images):
        found = re.fullmatch(r"\.build-[A-Za-z0-9.-]+?\.([0-9]+)\.[A-Za-z0-9_]+", entry)
        if found and not os.path.exists(f"/proc/{found.group(1)}"):
            path = images / entry
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)


def _require(program: str, package: str) -> None:
    if shutil.which(program) is None:
        raise BootstrapError(f"{program} is not installed (Debian package {package}; "
                             f"see requirements/apt-lab.txt)")


def _bootstrap(system: str, out: Path, debs: Path) -> None:
    args = ["mmdebstrap", "--variant=apt", "--skip=essential/unlink",
            f"--include={','.join(PACKAGES)}",
            "--aptopt=APT::Install-Recommends \"false\"",
            "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/",
            f"--setup-hook=sync-in {debs} /var/cache/apt/archives/"]
    args += [f"--{stage}-hook={command}" for stage, command in HOOKS]
    args += [f"--customize-hook=sync-out /var/cache/apt/archives {debs}",
             f"--customize-hook=cp -L \"$1/vmlinuz\" {out}/vmlinuz; "
             f"cp -L \"$1/initrd.img\" {out}/initrd.img",
             SYSTEMS[system], str(out / "rootfs.tar")]
    _run(args, "mmdebstrap")


def _make_disk(out: Path) -> None:
    root = out / "root"
    root.mkdir()
    # --xattrs keeps file capabilities (ping's cap_net_raw) that a plain extraction drops.
    _run(["tar", "-C", str(root), "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf",
          str(out / "rootfs.tar")], "tar")
    os.unlink(out / "rootfs.tar")
    for dest, content, mode in FILES:
        path = root / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("->"):
            os.symlink(content[2:], path)
        else:
            path.write_text(content)
            os.chmod(path, mode)
    _run(["truncate", "-s", DISK_SIZE, str(out / "base.raw")], "truncate")
    _run(["mkfs.ext4", "-q", "-F", "-L", "rootfs", "-d", str(root), str(out / "base.raw")],
         "mkfs.ext4")
    shutil.rmtree(root)


def _run(args: list[str], what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise BootstrapError(f"{what} failed (exit {result.returncode}): {tail}")
