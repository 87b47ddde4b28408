"""push waits for cloud-init on hosts with the cloud-init role, and says what it found.

Two hosts have the role: ``booting`` runs Debian's cloud-init (NoCloud seed) from the moment
the test starts it, with user-data that takes a few seconds and then fails; ``plain`` has no
cloud-init installed at all.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_hosts import (
    PACKAGES,
    SETUP,
    START,
    Fleet,
    Node,
    docker,
    free_port,
    scan,
    wait_for_ssh,
)
from support import waits
from support.cli import run_cli, write_tree

USER_DATA = """#cloud-config
runcmd:
  - [sh, -c, "sleep 4; echo ran > /var/tmp/runcmd-ran; exit 3"]
"""
CLOUD_INIT_SETUP = SETUP + """
echo 'datasource_list: [NoCloud, None]' > /etc/cloud/cloud.cfg.d/99-datasource.cfg
mkdir -p /var/lib/cloud/seed/nocloud
echo 'instance-id: booting-1' > /var/lib/cloud/seed/nocloud/meta-data
"""
STAGES = ("cloud-init init --local; cloud-init init; cloud-init modules --mode=config; "
          "cloud-init modules --mode=final")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Node, Node, Path]]:
    missing = docker.available()
    if missing:
        pytest.skip(f"docker fleet: {missing}")
    daemon = docker.ensure_daemon()
    work = tmp_path_factory.mktemp("cloud-init")
    fleet = Fleet(work / "ssh", 1, prefix="push-plain")
    plain = fleet.nodes[0]
    booting = Node(docker.unique("push-booting"), free_port())
    try:
        tag = docker.image("fleet-host-cloud-init", [*PACKAGES, "cloud-init"], CLOUD_INIT_SETUP)
        fleet.start()
        fleet.nodes.append(booting)  # removed with the others
        # cloud-init reads PID 1's environment, which sshd rewrites with its process title:
        # here sshd runs in the background and PID 1 only sleeps.
        start = START.format(key=fleet.public_key, port=booting.port)
        start = start.replace("exec /usr/sbin/sshd -D -e", "/usr/sbin/sshd -e") + "exec sleep infinity\n"
        docker.run(tag, booting.container, ["sh", "-c", start])
        wait_for_ssh(booting.port)
        with fleet.known_hosts.open("a") as known:
            known.write(scan(booting.port))
        yield fleet, booting, plain, work
    finally:
        fleet.remove()
        docker.stop_daemon(daemon)


def test_push_waits_for_cloud_init_and_says_what_it_found(
        hosts: tuple[Fleet, Node, Node, Path]) -> None:
    fleet, booting, plain, work = hosts
    inventory = write_tree(work / "inventory", {
        "hosts.yml": f"""
            all:
              vars:
                ansible_host: 127.0.0.1
                ansible_user: root
                ansible_ssh_private_key_file: {fleet.key}
                bootstrap_roles: [base, cloud-init]
              hosts:
                booting: {{ansible_port: {booting.port}}}
                plain: {{ansible_port: {plain.port}}}
            """,
        # Only the role's ready hook matters to push; the built-in role's user-data is not needed.
        "roles/cloud-init/role.yml": "description: instances that boot with cloud-init\n"
                                     "ready: bootstrap.roles.cloud_init.ready:wait\n",
    })
    assert run_cli("render", inventory, "-o", work / "build").rc == 0
    fleet.exec(booting, f"cat > /var/lib/cloud/seed/nocloud/user-data <<'EOF'\n{USER_DATA}EOF")
    subprocess.run(["docker", "exec", "-d", booting.container, "sh", "-c", STAGES], check=True)

    pushed = run_cli("push", inventory, "--build", work / "build", "--known-hosts",
                     fleet.known_hosts, "--cloud-init-timeout", str(round(waits.allowance(120))))
    assert pushed.rc == 0, pushed.out + pushed.err
    # Push touched the host only once cloud-init was done: runcmd had already run.
    assert fleet.exec(booting, "cat /var/tmp/runcmd-ran") == "ran\n"
    assert re.search(r"^booting\s+\d+\.\d\d s\s+changed 2 files$", pushed.out, re.M)
    assert re.search(r"note: cloud-init reported an error \(exit 1: status: error\); see "
                     r"/var/log/cloud-init-output\.log on the host", pushed.out)
    assert re.search(r"^plain\s+\d+\.\d\d s\s+changed 2 files$", pushed.out, re.M)
    assert "note: cloud-init is not installed: did not wait for it" in pushed.out
