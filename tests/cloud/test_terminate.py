"""`bootstrap terminate` against moto in server mode: find by tag, terminate, print the cleanup."""

from __future__ import annotations

import json
import re
from pathlib import Path

from support.cli import run_cli
from support.cloud import REGION, Cloud
from support.launch import inventory
from support.moto import FaultProxy


def terminate(cloud: Cloud, inv: Path, *args: str | Path, endpoint: str | None = None):  # type: ignore[no-untyped-def]
    return run_cli("terminate", inv, *args, "--endpoint-url", endpoint or cloud.endpoint,
                   env=cloud.env)


def test_terminate_finds_the_instances_by_tag_and_prints_the_node_cleanup(cloud):
    inv = inventory(cloud.tmp, cloud.ami, hosts={"web02": {"chef": {
        "server_url": "https://chef.example.internal/organizations/fleet",
        "validation_client_name": "fleet-validator", "run_list": ["recipe[base]"],
        "s3": {"bucket": "fleet-boot", "prefix": "chef/fleet", "region": REGION},
        "validation_key": {"file": "secrets/validator.pem"}, "node_name": "web-%s"}}})
    cloud.render(inv)
    fragment = inv / "launched.yml"
    launched = cloud.launch(inv, "web01", "web02", "pup01", "--write-inventory", fragment)
    assert launched.rc == 0, launched.err
    ids = {host: cloud.instances(host)[0]["InstanceId"] for host in ("web01", "web02", "pup01")}

    result = terminate(cloud, inv, "web01", "web02", "pup01", "--write-inventory", fragment)
    assert result.rc == 0, result.err
    ec2 = cloud.client("ec2")
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(
        InstanceIds=list(ids.values()))["Reservations"] for i in r["Instances"]}
    assert set(states.values()) <= {"shutting-down", "terminated"}, states
    for host, iid in ids.items():
        assert f"{host}: {iid} terminating (was running)" in result.out
    # Node names as the roles give them: the instance id, or the Chef pattern with %s.
    assert f"  knife node delete {ids['web01']} -y" in result.out
    assert f"  knife client delete {ids['web01']} -y" in result.out
    assert f"  knife node delete web-{ids['web02']} -y" in result.out
    assert f"  knife client delete web-{ids['web02']} -y" in result.out
    assert f"  puppetserver ca clean --certname {ids['pup01']}" in result.out
    # The inventory no longer claims addresses for them.
    shown = json.loads(run_cli("inventory", inv, "--host", "web01").out)
    assert "ansible_host" not in shown

    again = terminate(cloud, inv, "web01")
    assert again.rc == 0, again.err
    assert f"web01: no instance tagged bootstrap:host=web01 in {REGION}; nothing to terminate" \
        in again.out


def test_terminate_leaves_other_hosts_alone(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    assert cloud.launch(inv, "web01", "web02").rc == 0
    [web01] = cloud.instances("web01")
    result = terminate(cloud, inv, "web01")
    assert result.rc == 0, result.err
    [found] = cloud.client("ec2").describe_instances(
        InstanceIds=[web01["InstanceId"]])["Reservations"][0]["Instances"]
    assert found["State"]["Name"] in ("shutting-down", "terminated")
    assert [i["State"]["Name"] for i in cloud.instances("web02")] == ["running"]


def test_terminate_dry_run_makes_no_call(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    proxy = FaultProxy(cloud.endpoint)
    try:
        result = terminate(cloud, inv, "pup01", "--dry-run", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert result.rc == 0, result.err
    assert proxy.seen == []
    assert re.findall(r"^pup01: would call (\S+)", result.out, re.M) == [
        "ec2:DescribeInstances", "ec2:TerminateInstances"]
    assert "  puppetserver ca clean --certname INSTANCE_ID" in result.out


def test_terminate_denied_is_one_clear_message(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    assert cloud.launch(inv, "web01").rc == 0
    proxy = FaultProxy(cloud.endpoint)
    proxy.fail("TerminateInstances", "UnauthorizedOperation",
               "You are not authorized to perform this operation.", status=403)
    try:
        result = terminate(cloud, inv, "web01", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert result.rc == 1
    assert result.err.startswith("error: host web01: ec2:TerminateInstances failed: "
                                 "UnauthorizedOperation: You are not authorized")
    assert "nothing was terminated" in result.err
    assert [i["State"]["Name"] for i in cloud.instances("web01")] == ["running"]
