"""A host boots in the lab from its exact built user-data, and ``bootstrap verify`` passes on it.

One real machine (QEMU, KVM where it works, software emulation otherwise): the host has the
cloud-init role with a user, a file, a command and the RAID1 recipe over two EC2-style device
names (``/dev/sdf``, ``/dev/sdg``, as amazon-ec2-utils links them on Nitro instances; ``lab
up -i`` attaches them from the settings), and gzip user-data. ``lab up`` waits for
cloud-init's final stage; ``bootstrap verify`` reaches the machine through the inventory fragment
``lab up`` wrote; ``lab down`` leaves no QEMU and no disk behind. The image is built once per
machine and reused (``BOOTSTRAP_LAB_DIR`` or the lab's default folder).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import waits
from support.cli import write_tree
from support.lab import after_reboot, bootstrap, rendered, ssh_command, words

HOST = "lab-ci-web"
MISSING = [p for p in ("qemu-system-x86_64", "qemu-img") if shutil.which(p) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"QEMU is not installed ({', '.join(MISSING)}"
                                                      f"; see requirements/apt-lab.txt)")


def _qemu_of(lab: Path) -> list[int]:
    """PIDs of QEMU processes whose command line names a disk of this lab's machine."""
    marker = str(lab / "machines" / HOST).encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"qemu-system") and marker in cmdline:
                found.append(int(entry))
    return found


@pytest.fixture
def machine(lab_dir: Path, tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "ops")],
                   check=True)
    ops_key = (tmp_path / "ops.pub").read_text().strip()
    inventory = write_tree(tmp_path / "inventory", {"hosts.yml": f"""
        all:
          hosts:
            {HOST}:
              bootstrap_roles: [cloud-init]
              cloud_init:
                gzip: always
                users:
                  - {{name: ops, sudo: true, shell: /bin/bash, ssh_authorized_keys: ["{ops_key}"]}}
                write_files:
                  - {{path: /etc/lab-marker, content: "written from the inventory\\n", mode: "0640"}}
                runcmd:
                  - echo ran > /var/tmp/runcmd-ran
                raid1: {{devices: [/dev/sdf, /dev/sdg], mount: /data, label: labdata}}
        """})
    build = tmp_path / "build"
    with rendered(lab_dir, HOST, inventory, build):
        yield lab_dir, inventory, build


def test_a_host_boots_from_its_user_data_and_verify_passes_through_the_fragment(
        machine: tuple[Path, Path, Path]) -> None:
    lab, inventory, build = machine
    user_data = (build / HOST / "user-data").read_bytes()
    assert user_data[:2] == b"\x1f\x8b"  # gzip, as EC2 would be given it

    # The disks come from the host's settings: the mirror's two volumes, under their names.
    up = bootstrap("lab", "up", HOST, "-b", build, "-i", inventory, "--lab-dir", lab,
                   seconds=1800)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"{HOST}: cloud-init done after" in up.stdout
    assert ("lab: KVM:" in up.stdout) or ("lab: software emulation (TCG):" in up.stdout)
    assert "2 extra disks" in up.stdout
    folder = lab / "machines" / HOST
    assert len(_qemu_of(lab)) == 1

    # The user's own verify, pointed at the machine by the fragment dropped into the inventory.
    shutil.copy(folder / "inventory.yml", inventory / "zz-lab.yml")
    verify = bootstrap("verify", inventory, "-b", build, "--known-hosts",
                       folder / "known_hosts", seconds=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "1 host (1 ok, 0 not ok)" in verify.stdout and " 0 failed, 0 errors" in verify.stdout
    assert "cloud-init" in verify.stdout or "cloud_init" in verify.stdout

    # lab verify finds the machine up and gives the same report.
    again = bootstrap("lab", "verify", HOST, "-i", inventory, "-b", build, "--lab-dir", lab,
                      seconds=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{HOST}: already up" in again.stdout and "1 host (1 ok, 0 not ok)" in again.stdout

    # What the user-data did on a real kernel: the mirror over the two disks named as on EC2
    # (not by the kernel's vdc/vdd), recorded in mdadm.conf by UUID, assembled under the same
    # name and mounted again after a reboot (so mdadm.conf and the fstab entry are right).
    ssh = ssh_command(lab, HOST)
    state = ("cat /proc/mdstat; findmnt -n -o SOURCE,FSTYPE,LABEL /data; cat /var/tmp/runcmd-ran;"
             " readlink -f /dev/sdf /dev/sdg; grep ^ARRAY /etc/mdadm/mdadm.conf;"
             " mdadm --detail /dev/md0 | sed -n 's/^ *UUID : /uuid=/p'")
    expected = "/dev/md0 ext4 labdata ran /dev/vdc /dev/vdd"
    first = words(subprocess.run([*ssh, state], capture_output=True, text=True,
                                 timeout=waits.allowance(60)).stdout)
    assert "md0 : active raid1" in first and "vdc[0]" in first and "vdd[1]" in first, first
    assert expected in first, first

    boot_id = subprocess.run([*ssh, "cat /proc/sys/kernel/random/boot_id"], capture_output=True,
                             text=True, timeout=waits.allowance(60)).stdout.strip()
    assert boot_id
    subprocess.run([*ssh, "systemctl reboot"], capture_output=True, timeout=waits.allowance(60))
    booted = waits.wait_for("the machine back after a reboot",
                            lambda: after_reboot(ssh, state, boot_id), 600, interval=5)
    array = re.search(r"ARRAY /dev/md0 metadata=1\.2 (?:name=\S+ )?UUID=(\S+) uuid=(\S+)", first)
    assert array and array.group(1) == array.group(2), first  # one ARRAY line, this array's
    assert re.search(r"md0 : active raid1 vd[cd]\[[01]\] vd[cd]\[[01]\]", booted), booted
    assert expected in booted and array.group(0) in booted, booted

    down = bootstrap("lab", "down", HOST, "--lab-dir", lab, seconds=60)
    assert down.returncode == 0 and "stopped QEMU PID" in down.stdout, down
    assert _qemu_of(lab) == []
    assert not folder.exists()
