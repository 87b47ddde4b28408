"""The ready, forget and launch hooks of role.yml work for a user's role as for a built-in one.

The user role here, ``vault-agent`` next to the inventory, registers the host with a Vault
server: launch uploads its token to S3 and gives the instance role the policy its fleet hook
wrote; terminate prints the command that forgets the node; push waits until its agent is up.
Launch and terminate run against moto (see test_launch); push's hook runs in a local shell.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest
import yaml
from support import waits
from support.cli import run_cli, write_tree
from support.cloud import BUCKET, REGION

from bootstrap.build.manifest import parse
from bootstrap.fleet import push
from bootstrap.fleet.pool import FleetHost
from bootstrap.fleet.transport import Result
from bootstrap.hosts.model import Connection
from bootstrap.render.registry import Registry

TOKEN = "VAULT-TOKEN-5f2b9c0e7d"
POLICY = "vault-boot"

ROLE = {
    "roles/vault-agent/role.yml": """
        description: a node that logs in to Vault with a token fetched from S3
        namespace: vault
        model: settings.py:Vault
        fleet: fleet.py:fleet
        launch: launch.py:needs
        forget: forget.py:commands
        ready: ready.py:wait
        """,
    "roles/vault-agent/settings.py": """
        from bootstrap.hosts.model import Secret, Settings

        class Vault(Settings):
            bucket: str
            region: str
            token: Secret
        """,
    "roles/vault-agent/fleet.py": """
        import json

        from bootstrap.render.hooks import instance_trust_policy
        from bootstrap.render.renderer import Artifact

        def doc(value):
            return (json.dumps(value, indent=2, sort_keys=True) + "\\n").encode()

        def fleet(targets):
            buckets = sorted({t.settings["vault"].bucket for t in targets})
            policy = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "s3:GetObject",
                "Resource": [f"arn:aws:s3:::{b}/vault/*" for b in buckets]}]}
            return [Artifact("iam/vault-boot.trust.json", doc(instance_trust_policy()), 0o644,
                             "root:root", "vault-agent"),
                    Artifact("iam/vault-boot.policy.json", doc(policy), 0o644, "root:root",
                             "vault-agent")]
        """,
    "roles/vault-agent/launch.py": """
        from bootstrap.render.hooks import LaunchNeeds, Upload

        def needs(target, settings):
            if settings is None:
                return LaunchNeeds()
            upload = Upload(settings.bucket, f"vault/{target.name}.token", settings.region,
                            settings.token, None)
            return LaunchNeeds(uploads=(upload,), policy="vault-boot")
        """,
    "roles/vault-agent/forget.py": """
        import shlex

        def commands(target, settings, instance_id):
            return [f"vault delete auth/aws/identity-accesslist/{shlex.quote(instance_id)}"]
        """,
    "roles/vault-agent/ready.py": """
        from bootstrap.render.hooks import Ready

        SCRIPT = 'if [ -e "$1/agent.up" ]; then echo up; else echo down; exit 3; fi'

        def wait(host):
            outcome = host.run(SCRIPT, [host.name], timeout=host.timeout)
            if outcome.rc != 0:
                return Ready(failure=f"vault agent is {outcome.output.strip()}")
            return Ready(notes=(f"vault agent is {outcome.output.strip()}",))
        """,
}


def inventory(tmp: Path, ami: str, roles: list[str]) -> Path:
    host = {
        "bootstrap_roles": roles,
        "aws": {"ami": ami, "region": REGION},
        "vault": {"bucket": BUCKET, "region": REGION, "token": {"file": "secrets/token"}},
        "puppet": {"server": "puppet.example.internal"},
        "os_family": "debian",
    }
    inv = write_tree(tmp / "inv", {**ROLE, "secrets/token": TOKEN + "\n"})
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"app1": host}}}))
    return inv


def test_a_user_roles_launch_hook_uploads_its_object_and_grants_its_policy(cloud):
    inv = inventory(cloud.tmp, cloud.ami, ["cloud-init", "ec2-instance", "vault-agent"])
    cloud.render(inv)
    result = cloud.launch(inv, "app1")
    assert result.rc == 0, result.err
    assert TOKEN not in result.out + result.err
    s3 = cloud.client("s3")
    body = s3.get_object(Bucket=BUCKET, Key="vault/app1.token")["Body"].read()
    assert body.decode() == TOKEN  # a secret file's last newline is not part of it
    assert s3.head_object(Bucket=BUCKET, Key="vault/app1.token")["ServerSideEncryption"] == \
        "AES256"
    assert f"app1: s3://{BUCKET}/vault/app1.token uploaded (SSE-S3)" in result.out
    # The instance role carries the policy the role's fleet hook wrote into the build.
    iam = cloud.client("iam")
    written = json.loads((cloud.build / "_fleet/iam/vault-boot.policy.json").read_text())
    assert iam.get_role_policy(RoleName=POLICY, PolicyName=POLICY)["PolicyDocument"] == written
    [instance] = cloud.instances("app1")
    assert instance["IamInstanceProfile"]["Arn"].endswith(f":instance-profile/{POLICY}")

    gone = run_cli("terminate", inv, "app1", "--endpoint-url", cloud.endpoint, env=cloud.env)
    assert gone.rc == 0, gone.err
    assert f"  vault delete auth/aws/identity-accesslist/{instance['InstanceId']}" in gone.out


@pytest.mark.parametrize("roles", [["ec2-instance", "vault-agent", "puppet-agent"],
                                   ["ec2-instance", "puppet-agent", "vault-agent"]])
def test_terminate_prints_each_roles_forget_commands_in_the_hosts_role_order(cloud, roles):
    inv = inventory(cloud.tmp, cloud.ami, roles)
    result = run_cli("terminate", inv, "app1", "--dry-run", "--endpoint-url", cloud.endpoint,
                     env=cloud.env)
    assert result.rc == 0, result.err
    expected = {"vault-agent": "vault delete auth/aws/identity-accesslist/INSTANCE_ID",
                "puppet-agent": "puppetserver ca clean --certname INSTANCE_ID"}
    shown = re.findall(r"^  (.+)$", result.out, re.M)
    assert shown == [expected[r] for r in roles if r in expected]


def _two_policies(cloud, iam_role: str | None = None):
    inv = inventory(cloud.tmp, cloud.ami, ["cloud-init", "ec2-instance", "vault-agent",
                                           "chef-client"])
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    hosts["all"]["hosts"]["app1"]["chef"] = {
        "server_url": "https://chef.example.internal/organizations/fleet",
        "validation_client_name": "fleet-validator", "run_list": ["recipe[base]"],
        "s3": {"bucket": BUCKET, "prefix": "chef", "region": REGION},
        "validation_key": {"file": "secrets/token"}}
    if iam_role:
        hosts["all"]["hosts"]["app1"]["aws"]["iam_role"] = iam_role
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    cloud.render(inv)
    return inv


def test_a_host_asking_for_two_instance_role_policies_must_name_its_role(cloud):
    inv = _two_policies(cloud)
    result = cloud.launch(inv, "app1", "--dry-run")
    assert result.rc == 1
    assert ("host app1: key aws.iam_role: its roles ask for the instance role policies "
            f"chef-{BUCKET}_chef, {POLICY}: name the one instance role that carries them all "
            "with aws.iam_role") in result.err
    assert "hosts.yml:" in result.err
    assert "Traceback" not in result.err
    assert "would call" not in result.out


def test_a_named_instance_role_carries_every_policy_the_hosts_roles_ask_for(cloud):
    inv = _two_policies(cloud, iam_role="app-tier")
    result = cloud.launch(inv, "app1")
    assert result.rc == 0, result.err
    iam = cloud.client("iam")
    assert sorted(iam.list_role_policies(RoleName="app-tier")["PolicyNames"]) == \
        sorted([f"chef-{BUCKET}_chef", POLICY])
    for name in (f"chef-{BUCKET}_chef", POLICY):
        built = json.loads((cloud.build / "_fleet/iam" / f"{name}.policy.json").read_text())
        assert iam.get_role_policy(RoleName="app-tier", PolicyName=name)["PolicyDocument"] == built
    again = cloud.launch(inv, "app1")
    assert again.rc == 0, again.err
    assert f"IAM role app-tier: policy {POLICY} unchanged" in again.out


def test_launch_names_the_role_whose_hook_describes_the_instance(cloud):
    inv = inventory(cloud.tmp, cloud.ami, ["cloud-init", "vault-agent"])
    cloud.render(inv)
    result = cloud.launch(inv, "app1", "--dry-run")
    assert result.rc == 1
    assert "host app1: key bootstrap_roles: has aws settings but not the ec2-instance role: " \
           "add ec2-instance to its bootstrap_roles" in result.err
    assert "hosts.yml:" in result.err


# -- push: ready hooks, run in a local shell ----------------------------------------------------


class LocalShell:
    """A session whose host is this machine, in a folder of the test."""

    def __init__(self, cwd: Path, path: str | None = None) -> None:
        self.cwd = cwd
        self.env = {**os.environ, **({"PATH": path} if path else {})}
        self.closed = False

    def run(self, script: str, args: Sequence[str] = (), *, stdin: Iterable[bytes] = (),
            timeout: float | None = None) -> Result:
        proc = subprocess.run(["sh", "-c", script, "sh", *args], cwd=self.cwd, env=self.env,
                              capture_output=True, timeout=waits.allowance(60))
        return Result(proc.returncode, (proc.stdout + proc.stderr).decode())

    def close(self) -> None:
        self.closed = True


def pushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, roles: list[str],
           shell: LocalShell, timeout: float = 600.0) -> push.HostResult:
    inv = write_tree(tmp_path / "inv", {**ROLE, "hosts.yml": "all: {hosts: {app1: {}}}\n"})
    monkeypatch.setattr(push, "connect", lambda *args: shell)
    host = FleetHost("app1", Connection(), {}, tmp_path / "build" / "app1",
                     parse({"roles": roles, "files": []}, "app1"))
    return push.push_host(host, Registry(inv), push.PushOptions(ready_timeout=timeout))


def test_push_stops_where_a_roles_ready_hook_fails_and_notes_what_it_says(tmp_path, monkeypatch):
    (tmp_path / "app1").mkdir()
    shell = LocalShell(tmp_path)
    failed = pushed(tmp_path, monkeypatch, ["base", "vault-agent"], shell)
    assert (failed.status, failed.reason) == ("failed", "vault agent is down")
    assert failed.describe() == "failed: vault agent is down"
    assert shell.closed

    (tmp_path / "app1" / "agent.up").touch()
    ready = pushed(tmp_path, monkeypatch, ["base", "vault-agent"], LocalShell(tmp_path))
    assert (ready.status, ready.notes) == ("unchanged", ["vault agent is up"])


def fake_bin(tmp_path: Path, cloud_init: str | None) -> str:
    """A PATH with the few tools the wait script uses, and a cloud-init of the test's own."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("sh", "date", "timeout", "sleep", "tail"):
        found = shutil.which(tool)
        assert found is not None
        (folder / tool).symlink_to(found)
    if cloud_init is not None:
        script = folder / "cloud-init"
        script.write_text("#!/bin/sh\n" + cloud_init)
        script.chmod(0o755)
    return str(folder)


@pytest.mark.parametrize(("cloud_init", "timeout", "status", "reason", "notes"), [
    (None, 600, "unchanged", "", ["cloud-init is not installed: did not wait for it"]),
    ('echo "status: done"\n', 600, "unchanged", "", []),
    ('if [ "$2" = --wait ]; then exec sleep 30; fi\necho "status: running"\n', 1, "failed",
     "cloud-init has not finished after 1 s (status: running)", []),
])
def test_push_waits_for_cloud_init_through_the_roles_ready_hook(tmp_path, monkeypatch, cloud_init,
                                                                timeout, status, reason, notes):
    shell = LocalShell(tmp_path, fake_bin(tmp_path, cloud_init))
    result = pushed(tmp_path, monkeypatch, ["base", "cloud-init"], shell, timeout)
    assert (result.status, result.reason, result.notes) == (status, reason, notes)


def test_a_launch_error_names_the_key_under_the_instance_roles_namespace(cloud):
    inv = inventory(cloud.tmp, cloud.ami, ["cloud-init", "ec2-instance"])
    aws = {"ami": cloud.ami, "region": REGION, "launch_template": "shared"}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "vars": {"bootstrap_roles": ["cloud-init", "ec2-instance"]},
        "hosts": {"app1": {"aws": aws}, "app2": {"aws": aws}}}}))
    cloud.render(inv)
    result = cloud.launch(inv, "app1", "app2", "--dry-run")
    assert result.rc == 1
    assert re.search(r"^error: .*hosts\.yml:\d+: host app2: key aws\.launch_template: launch "
                     r"template shared is also host app1's", result.err, re.M), result.err


def test_a_user_role_reads_another_roles_namespace_typed(tmp_path):
    """``reads:`` types another role's namespace on hosts of this role alone, defaults and all."""
    inv = write_tree(tmp_path / "inv", {
        "roles/users-report/role.yml": """
            description: the host's cloud-init users, listed
            reads: [cloud_init]
            artifacts:
              - template: users-report/users.txt.j2
                dest: users.txt
            """,
        "templates/users-report/users.txt.j2": """
            {% for user in host.settings.cloud_init.users %}{{ user.name }} sudo={{ user.sudo }}
            {% endfor %}gzip={{ host.settings.cloud_init.gzip }}
            """,
        "hosts.yml": """
            all:
              hosts:
                web01:
                  bootstrap_roles: [users-report]
                  cloud_init: {users: [{name: deploy}]}
            """,
    })
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 0, result.err
    assert (tmp_path / "build/web01/users.txt").read_text() == "deploy sudo=False\ngzip=auto\n"
    (inv / "roles/users-report/role.yml").write_text(
        (inv / "roles/users-report/role.yml").read_text().replace("[cloud_init]", "cloud_init"))
    result = run_cli("render", inv, "-o", tmp_path / "build")
    assert result.rc == 1 and "reads must list the namespaces" in result.err, result.err
