"""The example inventory launches as it is: every host of group ec2, against moto over HTTP.

This is the README's demo: render `inventory/`, then `bootstrap launch inventory ec2` against a
moto server that knows the inventory's two placeholder AMIs, then the same again (nothing
changes), then terminate.
"""

from __future__ import annotations

import base64
import json
import re
import shutil

from support.cli import ROOT, run_cli
from support.cloud import REGION, Cloud
from support.launch import WRITES, assert_no_secret
from support.moto import FaultProxy

EXAMPLE = ROOT / "inventory"




def test_the_example_inventory_launches_and_a_second_launch_changes_nothing(cloud: Cloud):
    inv = cloud.tmp / "inventory"
    shutil.copytree(EXAMPLE, inv)
    cloud.client("s3").create_bucket(Bucket="fleet-bootstrap-example", CreateBucketConfiguration={
        "LocationConstraint": REGION})
    cloud.render(inv)
    fragment = inv / "ec2-launched.yml"
    result = cloud.launch(inv, "ec2", "--write-inventory", fragment)
    assert result.rc == 0, result.err
    assert_no_secret(result)
    assert re.search(r"^app01: launch template app-tier created \(version 1\)$", result.out, re.M)

    ec2 = cloud.client("ec2")
    listing = json.loads(run_cli("inventory", inv, "--list").out)
    members = listing["ec2_debian"]["hosts"] + listing["ec2_redhat"]["hosts"]
    launched = [h for h in members if h != "app01"]
    assert len(launched) == 7  # every instance host of the two groups; app01 is a template
    for host in launched:
        [instance] = cloud.instances(host)
        attr = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"],
                                               Attribute="userData")
        raw = (cloud.build / host / "user-data").read_bytes()
        assert base64.b64decode(attr["UserData"]["Value"]) == raw, host
        shown = json.loads(run_cli("inventory", inv, "--host", host).out)
        assert shown["ansible_host"] == instance["PublicIpAddress"]
    head = cloud.client("s3").head_object(Bucket="fleet-bootstrap-example",
                                          Key="chef/licensed/validation.pem")
    assert head["ServerSideEncryption"] == "aws:kms"

    proxy = FaultProxy(cloud.endpoint)
    try:
        again = cloud.launch(inv, "ec2", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert again.rc == 0, again.err
    assert not WRITES & set(proxy.seen), proxy.seen
    assert not [a for a in proxy.seen if a.startswith("PUT ")], proxy.seen

    gone = run_cli("terminate", inv, "ec2", "--endpoint-url", cloud.endpoint,
                   "--write-inventory", fragment, env=cloud.env)
    assert gone.rc == 0, gone.err
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
              for i in r["Instances"]]
    assert len(states) == len(launched) and set(states) <= {"shutting-down", "terminated"}, states
    assert "puppetserver ca clean --certname i-" in gone.out
    assert "knife node delete db-i-" in gone.out
