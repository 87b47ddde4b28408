"""`bootstrap push --via ssm` against moto in server mode: publish, then one SendCommand per host.

moto records SSM commands but runs none: these tests check what was sent (document, targets,
rate control, the script text, which is the host's own pull stub); the container test of the pull
runs that exact text on an instance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from support.cli import one_error, run_cli, write_tree
from support.cloud import BUCKET, DEBIAN_AMI, REGION
from support.userdata import parts

PREFIX = "pub/fleet/"
INSTANCE = "i-0123456789abcdef0"
ROLE = {
    "roles/app/role.yml": """
        description: one config per host
        apply: systemctl restart app
        artifacts:
          - template: app/app.conf.j2
            dest: /etc/app/app.conf
        """,
    "templates/app/app.conf.j2": "name = {{ host.name }}\n",
}


def inventory(tmp: Path, delivery: str = "s3", app01: dict[str, Any] | None = None) -> Path:
    inv = write_tree(tmp / "inv", ROLE)
    doc = {"all": {"vars": {
        "bootstrap_roles": ["ec2-instance", "cloud-init", "app"],
        "cloud_init": {"delivery": delivery},
        "aws": {"ami": DEBIAN_AMI, "region": REGION,
                "publish": {"bucket": BUCKET, "prefix": PREFIX}}},
        "hosts": {"app01": app01 if app01 is not None else {"ec2_instance_id": INSTANCE},
                  "app02": None}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc))
    return inv


def push(cloud, inv: Path, *args: str):  # type: ignore[no-untyped-def]
    result = run_cli("push", "--via", "ssm", inv, "-b", cloud.build, "--endpoint-url",
                     cloud.endpoint, *args, env=cloud.env)
    assert "Traceback" not in result.err
    return result


def tagged_instance(cloud, host: str) -> str:  # type: ignore[no-untyped-def]
    found = cloud.client("ec2").run_instances(
        ImageId=DEBIAN_AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "bootstrap:host", "Value": host}]}])
    return str(found["Instances"][0]["InstanceId"])


def commands(cloud) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The commands SSM holds, by the host their comment names."""
    found = cloud.client("ssm").list_commands()["Commands"]
    return {c["Comment"].split()[2]: c for c in found}


def stub(cloud, host: str) -> str:  # type: ignore[no-untyped-def]
    scripts = [c for _, kind, c in parts((cloud.build / host / "user-data").read_bytes())
               if kind == "text/x-shellscript"]
    return scripts[0].decode()


def test_publish_then_one_run_shell_script_per_host_with_its_pull(cloud, tmp_path):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    out = tmp_path / "push.json"
    # app01 by the instance id the inventory knows (launch --write-inventory records it).
    result = push(cloud, inv, "--limit", "app01", "--max-concurrency", "25%", "--max-errors",
                  "2", "--json", str(out))
    assert result.rc == 0, result.out + result.err
    # app02 by its tag: SSM finds the instances.
    other = tagged_instance(cloud, "app02")
    second = push(cloud, inv, "--limit", "app02", "--max-concurrency", "5")
    assert second.rc == 0, second.out + second.err
    # Published first: the manifest each command pins is in the bucket.
    s3 = cloud.client("s3")
    for host in ("app01", "app02"):
        assert s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}hosts/{host}.json")
    sent = commands(cloud)
    assert sorted(sent) == ["app01", "app02"]
    for host, command in sent.items():
        assert command["DocumentName"] == "AWS-RunShellScript"
        # The script is the host's own pull, byte for byte the stub its user-data runs.
        assert command["Parameters"]["commands"] == [stub(cloud, host)]
        assert command["Parameters"]["executionTimeout"] == ["3600"]
    assert (sent["app01"]["MaxConcurrency"], sent["app01"]["MaxErrors"]) == ("25%", "2")
    assert (sent["app02"]["MaxConcurrency"], sent["app02"]["MaxErrors"]) == ("5", "1")
    assert sent["app01"]["InstanceIds"] == [INSTANCE] and not sent["app01"]["Targets"]
    assert sent["app02"]["Targets"] == [{"Key": "tag:bootstrap:host", "Values": ["app02"]}]
    assert sent["app02"]["InstanceIds"] == [other]  # SSM resolved the tag
    lines = result.out.splitlines()
    assert lines[0] == "published: app01 (3 new objects, manifest updated)"
    assert lines[-1] == "1 instance: 0 changed, 1 unchanged, 0 failed"
    assert second.out.splitlines()[-1] == "1 instance: 0 changed, 1 unchanged, 0 failed"
    doc = json.loads(out.read_text())
    assert doc["via"] == "ssm" and doc["hosts"]["app01"][0]["instance"] == INSTANCE
    assert doc["commands"]["app01"] == sent["app01"]["CommandId"]


def test_a_republish_with_nothing_changed_sends_the_same_script(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    assert push(cloud, inv, "--limit", "app01").rc == 0
    again = push(cloud, inv, "--limit", "app01")
    assert again.rc == 0
    assert "published: app01 (0 new objects, manifest unchanged)" in again.out
    found = cloud.client("ssm").list_commands()["Commands"]
    assert len(found) == 2
    assert found[0]["Parameters"] == found[1]["Parameters"]


def test_a_host_that_does_not_pull_is_an_error_before_any_command(cloud):
    inv = inventory(cloud.tmp, delivery="inline")
    cloud.render(inv)
    one_error(push(cloud, inv), "pull.sh is missing", "pulling them from S3", quiet=False)
    assert cloud.client("ssm").list_commands()["Commands"] == []


def test_rate_control_values_are_checked(cloud):
    inv = inventory(cloud.tmp)
    for bad in ("0", "150%", "ten", "-1"):
        result = push(cloud, inv, "--max-concurrency", bad)
        assert result.rc == 2 and "not a count or a percentage" in result.err, result.err
    result = push(cloud, inv, "--max-errors", "0%")
    assert result.rc == 2


def test_check_is_for_push_over_ssh(cloud):
    inv = inventory(cloud.tmp)
    cloud.render(inv)
    one_error(push(cloud, inv, "--check"), "--check and --backup are for push over SSH")


def test_aws_publish_ssm_gives_the_instance_role_what_the_ssm_agent_needs(cloud):
    inv = inventory(cloud.tmp)
    doc = yaml.safe_load((inv / "hosts.yml").read_text())
    doc["all"]["hosts"]["app02"] = {"aws": {**doc["all"]["vars"]["aws"], "publish": {
        "bucket": BUCKET, "prefix": PREFIX, "ssm": True}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc))
    cloud.render(inv)
    iam = cloud.build / "_fleet" / "iam"

    def actions(host: str) -> set[str]:
        policy = json.loads((iam / f"publish-{host}.policy.json").read_text())
        return {a for s in policy["Statement"]
                for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}

    assert not any(a.startswith(("ssm:", "ssmmessages:", "ec2messages:"))
                   for a in actions("app01"))
    assert {"ssm:UpdateInstanceInformation", "ec2messages:GetMessages", "ec2messages:SendReply",
            "ssmmessages:CreateControlChannel"} <= actions("app02")
    checked = run_cli("validate", cloud.build, "--limit", "_fleet", "--strict")
    assert checked.rc == 0, checked.out
    assert "ok   _fleet iam/publish-app02.policy.json (parliament)" in checked.out.splitlines()
