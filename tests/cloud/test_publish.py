"""`bootstrap publish` against moto in server mode, over real HTTP on loopback (as test_launch).

The inventory's hosts run a user role, ``app``, next to the inventory: a config every host
shares, one per host, and a token file that holds a secret. Each test runs the command as a
user would and reads back from moto what a user would check: the objects and manifests in the
bucket, their encryption, and (through a recording proxy) which requests were made.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from support.cli import one_error, run_cli, write_tree
from support.cloud import BUCKET, REGION
from support.moto import FaultProxy

PREFIX = "pub/fleet/"
TOKEN = "TOKEN-SECRET-5f0e2b7a"
HOSTS = ("app01", "app02", "app03")

ROLE = {
    "roles/app/role.yml": """
        description: an app with a shared config, a config per host and a secret token
        apply: systemctl restart app
        artifacts:
          - template: app/shared.conf.j2
            dest: /etc/app/shared.conf
            mode: "0644"
          - template: app/host.conf.j2
            dest: /etc/app/host.conf
            mode: "0640"
            owner: root:app
          - template: app/token.j2
            dest: /etc/app/token
            mode: "0600"
        """,
    "templates/app/shared.conf.j2": "listen = {{ vars.app_port }}\n",
    "templates/app/host.conf.j2": "name = {{ host.name }}\nport = {{ vars.app_port }}\n",
    "templates/app/token.j2": "token = {{ vars.app_token }}\n",
    "secrets/token": TOKEN + "\n",
}


def inventory(tmp: Path, publish: dict[str, Any] | None = None,
              hosts: dict[str, Any] | None = None, others: dict[str, Any] | None = None,
              region: str | None = REGION) -> Path:
    """Hosts app01-03 (group app) publishing to BUCKET/pub/fleet; ``others`` a second group
    with the same roles and no aws.publish."""
    aws: dict[str, Any] = {"ami": "ami-0d1e2b3c4a5f60718"}
    if region:
        aws["region"] = region
    group_vars = {
        "bootstrap_roles": ["ec2-instance", "app"],
        "app_port": 8080,
        "app_token": {"file": "secrets/token"},
    }
    doc: dict[str, Any] = {"all": {"children": {"app": {
        "vars": {**group_vars, "aws": {**aws, "publish": publish or {
            "bucket": BUCKET, "prefix": "pub/fleet"}}},
        "hosts": hosts or dict.fromkeys(HOSTS),
    }}}}
    if others:
        doc["all"]["children"]["plain"] = {"vars": {**group_vars, "aws": aws}, "hosts": others}
    inv = write_tree(tmp / "inv", ROLE)
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return inv


def publish(cloud, inv: Path, *args: str, endpoint: str | None = None, build: Path | None = None):  # type: ignore[no-untyped-def]
    result = run_cli("publish", inv, "-b", build or cloud.build, "--endpoint-url",
                     endpoint or cloud.endpoint, *args, env=cloud.env)
    assert TOKEN not in result.out + result.err
    assert "Traceback" not in result.err
    return result


def recorded(cloud, inv: Path, *args: str):  # type: ignore[no-untyped-def]
    """Publish through a recording proxy: (result, the S3 requests it saw)."""
    proxy = FaultProxy(cloud.endpoint)
    try:
        result = publish(cloud, inv, *args, endpoint=proxy.url)
    finally:
        proxy.stop()
    return result, proxy.seen


def puts(seen: list[str]) -> list[str]:
    """The S3 keys PUT, from the proxy's ``PUT /bucket/key`` records."""
    return sorted(a.removeprefix(f"PUT /{BUCKET}/") for a in seen if a.startswith("PUT "))


def writes(seen: list[str]) -> list[str]:
    return [a for a in seen if a.split(" ")[0] in {"PUT", "POST", "DELETE"}]


def keys(cloud, prefix: str = PREFIX) -> list[str]:  # type: ignore[no-untyped-def]
    found = cloud.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in found.get("Contents", []))


def built(cloud, host: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return json.loads((cloud.build / host / "manifest.json").read_text())


def published(cloud, host: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = cloud.client("s3").get_object(Bucket=BUCKET, Key=f"{PREFIX}hosts/{host}.json")["Body"]
    return json.loads(body.read())


def digest(cloud, host: str, dest: str) -> str:  # type: ignore[no-untyped-def]
    return next(r["sha256"] for r in built(cloud, host)["files"] if r["dest"] == dest)


# -- what is uploaded -------------------------------------------------------------------------


def test_shared_files_are_uploaded_once_and_every_host_gets_its_manifest(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    result, seen = recorded(cloud, inv)
    assert result.rc == 0, result.err
    shared = digest(cloud, "app01", "/etc/app/shared.conf")
    token = digest(cloud, "app01", "/etc/app/token")
    own = {h: digest(cloud, h, "/etc/app/host.conf") for h in HOSTS}
    objects = {shared, token, *own.values()}
    assert len(objects) == 5
    # One PUT per distinct object and one per manifest, nothing else written.
    assert puts(seen) == sorted([f"{PREFIX}objects/{d}" for d in objects]
                                + [f"{PREFIX}hosts/{h}.json" for h in HOSTS])
    assert len(writes(seen)) == 8
    assert keys(cloud) == puts(seen)
    assert result.out.splitlines() == [
        "published: app01 (3 new objects, manifest updated)",
        "published: app02 (1 new object, manifest updated)",
        "published: app03 (1 new object, manifest updated)",
        "published 3 hosts: 8 PUT requests (5 objects, 3 manifests), 0 objects already there",
    ]
    s3 = cloud.client("s3")
    for host in HOSTS:
        for record in built(cloud, host)["files"]:
            key = f"{PREFIX}objects/{record['sha256']}"
            got = s3.get_object(Bucket=BUCKET, Key=key)
            # Byte for byte what push would copy, encrypted at rest (SSE-S3 by default).
            assert got["Body"].read() == (cloud.build / host / record["path"]).read_bytes()
            assert got["ServerSideEncryption"] == "AES256"


def test_the_manifest_lists_what_push_would_copy_with_the_roles_apply_steps(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    assert publish(cloud, inv, "--limit", "app02").rc == 0
    manifest = published(cloud, "app02")
    source = built(cloud, "app02")
    assert manifest["host"] == "app02"
    assert manifest["roles"] == ["ec2-instance", "app"]
    assert manifest["apply"] == {"app": "systemctl restart app"} == source["apply"]
    assert manifest["files"] == [
        {"dest": r["dest"], "object": f"objects/{r['sha256']}", "sha256": r["sha256"],
         "size": r["size"], "mode": r["mode"], "owner": r["owner"], "role": r["role"],
         "secret": r["secret"]} for r in source["files"]]
    token = next(f for f in manifest["files"] if f["dest"] == "/etc/app/token")
    assert token["secret"] is True and token["mode"] == "0600"
    host_conf = next(f for f in manifest["files"] if f["dest"] == "/etc/app/host.conf")
    assert (host_conf["mode"], host_conf["owner"]) == ("0640", "root:app")
    # The manifest holds names and digests, never a secret's text; --limit kept the others out.
    assert TOKEN not in json.dumps(manifest)
    assert keys(cloud, f"{PREFIX}hosts/") == [f"{PREFIX}hosts/app02.json"]
    head = cloud.client("s3").head_object(Bucket=BUCKET, Key=f"{PREFIX}hosts/app02.json")
    assert head["ServerSideEncryption"] == "AES256"


def test_objects_and_manifests_use_sse_kms_with_the_key_named(cloud):
    key_arn = cloud.client("kms").create_key(Description="publish")["KeyMetadata"]["Arn"]
    inv = inventory(cloud.tmp, publish={"bucket": BUCKET, "prefix": "pub/fleet",
                                        "kms_key_arn": key_arn})
    cloud.render(inv)
    result = publish(cloud, inv)
    assert result.rc == 0, result.err
    s3 = cloud.client("s3")
    stored = keys(cloud)
    assert len(stored) == 8
    for key in stored:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert head["SSEKMSKeyId"] == key_arn, key
    # SSE-KMS too: a second run finds every manifest the same and puts nothing.
    again, seen = recorded(cloud, inv)
    assert again.rc == 0, again.err
    assert puts(seen) == []


# -- only what is missing ---------------------------------------------------------------------


def test_a_republish_with_nothing_changed_makes_no_put(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    assert publish(cloud, inv).rc == 0
    s3 = cloud.client("s3")
    before = {k: s3.head_object(Bucket=BUCKET, Key=k)["LastModified"] for k in keys(cloud)}
    again, seen = recorded(cloud, inv)
    assert again.rc == 0, again.err
    assert writes(seen) == []
    # It read the objects folder with one listing, and each manifest with one HEAD.
    assert len([a for a in seen if a.startswith("GET ")]) == 1
    assert len([a for a in seen if a.startswith("HEAD ")]) == 3
    assert again.out.splitlines() == [
        *(f"published: {h} (0 new objects, manifest unchanged)" for h in HOSTS),
        "published 3 hosts: 0 PUT requests (0 objects, 0 manifests), 5 objects already there",
    ]
    assert {k: s3.head_object(Bucket=BUCKET, Key=k)["LastModified"] for k in keys(cloud)} == before


def test_a_changed_file_puts_only_its_object_and_its_hosts_manifest(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    assert publish(cloud, inv).rc == 0
    inv = inventory(cloud.tmp, hosts={"app01": None, "app02": {"app_port": 9090}, "app03": None})
    cloud.render(inv)
    result, seen = recorded(cloud, inv)
    assert result.rc == 0, result.err
    # app02's own config and its shared one changed: listen = 9090 is new to the bucket.
    changed = {digest(cloud, "app02", "/etc/app/host.conf"),
               digest(cloud, "app02", "/etc/app/shared.conf")}
    assert puts(seen) == sorted([f"{PREFIX}objects/{d}" for d in changed]
                                + [f"{PREFIX}hosts/app02.json"])
    assert "published: app01 (0 new objects, manifest unchanged)" in result.out
    assert "published: app02 (2 new objects, manifest updated)" in result.out
    assert published(cloud, "app02")["files"][1]["sha256"] == digest(cloud, "app02",
                                                                      "/etc/app/host.conf")
    # The old objects stay: an instance still on the previous manifest can finish its pull.
    assert len(keys(cloud, f"{PREFIX}objects/")) == 7


def test_the_manifest_is_put_last_so_a_failed_object_leaves_none(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    own = digest(cloud, "app01", "/etc/app/host.conf")
    proxy = FaultProxy(cloud.endpoint)
    proxy.fail(f"PUT /{BUCKET}/{PREFIX}objects/{own}", "AccessDenied", "Access Denied",
               status=403)
    try:
        result = publish(cloud, inv, endpoint=proxy.url)
    finally:
        proxy.stop()
    line = one_error(result, "host app01", "key aws.publish", "s3:PutObject failed: AccessDenied",
                     f"s3://{BUCKET}/{PREFIX}objects/{own}",
                     "the credentials boto3 found may not make this call",
                     "left in place: 1 object uploaded, no manifest published")
    assert "hosts.yml:" in line
    assert keys(cloud, f"{PREFIX}hosts/") == []
    # Once allowed, the run completes, and what was uploaded before is not uploaded again.
    stored = set(keys(cloud, f"{PREFIX}objects/"))
    again, seen = recorded(cloud, inv)
    assert again.rc == 0, again.err
    assert not stored & set(puts(seen))
    assert len(keys(cloud, f"{PREFIX}hosts/")) == 3


def test_a_dry_run_lists_the_uploads_and_writes_nothing(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    result, seen = recorded(cloud, inv, "--dry-run")
    assert result.rc == 0, result.err
    assert writes(seen) == []
    assert keys(cloud) == []
    shared = digest(cloud, "app01", "/etc/app/shared.conf")
    token = digest(cloud, "app01", "/etc/app/token")
    out = result.out.splitlines()
    assert (f"app01: would upload s3://{BUCKET}/{PREFIX}objects/{shared} (file "
            "/etc/app/shared.conf, 14 bytes, SSE-S3)") in out
    assert (f"app01: would upload s3://{BUCKET}/{PREFIX}objects/{token} (secret file "
            "/etc/app/token, 30 bytes, SSE-S3)") in out
    assert "would publish: app02 (1 new object, manifest would be updated)" in out
    assert out[-1] == ("dry run: 3 hosts, would make 8 PUT requests (5 objects, 3 manifests); "
                       "no write call made")
    # After a real publish a dry run has nothing to list.
    assert publish(cloud, inv).rc == 0
    again, seen = recorded(cloud, inv, "--dry-run")
    assert writes(seen) == [] and "would upload" not in again.out
    assert again.out.splitlines()[-1].startswith("dry run: 3 hosts, would make 0 PUT requests")


# -- the pull's IAM policy --------------------------------------------------------------------


def test_each_host_may_read_the_objects_and_its_own_manifest_only(cloud):
    key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    inv = inventory(cloud.tmp, others={"plain01": None})
    kms = inventory(cloud.tmp / "kms", publish={"bucket": BUCKET, "prefix": "pub/fleet",
                                                "kms_key_arn": key_arn})
    cloud.render(inv)
    iam = cloud.build / "_fleet" / "iam"
    # One pair per publishing host; a host without aws.publish gets none.
    assert sorted(p.name for p in iam.glob("publish-*")) == sorted(
        f"publish-{h}.{kind}.json" for h in HOSTS for kind in ("policy", "trust"))
    assert json.loads((iam / "publish-app02.policy.json").read_text()) == {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ReadPublishedObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [f"arn:aws:s3:::{BUCKET}/{PREFIX}objects/*",
                         f"arn:aws:s3:::{BUCKET}/{PREFIX}hosts/app02.json"],
        }, {
            "Sid": "WriteStatusRecords",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/{PREFIX}status/*",
        }],
    }
    assert json.loads((iam / "publish-app02.trust.json").read_text())["Statement"][0][
        "Principal"] == {"Service": "ec2.amazonaws.com"}
    build = cloud.tmp / "kms" / "build"
    assert run_cli("render", kms, "-o", build).rc == 0
    statements = json.loads((build / "_fleet" / "iam" / "publish-app01.policy.json")
                            .read_text())["Statement"]
    assert statements[1] == {
        "Sid": "DecryptPublishedObjects", "Effect": "Allow", "Action": "kms:Decrypt",
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}
    assert statements[3] == {
        "Sid": "EncryptStatusRecords", "Effect": "Allow", "Action": "kms:GenerateDataKey",
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}}
    for folder in (cloud.build, build):
        checked = run_cli("validate", folder, "--limit", "_fleet", "--strict")
        assert checked.rc == 0, checked.out + checked.err
        for host in HOSTS:
            assert f"ok   _fleet iam/publish-{host}.policy.json (parliament)" in \
                checked.out.splitlines()


def test_the_policy_names_exactly_the_keys_publish_writes(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    assert publish(cloud, inv, "--limit", "app01").rc == 0
    policy = json.loads((cloud.build / "_fleet" / "iam" / "publish-app01.policy.json").read_text())
    [objects, manifest] = policy["Statement"][0]["Resource"]
    arn = f"arn:aws:s3:::{BUCKET}/"
    for key in keys(cloud):
        allowed = key.startswith(objects.removeprefix(arn).removesuffix("*")) or \
            key == manifest.removeprefix(arn)
        assert allowed, key


# -- errors -----------------------------------------------------------------------------------


def test_a_host_without_aws_publish_is_named_with_its_key(cloud):
    inv = inventory(cloud.tmp, others={"plain01": None})
    cloud.render(inv)
    one_error(publish(cloud, inv), "hosts.yml:", "host plain01", "key aws.publish",
              "has no aws.publish")
    assert keys(cloud) == []  # checked before any upload
    assert publish(cloud, inv, "--limit", "app").rc == 0


def test_no_build_or_a_missing_host_folder_says_to_render(cloud):
    inv = inventory(cloud.tmp)
    one_error(publish(cloud, inv), "no build directory here", "bootstrap render")
    assert run_cli("render", inv, "-o", cloud.build, "--limit", "app01").rc == 0
    one_error(publish(cloud, inv), "host app02", "app02/manifest.json is missing",
              "bootstrap render")
    assert keys(cloud) == []


def test_a_build_older_than_the_inventory_says_to_render_again(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    (inv / "templates" / "app" / "shared.conf.j2").write_text("listen = 1\n")
    one_error(publish(cloud, inv), "host app01", "older than the inventory",
              "/etc/app/shared.conf", "bootstrap render")
    assert keys(cloud) == []


def test_a_build_file_edited_after_the_render_is_refused(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    (cloud.build / "app01" / "files" / "etc" / "app" / "host.conf").write_text("edited\n")
    one_error(publish(cloud, inv), "host app01", "does not match its manifest",
              "bootstrap render")
    assert keys(cloud, f"{PREFIX}hosts/") == []


def test_a_missing_bucket_is_one_line_naming_host_and_bucket(cloud):
    inv = inventory(cloud.tmp, publish={"bucket": "no-such-bucket", "prefix": "p"})
    cloud.render(inv)
    one_error(publish(cloud, inv), "host app01", "key aws.publish", "NoSuchBucket",
              "s3://no-such-bucket/p/objects/")


def test_the_buckets_region_comes_from_publish_or_region_or_the_environment(cloud):
    inv = inventory(cloud.tmp, region=None)
    cloud.render(inv)
    unset = {"AWS_DEFAULT_REGION": None, "AWS_REGION": None}
    result = run_cli("publish", inv, "-b", cloud.build, "--endpoint-url", cloud.endpoint,
                     env={**cloud.env, **unset})
    one_error(result, "hosts.yml:", "host app01", "key aws.publish.region", "--region")
    result = run_cli("publish", inv, "-b", cloud.build, "--endpoint-url", cloud.endpoint,
                     "--region", REGION, env={**cloud.env, **unset})
    assert result.rc == 0, result.err
    assert len(keys(cloud, f"{PREFIX}hosts/")) == 3
    # The setting wins over --region: the bucket lives where the inventory says.
    inv = inventory(cloud.tmp / "set", region=None, publish={
        "bucket": BUCKET, "prefix": "pub/fleet", "region": REGION})
    build = cloud.tmp / "set" / "build"
    assert run_cli("render", inv, "-o", build).rc == 0
    result = run_cli("publish", inv, "-b", build, "--endpoint-url", cloud.endpoint,
                     "--region", "us-east-2", env={**cloud.env, **unset})
    assert result.rc == 0, result.err
    assert "0 PUT requests" in result.out


def test_bad_publish_settings_are_render_errors_naming_the_key(cloud):
    for bad, key in (({"bucket": "Bad_Bucket"}, "aws.publish.bucket"),
                     ({"bucket": BUCKET, "prefix": "a/../b"}, "aws.publish.prefix"),
                     ({"bucket": BUCKET, "kms_key_arn": "alias/boot"}, "aws.publish.kms_key_arn"),
                     ({"prefix": "p"}, "aws.publish.bucket")):
        inv = inventory(cloud.tmp / key, publish=bad)
        result = run_cli("render", inv, "-o", cloud.tmp / key / "build")
        one_error(result, "hosts.yml:", key)


def test_the_published_digests_are_the_files_sha256(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    assert publish(cloud, inv, "--limit", "app03").rc == 0
    s3 = cloud.client("s3")
    for record in published(cloud, "app03")["files"]:
        body = s3.get_object(Bucket=BUCKET, Key=PREFIX + record["object"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == record["sha256"]


def test_launch_gives_a_publishing_host_the_pull_policy_as_its_instance_role(cloud):
    inv = inventory(cloud.tmp)
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())
    hosts["all"]["children"]["app"]["vars"]["bootstrap_roles"].insert(0, "cloud-init")
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    cloud.render(inv)
    result = cloud.launch(inv, "app01")
    assert result.rc == 0, result.err
    iam = cloud.client("iam")
    policy = iam.get_role_policy(RoleName="publish-app01", PolicyName="publish-app01")
    assert policy["PolicyDocument"] == json.loads(
        (cloud.build / "_fleet" / "iam" / "publish-app01.policy.json").read_text())
    [instance] = cloud.instances("app01")
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/publish-app01")


def test_a_failure_on_a_later_host_says_what_was_published_before(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    proxy = FaultProxy(cloud.endpoint)
    proxy.fail(f"PUT /{BUCKET}/{PREFIX}hosts/app03.json", "SlowDown", "Please reduce your rate",
               status=503, times=99)
    try:
        result = run_cli("publish", inv, "-b", cloud.build, "--endpoint-url", proxy.url,
                         env={**cloud.env, "AWS_MAX_ATTEMPTS": "2"})
    finally:
        proxy.stop()
    assert result.out.splitlines()[:2] == ["published: app01 (3 new objects, manifest updated)",
                                           "published: app02 (1 new object, manifest updated)"]
    line = one_error(result, "host app03", "key aws.publish", "SlowDown",
                     f"s3://{BUCKET}/{PREFIX}hosts/app03.json", "still throttled after 2 attempts",
                     "left in place: 5 objects uploaded, the manifests of 2 hosts published "
                     "(the last: app02)", quiet=False)
    assert TOKEN not in line
    assert keys(cloud, f"{PREFIX}hosts/") == [f"{PREFIX}hosts/app01.json",
                                              f"{PREFIX}hosts/app02.json"]
