"""IAM for chef-client hosts: one trust policy and one least-privilege policy per distinct S3
location, each linted by parliament, and `bootstrap validate` failing a policy parliament flags."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from support.cli import run_cli

from bootstrap.roles.chef_client.fleet_policy import location_name
from bootstrap.roles.chef_client.settings import S3Location
from bootstrap.validate.programs import resolve

KMS = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def build(tmp_path: Path, locations: dict[str, dict]) -> tuple[object, Path]:
    """Render one chef-client host per {host: chef.s3}."""
    folder = tmp_path / "inv"
    folder.mkdir()
    hosts = {
        name: {"os_family": "debian", "chef": {
            "server_url": "https://chef.example.internal/organizations/fleet",
            "validation_client_name": "fleet-validator", "s3": s3}}
        for name, s3 in locations.items()
    }
    doc = {"all": {"vars": {"bootstrap_roles": ["chef-client"]}, "hosts": hosts}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    out = tmp_path / "build"
    return run_cli("render", folder, "-o", out), out


def parliament(path: Path) -> list[dict]:
    """parliament's own command line, fed on standard input (its --file needs a terminal)."""
    with path.open("rb") as policy:
        proc = subprocess.run([resolve("parliament"), "--json"], stdin=policy, capture_output=True,
                              text=True)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_one_policy_pair_per_distinct_location_each_clean_for_parliament(tmp_path):
    fleet = {"bucket": "fleet-bootstrap", "prefix": "chef/fleet", "region": "eu-west-1"}
    result, out = build(tmp_path, {
        "web1": fleet,
        "web2": {**fleet, "prefix": "/chef/fleet/"},  # the same folder, spelled differently
        "db1": {"bucket": "fleet-bootstrap", "prefix": "chef/db", "region": "eu-west-1",
                "kms_key_arn": KMS},
    })
    assert result.rc == 0, result.err
    files = sorted(p.name for p in (out / "_fleet" / "iam").iterdir())
    assert files == [
        "chef-fleet-bootstrap_chef+db.policy.json", "chef-fleet-bootstrap_chef+db.trust.json",
        "chef-fleet-bootstrap_chef+fleet.policy.json", "chef-fleet-bootstrap_chef+fleet.trust.json",
    ]
    iam = out / "_fleet" / "iam"
    for name in files:
        issues = parliament(iam / name)
        if name.endswith(".policy.json"):
            assert issues == [], name
        else:
            # parliament lints identity policies; a trust policy has no Resource by design.
            assert [i["detail"] for i in issues] == [
                "Statement contains neither Resource nor NotResource"], name

    trust = json.loads((iam / "chef-fleet-bootstrap_chef+fleet.trust.json").read_text())
    assert trust["Statement"] == [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                   "Principal": {"Service": "ec2.amazonaws.com"}}]
    fleet_policy = json.loads((iam / "chef-fleet-bootstrap_chef+fleet.policy.json").read_text())
    assert fleet_policy["Statement"] == [
        {"Sid": "ReadBootstrapObjects", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::fleet-bootstrap/chef/fleet/*"},
        {"Sid": "ListBootstrapPrefix", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": "arn:aws:s3:::fleet-bootstrap",
         "Condition": {"StringLike": {"s3:prefix": ["chef/fleet/*"]}}},
    ]
    db_policy = json.loads((iam / "chef-fleet-bootstrap_chef+db.policy.json").read_text())
    assert db_policy["Statement"][2] == {
        "Sid": "DecryptBootstrapObjects", "Effect": "Allow", "Action": "kms:Decrypt",
        "Resource": KMS,
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}

    manifest = json.loads((out / "_fleet" / "manifest.json").read_text())
    assert {r["dest"] for r in manifest["outputs"]} == {f"iam/{n}" for n in files}
    script = (out / "web1/files/usr/local/sbin/bootstrap-chef-client").read_text()
    assert "readonly POLICY_FILE=chef-fleet-bootstrap_chef+fleet.policy.json" in script


def test_one_location_with_two_regions_is_an_error_naming_both_hosts(tmp_path):
    result, out = build(tmp_path, {
        "web1": {"bucket": "fleet-bootstrap", "prefix": "chef", "region": "eu-west-1"},
        "web2": {"bucket": "fleet-bootstrap", "prefix": "chef", "region": "us-east-1"},
    })
    assert result.rc == 1
    assert "host web2" in result.err and "key chef.s3" in result.err
    assert "also used by host web1 with region eu-west-1" in result.err
    assert "hosts.yml:" in result.err
    assert not out.exists()


def test_names_stay_within_iam_limits_and_apart():
    long = S3Location(bucket="b" * 60, prefix="p/" * 30, region="eu-west-1")
    name = location_name(long)
    assert len(name) == 64 and name.startswith("chef-bbbb")
    other = S3Location(bucket="b" * 60, prefix="p/" * 29 + "q", region="eu-west-1")
    assert location_name(other) != name
    # "abc-d" + no prefix and "abc" + "d/" must not share a policy file.
    assert location_name(S3Location(bucket="abc-d", region="eu-west-1")) != \
        location_name(S3Location(bucket="abc", prefix="d", region="eu-west-1"))


def test_validate_reports_what_parliament_finds_in_an_edited_policy(tmp_path):
    result, out = build(tmp_path, {
        "web1": {"bucket": "fleet-bootstrap", "prefix": "chef", "region": "eu-west-1"}})
    assert result.rc == 0, result.err
    path = out / "_fleet" / "iam" / "chef-fleet-bootstrap_chef.policy.json"
    policy = json.loads(path.read_text())
    policy["Statement"][0]["Resource"] = "arn:aws:s3:::fleet-bootstrap"  # a bucket, not objects
    path.write_text(json.dumps(policy))
    checked = run_cli("validate", out)
    assert checked.rc == 1
    assert "FAIL _fleet iam/chef-fleet-bootstrap_chef.policy.json (parliament)" in checked.out
    assert "RESOURCE_MISMATCH" in checked.out
    assert "ok   _fleet iam/chef-fleet-bootstrap_chef.trust.json" in checked.out
