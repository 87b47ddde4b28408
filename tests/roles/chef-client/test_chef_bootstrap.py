"""The rendered first-boot script, run in a Debian container against moto in server mode.

moto plays S3, IAM and STS over HTTP on a loopback port, with request signing and IAM policy
checks switched on: the instance role is created from the build's own trust and access policy
files, the validator key is uploaded where `bootstrap launch` puts it, and the script signs its
GET with the role's temporary credentials (curl --aws-sigv4). The instance metadata service is
a small HTTP server on loopback that hands out an IMDSv2 token, the role's name and those
credentials, as EC2's does.

The Cinc package cannot be downloaded here, so the container has a stand-in
``/opt/cinc/bin/cinc-client`` (the script skips installing a client that is present, as on an
image with the client baked in). The stand-in records what the first converge would see: its
arguments, the validator key and its mode, the node name file, and writes the client key that
registration leaves behind.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support import docker, waits
from support import moto as motolib
from support.cli import ROOT, run_cli
from support.imds import Imds

from bootstrap.roles.chef_client.context import DISTRIBUTIONS

KEY = (ROOT / "inventory" / "secrets" / "chef-demo-validator.pem").read_text()
INSTANCE_ID = "i-0123456789abcdef0"
SCRIPT = "/usr/local/sbin/bootstrap-chef-client"
BUCKET = "fleet-bootstrap"
PAYLOADS = {
    "motd": "$(touch /tmp/pwned-dollar) `touch /tmp/pwned-backtick`",
    "quote": "x'; touch /tmp/pwned-quote; echo '",
    "lines": "a\ntouch /tmp/pwned-newline\n; touch /tmp/pwned-semicolon",
}
STAND_IN = """#!/bin/sh
# Stand-in for the client: records what the first converge gets, then registers.
set -e
if [ "$1" = --version ]; then echo "Cinc Client: 18.4.12"; exit 0; fi
echo "$@" > /tmp/converge-args
stat -c '%a %U' {conf}/validation.pem > /tmp/converge-validation-mode
cp {conf}/validation.pem /tmp/converge-validation.pem
cp {conf}/client.d/node_name.rb /tmp/converge-node-name.rb 2>/dev/null || true
echo "${{CHEF_LICENSE:-}} ${{CHEF_LICENSE_KEY:-}}" > /tmp/converge-license
(umask 077 && echo "client key of this node" > {conf}/client.pem)
"""


@dataclass
class Lab:
    image: str
    moto: motolib.MotoServer
    work: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    missing = docker.available() or motolib.available()
    if missing:
        pytest.skip(f"chef bootstrap in a container: {missing}")
    daemon = docker.ensure_daemon()
    try:
        # Debian's Ruby with chef-config and Ohai stands in for the client's embedded Ruby.
        image = docker.image("chef-node", ["curl", "ca-certificates", "ruby", "ruby-chef-config",
                                           "ohai"],
                             "mkdir -p /opt/cinc/embedded/bin && "
                             "ln -s /usr/bin/ruby /opt/cinc/embedded/bin/ruby")
        work = tmp_path_factory.mktemp("chef-lab")
        with motolib.moto_server(work / "moto.log") as server:
            yield Lab(image, server, work)
    finally:
        docker.stop_daemon(daemon)


def render(work: Path, hosts: dict[str, dict]) -> Path:
    """Build chef-client hosts: {name: chef settings over a common base}."""
    base = {
        "server_url": "https://chef.example.internal/organizations/fleet$(touch;/tmp/pwned-url)",
        "validation_client_name": "fleet-validator",
        "run_list": ["recipe[base]"],
        "node_name": "web-%s",
        "attributes": PAYLOADS,
        "s3": {"bucket": BUCKET, "prefix": "chef/fleet", "region": "eu-west-1"},
    }
    folder = work / "inv"
    doc = {"all": {"vars": {"bootstrap_roles": ["chef-client"]}, "hosts": {
        name: {"os_family": "debian", "chef": {**base, **chef}} for name, chef in hosts.items()}}}
    folder.mkdir(exist_ok=True)
    (folder / "hosts.yml").write_text(yaml.safe_dump(doc))
    out = work / "build"
    result = run_cli("render", folder, "-o", out)
    assert result.rc == 0, result.err
    return out


def moto_auth(lab: Lab, count: str) -> None:
    """moto's switch for signature and IAM policy checks: on after ``count`` more requests."""
    request = urllib.request.Request(f"{lab.moto.url}/moto-api/reset-auth", data=count.encode(),
                                     headers={"Content-Type": "text/plain"}, method="POST")
    with urllib.request.urlopen(request, timeout=waits.allowance(10)):
        pass


def instance_role(lab: Lab, build: Path, location: str, *, upload: bool = True,
                  license_key: str | None = None) -> dict[str, str]:
    """What `bootstrap launch` sets up, from the build's files; returns the role's credentials."""
    lab.moto.reset()
    moto_auth(lab, "inf")
    iam = motolib.admin_client("iam", lab.moto.url)
    s3 = motolib.admin_client("s3", lab.moto.url)
    sts = motolib.admin_client("sts", lab.moto.url)
    policies = build / "_fleet" / "iam"
    role = iam.create_role(
        RoleName=location,
        AssumeRolePolicyDocument=(policies / f"{location}.trust.json").read_text())["Role"]
    iam.put_role_policy(RoleName=location, PolicyName=location,
                        PolicyDocument=(policies / f"{location}.policy.json").read_text())
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    if upload:
        s3.put_object(Bucket=BUCKET, Key="chef/fleet/validation.pem", Body=KEY.encode())
    if license_key:
        s3.put_object(Bucket=BUCKET, Key="chef/fleet/license_key", Body=license_key.encode())
    credentials = sts.assume_role(RoleArn=role["Arn"], RoleSessionName=INSTANCE_ID)["Credentials"]
    moto_auth(lab, "0")  # from here on every request must be signed and allowed by the policy
    return credentials


@dataclass
class Boot:
    """A container that ran the script once with ``env`` (docker exec -e options)."""

    container: str
    env: list[str]
    result: subprocess.CompletedProcess[str]

    def sh(self, command: str) -> str:
        return docker.exec_(self.container, ["sh", "-c", command], check=False).stdout

    def run_script(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "exec", *self.env, self.container, SCRIPT],
                              capture_output=True, text=True, timeout=waits.allowance(300))


@pytest.fixture
def boot(lab: Lab) -> Iterator:
    started: list[str] = []
    servers: list[Imds] = []

    def start(build: Path, host: str, credentials: dict[str, str], *,
              role: str | None = "chef-node-role", distribution: str = "cinc") -> Boot:
        imds = Imds(INSTANCE_ID, role, credentials)
        servers.append(imds)
        name = docker.run(lab.image, docker.unique("chef-node"), ["sleep", "infinity"])
        started.append(name)
        # What cloud-init's write_files and the user-data script part put on the instance.
        subprocess.run(["docker", "cp", f"{build / host / 'files'}/.", f"{name}:/"], check=True)
        dist = DISTRIBUTIONS[distribution]
        stand_in = lab.work / dist.client
        stand_in.write_text(STAND_IN.format(conf=dist.conf_dir))
        stand_in.chmod(0o755)
        docker.exec_(name, ["mkdir", "-p", str(Path(dist.client_bin).parent)])
        subprocess.run(["docker", "cp", str(stand_in), f"{name}:{dist.client_bin}"], check=True)
        env = ["-e", f"BOOTSTRAP_IMDS_ENDPOINT={imds.url}",
               "-e", f"BOOTSTRAP_S3_ENDPOINT={lab.moto.url}",
               "-e", "BOOTSTRAP_ATTEMPTS=2", "-e", "BOOTSTRAP_RETRY_DELAY=0"]
        booted = Boot(name, env, subprocess.CompletedProcess([], 0))
        booted.result = booted.run_script()
        return booted

    yield start
    for name in started:
        docker.remove(name)
    for imds in servers:
        imds.stop()


def chefconfig_node_name(client_rb: Path, node_name_rb: Path) -> str:
    """client.rb then client.d/node_name.rb, loaded strictly, as chef-client's load_dot_d does."""
    program = ('require "chef-config/config"; require "ohai/config"; c = ChefConfig::Config; '
               'c.config_strict_mode = true; ARGV.each { |f| c.from_file(f) }; print c[:node_name]')
    proc = subprocess.run(["ruby", "-e", program, str(client_rb), str(node_name_rb)],
                          capture_output=True, text=True, check=True)
    return proc.stdout


def test_first_boot_fetches_the_key_with_the_instance_role_registers_and_deletes_it(lab, boot):
    build = render(lab.work, {"web1": {}})
    location = "chef-fleet-bootstrap_chef+fleet"
    node = boot(build, "web1", instance_role(lab, build, location))
    assert node.result.returncode == 0, node.result.stderr
    log = node.result.stderr
    assert "fetched s3://fleet-bootstrap/chef/fleet/validation.pem to /etc/cinc/validation.pem" in log
    assert "cinc-client is installed already" in log

    # The first converge saw the key, byte for byte, readable by root alone.
    assert node.sh("cat /tmp/converge-validation.pem") == KEY
    assert node.sh("cat /tmp/converge-validation-mode").split() == ["600", "root"]
    assert node.sh("cat /tmp/converge-args").split() == [
        "-c", "/etc/cinc/client.rb", "-j", "/etc/cinc/first-boot.json"]
    # ...and the key is gone once the node has its own.
    assert node.sh("test -e /etc/cinc/validation.pem || echo gone").strip() == "gone"
    assert node.sh("stat -c %a /etc/cinc/client.pem").strip() == "600"
    assert "deleted /etc/cinc/validation.pem" in log

    # The node is named after its instance id, through client.d, as chef-client reads it.
    node_name_rb = lab.work / "node_name.rb"
    node_name_rb.write_text(node.sh("cat /tmp/converge-node-name.rb"))
    client_rb = build / "web1" / "files" / "etc" / "cinc" / "client.rb"
    assert chefconfig_node_name(client_rb, node_name_rb) == f"web-{INSTANCE_ID}"

    # Hostile inventory values ran nowhere, and first-boot.json still holds them exactly.
    assert node.sh("ls /tmp/pwned-* /pwned* 2>/dev/null") == ""
    first_boot = json.loads(node.sh("cat /etc/cinc/first-boot.json"))
    assert {k: first_boot[k] for k in PAYLOADS} == PAYLOADS

    again = node.run_script()
    assert again.returncode == 0, again.stderr
    assert "registered already, nothing to do" in again.stderr


def test_the_key_can_stay_on_disk_with_mode_0600(lab, boot):
    build = render(lab.work, {"web1": {"delete_validation_key": False}})
    node = boot(build, "web1", instance_role(lab, build, "chef-fleet-bootstrap_chef+fleet"))
    assert node.result.returncode == 0, node.result.stderr
    assert node.sh("cat /etc/cinc/validation.pem") == KEY
    assert node.sh("stat -c '%a %U' /etc/cinc/validation.pem").split() == ["600", "root"]
    assert node.sh("ls /etc/cinc/*.part 2>/dev/null") == ""


def test_a_role_that_may_not_read_the_key_gets_403_explained(lab, boot):
    # web1's key is under chef/fleet; the role it boots with only reads chef/other.
    build = render(lab.work, {"web1": {},
                              "other": {"s3": {"bucket": BUCKET, "prefix": "chef/other",
                                               "region": "eu-west-1"}}})
    node = boot(build, "web1", instance_role(lab, build, "chef-fleet-bootstrap_chef+other"))
    assert node.result.returncode == 1
    log = node.result.stderr
    assert "S3 answered 403 AccessDenied for s3://fleet-bootstrap/chef/fleet/validation.pem " \
           "(try 1 of 2)" in log
    error = log.strip().splitlines()[-1]
    assert error.startswith("bootstrap-chef-client: error: S3 answered 403 Forbidden for "
                            "s3://fleet-bootstrap/chef/fleet/validation.pem (S3 error code "
                            "AccessDenied).")
    assert "both when the object is missing and when the role may not read it" in error
    assert "chef-fleet-bootstrap_chef+fleet.policy.json" in error
    assert node.sh("ls /etc/cinc/validation.pem* /tmp/converge-args 2>/dev/null") == ""


def test_a_missing_key_gets_404_explained(lab, boot):
    build = render(lab.work, {"web1": {}})
    node = boot(build, "web1",
                instance_role(lab, build, "chef-fleet-bootstrap_chef+fleet", upload=False))
    assert node.result.returncode == 1
    error = node.result.stderr.strip().splitlines()[-1]
    assert error == ("bootstrap-chef-client: error: S3 answered 404 Not Found: "
                     "s3://fleet-bootstrap/chef/fleet/validation.pem does not exist (S3 error "
                     f"code NoSuchKey). Upload it (bootstrap launch does it), then run {SCRIPT} "
                     "again.")
    assert node.sh("ls /etc/cinc/validation.pem* /tmp/converge-args 2>/dev/null") == ""


def test_an_instance_without_a_role_is_told_so(lab, boot):
    build = render(lab.work, {"web1": {}})
    credentials = instance_role(lab, build, "chef-fleet-bootstrap_chef+fleet")
    node = boot(build, "web1", credentials, role=None)
    assert node.result.returncode == 1
    assert "the instance has no IAM role: attach an instance profile whose role has the policy " \
           "chef-fleet-bootstrap_chef+fleet.policy.json" in node.result.stderr


def test_the_role_checks_pass_on_the_bootstrapped_node_and_see_a_leftover_key(lab, boot):
    import testinfra

    from bootstrap.fleet.checks import load_module

    build = render(lab.work, {"web1": {}})
    node = boot(build, "web1", instance_role(lab, build, "chef-fleet-bootstrap_chef+fleet"))
    assert node.result.returncode == 0, node.result.stderr
    checks = load_module("chef-client", ROOT / "roles" / "chef-client" / "checks.py")
    host = testinfra.get_host(f"docker://{node.container}")
    hostvars = yaml.safe_load((lab.work / "inv" / "hosts.yml").read_text())["all"]["hosts"]["web1"]
    checks.test_client_installed_at_the_pinned_version(host, hostvars)
    checks.test_client_rb_values(host, hostvars)
    checks.test_registered_and_validation_key_deleted(host, hostvars)

    node.sh("echo leftover > /etc/cinc/validation.pem")
    with pytest.raises(AssertionError, match=r"validation\.pem is still there after the first"):
        checks.test_registered_and_validation_key_deleted(host, hostvars)
    node.sh("echo \"node_name 'someone-else'\" > /etc/cinc/client.d/node_name.rb")
    with pytest.raises(AssertionError, match="node_name is 'someone-else', not web-%s"):
        checks.test_client_rb_values(host, hostvars)


def test_chefs_own_client_gets_its_license_key_from_s3_too(lab, boot):
    (lab.work / "inv" / "secrets").mkdir(parents=True, exist_ok=True)
    (lab.work / "inv" / "secrets" / "license").write_text("free-0123-abcd\n")
    build = render(lab.work, {"db1": {"distribution": "chef", "node_name": "db01",
                                      "license_key": {"file": "secrets/license"}}})
    credentials = instance_role(lab, build, "chef-fleet-bootstrap_chef+fleet",
                                license_key="free-0123-abcd\n")
    node = boot(build, "db1", credentials, distribution="chef")
    assert node.result.returncode == 0, node.result.stderr
    assert node.sh("cat /tmp/converge-license").split() == ["accept", "free-0123-abcd"]
    assert node.sh("cat /tmp/converge-args").split() == [
        "-c", "/etc/chef/client.rb", "-j", "/etc/chef/first-boot.json"]
    assert node.sh("cat /tmp/converge-validation.pem") == KEY
    assert node.sh("ls /etc/chef/validation.pem /etc/chef/client.d 2>/dev/null") == ""
