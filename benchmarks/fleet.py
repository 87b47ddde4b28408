"""Push and verify 1, 10 and 20 sshd container hosts, and the same files with ansible-playbook.

    python benchmarks/fleet.py [--forks 20] [--repeat 5] [--sizes 1,10,20]

Starts 20 containers (tests/fleet/fleet_hosts.py), renders an inventory of 20 hosts (the base
role plus a small service role: 5 files per host, one of them secret), then for 1, 10 and 20
hosts: removes the managed files from the hosts, times ``bootstrap push`` (every file
uploaded), then ``bootstrap verify``. Then it removes the files from all 20 hosts again and
times ``ansible-playbook`` copying the same build files with the copy module, over OpenSSH
with the same host keys checked. Each bootstrap timing is the median of --repeat rounds;
each round runs every size once.

The last line is
``ratio push20/push1=X.XX verify20/verify1=Y.YY ansible/push20=Z.ZZ``
(targets at --forks 20: X <= 3, Y <= 3, Z >= 5).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fleet"))

from fleet_hosts import Fleet, docker  # noqa: E402
from support.cli import write_tree  # noqa: E402

from bootstrap.validate.programs import which  # noqa: E402

TOKEN = "bench-token-0123456789"


def inventory(fleet: Fleet, sizes: list[int]) -> dict[str, str]:
    hosts = "\n".join(f"    h{i:02d}: {{ansible_port: {node.port}}}"
                      for i, node in enumerate(fleet.nodes, 1))
    groups = "\n".join(
        f"    n{size}:\n      hosts:\n"
        + "\n".join(f"        h{i:02d}:" for i in range(1, size + 1)) for size in sizes)
    return {
        "hosts.yml": f"""
all:
  vars:
    ansible_host: 127.0.0.1
    ansible_user: root
    ansible_ssh_private_key_file: {fleet.key}
    bootstrap_roles: [base, service]
    service_port: 8080
    service_token: {{file: secrets/token}}
  hosts:
{hosts}
  children:
{groups}
""",
        "secrets/token": TOKEN + "\n",
        "roles/service/role.yml": """
            description: a service with a config, a unit, a token and a script
            artifacts:
              - {template: service/service.conf.j2, dest: /etc/service/service.conf}
              - {template: service/service.unit.j2, dest: /etc/systemd/system/service.service}
              - {template: service/token.j2, dest: /etc/service/token, mode: "0600"}
            """,
        "templates/service/service.conf.j2": "name = {{ host.name }}\nport = {{ vars.service_port }}\n",
        "templates/service/service.unit.j2":
            "[Service]\nExecStart=/usr/bin/true {{ host.name }}\n" + "# padding\n" * 200,
        "templates/service/token.j2": "{{ vars.service_token }}\n",
    }


def bootstrap(*args: str | Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bootstrap", *map(str, args)],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"bootstrap {' '.join(map(str, args[:1]))} failed:\n{proc.stdout}{proc.stderr}")
    return elapsed


def clear(fleet: Fleet, count: int, dests: list[str]) -> None:
    """Remove the managed files, so the next push uploads every one."""
    for node in fleet.nodes[:count]:
        fleet.exec(node, "rm -f " + " ".join(dests))


def ansible_files(build: Path, names: list[str], work: Path) -> tuple[Path, Path]:
    """An INI inventory with each host's files as a var, and a playbook that copies them."""
    lines = ["[all]"]
    for name in names:
        manifest = json.loads((build / name / "manifest.json").read_text())
        files = [{"src": str(build / name / f["path"]), "dest": f["dest"], "mode": f["mode"],
                  "owner": f["owner"].split(":")[0], "group": f["owner"].split(":")[1],
                  "dir": f["dest"].rsplit("/", 1)[0]} for f in manifest["files"]]
        lines.append(f"{name} bootstrap_files='{json.dumps(files)}'")
    hosts = work / "ansible-hosts.ini"
    hosts.write_text("\n".join(lines) + "\n")
    playbook = work / "copy.yml"
    playbook.write_text("""
- hosts: all
  gather_facts: false
  tasks:
    - name: directories
      ansible.builtin.file:
        path: "{{ item }}"
        state: directory
        mode: "0755"
      loop: "{{ bootstrap_files | map(attribute='dir') | unique }}"
    - name: managed files
      ansible.builtin.copy:
        src: "{{ item.src }}"
        dest: "{{ item.dest }}"
        mode: "{{ item.mode }}"
        owner: "{{ item.owner }}"
        group: "{{ item.group }}"
      loop: "{{ bootstrap_files }}"
""")
    return hosts, playbook


def run_ansible(command: str, fleet: Fleet, hosts: Path, playbook: Path, forks: int,
                work: Path) -> float:
    ports = {f"h{i:02d}": node.port for i, node in enumerate(fleet.nodes, 1)}
    host_vars = hosts.parent / "host_vars"  # beside the inventory, where ansible looks
    host_vars.mkdir(exist_ok=True)
    for name, port in ports.items():
        (host_vars / f"{name}.yml").write_text(
            f"ansible_host: 127.0.0.1\nansible_port: {port}\nansible_user: root\n"
            f"ansible_ssh_private_key_file: {fleet.key}\n"
            f"ansible_python_interpreter: /usr/bin/python3\n")
    env = {**os.environ, "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={fleet.known_hosts} "
           "-o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=30s",
           "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp")}
    started = time.perf_counter()
    proc = subprocess.run([command, "-i", str(hosts), "--forks", str(forks),
                           str(playbook)], capture_output=True, text=True, env=env, cwd=work)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="1,10,20", metavar="N,N,...",
                        help="fleet sizes, smallest first (default: 1,10,20)")
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.sizes.split(",")})
    top = sizes[-1]
    if missing := docker.available():
        raise SystemExit(f"needs docker and mmdebstrap: {missing}")
    playbook_cmd = which("ansible-playbook")
    if playbook_cmd is None:
        raise SystemExit("needs ansible-playbook (pip install ansible-core)")
    daemon = docker.ensure_daemon()
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    fleet = Fleet(work / "ssh", top, prefix="bench")
    try:
        started = time.perf_counter()
        fleet.start()
        print(f"{len(fleet.nodes)} hosts up in {time.perf_counter() - started:.1f} s", flush=True)
        inv = write_tree(work / "inventory", inventory(fleet, sizes))
        build = work / "build"
        bootstrap("render", inv, "-o", build)
        manifest = json.loads((build / "h01" / "manifest.json").read_text())
        dests = [f["dest"] for f in manifest["files"]]
        common = ["--build", build, "--known-hosts", fleet.known_hosts, "--forks", str(args.forks)]
        pushes: dict[int, list[float]] = {size: [] for size in sizes}
        verifies: dict[int, list[float]] = {size: [] for size in sizes}
        # Rounds of every size, so that a change in the machine's load weighs on all sizes.
        for _ in range(args.repeat):
            for size in sizes:
                clear(fleet, size, dests)
                pushes[size].append(bootstrap("push", inv, "--limit", f"n{size}", *common))
                verifies[size].append(bootstrap("verify", inv, "--limit", f"n{size}", *common))
        push = {size: statistics.median(times) for size, times in pushes.items()}
        verify = {size: statistics.median(times) for size, times in verifies.items()}
        for size in sizes:
            print(f"{size:2d} hosts x {len(dests)} files: push {push[size]:.2f} s, "
                  f"verify {verify[size]:.2f} s (median of {args.repeat}; push "
                  f"{min(pushes[size]):.2f}-{max(pushes[size]):.2f} s)", flush=True)
        names = [f"h{i:02d}" for i in range(1, top + 1)]
        clear(fleet, top, dests)
        hosts, playbook = ansible_files(build, names, work)
        ansible = run_ansible(playbook_cmd, fleet, hosts, playbook, args.forks, work)
        print(f"{top} hosts x {len(dests)} files: ansible-playbook copy {ansible:.2f} s",
              flush=True)
        # ansible copied what bootstrap built: verify must agree.
        bootstrap("verify", inv, "--limit", f"n{top}", *common)
        low = sizes[0]
        print(f"ratio push{top}/push{low}={push[top] / push[low]:.2f} "
              f"verify{top}/verify{low}={verify[top] / verify[low]:.2f} "
              f"ansible/push{top}={ansible / push[top]:.2f}")
    finally:
        fleet.remove()
        docker.stop_daemon(daemon)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
