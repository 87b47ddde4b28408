"""End to end: a puppetserver and a fleet host, both containers built from Debian packages.

The host boots from its rendered user-data alone (roles cloud-init and puppet-agent, package
source ``distro``): cloud-init itself runs it through the NoCloud datasource, write_files puts
the staged puppet.conf and csr_attributes.yaml in place and the bootstrap script runs as a
user-data part. The instance id comes from an IMDSv2 endpoint that refuses requests without a
session token; the challenge password is not in the user-data: the script fetches it from S3
(moto in server mode, signatures and IAM policies checked) with the instance role's credentials
from that endpoint; the CA's autosign policy admits the certificate request only with the right
challenge password; the first catalog writes trusted facts to files the test reads back. Values
full of shell syntax travel all the way into the catalog and nothing in them runs. Other tests
run the script as ``bootstrap push --apply`` would, after copying the build's files.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import docker
from support import moto as motolib
from support.cli import run_cli
from support.imds import Imds
from support.moto import free_port
from support.puppetserver import Server, background, put_file, serve, sh

pytestmark = pytest.mark.skipif(docker.available() is not None, reason=str(docker.available()))

# One image for every host: cloud-init is there for the first-boot test and stays idle in the
# others (nothing starts it without systemd); it reads the seed folder only and leaves the
# container's network alone.
HOST_PACKAGES = ["python3", "curl", "ca-certificates", "cloud-init", "locales"]
HOST_SETUP = r"""
printf 'datasource_list: [ NoCloud, None ]\n' > /etc/cloud/cloud.cfg.d/98-test-datasource.cfg
printf 'network: {config: disabled}\n' > /etc/cloud/cloud.cfg.d/99-test-no-network.cfg
sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
locale-gen
"""
SEED = "/var/lib/cloud/seed/nocloud"
BOOT = ("cloud-init init --local && cloud-init init && cloud-init modules --mode config"
        " && cloud-init modules --mode final")
PASSWORD = "autosign-me-'\"$(touch /tmp/pwned-password)"
INSTANCE_ID = "i-0a1b2c3d4e5f67890"
SCRIPT = "/usr/local/sbin/bootstrap-puppet-agent"
FACTS = "/var/tmp/puppet-e2e"
ROLE = "web $(touch /tmp/pwned-role) `touch /tmp/pwned-tick`; touch /tmp/pwned-semi\n[agent]"
PWNED = ["/tmp/pwned-role", "/tmp/pwned-tick", "/tmp/pwned-semi", "/tmp/pwned-password"]

# Policy-based autosigning: puppetserver runs this with the certname as argument and the PEM
# CSR on stdin; exit 0 signs. It admits a request whose challengePassword is the expected one.
AUTOSIGN = """\
#!/usr/bin/ruby
require 'openssl'
csr = OpenSSL::X509::Request.new($stdin.read)
attribute = csr.attributes.find { |a| a.oid == 'challengePassword' }
exit 1 unless attribute
given = attribute.value.value.first.value
exit(given == File.read('/etc/puppet/autosign-password').chomp ? 0 : 1)
"""

SITE = f"""\
node default {{
  file {{ '{FACTS}': ensure => directory }}
  file {{ '{FACTS}/certname': content => $trusted['certname'] }}
  file {{ '{FACTS}/instance_id': content => $trusted['extensions']['pp_instance_id'] }}
  file {{ '{FACTS}/role': content => $trusted['extensions']['pp_role'] }}
}}
"""

# A token-checking instance metadata service: PUT a token first, then GET with it (IMDSv2).
IMDS = """\
import http.server, sys
port, instance_id = int(sys.argv[1]), sys.argv[2]
TOKEN = "e2e-session-token"

class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        ok = self.path == "/latest/api/token" and \\
            self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200, TOKEN.encode()) if ok else self.reply(400)

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self.reply(401)
        elif self.path == "/latest/meta-data/instance-id":
            self.reply(200, instance_id.encode())
        else:
            self.reply(404)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[None]:
    daemon = docker.ensure_daemon()
    yield
    docker.stop_daemon(daemon)


@pytest.fixture(scope="session")
def puppetserver(docker_daemon: None) -> Iterator[Server]:
    files = {"/usr/local/bin/autosign-policy": (AUTOSIGN, "0755"),
             "/etc/puppet/autosign-password": (PASSWORD + "\n", "0644")}
    with serve("dns_alt_names = localhost\nautosign = /usr/local/bin/autosign-policy\n", files,
               SITE) as server:
        yield server


def render_host(tmp_path: Path, port: int, name: str, password: str,
                roles: tuple[str, ...] = ("puppet-agent",), os_family: str = "debian",
                **puppet: object) -> Path:
    """Render one host of the puppet-agent role; returns its build folder."""
    inv = tmp_path / f"inv-{name}"
    (inv / "secrets").mkdir(parents=True, exist_ok=True)
    (inv / "secrets" / "challenge").write_text(password + "\n")
    settings = {"server": "localhost", "serverport": port,
                "challenge_password": {"file": "secrets/challenge"}, **puppet}
    hosts = {"all": {"hosts": {name: {"os_family": os_family, "bootstrap_roles": list(roles),
                                      "puppet": settings}}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    out = tmp_path / f"build-{name}"
    result = run_cli("render", inv, "-o", out)
    assert result.rc == 0, result.err
    return out / name


def start_host(packages: list[str]) -> tuple[str, int]:
    """A Debian container with an IMDSv2 endpoint on its own loopback port."""
    name = docker.unique("bootstrap-puppet-host")
    imds_port = free_port()
    tag = docker.image("puppet-agent-host", packages, HOST_SETUP)
    docker.run(tag, name, ["sleep", "infinity"])
    put_file(name, "/usr/local/lib/fake-imds.py", IMDS, "0644")
    background(name, f"python3 /usr/local/lib/fake-imds.py {imds_port} {INSTANCE_ID}")
    return name, imds_port


@pytest.fixture
def fleet_host(docker_daemon: None) -> Iterator[tuple[str, int]]:
    """A fresh Debian instance, before its first boot: the bootstrap installs the agent."""
    name, imds_port = start_host(HOST_PACKAGES)
    try:
        yield name, imds_port
    finally:
        docker.remove(name)


@pytest.fixture
def baked_host(docker_daemon: None) -> Iterator[tuple[str, int]]:
    """A Debian host whose image already has the agent package, as a baked AMI would."""
    name, imds_port = start_host([*HOST_PACKAGES, "puppet-agent"])
    try:
        yield name, imds_port
    finally:
        docker.remove(name)


def deliver(container: str, host_build: Path) -> None:
    """What user-data write_files (or bootstrap push) does: every file at its place."""
    subprocess.run(["docker", "cp", f"{host_build / 'files'}/.", f"{container}:/"], check=True,
                   capture_output=True)


def digest(container: str) -> str:
    return sh(container, "find /etc/bootstrap /etc/puppet /var/lib/puppet/ssl /var/lib/bootstrap "
                         "-type f -exec sha256sum {} + | sort").stdout


def boot(container: str, host_build: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A first boot: cloud-init's four stages on the host's user-data, as on EC2."""
    sh(container, f"mkdir -p {SEED} && printf 'instance-id: {INSTANCE_ID}\\n' > {SEED}/meta-data")
    subprocess.run(["docker", "cp", str(host_build / "user-data"), f"{container}:{SEED}/user-data"],
                   check=True, capture_output=True)
    return sh(container, BOOT, env=env, check=False)


E2E_BUCKET = "puppet-e2e-bootstrap"


def password_in_s3(moto: motolib.MotoServer, build: Path) -> dict[str, str]:
    """What bootstrap launch does for the host: the instance role with the build's policy, the
    password in S3; returns the role's temporary credentials."""
    moto.reset()
    moto.authenticate_after(None)
    iam = motolib.admin_client("iam", moto.url)
    policies = build.parent / "_fleet" / "iam"
    [policy] = policies.glob("puppet-*.policy.json")
    name = policy.name.removesuffix(".policy.json")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=(
        policies / f"{name}.trust.json").read_text())["Role"]
    iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=policy.read_text())
    s3 = motolib.admin_client("s3", moto.url)
    s3.create_bucket(Bucket=E2E_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=E2E_BUCKET, Key="puppet/e2e/challenge_password", Body=PASSWORD.encode())
    sts = motolib.admin_client("sts", moto.url)
    return sts.assume_role(RoleArn=role["Arn"], RoleSessionName=INSTANCE_ID)["Credentials"]


def test_user_data_alone_registers_the_host_and_applies_its_catalog(tmp_path, puppetserver,
                                                                    fleet_host, moto):
    container, _ = fleet_host
    settings = {"environment": "production", "waitforcert": 30,
                "extension_requests": {"pp_role": ROLE},
                "s3": {"bucket": E2E_BUCKET, "prefix": "puppet/e2e", "region": "eu-west-1"}}
    build = render_host(tmp_path, puppetserver.port, "app1", PASSWORD,
                        roles=("cloud-init", "puppet-agent"), **settings)
    report = run_cli("validate", build.parent, "--strict")
    assert report.rc == 0, report.out
    assert PASSWORD.encode() not in (build / "user-data").read_bytes()
    credentials = password_in_s3(moto, build)
    imds = Imds(INSTANCE_ID, role="app1-role", credentials=credentials)
    env = {"IMDS_ENDPOINT": imds.url, "BOOTSTRAP_S3_ENDPOINT": moto.url,
           "BOOTSTRAP_ATTEMPTS": "3", "BOOTSTRAP_RETRY_DELAY": "1"}

    started = time.monotonic()
    try:
        moto.authenticate_after(0)
        booted = boot(container, build, env)
    finally:
        moto.authenticate_after(None)
        imds.stop()
    took = time.monotonic() - started
    assert booted.returncode == 0, booted.stdout[-3000:] + booted.stderr[-3000:]
    out = sh(container, "cat /var/log/cloud-init-output.log").stdout
    assert f"instance id: {INSTANCE_ID}" in out
    assert f"/etc/puppet/puppet.conf in place (certname {INSTANCE_ID})" in out
    assert f"/etc/puppet/csr_attributes.yaml in place (pp_instance_id {INSTANCE_ID})" in out
    assert f"fetched the challenge password from s3://{E2E_BUCKET}/puppet/e2e/" in out
    assert sh(container, "stat -c '%a %U' /etc/puppet/csr_attributes.yaml").stdout.split() == \
        ["600", "root"]
    assert "installing puppet-agent" in out
    assert f"done: {INSTANCE_ID} is registered with its Puppet server" in out

    # The catalog ran with the trusted facts of the signed certificate, exactly as given.
    facts = {k: sh(container, f"cat {FACTS}/{k}").stdout
             for k in ("certname", "instance_id", "role")}
    assert facts == {"certname": INSTANCE_ID, "instance_id": INSTANCE_ID, "role": ROLE}
    signed = sh(puppetserver.container, f"puppetserver ca list --certname {INSTANCE_ID}").stdout
    assert "Signed Certificates" in signed and INSTANCE_ID in signed
    # Nothing inside any value ran, on the host or on the CA.
    for path in PWNED:
        for box in (container, puppetserver.container):
            assert sh(box, f"test ! -e {path}", check=False).returncode == 0, f"{path} on {box}"

    # The script again, by hand: nothing left to do.
    script = sh(container, "ls /var/lib/cloud/instance/scripts/*puppet-agent*").stdout.strip()
    before = digest(container)
    second = sh(container, script, env=env, check=False)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == \
        f"bootstrap-puppet-agent: already bootstrapped as {INSTANCE_ID}; nothing to do"
    assert digest(container) == before

    # A later push of a changed puppet.conf, then the role's apply step: the live copy follows
    # the build and keeps the certname the host registered with.
    build = render_host(tmp_path, puppetserver.port, "app1", PASSWORD,
                        roles=("cloud-init", "puppet-agent"), **{**settings, "runinterval": "1h"})
    deliver(container, build)
    applied = sh(container, SCRIPT, check=False)
    assert applied.returncode == 0, applied.stderr
    assert "puppet.conf updated from /etc/bootstrap/puppet-agent/puppet.conf" in applied.stdout
    printed = json.loads(sh(container, "puppet config print certname runinterval environment "
                                       "--section agent --render-as json").stdout)
    assert printed == {"certname": INSTANCE_ID, "runinterval": 3600, "environment": "production"}
    # Shown with pytest -s: what the script says on a first boot, and how long things took.
    print("", *(line for line in out.splitlines() if line.startswith("bootstrap-puppet-agent")),
          applied.stdout.strip(), sep="\n")
    print(f"first boot (cloud-init and the bootstrap): {took:.1f} s; puppetserver started in "
          f"{puppetserver.started_in:.1f} s")

    run_checks(container, build)


def run_checks(container: str, build: Path) -> None:
    """What ``bootstrap verify`` runs: the build's file checks and the role's checks, through
    testinfra on the bootstrapped container."""
    testinfra = pytest.importorskip("testinfra")
    from bootstrap.fleet.checks import Library
    from bootstrap.render.registry import Registry

    inventory = build.parent.parent / "inv-app1"
    manifest = json.loads((build / "manifest.json").read_text())
    hostvars = json.loads(run_cli("inventory", inventory, "--host", "app1").out)
    fixtures = {"host": testinfra.get_host(f"docker://{container}"), "hostvars": hostvars,
                "manifest": manifest}
    ran = []
    for check in Library(Registry(inventory)).for_roles(["cloud-init", "puppet-agent"]):
        check.function(**{k: fixtures[k] for k in check.fixtures}, **check.params)
        ran.append(check.name)
    assert "manifest::test_managed_files" in ran
    assert "puppet-agent::test_agent_certificate_signed" in ran


def test_a_wrong_challenge_password_is_not_signed(tmp_path, puppetserver, baked_host):
    container, imds_port = baked_host
    build = render_host(tmp_path, puppetserver.port, "intruder", "not-the-password",
                        certname="intruder.example.internal", waitforcert=0)
    deliver(container, build)
    result = sh(container, SCRIPT, env={"IMDS_ENDPOINT": f"http://127.0.0.1:{imds_port}"},
                check=False)
    assert result.returncode == 1
    assert "puppet-agent is already installed" in result.stdout
    assert "error: no signed certificate for intruder.example.internal: sign it on the CA" \
        in result.stderr
    assert sh(container, "test -e /var/lib/bootstrap/puppet-agent.done",
              check=False).returncode == 1
    pending = sh(puppetserver.container, "puppetserver ca list").stdout
    assert "intruder.example.internal" in pending


def test_without_imds_or_certname_the_script_says_what_to_set(tmp_path, fleet_host):
    container, _ = fleet_host
    build = render_host(tmp_path, 8140, "offec2", PASSWORD)
    deliver(container, build)
    result = sh(container, SCRIPT, env={"IMDS_ENDPOINT": f"http://127.0.0.1:{free_port()}",
                                        "IMDS_TRIES": "2"}, check=False)
    assert result.returncode == 1
    assert "cannot read the EC2 instance id from IMDSv2" in result.stderr
    assert "set puppet.certname for this host" in result.stderr
    # It stopped before touching anything: no package, no live configuration.
    assert sh(container, "command -v puppet", check=False).returncode == 1
    assert sh(container, "test -e /etc/puppet/puppet.conf", check=False).returncode == 1


def test_the_script_refuses_to_run_as_a_user(tmp_path, fleet_host):
    container, _ = fleet_host
    build = render_host(tmp_path, 8140, "user", PASSWORD)
    deliver(container, build)
    result = subprocess.run(["docker", "exec", "-u", "nobody", container, SCRIPT],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "error: must run as root" in result.stderr


def test_an_os_release_missing_from_the_table_stops_before_installing(tmp_path, fleet_host):
    container, imds_port = fleet_host
    build = render_host(tmp_path, 8140, "future", PASSWORD, package_source="puppet",
                        certname="future.example.internal")
    deliver(container, build)
    sh(container, "sed -i 's/^VERSION_ID=.*/VERSION_ID=\"99\"/' /etc/os-release")
    result = sh(container, SCRIPT, env={"IMDS_ENDPOINT": f"http://127.0.0.1:{imds_port}"},
                check=False)
    assert result.returncode == 1
    assert "error: no puppet-agent packages for debian:99; supported: debian:11, debian:12, " \
           "ubuntu:20.04, ubuntu:22.04, ubuntu:24.04" in result.stderr
    assert sh(container, "dpkg -s puppet-agent", check=False).returncode == 1


def test_the_redhat_script_names_the_wrong_family(tmp_path, fleet_host):
    container, _ = fleet_host
    build = render_host(tmp_path, 8140, "rh", PASSWORD, os_family="redhat",
                        package_source="openvox")
    deliver(container, build)
    result = sh(container, SCRIPT, check=False)
    assert result.returncode == 1
    assert "error: rpm not found: this script is for RHEL and Amazon Linux (check os_family of " \
           "this host)" in result.stderr
