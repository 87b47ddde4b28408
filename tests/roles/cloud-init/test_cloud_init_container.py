"""cloud-init itself runs a rendered user-data in a container, through the NoCloud datasource.

The host's user-data is gzip-compressed MIME: the merged #cloud-config and a role's bootstrap
script. Inventory values carry shell payloads that would each create a /tmp/pwned-* file if
anything executed them. cloud-init's four stages run as on a first boot; the tests then look at
what a user would check on the instance, and run the role's own checks through testinfra.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

import pytest
from support import docker
from support.cli import ROOT, run_cli, write_tree
from support.userdata import APP_ROLE, inventory, report

IMAGE_PACKAGES = ["cloud-init", "locales", "sudo", "openssh-server"]
# The datasource is the seed folder only, and cloud-init leaves the network alone.
IMAGE_SETUP = r"""
printf 'datasource_list: [ NoCloud, None ]\n' > /etc/cloud/cloud.cfg.d/98-test-datasource.cfg
printf 'network: {config: disabled}\n' > /etc/cloud/cloud.cfg.d/99-test-no-network.cfg
sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
locale-gen
"""
STAGES = ("cloud-init init --local && cloud-init init && cloud-init modules --mode config"
          " && cloud-init modules --mode final")
SEED = "/var/lib/cloud/seed/nocloud"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd3bW9ZbUNhcGhvMWp0c2xRVmZ6WG1aTnp0Zz09 ops@example"
APP_NAME = "shop$(touch /tmp/pwned-app)`touch /tmp/pwned-app2`'\";"
GECOS = "O'Brien $(touch /tmp/pwned-gecos) `touch /tmp/pwned-bt`; \"x\""
TOKEN = "t0ken-$(touch /tmp/pwned-secret)"
ENV_FILE = "A=1\nB='$(touch /tmp/pwned-file)'\nC=`touch /tmp/pwned-file2`; echo \"q\"\n"


@dataclass
class Booted:
    name: str
    build: Path
    phoned: list[tuple[str, dict[str, list[str]]]]


class _PhoneHome(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, list[str]]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.received.append((self.path, parse_qs(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    missing = docker.available()
    if missing:
        pytest.skip(f"cloud-init container: {missing}")
    daemon = docker.ensure_daemon()
    handler = type("Handler", (_PhoneHome,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    name = docker.unique("cloud-init-node")
    try:
        tag = docker.image("cloud-init", IMAGE_PACKAGES, IMAGE_SETUP)
        work = tmp_path_factory.mktemp("cloud-init")
        inv = inventory(lambda files, name: write_tree(work / name, files), {"node1": {
            "bootstrap_roles": ["cloud-init", "app"],
            "app_name": APP_NAME,
            "cloud_init": {
                "gzip": "always",
                "users": [{"name": "ops", "groups": ["adm"], "sudo": True, "gecos": GECOS,
                           "shell": "/bin/bash", "ssh_authorized_keys": [KEY]}],
                "write_files": [
                    {"path": "/etc/app/app.env", "content": ENV_FILE, "mode": "0640",
                     "owner": "root:ops"},
                    {"path": "/home/ops/notes.txt", "content": "héllo ✓\n", "owner": "ops:ops"},
                    {"path": "/etc/app/token", "content": {"file": "secrets/token"},
                     "mode": "0600"},
                ],
                # Installed from Debian's mirror, as an instance would (the container shares
                # this machine's network).
                "packages": ["jq"],
                "runcmd": ["echo own >> /var/lib/app/order"],
                "phone_home": f"http://127.0.0.1:{server.server_address[1]}/$INSTANCE_ID",
            }}}, {**APP_ROLE, "secrets/token": TOKEN + "\n"})
        build = work / "build"
        rendered = run_cli("render", inv, "-o", build)
        assert rendered.rc == 0, rendered.err
        docker.run(tag, name, ["sleep", "infinity"])
        meta = work / "meta-data"
        meta.write_text("instance-id: iid-node1\nlocal-hostname: node1\n")
        docker.exec_(name, ["mkdir", "-p", SEED])
        for source, dest in ((build / "node1" / "user-data", "user-data"), (meta, "meta-data")):
            subprocess.run(["docker", "cp", str(source), f"{name}:{SEED}/{dest}"], check=True,
                           capture_output=True)
        stages = docker.exec_(name, ["sh", "-c", STAGES], check=False)
        assert stages.returncode == 0, stages.stdout[-3000:] + stages.stderr[-3000:]
        yield Booted(name, build, handler.received)
    finally:
        docker.remove(name)
        server.shutdown()
        server.server_close()
        docker.stop_daemon(daemon)


def sh(booted: Booted, command: str) -> str:
    return docker.exec_(booted.name, ["sh", "-c", command]).stdout


def test_the_user_data_is_gzip_mime_with_a_script(booted):
    summary = report(booted.build, "node1")
    assert summary["gzip"] is True and summary["format"] == "mime"
    assert [p["content_type"] for p in summary["parts"]] == ["text/cloud-config",
                                                            "text/x-shellscript"]


def test_cloud_init_finishes_without_error(booted):
    status = sh(booted, "cloud-init status --long")
    assert "status: done" in status
    assert "DataSourceNoCloud" in status


def test_files_have_their_content_mode_and_owner(booted):
    assert sh(booted, "stat -c '%a %U:%G' /etc/app/app.env") == "640 root:ops\n"
    assert sh(booted, "cat /etc/app/app.env") == ENV_FILE
    assert sh(booted, "stat -c '%a %U:%G' /home/ops/notes.txt") == "644 ops:ops\n"
    assert sh(booted, "cat /home/ops/notes.txt") == "héllo ✓\n"
    # The role's file artifact, with the mode its role.yml gives it.
    assert sh(booted, "stat -c '%a %U:%G' /etc/app/app.conf") == "600 root:root\n"
    expected = (booted.build / "node1" / "files/etc/app/app.conf").read_text()
    assert sh(booted, "cat /etc/app/app.conf") == expected
    # A secret from the inventory's secrets folder: the user-data holding it is private too.
    assert sh(booted, "stat -c '%a %U:%G' /etc/app/token") == "600 root:root\n"
    assert sh(booted, "cat /etc/app/token") == TOKEN
    assert (booted.build / "node1" / "user-data").stat().st_mode & 0o777 == 0o600


def test_packages_are_installed(booted):
    assert sh(booted, "dpkg-query -W -f '${Status}' jq") == "install ok installed"


def test_users_with_groups_sudo_and_keys(booted):
    entry = sh(booted, "getent passwd ops").rstrip("\n").split(":")
    assert entry[4] == GECOS and entry[6] == "/bin/bash"
    assert "adm" in sh(booted, "id -nG ops").split()
    assert sh(booted, "cat /home/ops/.ssh/authorized_keys").splitlines() == [KEY]
    assert "ops ALL=(ALL) NOPASSWD:ALL" in sh(booted, "cat /etc/sudoers.d/90-cloud-init-users")


def test_bootstrap_script_ran_before_runcmd_in_role_order(booted):
    assert sh(booted, "cat /var/lib/app/bootstrap.done") == APP_NAME + "\n"
    assert sh(booted, "cat /var/lib/app/order") == "script\nown\nfragment\n"


def test_the_script_stays_installed_where_its_manifest_says(booted):
    # What push would install, so verify's manifest check holds after the first boot too.
    [entry] = [f for f in json.loads((booted.build / "node1" / "manifest.json").read_text())[
        "files"] if f["dest"] == "/usr/local/sbin/app-bootstrap"]
    assert sh(booted, "stat -c '%a %U:%G' /usr/local/sbin/app-bootstrap") == "755 root:root\n"
    assert entry["mode"] == "0755"
    expected = (booted.build / "node1" / "files/usr/local/sbin/app-bootstrap").read_text()
    assert sh(booted, "cat /usr/local/sbin/app-bootstrap") == expected


def test_no_payload_ran(booted):
    # The same search finds a file that is there, so an empty answer means none was made.
    assert sh(booted, "find / -xdev -name 'bootstrap.done' 2>/dev/null") == "/var/lib/app/bootstrap.done\n"
    assert sh(booted, "find / -xdev -name 'pwned*' 2>/dev/null") == ""


def test_phone_home_reported_the_instance(booted):
    [(path, form)] = booted.phoned
    assert path == "/iid-node1"
    assert form["instance_id"] == ["iid-node1"] and form["hostname"] == ["node1"]


def _checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cloud_init_checks",
                                                  ROOT / "roles/cloud-init/checks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_args(booted: Booted) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    import testinfra

    host = testinfra.get_host(f"docker://{booted.name}")
    shown = run_cli("inventory", booted.build.parent / "inv", "--host", "node1")
    manifest = json.loads((booted.build / "node1" / "manifest.json").read_text())
    return host, json.loads(shown.out), manifest


def test_role_checks_pass_on_the_instance(booted):
    checks = _checks()
    args = _check_args(booted)
    names = sorted(n for n in vars(checks) if n.startswith("test_"))
    assert names == ["test_boot_finished", "test_cloud_init_done", "test_files", "test_hostname",
                     "test_users"]
    for name in names:
        getattr(checks, name)(*args)


def test_role_checks_see_drift(booted):
    checks = _checks()
    args = _check_args(booted)
    sh(booted, "chmod 0666 /etc/app/app.env")
    try:
        with pytest.raises(AssertionError, match=r"/etc/app/app\.env has mode 0666, expected 0640"):
            checks.test_files(*args)
    finally:
        sh(booted, "chmod 0640 /etc/app/app.env")
    sh(booted, "mv /var/lib/cloud/instance/boot-finished /tmp/bf")
    try:
        with pytest.raises(AssertionError, match="the final stage never ended"):
            checks.test_boot_finished(*args)
    finally:
        sh(booted, "mv /tmp/bf /var/lib/cloud/instance/boot-finished")
