"""Group templates: launch keeps an Auto Scaling group behind a load balancer on the template.

Against moto in server mode over HTTP (EC2, Auto Scaling, ELBv2, IAM), as an operator would
check it: the launch template's user-data names no instance, the group points at the exact
version launch wrote, the target group's health check and the listener are as asked, a rerun
makes no write call, a new version updates the group, and terminate scales in, then deletes
what launch made. moto has no instance refresh, so that one call is checked with botocore's
Stubber against launch's own client.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.stub import Stubber
from support.cli import one_error, run_cli
from support.cloud import REGION
from support.moto import FaultProxy
from support.userdata import cloud_config

from bootstrap.cloud import autoscaling
from bootstrap.cloud.client import Live

# Calls that change something; a launch with nothing to do makes none of them.
WRITE_PREFIXES = ("Create", "Update", "Modify", "Attach", "Set", "Start", "Delete", "Put",
                  "RunInstances", "Add", "Remove")


@pytest.fixture
def network(cloud) -> dict[str, Any]:
    ec2 = cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{n}.0/24",
                                 AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for n, zone in ((1, "a"), (2, "b"))]
    return {"vpc": vpc, "subnets": subnets}


def group_inventory(cloud, network: dict[str, Any], *, packages: list[str] | None = None,
                    **group: Any) -> Path:
    settings: dict[str, Any] = {
        "min": 1, "max": 3, "desired": 2, "subnets": network["subnets"],
        "health_check": {"type": "ELB", "grace_seconds": 120},
        "target_group": {"name": "app-tier", "vpc_id": network["vpc"], "path": "/health"},
        "load_balancer": {"name": "app-tier", "subnets": network["subnets"]},
        **group,
    }
    host = {
        "bootstrap_roles": ["cloud-init", "ec2-instance"],
        "cloud_init": {"hostname_pattern": "app-{instance_id}", "packages": packages or ["jq"]},
        "aws": {"ami": cloud.ami, "region": REGION, "launch_template": "app-tier",
                "autoscaling": {k: v for k, v in settings.items() if v is not None}},
    }
    inv = cloud.tmp / "inv"
    inv.mkdir(exist_ok=True)
    (inv / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"app01": host}}}))
    return inv


def writes(proxy: FaultProxy) -> list[str]:
    return [a for a in proxy.seen if a.startswith(WRITE_PREFIXES)]


def describe(cloud) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The group, its target group, its load balancer and that balancer's listeners."""
    [group] = cloud.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["app-tier"])["AutoScalingGroups"]
    elb = cloud.client("elbv2")
    [tg] = elb.describe_target_groups(Names=["app-tier"])["TargetGroups"]
    [lb] = elb.describe_load_balancers(Names=["app-tier"])["LoadBalancers"]
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    return group, tg, lb, listeners


def test_launch_puts_the_group_behind_a_load_balancer_on_the_template(cloud, network):
    inv = group_inventory(cloud, network)
    cloud.render(inv)
    result = cloud.launch(inv, "app01")
    assert result.rc == 0, result.err

    # One template version, whose user-data names no instance: each is named at boot.
    ec2 = cloud.client("ec2")
    [version] = ec2.describe_launch_template_versions(LaunchTemplateName="app-tier")[
        "LaunchTemplateVersions"]
    data = version["LaunchTemplateData"]
    user_data = base64.b64decode(data["UserData"])
    assert b"app01" not in user_data
    assert "hostname" not in cloud_config(user_data)
    tags = {t["Key"]: t["Value"] for spec in data["TagSpecifications"] for t in spec["Tags"]}
    assert tags.get("bootstrap:template") == "app01" and "Name" not in tags

    group, tg, lb, listeners = describe(cloud)
    assert group["LaunchTemplate"]["LaunchTemplateName"] == "app-tier"
    assert group["LaunchTemplate"]["Version"] == str(version["VersionNumber"])
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 3, 2)
    assert sorted(group["VPCZoneIdentifier"].split(",")) == sorted(network["subnets"])
    assert (group["HealthCheckType"], group["HealthCheckGracePeriod"]) == ("ELB", 120)
    assert group["TargetGroupARNs"] == [tg["TargetGroupArn"]]
    assert (tg["Protocol"], tg["Port"], tg["VpcId"]) == ("HTTP", 80, network["vpc"])
    assert (tg["HealthCheckPath"], tg["HealthCheckIntervalSeconds"],
            tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == ("/health", 30, 5, 2)
    assert lb["Scheme"] == "internet-facing" and lb["Type"] == "application"
    assert [(x["Port"], x["DefaultActions"][0]["TargetGroupArn"]) for x in listeners] == [
        (80, tg["TargetGroupArn"])]
    for line in ("app01: target group app-tier created (HTTP:80, health check /health)",
                 "app01: load balancer app-tier created (internet-facing)",
                 "app01: listener HTTP:80 created, forwarding to app-tier",
                 "app01: Auto Scaling group app-tier created on app-tier version 1 (1..3)"):
        assert line in result.out, result.out


def test_a_rerun_makes_no_write_call_and_a_new_version_moves_the_group(cloud, network):
    inv = group_inventory(cloud, network)
    cloud.render(inv)
    assert cloud.launch(inv, "app01").rc == 0
    with FaultProxy(cloud.endpoint) as proxy:
        again = cloud.launch(inv, "app01", endpoint=proxy.url)
        assert again.rc == 0, again.err
        assert writes(proxy) == [], proxy.seen
        assert {"DescribeAutoScalingGroups", "DescribeTargetGroups",
                "DescribeListeners"} <= set(proxy.seen), proxy.seen
        assert "app01: Auto Scaling group app-tier unchanged" in again.out

        # A new package: a new template version, and the group follows it (no refresh asked).
        inv = group_inventory(cloud, network, packages=["jq", "htop"], max=4)
        cloud.render(inv)
        proxy.seen.clear()
        moved = cloud.launch(inv, "app01", endpoint=proxy.url)
    assert moved.rc == 0, moved.err
    assert sorted(writes(proxy)) == ["CreateLaunchTemplateVersion", "ModifyLaunchTemplate",
                                     "UpdateAutoScalingGroup"], proxy.seen
    group, *_ = describe(cloud)
    assert group["LaunchTemplate"]["Version"] == "2" and group["MaxSize"] == 4
    assert "app01: Auto Scaling group app-tier updated (LaunchTemplate, MaxSize)" in moved.out


def test_the_dry_run_lists_every_call_and_makes_none(cloud, network):
    inv = group_inventory(cloud, network)
    cloud.render(inv)
    with FaultProxy(cloud.endpoint) as proxy:
        dry = cloud.launch(inv, "app01", "--dry-run", endpoint=proxy.url)
    assert dry.rc == 0, dry.err
    assert proxy.seen == []
    for call in ("elbv2:CreateTargetGroup Name=app-tier", "elbv2:CreateLoadBalancer Name=app-tier",
                 "elbv2:CreateListener", "autoscaling:CreateAutoScalingGroup "
                 "AutoScalingGroupName=app-tier"):
        assert f"would call {call}" in dry.out, dry.out


def test_an_existing_load_balancer_gets_a_listener_but_is_never_taken_over(cloud, network):
    elb = cloud.client("elbv2")
    theirs = elb.create_load_balancer(Name="shared-edge", Subnets=network["subnets"])[
        "LoadBalancers"][0]["LoadBalancerArn"]
    inv = group_inventory(cloud, network, load_balancer="shared-edge")
    cloud.render(inv)
    result = cloud.launch(inv, "app01")
    assert result.rc == 0, result.err
    [listener] = elb.describe_listeners(LoadBalancerArn=theirs)["Listeners"]
    [tg] = elb.describe_target_groups(Names=["app-tier"])["TargetGroups"]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]

    other = elb.create_target_group(Name="other", Protocol="HTTP", Port=80,
                                    VpcId=network["vpc"])["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_listener(ListenerArn=listener["ListenerArn"],
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": other}])
    line = one_error(cloud.launch(inv, "app01"), "host app01:", "key aws.autoscaling.load_balancer:",
                     "forwards elsewhere", quiet=False)
    assert "launch changes only listeners of load balancers it created" in line

    # terminate --delete removes the listener it added, not their load balancer.
    gone = run_cli("terminate", inv, "app01", "--delete", "--endpoint-url", cloud.endpoint,
                   env=cloud.env)
    assert gone.rc == 0, gone.err
    assert elb.describe_load_balancers(Names=["shared-edge"])["LoadBalancers"]


def test_a_target_group_that_cannot_change_in_place_is_named(cloud, network):
    cloud.client("elbv2").create_target_group(Name="app-tier", Protocol="HTTP", Port=8080,
                                              VpcId=network["vpc"])
    inv = group_inventory(cloud, network)
    cloud.render(inv)
    one_error(cloud.launch(inv, "app01"), "host app01:", "key aws.autoscaling.target_group:",
              "Port 8080", "cannot change that in place", quiet=False)


def test_terminate_scales_in_then_deletes_what_launch_made(cloud, network):
    inv = group_inventory(cloud, network)
    cloud.render(inv)
    assert cloud.launch(inv, "app01").rc == 0
    group, *_ = describe(cloud)
    ids = sorted(i["InstanceId"] for i in group["Instances"])
    assert len(ids) == 2

    scaled = run_cli("terminate", inv, "app01", "--endpoint-url", cloud.endpoint, env=cloud.env)
    assert scaled.rc == 0, scaled.err
    assert "app01: Auto Scaling group app-tier scaled to 0 (2 instances terminating)" in scaled.out
    group, *_ = describe(cloud)
    assert (group["MinSize"], group["DesiredCapacity"]) == (0, 0)

    deleted = run_cli("terminate", inv, "app01", "--delete", "--endpoint-url", cloud.endpoint,
                      env=cloud.env)
    assert deleted.rc == 0, deleted.err
    assert cloud.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["app-tier"])["AutoScalingGroups"] == []
    elb = cloud.client("elbv2")
    assert [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]] == []
    assert [tg["TargetGroupName"] for tg in elb.describe_target_groups()["TargetGroups"]] == []
    assert cloud.client("ec2").describe_launch_templates()["LaunchTemplates"] == []
    for line in ("app01: Auto Scaling group app-tier deleted",
                 "app01: load balancer app-tier deleted (with its listeners)",
                 "app01: target group app-tier deleted",
                 "app01: launch template app-tier deleted"):
        assert line in deleted.out, deleted.out


@pytest.mark.parametrize(("group", "key", "words"), [
    ({"max": 0}, "aws.autoscaling.max", "below min"),
    ({"desired": 9}, "aws.autoscaling.desired", "outside min 1 .. max 3"),
    ({"target_group": None}, "aws.autoscaling.load_balancer", "set target_group"),
    ({"subnets": []}, "aws.autoscaling.subnets", ""),
    ({"load_balancer": {"name": "app-tier", "subnets": ["subnet-0123abcd"]}},
     "aws.autoscaling.load_balancer", ""),
    ({"target_group": {"name": "-bad", "vpc_id": "vpc-0123abcd"}},
     "aws.autoscaling.target_group.name", "not a valid name"),
])
def test_bad_group_settings_are_named_at_render(cloud, network, group, key, words):
    inv = group_inventory(cloud, network, **group)
    line = one_error(run_cli("render", inv, "-o", cloud.tmp / "build"), "host app01:",
                     f"key {key}", words)
    assert "hosts.yml:" in line, line


def test_a_group_template_needs_its_launch_template_and_no_subnet_id(cloud, network):
    inv = group_inventory(cloud, network)
    doc = yaml.safe_load((inv / "hosts.yml").read_text())
    aws = doc["all"]["hosts"]["app01"]["aws"]
    aws["subnet_id"] = network["subnets"][0]
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc))
    one_error(run_cli("render", inv, "-o", cloud.tmp / "build"), "key aws.subnet_id",
              "autoscaling.subnets")
    del aws["subnet_id"], aws["launch_template"]
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc))
    one_error(run_cli("render", inv, "-o", cloud.tmp / "build"), "key aws.autoscaling",
              "set launch_template")


# -- the instance refresh (moto has none: botocore's Stubber on launch's own client) -----------


class Refresh:
    min_healthy_percentage = 75
    warmup_seconds = 60


class Health:
    type = "EC2"
    grace_seconds = 300


class Settings:
    name = None
    min, max, desired = 1, 3, None
    subnets = ["subnet-0123abcd"]
    health_check = Health()
    target_group = load_balancer = None
    instance_refresh = Refresh()


def existing_group(version: str) -> dict[str, Any]:
    return {"AutoScalingGroups": [{
        "AutoScalingGroupName": "app-tier", "MinSize": 1, "MaxSize": 3, "DesiredCapacity": 1,
        "DefaultCooldown": 300, "AvailabilityZones": [f"{REGION}a"],
        "CreatedTime": "2026-01-01T00:00:00Z", "HealthCheckType": "EC2",
        "HealthCheckGracePeriod": 300, "VPCZoneIdentifier": "subnet-0123abcd",
        "LaunchTemplate": {"LaunchTemplateName": "app-tier", "Version": version}}]}


def run_ensure(version: int, changed: bool, *answers: tuple[str, Any]) -> list[tuple[bool, str]]:
    live = Live(REGION, "http://127.0.0.1:9")  # never reached: every answer is stubbed
    stub = Stubber(live._client("autoscaling"))
    for operation, answer in answers:
        if isinstance(answer, str):
            stub.add_client_error(operation, answer)
        else:
            stub.add_response(operation, *answer)
    said: list[tuple[bool, str]] = []
    with stub:
        autoscaling.ensure(live, autoscaling.Group("app01", "app-tier", Settings(), "aws"),
                           version, changed, lambda c, t: said.append((c, t)))
        stub.assert_no_pending_responses()
    return said


UPDATE = ({}, {"AutoScalingGroupName": "app-tier", "MinSize": 1, "MaxSize": 3,
               "VPCZoneIdentifier": "subnet-0123abcd", "HealthCheckType": "EC2",
               "HealthCheckGracePeriod": 300,
               "LaunchTemplate": {"LaunchTemplateName": "app-tier", "Version": "2"}})
REFRESH = ({"InstanceRefreshId": "refresh-1"}, {
    "AutoScalingGroupName": "app-tier", "Strategy": "Rolling",
    "Preferences": {"MinHealthyPercentage": 75, "InstanceWarmup": 60}})


def test_a_new_version_under_an_existing_group_starts_one_instance_refresh():
    said = run_ensure(2, True, ("describe_auto_scaling_groups", (existing_group("1"),)),
                      ("update_auto_scaling_group", UPDATE),
                      ("start_instance_refresh", REFRESH))
    assert (True, "Auto Scaling group app-tier: instance refresh refresh-1 started "
                  "(keeps 75% healthy)") in said


def test_a_refresh_already_running_is_said_and_not_an_error():
    said = run_ensure(2, True, ("describe_auto_scaling_groups", (existing_group("1"),)),
                      ("update_auto_scaling_group", UPDATE),
                      ("start_instance_refresh", "InstanceRefreshInProgress"))
    assert said[-1][0] is False and "already running" in said[-1][1], said


def test_an_unchanged_template_or_a_new_group_starts_no_refresh():
    # The stubs hold no StartInstanceRefresh: a call to it would fail the test.
    run_ensure(2, False, ("describe_auto_scaling_groups", (existing_group("2"),)))
    run_ensure(1, True, ("describe_auto_scaling_groups", ({"AutoScalingGroups": []},)),
               ("create_auto_scaling_group", ({},)))


# -- throttling and denial ------------------------------------------------------------------


def test_throttled_group_calls_are_retried(cloud, network):
    inv = group_inventory(cloud, network)
    cloud.render(inv)
    with FaultProxy(cloud.endpoint) as proxy:
        proxy.fail("CreateAutoScalingGroup", "Throttling", "Rate exceeded", status=400, times=2)
        proxy.fail("CreateTargetGroup", "Throttling", "Rate exceeded", status=400, times=1)
        result = cloud.launch(inv, "app01", endpoint=proxy.url)
    assert result.rc == 0, result.err
    assert proxy.count("CreateAutoScalingGroup") == 3 and proxy.count("CreateTargetGroup") == 2
    assert describe(cloud)[0]["LaunchTemplate"]["Version"] == "1"


def test_a_denied_group_call_names_it_and_what_was_already_made(cloud, network):
    inv = group_inventory(cloud, network)
    cloud.render(inv)
    with FaultProxy(cloud.endpoint) as proxy:
        proxy.fail("CreateAutoScalingGroup", "AccessDenied",
                   "User is not authorized to perform: autoscaling:CreateAutoScalingGroup",
                   status=403, times=10)
        result = cloud.launch(inv, "app01", endpoint=proxy.url)
    line = one_error(result, "host app01:", "autoscaling:CreateAutoScalingGroup failed: "
                     "AccessDenied", quiet=False)
    assert proxy.count("CreateAutoScalingGroup") == 1  # a denial is not retried
    assert ("already done and left in place: app01: launch template app-tier created (version 1)"
            "; app01: target group app-tier created") in line, line
    # The next run, allowed, finishes the job from where it stopped.
    again = cloud.launch(inv, "app01")
    assert again.rc == 0, again.err
    assert "app01: launch template app-tier unchanged (version 1)" in again.out
    assert "app01: Auto Scaling group app-tier created on app-tier version 1 (1..3)" in again.out
