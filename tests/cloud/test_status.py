"""`bootstrap status` against moto in server mode: status records as the pull writes them.

The records here are written by the test in the pull's own format (the container test of the
pull writes real ones and runs this command on them too).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from support.cli import one_error, run_cli, write_tree
from support.cloud import BUCKET, REGION

PREFIX = "pub/fleet/"
ROLE = {
    "roles/app/role.yml": """
        description: one config per host
        artifacts:
          - template: app/app.conf.j2
            dest: /etc/app/app.conf
        """,
    "templates/app/app.conf.j2": "name = {{ host.name }} {{ vars.app_version }}\n",
}


def inventory(tmp: Path, version: int = 1, hosts: tuple[str, ...] = ("app01", "app02")) -> Path:
    inv = write_tree(tmp / "inv", ROLE)
    doc = {"all": {"vars": {
        "bootstrap_roles": ["ec2-instance", "app"], "app_version": version,
        "aws": {"ami": "ami-0d1e2b3c4a5f60718", "region": REGION,
                "publish": {"bucket": BUCKET, "prefix": PREFIX}}},
        "hosts": dict.fromkeys(hosts)}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc))
    return inv


def published(cloud, inv: Path,  # type: ignore[no-untyped-def]
              hosts: tuple[str, ...] = ("app01", "app02")) -> dict[str, str]:
    cloud.render(inv)
    result = run_cli("publish", inv, "-b", cloud.build, "--endpoint-url", cloud.endpoint,
                     env=cloud.env)
    assert result.rc == 0, result.err
    s3 = cloud.client("s3")
    return {host: hashlib.sha256(s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}hosts/{host}.json")[
        "Body"].read()).hexdigest() for host in hosts}


def record(cloud, instance: str, **fields: Any) -> None:  # type: ignore[no-untyped-def]
    when = datetime.now(UTC) - timedelta(seconds=fields.pop("age", 90))
    doc = {"format": 1, "instance_id": instance, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
           "replaced": 1, "unchanged": 0, "step": None, "output": None, **fields}
    cloud.client("s3").put_object(Bucket=BUCKET, Key=f"{PREFIX}status/{instance}.json",
                                  Body=json.dumps(doc).encode())


def status(cloud, inv: Path, *args: str):  # type: ignore[no-untyped-def]
    result = run_cli("status", inv, "--endpoint-url", cloud.endpoint, *args, env=cloud.env)
    assert "Traceback" not in result.err
    return result


def rows(out: str) -> dict[str, list[str]]:
    """instance -> its row's cells (DETAIL may hold spaces: the cells before it do not)."""
    lines = out.splitlines()
    assert lines[0].split() == ["HOST", "INSTANCE", "STATE", "APPLIED", "PUBLISHED", "AGE",
                                "DETAIL"]
    found = {}
    for line in lines[1:]:
        if not line.startswith(("app", "?")):
            break
        cells = line.split(None, 6)
        found[cells[1] if cells[1] != "-" else cells[0]] = cells
    return found


def test_every_instance_converged_is_exit_0(cloud):
    inv = inventory(cloud.tmp)
    digests = published(cloud, inv)
    record(cloud, "i-0aaaaaaaaaaaaaaa1", host="app01", result="ok", manifest=digests["app01"],
           wanted=digests["app01"], age=200)
    record(cloud, "i-0aaaaaaaaaaaaaaa2", host="app02", result="ok", manifest=digests["app02"],
           wanted=digests["app02"])
    result = status(cloud, inv)
    assert result.rc == 0, result.out + result.err
    found = rows(result.out)
    assert found["i-0aaaaaaaaaaaaaaa1"][:6] == ["app01", "i-0aaaaaaaaaaaaaaa1", "converged",
                                                digests["app01"][:12], digests["app01"][:12],
                                                "3m"]
    assert found["i-0aaaaaaaaaaaaaaa2"][2] == "converged"
    assert result.out.splitlines()[-1] == "2 instances: 2 converged, 0 behind, 0 failed"


def test_behind_failed_and_waiting_instances_are_reported_and_exit_2(cloud, tmp_path):
    three = ("app01", "app02", "app03")
    old = published(cloud, inventory(cloud.tmp, hosts=three), three)
    inv = inventory(cloud.tmp, version=2, hosts=three)
    new = published(cloud, inv, three)
    assert old["app01"] != new["app01"]
    record(cloud, "i-0bbbbbbbbbbbbbbb1", host="app01", result="ok", manifest=old["app01"],
           wanted=old["app01"])
    record(cloud, "i-0bbbbbbbbbbbbbbb2", host="app02", result="failed", manifest=old["app02"],
           wanted=new["app02"], step="apply app", output="restarting\nreload refused: port busy")
    # The stub failed before it read a manifest: no host in the record, the digest tells it.
    record(cloud, "i-0bbbbbbbbbbbbbbb3", result="failed", manifest="", wanted=new["app01"],
           step="fetch", output="S3 answered HTTP 403 for s3://x/pub/fleet/hosts/app01.json")
    cloud.client("s3").put_object(Bucket=BUCKET, Key=f"{PREFIX}status/i-0ccccccccccccccc1.json",
                                  Body=b"{not json")
    out = tmp_path / "status.json"
    result = status(cloud, inv, "--json", str(out))
    assert result.rc == 2, result.out + result.err
    found = rows(result.out)
    assert len(found) == 4, result.out
    assert found["i-0bbbbbbbbbbbbbbb1"][2:5] == ["behind", old["app01"][:12], new["app01"][:12]]
    assert found["i-0bbbbbbbbbbbbbbb2"][2] == "failed"
    assert found["i-0bbbbbbbbbbbbbbb2"][6] == "apply app: reload refused: port busy"
    assert found["i-0bbbbbbbbbbbbbbb3"][:3] == ["app01", "i-0bbbbbbbbbbbbbbb3", "failed"]
    assert found["app03"][2:] == ["waiting", "-", new["app03"][:12], "-",
                                  "no instance has reported"]
    assert f"unreadable: s3://{BUCKET}/{PREFIX}status/i-0ccccccccccccccc1.json is not a status " \
           "record the pull writes" in result.out
    assert result.out.splitlines()[-1] == \
        "3 instances: 0 converged, 1 behind, 2 failed; 1 host waiting"
    doc = json.loads(out.read_text())
    assert {r["instance"]: r["state"] for r in doc["rows"]} == {
        "i-0bbbbbbbbbbbbbbb1": "behind", "i-0bbbbbbbbbbbbbbb2": "failed",
        "i-0bbbbbbbbbbbbbbb3": "failed", "-": "waiting"}


def test_limit_selects_hosts_and_other_hosts_records_are_left_out(cloud):
    inv = inventory(cloud.tmp)
    digests = published(cloud, inv)
    record(cloud, "i-0ddddddddddddddd1", host="app01", result="ok", manifest=digests["app01"],
           wanted=digests["app01"])
    record(cloud, "i-0ddddddddddddddd2", host="app02", result="failed", manifest="",
           wanted=digests["app02"], step="fetch", output="boom")
    result = status(cloud, inv, "--limit", "app01")
    assert result.rc == 0, result.out
    assert list(rows(result.out)) == ["i-0ddddddddddddddd1"]


def test_a_host_without_aws_publish_is_an_error_naming_the_key(cloud):
    inv = inventory(cloud.tmp)
    doc = yaml.safe_load((inv / "hosts.yml").read_text())
    del doc["all"]["vars"]["aws"]["publish"]
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc))
    one_error(status(cloud, inv), "key aws.publish", "has no aws.publish")


def test_credentials_that_may_not_read_the_bucket_are_one_error(cloud):
    inv = inventory(cloud.tmp)
    published(cloud, inv)
    result = run_cli("status", inv, "--endpoint-url", cloud.endpoint,
                     env={**cloud.env, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                          "AWS_SESSION_TOKEN": None})
    one_error(result, "no AWS credentials found")
