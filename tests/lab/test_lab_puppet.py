"""A Puppet agent host boots in the lab from its user-data against a real puppetserver.

The puppetserver is a container on a loopback port; the lab machine reaches it through QEMU's
user-mode gateway (10.0.2.2 is the host's loopback), under the name its certificate carries.
The host's user-data alone (roles cloud-init and puppet-agent, Debian's own agent package, as a
prepared image has it) configures the agent, gets its certificate signed, applies the first
catalog and enables the agent's service; after a reboot systemd starts the service again and it
still reaches the server.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import docker, waits
from support.cli import write_tree
from support.lab import after_reboot, bootstrap, rendered, ssh_command, words
from support.puppetserver import Server, serve

HOST = "lab-ci-pup"
SERVER_NAME = "puppet.lab"
CATALOG_FILE = "/var/tmp/lab-puppet-catalog"
# QEMU's user-mode network: the guest reaches the host's 127.0.0.1 at this address.
GATEWAY = "10.0.2.2"
MISSING = [p for p in ("qemu-system-x86_64", "qemu-img") if shutil.which(p) is None]
pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason=f"QEMU is not installed ({', '.join(MISSING)}; "
                                             f"see requirements/apt-lab.txt)"),
    pytest.mark.skipif(docker.available() is not None, reason=str(docker.available())),
]
SITE = f"""\
node default {{
  file {{ '{CATALOG_FILE}': content => "applied for ${{trusted['certname']}}\\n" }}
}}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    daemon = docker.ensure_daemon()
    try:
        with serve(f"dns_alt_names = localhost,{SERVER_NAME}\nautosign = true\n", {}, SITE,
                   certname=SERVER_NAME) as running:
            yield running
    finally:
        docker.stop_daemon(daemon)


@pytest.fixture
def machine(lab_dir: Path, server: Server, tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    inventory = write_tree(tmp_path / "inventory", {"hosts.yml": f"""
        all:
          hosts:
            {HOST}:
              os_family: debian
              bootstrap_roles: [cloud-init, puppet-agent]
              puppet:
                server: {SERVER_NAME}
                serverport: {server.port}
                package_source: distro
                certname: {HOST}  # off EC2: no instance id to name it by
              cloud_init:
                cloud_config:
                  # Every boot, before the agent: the server's name, as DNS would give it.
                  bootcmd:
                    - grep -q ' {SERVER_NAME}$' /etc/hosts || echo '{GATEWAY} {SERVER_NAME}' >> /etc/hosts
        """})
    build = tmp_path / "build"
    with rendered(lab_dir, HOST, inventory, build):
        yield lab_dir, inventory, build


def test_a_puppet_agent_host_registers_from_its_user_data_and_its_service_survives_a_reboot(
        machine: tuple[Path, Path, Path]) -> None:
    lab, inventory, build = machine
    up = bootstrap("lab", "up", HOST, "-b", build, "--lab-dir", lab, seconds=1800)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"{HOST}: cloud-init done after" in up.stdout

    # Every check verify runs, through the lab: the build's files where its manifest says
    # (the user-data installed them, the agent's script too), the agent installed, its live
    # settings, its certificate signed by the server.
    verify = bootstrap("lab", "verify", HOST, "-i", inventory, "-b", build, "--lab-dir", lab,
                       seconds=300)
    results = dict(re.findall(rf"^{HOST}\s+(\S+::\S+)\s+(\S+)", verify.stdout, re.M))
    assert {"manifest::test_managed_files",
            "puppet-agent::test_agent_certificate_signed"} <= set(results), verify.stdout
    assert set(results.values()) == {"ok"}, verify.stdout
    assert verify.returncode == 0, verify.stdout + verify.stderr

    ssh = ssh_command(lab, HOST)
    state = (f"cat {CATALOG_FILE}; systemctl is-enabled puppet; systemctl is-active puppet; "
             f"puppet config print server certname --section agent")
    first = words(subprocess.run([*ssh, state], capture_output=True, text=True,
                                 timeout=waits.allowance(120)).stdout)
    # The first catalog came from the server, for the certificate it signed.
    assert f"applied for {HOST}" in first, first
    assert "enabled active" in first and f"server = {SERVER_NAME}" in first, first

    boot_id = subprocess.run([*ssh, "cat /proc/sys/kernel/random/boot_id"], capture_output=True,
                             text=True, timeout=waits.allowance(60)).stdout.strip()
    assert boot_id
    subprocess.run([*ssh, f"rm {CATALOG_FILE}; systemctl reboot"], capture_output=True,
                   timeout=waits.allowance(60))
    booted = waits.wait_for("the machine back after a reboot",
                            lambda: after_reboot(ssh, "systemctl is-enabled puppet; "
                                                      "systemctl is-active puppet", boot_id),
                            600, interval=5)
    assert booted == "enabled active", booted

    # The service systemd started reaches the server again: its first run puts back the file
    # the catalog manages, removed before the reboot.
    def applied() -> str | None:
        out = subprocess.run([*ssh, f"cat {CATALOG_FILE}"], capture_output=True, text=True,
                             timeout=waits.allowance(60)).stdout
        return out if out else None

    after = waits.wait_for("the agent service's first run", applied, 600, interval=5)
    assert after.strip() == f"applied for {HOST}", after
