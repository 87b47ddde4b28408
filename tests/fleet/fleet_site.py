"""The test site: four sshd containers, an inventory that points at them, and its build.

Hosts: web1 and db1 log in as root; web2 is reached through a TCP proxy the tests can cut;
web3 logs in as ``deploy`` and becomes root with sudo. Every host has the built-in ``base`` role
and the inventory's own ``app`` role (a config file, a secret token file, an apply step and
checks); web2 also has ``blob``, one 8 MB file, to cut a connection in the middle of.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fleet_hosts import Fleet, Node
from support.cli import Result, run_cli
from tcp_proxy import CuttingProxy

TOKEN = "tok-7f3a9c1e5b2d4680-do-not-print"
HOSTS = ("web1", "web2", "web3", "db1")


def inventory_files(ports: dict[str, int], key: Path) -> dict[str, str]:
    return {
        "hosts.yml": f"""
            all:
              vars:
                ansible_host: 127.0.0.1
                ansible_user: root
                ansible_ssh_private_key_file: {key}
                bootstrap_roles: [base, app]
              children:
                web:
                  hosts:
                    web1: {{ansible_port: {ports['web1']}}}
                    web2: {{ansible_port: {ports['web2']}, bootstrap_roles: [blob]}}
                    web3: {{ansible_port: {ports['web3']}, ansible_user: deploy,
                            ansible_become: true}}
                db:
                  hosts:
                    db1: {{ansible_port: {ports['db1']}}}
            """,
        "group_vars/all.yml": """
            app_port: 8080
            app_token: {file: secrets/app_token}
            """,
        "secrets/app_token": TOKEN + "\n",
        "roles/app/role.yml": """
            description: a small service with a private token, restarted by its apply step
            apply: mkdir -p /var/lib/app && echo applied >> /var/lib/app/apply.log
            artifacts:
              - template: app/app.conf.j2
                dest: /etc/app/app.conf
                mode: "0644"
              - template: app/token.env.j2
                dest: /etc/app/token.env
                mode: "0600"
            """,
        "templates/app/app.conf.j2": """
            name = {{ host.name }}
            port = {{ vars.app_port }}
            """,
        "templates/app/token.env.j2": """
            TOKEN={{ vars.app_token }}
            """,
        "roles/app/checks.py": '''
            import pytest


            def test_token_file_is_private(host):
                token = host.file("/etc/app/token.env")
                assert (token.mode, token.user) == (0o600, "root")


            def test_token_file_has_no_debug_switch(host):
                content = host.file("/etc/app/token.env").content_string
                assert "DEBUG" not in content, f"token.env reads: {content}"


            def test_config_has_the_inventory_port(host, hostvars):
                config = host.file("/etc/app/app.conf").content_string
                assert f"port = {hostvars['app_port']}" in config


            @pytest.mark.parametrize("path", ["/etc/app/app.conf", "/etc/app/token.env"])
            def test_files_belong_to_root(host, path):
                assert host.file(path).group == "root"


            def test_service_is_running(host):
                if not host.exists("systemctl"):
                    pytest.skip("no service manager on this host")
                assert host.service("app").is_running
            ''',
        "roles/blob/role.yml": """
            description: one large file
            artifacts:
              - template: blob/blob.bin.j2
                dest: /var/lib/app/blob.bin
            """,
        "templates/blob/blob.bin.j2": '{{ "0123456789abcdef" * 524288 }}',
    }


@dataclass
class Site:
    """The running fleet with its inventory and build, and shortcuts for the commands."""

    fleet: Fleet
    nodes: dict[str, Node]
    proxy: CuttingProxy
    inventory: Path
    build: Path

    def push(self, *args: str | Path) -> Result:
        return run_cli("push", self.inventory, "--build", self.build,
                       "--known-hosts", self.fleet.known_hosts, "--retries", "1", *args)

    def verify(self, *args: str | Path) -> Result:
        return run_cli("verify", self.inventory, "--build", self.build,
                       "--known-hosts", self.fleet.known_hosts, "--retries", "1", *args)

    def on(self, host: str, script: str, check: bool = True) -> str:
        return self.fleet.exec(self.nodes[host], script, check=check)
