"""The Puppet challenge password never travels in user-data.

User-data is readable by anyone on the instance (IMDS) and through DescribeInstanceAttribute, so
a host delivered by user-data (the cloud-init role) keeps its password in S3 (``puppet.s3``):
``bootstrap launch`` uploads it with SSE, the instance role may read exactly that object, and
the bootstrap script fetches it at first boot (IMDSv2 role credentials, ``curl --aws-sigv4``,
the S3 code Chef's script uses) into the live csr_attributes.yaml, mode 0600. A host delivered
by ``bootstrap push`` alone (no user-data) gets it in its staged csr_attributes.yaml, a secret
file written 0600 over SSH, as before.

The fetch runs here for real: the script's own functions, cut from the rendered script, against
moto in server mode (signatures and IAM policies checked) and a loopback IMDSv2 stub. The same
script also runs whole, in a Debian container, with a stand-in agent (skipped without docker).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import docker, waits
from support import moto as motolib
from support.cli import ROOT, one_error, run_cli
from support.cloud import BUCKET, REGION
from support.imds import INSTANCE_ID, Imds
from support.userdata import parts, render

from bootstrap.roles.puppet_agent.checkers import read_csr_attributes

pytestmark = pytest.mark.skipif(shutil.which("puppet") is None, reason="puppet is not installed")

SCRIPT = "usr/local/sbin/bootstrap-puppet-agent"
STAGED_CSR = "etc/bootstrap/puppet-agent/csr_attributes.yaml"
OID = "1.2.840.113549.1.9.7"
# Quotes, a shell expansion and YAML's own characters: it must arrive exactly, running nothing.
PASSWORD = "s3cret'\"$(touch /tmp/pwned-challenge) #: {x}"
LOCATION = "puppet-fleet-boot_puppet+fleet"
KEY = "puppet/fleet/challenge_password"


def puppet_inventory(tmp: Path, hosts: dict[str, dict[str, Any]], password: str = PASSWORD,
                     roles: tuple[str, ...] = ("cloud-init", "puppet-agent")) -> Path:
    """Puppet hosts with ``roles``; each host's values go over a common puppet mapping (None
    drops a key)."""
    base = {"server": "puppet.example.internal", "extension_requests": {"pp_role": "web"},
            "challenge_password": {"file": "secrets/challenge"},
            "s3": {"bucket": BUCKET, "prefix": "puppet/fleet", "region": REGION}}
    doc = {"all": {"vars": {"os_family": "debian", "bootstrap_roles": list(roles)},
                   "hosts": {name: {"puppet": {k: v for k, v in {**base, **values}.items()
                                               if v is not None}}
                             for name, values in hosts.items()}}}
    inv = tmp / "inv"
    (inv / "secrets").mkdir(parents=True, exist_ok=True)
    (inv / "secrets" / "challenge").write_text(password + "\n")
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return inv


def user_data_texts(host: Path) -> list[bytes]:
    """Every form of the host's user-data, decoded as the instance (and the API) reads it."""
    raw = (host / "user-data").read_bytes()
    b64 = base64.b64decode((host / "user-data.b64").read_bytes(), validate=True)
    return [raw, b64, (host / "user-data.txt").read_bytes(),
            *(content for _, _, content in parts(raw)), *(content for _, _, content in parts(b64))]


# -- the build ---------------------------------------------------------------------------------


def test_no_user_data_of_the_example_build_holds_the_challenge_password(tmp_path):
    password = (ROOT / "inventory/secrets/puppet-challenge-password").read_text().strip()
    out = render(ROOT / "inventory", tmp_path / "build")
    hosts = sorted(p.parent for p in out.glob("*/user-data"))
    assert {"pup-deb01", "pup-rhel01"} <= {h.name for h in hosts}
    for host in hosts:
        for text in user_data_texts(host):
            assert password.encode() not in text, host.name
            assert OID.encode() not in text.replace(b"PASSWORD_OID=" + OID.encode(), b""), host.name
        manifest = json.loads((host / "manifest.json").read_text())
        assert not any(o["secret"] for o in manifest["outputs"] if o["dest"] == "user-data")
    # The password is nowhere in the build: the instances fetch it from S3.
    for path in out.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    policy = json.loads((out / "_fleet/iam/puppet-fleet-bootstrap-example_puppet+fleet.policy.json")
                        .read_text())
    assert policy["Statement"] == [{
        "Sid": "ReadChallengePassword", "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::fleet-bootstrap-example/puppet/fleet/challenge_password"}]


def test_a_user_data_host_stages_its_csr_attributes_without_the_password(tmp_path):
    out = render(puppet_inventory(tmp_path, {"pup01": {}}), tmp_path / "build")
    host = out / "pup01"
    staged = yaml.safe_load((host / "files" / STAGED_CSR).read_text())
    assert staged == {"extension_requests": {"pp_role": "web"}}
    files = {f["dest"]: f for f in json.loads((host / "manifest.json").read_text())["files"]}
    assert files[f"/{STAGED_CSR}"]["secret"] is False
    script = (host / "files" / SCRIPT).read_text()
    assert f"PASSWORD_OBJECT=s3://{BUCKET}/{KEY}\n" in script
    assert "s3cret" not in script
    for text in user_data_texts(host):
        assert b"s3cret" not in text


def test_a_push_only_host_keeps_the_password_in_its_staged_file_0600(tmp_path):
    inv = puppet_inventory(tmp_path, {"pup01": {}}, roles=("puppet-agent",))
    out = render(inv, tmp_path / "build")
    host = out / "pup01"
    files = {f["dest"]: f for f in json.loads((host / "manifest.json").read_text())["files"]}
    assert files[f"/{STAGED_CSR}"]["mode"] == "0600" and files[f"/{STAGED_CSR}"]["secret"]
    assert (host / "files" / STAGED_CSR).stat().st_mode & 0o777 == 0o600
    carried, error = read_csr_attributes(host / "files" / STAGED_CSR)
    assert error == "" and carried["custom_attributes"] == {"challengePassword": PASSWORD}
    assert not (host / "user-data").exists()
    assert "PASSWORD_OBJECT" not in (host / "files" / SCRIPT).read_text()
    # Nothing is fetched from S3, so the instance role needs no policy for it.
    assert not list((out / "_fleet").glob("iam/puppet-*"))


def test_a_user_data_host_with_a_password_and_no_s3_is_told_what_to_add(tmp_path):
    inv = puppet_inventory(tmp_path, {"pup01": {"s3": None}})
    text = (inv / "hosts.yml").read_text()
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"))
    number = next(n for n, row in enumerate(text.splitlines(), 1) if "challenge_password" in row)
    assert f"hosts.yml:{number}: host pup01: key puppet.challenge_password:" in line, line
    assert "readable in user-data" in line and "add puppet.s3 {bucket, prefix, region}" in line
    assert "s3cret" not in line
    assert not (tmp_path / "build").exists()


def test_hosts_sharing_an_s3_location_must_share_the_password(tmp_path):
    inv = puppet_inventory(tmp_path, {"pup01": {}, "pup02": {}})
    out = render(inv, tmp_path / "build")
    assert sorted(p.name for p in (out / "_fleet/iam").glob("puppet-*")) == [
        f"{LOCATION}.policy.json", f"{LOCATION}.trust.json"]
    (inv / "secrets" / "other").write_text("another password\n")
    text = (inv / "hosts.yml").read_text()
    doc = yaml.safe_load(text)
    doc["all"]["hosts"]["pup02"]["puppet"]["challenge_password"] = {"file": "secrets/other"}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build2"))
    assert "host pup02: key puppet.challenge_password:" in line, line
    assert f"s3://{BUCKET}/{KEY} holds the challenge password of host pup01" in line
    assert "another password" not in line


def test_hosts_sharing_an_s3_location_must_share_its_region(tmp_path):
    other = {"bucket": BUCKET, "prefix": "puppet/fleet", "region": "us-east-2"}
    inv = puppet_inventory(tmp_path, {"pup01": {}, "pup02": {"s3": other}})
    line = one_error(run_cli("render", inv, "-o", tmp_path / "build"))
    assert "host pup02: key puppet.s3:" in line, line
    assert f"s3://{BUCKET}/{KEY} is also used by host pup01 with region {REGION}" in line
    assert "here region is us-east-2" in line
    assert not (tmp_path / "build").exists()


def test_the_policy_is_clean_for_parliament(tmp_path):
    out = render(puppet_inventory(tmp_path, {"pup01": {}}), tmp_path / "build")
    report = run_cli("validate", out)
    assert f"ok   _fleet iam/{LOCATION}.policy.json (parliament)" in report.out, report.out
    assert "s3cret" not in report.out + report.err


# -- launch ------------------------------------------------------------------------------------


def test_launch_uploads_the_password_encrypted_and_grants_exactly_that_object(cloud):
    key_arn = cloud.client("kms").create_key(Description="puppet")["KeyMetadata"]["Arn"]
    aws = {"ami": cloud.ami, "region": REGION}
    inv = puppet_inventory(cloud.tmp, {"pup01": {}, "pup02": {
        "s3": {"bucket": BUCKET, "prefix": "puppet/kms", "region": REGION,
               "kms_key_arn": key_arn}}}, roles=("cloud-init", "puppet-agent", "ec2-instance"))
    doc = yaml.safe_load((inv / "hosts.yml").read_text())
    doc["all"]["vars"]["aws"] = aws
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    cloud.render(inv)
    result = cloud.launch(inv, "pup01", "pup02")
    assert result.rc == 0, result.err
    assert "s3cret" not in result.out + result.err
    s3 = cloud.client("s3")
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == PASSWORD.encode()
    head = s3.head_object(Bucket=BUCKET, Key="puppet/kms/challenge_password")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
    assert f"pup01: s3://{BUCKET}/{KEY} uploaded (SSE-S3)" in result.out
    iam = cloud.client("iam")
    policy = iam.get_role_policy(RoleName=LOCATION, PolicyName=LOCATION)["PolicyDocument"]
    assert policy["Statement"] == [{"Sid": "ReadChallengePassword", "Effect": "Allow",
                                    "Action": "s3:GetObject",
                                    "Resource": f"arn:aws:s3:::{BUCKET}/{KEY}"}]
    kms_policy = iam.get_role_policy(RoleName="puppet-fleet-boot_puppet+kms",
                                     PolicyName="puppet-fleet-boot_puppet+kms")["PolicyDocument"]
    assert [s["Action"] for s in kms_policy["Statement"]] == ["s3:GetObject", "kms:Decrypt"]
    assert kms_policy["Statement"][1]["Resource"] == key_arn
    [instance] = cloud.instances("pup01")
    user_data = cloud.client("ec2").describe_instance_attribute(
        InstanceId=instance["InstanceId"], Attribute="userData")["UserData"]["Value"]
    for text in [base64.b64decode(user_data),
                 *(c for _, _, c in parts(base64.b64decode(user_data)))]:
        assert b"s3cret" not in text
    again = cloud.launch(inv, "pup01")
    assert f"pup01: s3://{BUCKET}/{KEY} unchanged (SSE-S3)" in again.out


# -- the fetch, run here: the script's own functions, moto S3 with IAM, loopback IMDSv2 ---------


FETCH_FUNCTIONS = ("live_copy", "retry", "ensure_curl", "imds_token", "imds_get", "json_field",
                   "load_credentials", "s3_request", "explain", "s3_get", "password_block",
                   "fetch_password")


def function(script: str, name: str) -> str:
    start = script.index(f"\n{name}() {{\n") + 1
    return script[start:script.index("\n}\n", start) + 3]


def fetch_harness(script: str, staged: Path, live: Path) -> str:
    """The script's head (settings, traps) and fetch functions, then the csr step alone."""
    head = script[:script.index('[ "$(id -u)" -eq 0 ]')]
    body = "".join(function(script, name) for name in FETCH_FUNCTIONS)
    return (head + body + "fetch_password\n"
            f"live_copy {staged} {live} '^extension_requests:' "
            f"'  pp_instance_id: \"{INSTANCE_ID}\"' 'extension_requests:' \"$PASSWORD_BLOCK\"\n")


def moto_auth(server: motolib.MotoServer, on: bool) -> None:
    """moto's switch for signature and IAM policy checks."""
    server.authenticate_after(0 if on else None)


@dataclass
class Fetched:
    result: subprocess.CompletedProcess[str]
    live: Path  # where the script put the live csr_attributes.yaml
    credentials: dict[str, Any]  # the instance role's, as IMDS handed them out


@pytest.fixture
def s3_lab(moto: motolib.MotoServer, tmp_path: Path) -> Iterator[Any]:
    """Render pup01 (and pup02, under puppet/other), set up what launch does for them (a role
    with the policy of ``location`` from the build, the bucket, pup01's password object), then
    run pup01's fetch with that role's credentials."""
    imds_servers: list[Imds] = []

    def run(location: str = LOCATION, *,
            upload: bytes | None = PASSWORD.encode()) -> Fetched:
        moto.reset()
        moto_auth(moto, False)
        inv = puppet_inventory(tmp_path, {"pup01": {}, "pup02": {"s3": {
            "bucket": BUCKET, "prefix": "puppet/other", "region": REGION}}})
        out = render(inv, tmp_path / "build")
        iam = motolib.admin_client("iam", moto.url)
        policies = out / "_fleet" / "iam"
        role = iam.create_role(RoleName=location, AssumeRolePolicyDocument=(
            policies / f"{location}.trust.json").read_text())["Role"]
        iam.put_role_policy(RoleName=location, PolicyName=location,
                            PolicyDocument=(policies / f"{location}.policy.json").read_text())
        s3 = motolib.admin_client("s3", moto.url)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        if upload is not None:
            s3.put_object(Bucket=BUCKET, Key=KEY, Body=upload)
        s3.put_object(Bucket=BUCKET, Key="puppet/fleet/neighbour", Body=b"not yours")
        credentials = motolib.admin_client("sts", moto.url).assume_role(
            RoleArn=role["Arn"], RoleSessionName=INSTANCE_ID)["Credentials"]
        imds = Imds(role="puppet-node-role", credentials=credentials)
        imds_servers.append(imds)
        moto_auth(moto, True)
        live = tmp_path / "live" / "csr_attributes.yaml"
        harness = tmp_path / "harness.sh"
        harness.write_text(fetch_harness((out / "pup01/files" / SCRIPT).read_text(),
                                         out / "pup01/files" / STAGED_CSR, live))
        env = {**os.environ, "IMDS_ENDPOINT": imds.url, "BOOTSTRAP_S3_ENDPOINT": moto.url,
               "BOOTSTRAP_ATTEMPTS": "2", "BOOTSTRAP_RETRY_DELAY": "0", "TMPDIR": str(tmp_path)}
        result = subprocess.run(["bash", str(harness)], env=env, capture_output=True, text=True,
                                timeout=waits.allowance(120))
        return Fetched(result, live, credentials)

    run.moto_url = moto.url  # type: ignore[attr-defined]
    yield run
    moto_auth(moto, False)
    for imds in imds_servers:
        imds.stop()


def test_the_script_fetches_the_password_with_the_role_into_csr_attributes_0600(s3_lab):
    fetched = s3_lab()
    result, live = fetched.result, fetched.live
    assert result.returncode == 0, result.stderr
    assert f"fetched the challenge password from s3://{BUCKET}/{KEY}" in result.stdout
    assert live.stat().st_mode & 0o777 == 0o600
    carried, error = read_csr_attributes(live)
    assert error == ""
    assert carried == {"custom_attributes": {"challengePassword": PASSWORD},
                       "extension_requests": {"pp_role": "web", "pp_instance_id": INSTANCE_ID}}
    assert not Path("/tmp/pwned-challenge").exists()
    assert "s3cret" not in result.stdout + result.stderr
    # Nothing of the fetch is left behind but the live file.
    assert not [p for p in live.parent.parent.glob("tmp.*")]


def test_the_role_reads_exactly_its_object(s3_lab):
    fetched = s3_lab()
    assert fetched.result.returncode == 0, fetched.result.stderr
    import boto3

    role_s3 = boto3.client("s3", endpoint_url=s3_lab.moto_url, region_name=REGION,
                           aws_access_key_id=fetched.credentials["AccessKeyId"],
                           aws_secret_access_key=fetched.credentials["SecretAccessKey"],
                           aws_session_token=fetched.credentials["SessionToken"])
    assert role_s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == PASSWORD.encode()
    for key in ("puppet/fleet/neighbour", "puppet/other/challenge_password"):
        with pytest.raises(role_s3.exceptions.ClientError, match="AccessDenied"):
            role_s3.get_object(Bucket=BUCKET, Key=key)
    with pytest.raises(role_s3.exceptions.ClientError, match="AccessDenied"):
        role_s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"replaced")


def test_a_role_that_may_not_read_the_password_gets_403_explained(s3_lab):
    # The role has pup02's policy (puppet/other); pup01's password is under puppet/fleet.
    fetched = s3_lab("puppet-fleet-boot_puppet+other")
    assert fetched.result.returncode == 1
    log = fetched.result.stderr
    assert f"S3 answered 403 AccessDenied for s3://{BUCKET}/{KEY} (try 1 of 2)" in log
    error = log.strip().splitlines()[-1]
    assert error.startswith("bootstrap-puppet-agent: error: S3 answered 403 Forbidden for "
                            f"s3://{BUCKET}/{KEY} (S3 error code AccessDenied).")
    assert "both when the object is missing and when the role may not read it" in error
    assert f"{LOCATION}.policy.json" in error
    assert not fetched.live.exists()


def test_a_missing_password_is_explained(s3_lab):
    # moto answers 404; S3 itself answers 403 to a role that may not list the bucket, which the
    # test above shows explained, missing object included.
    fetched = s3_lab(upload=None)
    assert fetched.result.returncode == 1
    error = fetched.result.stderr.strip().splitlines()[-1]
    assert error.startswith("bootstrap-puppet-agent: error: S3 answered 404 Not Found: "
                            f"s3://{BUCKET}/{KEY} does not exist (S3 error code NoSuchKey). "
                            "Upload it (bootstrap launch does it), then run "), error
    assert not fetched.live.exists()


def test_a_password_of_two_lines_is_refused_without_showing_it(s3_lab):
    fetched = s3_lab(upload=b"s3cret\nsecond line")
    result, live = fetched.result, fetched.live
    assert result.returncode == 1
    assert "holds a line break or another control character" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert not live.exists()


def test_the_rendered_script_passes_shellcheck(tmp_path):
    out = render(puppet_inventory(tmp_path, {"pup01": {}}), tmp_path / "build")
    checked = subprocess.run(["shellcheck", "--format=gcc", str(out / "pup01/files" / SCRIPT)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


# -- the whole script in a Debian container (skipped without docker) ---------------------------

# A stand-in agent package: dpkg knows puppet-agent, and /usr/bin/puppet records what the
# certificate request would carry, then plays a signed agent.
STAND_IN_PACKAGE = (
    "mkdir -p /tmp/pa/DEBIAN /tmp/pa/usr/bin && "
    "printf 'Package: puppet-agent\\nVersion: 0.0-standin\\nArchitecture: all\\n"
    "Maintainer: tests <tests@example.internal>\\nDescription: stand-in\\n' > /tmp/pa/DEBIAN/control && "
    "printf '#!/bin/sh\\n"
    "if [ \"$1\" = ssl ]; then cp /etc/puppet/csr_attributes.yaml /tmp/csr-seen.yaml; "
    "stat -c \"%%a %%U\" /etc/puppet/csr_attributes.yaml > /tmp/csr-seen-mode; fi\\nexit 0\\n' "
    "> /tmp/pa/usr/bin/puppet && chmod 755 /tmp/pa/usr/bin/puppet && "
    "dpkg-deb --build /tmp/pa /tmp/pa.deb && dpkg -i /tmp/pa.deb && rm -rf /tmp/pa /tmp/pa.deb")


@pytest.fixture(scope="module")
def node_image() -> Iterator[str]:
    missing = docker.available() or motolib.available()
    if missing:
        pytest.skip(f"puppet bootstrap in a container: {missing}")
    daemon = docker.ensure_daemon()
    try:
        yield docker.image("puppet-secret-node", ["curl", "ca-certificates"], STAND_IN_PACKAGE)
    finally:
        docker.stop_daemon(daemon)


def test_first_boot_in_a_container_fetches_the_password_and_registers(node_image, moto,
                                                                     tmp_path):
    moto.reset()
    moto_auth(moto, False)
    out = render(puppet_inventory(tmp_path, {"pup01": {}}), tmp_path / "build")
    iam = motolib.admin_client("iam", moto.url)
    policies = out / "_fleet" / "iam"
    role = iam.create_role(RoleName=LOCATION, AssumeRolePolicyDocument=(
        policies / f"{LOCATION}.trust.json").read_text())["Role"]
    iam.put_role_policy(RoleName=LOCATION, PolicyName=LOCATION,
                        PolicyDocument=(policies / f"{LOCATION}.policy.json").read_text())
    s3 = motolib.admin_client("s3", moto.url)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=PASSWORD.encode())
    credentials = motolib.admin_client("sts", moto.url).assume_role(
        RoleArn=role["Arn"], RoleSessionName=INSTANCE_ID)["Credentials"]
    name = docker.unique("puppet-secret-node")
    with Imds(role="puppet-node-role", credentials=credentials) as imds:
        moto_auth(moto, True)
        try:
            docker.run(node_image, name, ["sleep", "infinity"])
            # What cloud-init's write_files and the script part put on the instance.
            subprocess.run(["docker", "cp", f"{out / 'pup01' / 'files'}/.", f"{name}:/"],
                           check=True)
            result = subprocess.run(
                ["docker", "exec", "-e", f"IMDS_ENDPOINT={imds.url}",
                 "-e", f"BOOTSTRAP_S3_ENDPOINT={moto.url}", "-e", "BOOTSTRAP_ATTEMPTS=2",
                 "-e", "BOOTSTRAP_RETRY_DELAY=0", name, f"/{SCRIPT}"],
                capture_output=True, text=True, timeout=waits.allowance(300))
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"fetched the challenge password from s3://{BUCKET}/{KEY}" in result.stdout
            assert (f"/etc/puppet/csr_attributes.yaml in place (pp_instance_id {INSTANCE_ID}) "
                    "with the challenge password") in result.stdout
            seen = docker.exec_(name, ["cat", "/tmp/csr-seen.yaml"]).stdout
            assert yaml.safe_load(seen)["custom_attributes"] == {OID: PASSWORD}
            assert docker.exec_(name, ["cat", "/tmp/csr-seen-mode"]).stdout.split() == \
                ["600", "root"]
            assert docker.exec_(name, ["sh", "-c", "ls /tmp/pwned-* 2>/dev/null || true"]
                                ).stdout == ""
            assert "s3cret" not in result.stdout + result.stderr
            assert re.search(rf"done: {INSTANCE_ID} is registered", result.stdout)
        finally:
            moto_auth(moto, False)
            docker.remove(name)

