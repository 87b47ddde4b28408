"""launch never prints (nor stores in AWS) a digest of a secret: a sha256 of a short key can be
brute-forced. It says that a secret changed, not its hash. Runs against moto (see test_launch)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import yaml
from support.cli import run_cli
from support.cloud import BUCKET, REGION

VALIDATOR = ("-----BEGIN RSA PRIVATE KEY-----\n"
             "VALIDATOR-SECRET-0f1e2d3c4b5a69788796a5b4c3d2e1f0\n"
             "-----END RSA PRIVATE KEY-----\n")
HEX = re.compile(r"sha256 [0-9a-f]{6,}")


def inventory(tmp: Path, ami: str, challenge: str, template: str | None = None) -> Path:
    """A Puppet host whose user-data holds a secret (a file of cloud_init.write_files; its
    challenge password goes to S3), and a Chef host whose validation key goes to S3 (from a
    folder given with --secrets-dir)."""
    aws = {"ami": ami, "region": REGION}
    doc = {"all": {"vars": {"os_family": "debian"}, "children": {"ec2": {
        "vars": {"bootstrap_roles": ["cloud-init", "ec2-instance"], "aws": aws},
        "children": {
            "puppet_nodes": {"vars": {"bootstrap_roles": ["puppet-agent"], "puppet": {
                "server": "puppet.example.internal",
                "challenge_password": {"file": "secrets/challenge"},
                "s3": {"bucket": BUCKET, "prefix": "puppet/fleet", "region": REGION}},
                "cloud_init": {"write_files": [{"path": "/etc/app/token", "mode": "0600",
                                                "content": {"file": "secrets/challenge"}}]}},
                "hosts": {"pup01": {"aws": {**aws, "launch_template": template}}
                          if template else None}},
            "chef_nodes": {"vars": {"bootstrap_roles": ["chef-client"], "chef": {
                "server_url": "https://chef.example.internal/organizations/fleet",
                "validation_client_name": "fleet-validator", "run_list": ["recipe[base]"],
                "s3": {"bucket": BUCKET, "prefix": "chef/fleet", "region": REGION},
                "validation_key": {"file": "chef/validator.pem"}}},
                "hosts": {"web01": None}},
        },
    }}}}
    inv = tmp / "inv"
    (inv / "secrets").mkdir(parents=True, exist_ok=True)
    (inv / "secrets/challenge").write_text(challenge + "\n")
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    vault = tmp / "vault/chef"
    vault.mkdir(parents=True, exist_ok=True)
    (vault / "validator.pem").write_text(VALIDATOR)
    return inv


def digests(data: bytes) -> list[str]:
    raw = hashlib.sha256(data).digest()
    return [raw.hex()[:12], base64.b64encode(raw).decode()]


def render(cloud, inv: Path) -> None:
    result = run_cli("render", inv, "-o", cloud.build, "--secrets-dir", cloud.tmp / "vault")
    assert result.rc == 0, result.err


def launch(cloud, inv: Path, *args: str):  # type: ignore[no-untyped-def]
    return cloud.launch(inv, *args, "--secrets-dir", str(cloud.tmp / "vault"))


def assert_no_digest_of_secrets(cloud, text: str) -> None:
    user_data = (cloud.build / "pup01/user-data").read_bytes()
    challenge = (cloud.tmp / "inv/secrets/challenge").read_text().strip().encode()
    for digest in [*digests(user_data), *digests(VALIDATOR.encode()), *digests(challenge)]:
        assert digest not in text
    assert "VALIDATOR-SECRET" not in text


def test_dry_run_shows_no_digest_of_secret_user_data_or_keys(cloud):
    inv = inventory(cloud.tmp, cloud.ami, "7")
    render(cloud, inv)
    result = launch(cloud, inv, "pup01", "web01", "--dry-run")
    assert result.rc == 0, result.err
    user_data = [line for line in result.out.splitlines() if "RunInstances" in line]
    assert len(user_data) == 2
    pup, web = (next(line for line in user_data if line.startswith(h)) for h in ("pup01", "web01"))
    assert "holds secrets (digest not shown)" in pup and not HEX.search(pup)
    assert HEX.search(web)  # the Chef host's user-data holds no secret: its digest is shown
    assert "Body=<secret:file:chef/validator.pem>" in result.out
    assert_no_digest_of_secrets(cloud, result.out + result.err)


def test_a_launch_template_description_holds_no_digest_of_a_secret(cloud):
    inv = inventory(cloud.tmp, cloud.ami, "8443", template="pup-template")
    render(cloud, inv)
    result = launch(cloud, inv, "pup01")
    assert result.rc == 0, result.err
    assert "pup01: launch template pup-template created (version 1)" in result.out
    [version] = cloud.client("ec2").describe_launch_template_versions(
        LaunchTemplateName="pup-template", Versions=["$Latest"])["LaunchTemplateVersions"]
    assert "holds secrets (digest not shown)" in version["VersionDescription"]
    assert_no_digest_of_secrets(cloud, result.out + result.err + version["VersionDescription"])
    # The secret changes: a new version says so, still without a digest.
    (inv / "secrets/challenge").write_text("rotated-challenge\n")
    render(cloud, inv)
    again = launch(cloud, inv, "pup01")
    assert "pup01: launch template pup-template: version 2 created and made the default" \
        in again.out
    assert_no_digest_of_secrets(cloud, again.out + again.err)


def test_the_validation_key_upload_says_what_changed_not_its_digest(cloud):
    inv = inventory(cloud.tmp, cloud.ami, "7")
    render(cloud, inv)
    first = launch(cloud, inv, "web01")
    assert first.rc == 0, first.err
    assert f"web01: s3://{BUCKET}/chef/fleet/validation.pem uploaded (SSE-S3)" in first.out
    body = cloud.client("s3").get_object(Bucket=BUCKET, Key="chef/fleet/validation.pem")["Body"]
    assert body.read() == VALIDATOR.encode()
    (cloud.tmp / "vault/chef/validator.pem").write_text(VALIDATOR.replace("0f1e", "ffff"))
    render(cloud, inv)
    second = launch(cloud, inv, "web01")
    assert f"web01: s3://{BUCKET}/chef/fleet/validation.pem replaced (SSE-S3)" in second.out
    for result in (first, second):
        assert_no_digest_of_secrets(cloud, result.out + result.err)


def test_without_secrets_dir_the_key_is_not_found_and_no_instance_runs(cloud):
    inv = inventory(cloud.tmp, cloud.ami, "7")
    render(cloud, inv)
    result = cloud.launch(inv, "web01")
    assert result.rc == 1
    assert "secret <secret:file:chef/validator.pem>: no such file in" in result.err
    assert cloud.instances("web01") == []
