"""``cloud_init.delivery: s3``: what the user-data holds, and what render and publish agree on.

The stub is read back from the user-data as cloud-init reads it; its digests are compared with
what ``bootstrap publish`` uploads to moto (the ``cloud`` fixture); the build passes the
consumers' own checkers (cloud-init's schema, shellcheck) through ``bootstrap validate``.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.cli import one_error, run_cli, write_tree
from support.cloud import BUCKET, REGION
from support.userdata import APP_ROLE, cloud_config, parts, report

from bootstrap.validate.programs import which

TOKEN = "TOKEN-3e8d1c55aa"
STUB_BUDGET = 2048
ROLE = {
    **APP_ROLE,
    "roles/app/role.yml": APP_ROLE["roles/app/role.yml"] + """
          - template: app/token.j2
            dest: /etc/app/token
            mode: "0600"
            userdata: file
        apply: /usr/local/sbin/app-bootstrap
        """,
    "templates/app/token.j2": "{{ vars.app_token }}\n",
    "secrets/token": TOKEN + "\n",
}


def inventory(tmp: Path, cloud_init: dict[str, Any] | None = None,
              aws: dict[str, Any] | None = None, roles: tuple[str, ...] = ("app",),
              host: str = "app01") -> Path:
    inv = write_tree(tmp / "inv", ROLE)
    settings = {"ami": "ami-0d1e2b3c4a5f60718", "region": REGION,
                "publish": {"bucket": BUCKET, "prefix": "pub/fleet"}}
    doc = {"all": {"hosts": {host: {
        "bootstrap_roles": ["ec2-instance", "cloud-init", *roles],
        "app_name": "demo", "app_token": {"file": "secrets/token"},
        "aws": settings if aws is None else aws,
        "cloud_init": {"delivery": "s3"} if cloud_init is None else cloud_init,
    }}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return inv


def render(inv: Path, out: Path) -> Path:
    result = run_cli("render", inv, "-o", out)
    assert result.rc == 0, result.err
    return out


def stub(build: Path, host: str = "app01") -> bytes:
    scripts = [c for _, kind, c in parts((build / host / "user-data").read_bytes())
               if kind == "text/x-shellscript"]
    assert len(scripts) == 1
    return scripts[0]


def pinned(script: bytes) -> dict[str, str]:
    found = dict(re.findall(r"\b([MS])=([0-9a-f]{64})\b", script.decode()))
    assert set(found) == {"M", "S"}, script.decode()
    return found


def test_the_user_data_is_the_cloud_config_and_a_small_stub(tmp_path):
    build = render(inventory(tmp_path), tmp_path / "build")
    user_data = (build / "app01" / "user-data").read_bytes()
    kinds = [kind for _, kind, _ in parts(user_data)]
    assert kinds == ["text/cloud-config", "text/x-shellscript"]
    script = stub(build)
    assert len(script) <= STUB_BUDGET, len(script)
    assert script.startswith(b"#!/bin/sh\n")
    # The roles' cloud-config fragments stay; their files and scripts come from S3.
    config = cloud_config(user_data)
    assert "write_files" not in config
    assert config["runcmd"] == [["sh", "-c", "echo fragment >> /var/lib/app/order"]]
    for text in (b"name = demo", b"mkdir -p /var/lib/app", TOKEN.encode()):
        assert text not in user_data
    # Nothing secret in it: the user-data files are readable and the report tells sizes.
    manifest = json.loads((build / "app01" / "manifest.json").read_text())
    outputs = {r["dest"]: r for r in manifest["outputs"]}
    assert not outputs["user-data"]["secret"] and outputs["user-data"]["mode"] == "0644"
    # The files go to the host as any other build files, with the pull and its first-boot list.
    files = {r["dest"]: r for r in manifest["files"]}
    assert {"/etc/app/app.conf", "/etc/app/token", "/usr/local/sbin/app-bootstrap",
            "/usr/local/sbin/bootstrap-pull", "/etc/bootstrap/first-boot"} <= files.keys()
    assert (build / "app01" / "files" / "etc" / "bootstrap" / "first-boot").read_text() == \
        "/usr/local/sbin/app-bootstrap\n"


def test_inline_delivery_is_the_default_and_carries_the_files(tmp_path):
    build = render(inventory(tmp_path, cloud_init={}), tmp_path / "build")
    user_data = (build / "app01" / "user-data").read_bytes()
    assert b"name = demo" in user_data
    assert b"bootstrap-pull" not in user_data
    assert not (build / "app01" / "files" / "usr" / "local" / "sbin" / "bootstrap-pull").exists()
    assert report(build, "app01")["delivery"] == "inline"
    assert "inline_size" not in report(build, "app01")


def test_the_report_shows_both_sizes(tmp_path):
    build = render(inventory(tmp_path), tmp_path / "build")
    sizes = report(build, "app01")
    inline = render(inventory(tmp_path / "inline", cloud_init={}), tmp_path / "inline-build")
    assert sizes["delivery"] == "s3"
    assert sizes["size"] == len((build / "app01" / "user-data").read_bytes())
    # The size inline delivery would have had (the inline build's own user-data, token aside:
    # both builds read the same secret).
    assert sizes["inline_size"] == report(inline, "app01")["size"]


def test_a_host_too_big_for_inline_user_data_is_told_of_s3_and_renders_with_it(tmp_path):
    big = {"size_limit": 600, "gzip": "never"}
    line = one_error(run_cli("render", inventory(tmp_path / "a", cloud_init=big),
                             "-o", tmp_path / "a" / "build"), "key cloud_init.gzip",
                     "over the limit of 600 bytes", "set cloud_init.delivery: s3")
    assert "host app01" in line
    # The stub's own size still counts against the limit, the roles' files no more.
    build = render(inventory(tmp_path / "b", cloud_init={**big, "size_limit": 4000,
                                                          "delivery": "s3"}),
                   tmp_path / "b" / "build")
    assert report(build, "app01")["size"] < 4000


def test_the_pinned_digests_are_the_manifest_and_script_publish_uploads(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    result = run_cli("publish", inv, "-b", cloud.build, "--endpoint-url", cloud.endpoint,
                     env=cloud.env)
    assert result.rc == 0, result.err
    s3 = cloud.client("s3")
    digests = pinned(stub(cloud.build))
    body = s3.get_object(Bucket=BUCKET, Key="pub/fleet/hosts/app01.json")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == digests["M"]
    script = s3.get_object(Bucket=BUCKET, Key=f"pub/fleet/objects/{digests['S']}")["Body"].read()
    assert script == (cloud.build / "app01" / "files" / "usr" / "local" / "sbin" /
                      "bootstrap-pull").read_bytes()
    manifest = json.loads(body)
    assert manifest["apply"] == {"app": "/usr/local/sbin/app-bootstrap"}
    # The stub reaches the bucket where publish put it.
    text = stub(cloud.build).decode()
    assert f"B={BUCKET} P=pub/fleet/ R={REGION} U=https://$B.s3.$R.amazonaws.com\n" in text


def test_a_change_to_any_file_changes_the_pinned_manifest(tmp_path):
    first = pinned(stub(render(inventory(tmp_path), tmp_path / "one")))
    inv = inventory(tmp_path)
    doc = yaml.safe_load((inv / "hosts.yml").read_text())
    doc["all"]["hosts"]["app01"]["app_name"] = "other"
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc))
    second = pinned(stub(render(inv, tmp_path / "two")))
    assert first["M"] != second["M"] and first["S"] == second["S"]


def test_the_build_passes_cloud_init_schema_and_shellcheck(tmp_path):
    build = render(inventory(tmp_path), tmp_path / "build")
    result = run_cli("validate", build, "--strict")
    assert result.rc == 0, result.out + result.err
    assert "ok   app01 user-data (cloud-init schema)" in result.out.splitlines()
    assert any("bootstrap-pull" in line and "shellcheck" in line and line.startswith("ok")
               for line in result.out.splitlines()), result.out


@pytest.mark.skipif(which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_the_stub_is_shellcheck_clean_for_every_shell_it_may_run_in(tmp_path, shell):
    build = render(inventory(tmp_path), tmp_path / "build")
    path = tmp_path / "stub"
    path.write_bytes(stub(build))
    proc = subprocess.run([which("shellcheck") or "shellcheck", "-s", shell, "-S", "style",
                           str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_shared_bucket_names_and_long_prefixes_keep_the_stub_in_budget(tmp_path):
    bucket = "b" * 28 + "." + "c" * 34  # 63 characters, dotted: path-style URL
    aws = {"ami": "ami-0d1e2b3c4a5f60718", "region": "ap-southeast-2",
           "publish": {"bucket": bucket, "prefix": "bootstrap/production/web-fleet"}}
    build = render(inventory(tmp_path, aws=aws, host="web-frontend-0001.example.internal"),
                   tmp_path / "build")
    script = stub(build, "web-frontend-0001.example.internal")
    assert len(script) <= STUB_BUDGET, len(script)
    assert f"B={bucket} P=bootstrap/production/web-fleet/ R=ap-southeast-2 " \
        "U=https://s3.$R.amazonaws.com/$B\n".encode() in script


@pytest.mark.parametrize(("aws", "key", "words"), [
    ({"ami": "ami-0d1e2b3c4a5f60718", "region": REGION}, "cloud_init.delivery",
     "has no aws.publish"),
    ({"ami": "ami-0d1e2b3c4a5f60718", "publish": {"bucket": BUCKET}}, "aws.publish.region",
     "set aws.publish.region or aws.region"),
])
def test_s3_delivery_without_a_place_to_pull_from_is_an_error(tmp_path, aws, key, words):
    out = tmp_path / "build"
    one_error(run_cli("render", inventory(tmp_path, aws=aws), "-o", out), f"key {key}:", words,
              "host app01")
    assert not (out / "app01").exists()


def test_an_unknown_delivery_is_an_error_naming_the_key(tmp_path):
    one_error(run_cli("render", inventory(tmp_path, cloud_init={"delivery": "ftp"}), "-o",
                      tmp_path / "build"), "cloud_init.delivery", "host app01")


def test_a_file_the_pull_cannot_install_safely_is_an_error(tmp_path):
    inv = inventory(tmp_path)
    role = (inv / "roles" / "app" / "role.yml").read_text().replace(
        "dest: /etc/app/token", "dest: /etc/app/my token")
    (inv / "roles" / "app" / "role.yml").write_text(role)
    one_error(run_cli("render", inv, "-o", tmp_path / "build"), "key cloud_init.delivery",
              "'/etc/app/my token'", "cannot be delivered from S3")


# -- the status record with SSE-KMS -------------------------------------------------------------


def test_the_status_record_is_written_with_sse_kms_under_the_instance_role(cloud, tmp_path):
    """The pull's own PUT of its status record, cut from the published script and run with this
    machine's curl against moto with signatures and IAM checked: SSE-KMS with the location's
    key. curl signs those two headers wrongly before 8.10, so the script signs that request
    itself."""
    key_arn = cloud.client("kms").create_key()["KeyMetadata"]["Arn"]
    inv = inventory(tmp_path, aws={"ami": "ami-0d1e2b3c4a5f60718", "region": REGION, "publish": {
        "bucket": BUCKET, "prefix": "pub/fleet", "kms_key_arn": key_arn}})
    build = render(inv, tmp_path / "build")
    script = (build / "app01/files/usr/local/sbin/bootstrap-pull").read_text()
    signer = script[script.index("read -r -d '' SIGNER"):script.index("readonly SIGNER")]
    start = script.index("s3_put() {")
    put = script[start:script.index("\n}\n", start) + 3]
    [sse] = [line for line in script.splitlines() if line.startswith("readonly SSE=(")]

    iam = cloud.client("iam")
    policies = build / "_fleet/iam"
    role = iam.create_role(RoleName="publish-app01", AssumeRolePolicyDocument=(
        policies / "publish-app01.trust.json").read_text())["Role"]
    iam.put_role_policy(RoleName="publish-app01", PolicyName="publish-app01",
                        PolicyDocument=(policies / "publish-app01.policy.json").read_text())
    creds = cloud.client("sts").assume_role(RoleArn=role["Arn"],
                                            RoleSessionName="i-0123456789abcdef0")["Credentials"]
    record = tmp_path / "status.json"
    record.write_text('{"format": 1, "result": "ok"}\n')
    program = "\n".join([
        "set -euo pipefail", sse, f"S3_REGION={REGION}", f"BASE_URL={cloud.endpoint}/{BUCKET}",
        f"WORK={tmp_path}", signer, "readonly SIGNER", put,
        'IFS= read -r AWS_KEY_ID; IFS= read -r AWS_SECRET; IFS= read -r AWS_TOKEN',
        f's3_put pub/fleet/status/i-0123456789abcdef0.json {record}'])
    cloud.server.authenticate_after(0)
    try:
        done = subprocess.run(["bash", "-c", program], capture_output=True, text=True,
                              input=f"{creds['AccessKeyId']}\n{creds['SecretAccessKey']}\n"
                                    f"{creds['SessionToken']}\n")
    finally:
        cloud.server.authenticate_after(None)
    assert done.stdout == "200", (done.stdout, done.stderr, (tmp_path / "put-answer").read_text())
    head = cloud.client("s3").head_object(Bucket=BUCKET,
                                          Key="pub/fleet/status/i-0123456789abcdef0.json")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
