"""A fleet of sshd hosts in containers built from Debian packages, for push and verify.

Each container runs its own sshd on its own loopback port with its own host key (generated
when the container first starts; a restart keeps it). Root and a ``deploy`` user with
passwordless sudo accept one key pair made for the test session.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support import docker, waits

PACKAGES = ["openssh-server", "python3", "sudo", "procps"]
# Keys are removed from the image so that every container makes its own.
SETUP = """
useradd -m -s /bin/sh deploy
echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy
chmod 0440 /etc/sudoers.d/deploy
rm -f /etc/ssh/ssh_host_*
"""
START = """
mkdir -p /run/sshd /root/.ssh /home/deploy/.ssh
echo '{key}' > /root/.ssh/authorized_keys
cp /root/.ssh/authorized_keys /home/deploy/.ssh/authorized_keys
chown -R deploy:deploy /home/deploy/.ssh
ssh-keygen -A >/dev/null
exec /usr/sbin/sshd -D -e -p {port} -o ListenAddress=127.0.0.1 -o MaxStartups=100
"""


def image() -> str:
    return docker.image("fleet-host", PACKAGES, SETUP)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    """One container: its name in docker and the loopback port of its sshd."""

    container: str
    port: int


class Fleet:
    """Containers started together, with a session key pair and a known_hosts file."""

    def __init__(self, workdir: Path, count: int, prefix: str = "fleet") -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.key = workdir / "id_ed25519"
        if not self.key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bootstrap-test",
                            "-f", str(self.key)], check=True)
        self.public_key = self.key.with_suffix(".pub").read_text().strip()
        self.tag = image()
        self.nodes = [Node(docker.unique(prefix), free_port()) for _ in range(count)]
        self.known_hosts = workdir / "known_hosts"

    def start(self) -> None:
        for node in self.nodes:
            script = START.format(key=self.public_key, port=node.port)
            docker.run(self.tag, node.container, ["sh", "-c", script])
        for node in self.nodes:
            wait_for_ssh(node.port)
        self.known_hosts.write_text("".join(self.scan(n) for n in self.nodes))

    def scan(self, node: Node) -> str:
        return scan(node.port)

    def stop_node(self, node: Node) -> None:
        subprocess.run(["docker", "stop", "-t", "2", node.container], check=True,
                       capture_output=True)

    def start_node(self, node: Node) -> None:
        subprocess.run(["docker", "start", node.container], check=True, capture_output=True)
        wait_for_ssh(node.port)

    def exec(self, node: Node, script: str, check: bool = True) -> str:
        return docker.exec_(node.container, ["sh", "-c", script], check=check).stdout

    def remove(self) -> None:
        for node in self.nodes:
            docker.remove(node.container)


def scan(port: int) -> str:
    """The host keys the sshd on the port offers, as known_hosts lines."""
    out = subprocess.run(["ssh-keyscan", "-p", str(port), "-T", "5", "127.0.0.1"],
                         capture_output=True, text=True, check=True).stdout
    if not out.strip():
        raise RuntimeError(f"ssh-keyscan found no key on port {port}")
    return out


def wait_for_ssh(port: int, timeout: float = 30.0) -> None:
    """Until sshd on the port sends its banner (``timeout``: a quiet machine's figure)."""
    def banner() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=waits.allowance(2)) as sock:
                return sock.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    waits.wait_for(f"sshd on port {port}", banner, timeout, interval=0.1)
