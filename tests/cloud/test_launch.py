"""`bootstrap launch` against moto in server mode, over real HTTP on loopback.

Each test renders an inventory of Chef and Puppet hosts with the real roles (cloud-init,
chef-client, puppet-agent, ec2-instance), runs the command as a user would, and then reads back
from moto what a user would check in the AWS console: the instance's user-data, its metadata
options, tags and instance profile; the IAM role and policy; the S3 object and its encryption.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

from support.cli import ROOT, run_cli
from support.cloud import BUCKET, REGION
from support.launch import ROLE, VALIDATOR, WRITES, assert_no_secret, inventory, line_of
from support.moto import FaultProxy

# -- the instance -----------------------------------------------------------------------------


def test_launch_runs_the_instance_with_the_builds_user_data_byte_for_byte(cloud):
    # web01 also has the two EBS volumes of the cloud-init RAID1 recipe and a bigger root.
    inv = inventory(cloud.tmp, cloud.ami, hosts={"web01": {"aws": {
        "ami": cloud.ami, "region": REGION, "tags": {"team": "web"},
        "root_volume": {"size_gb": 20},
        "ebs_volumes": [{"device": "/dev/sdf", "size_gb": 50},
                        {"device": "/dev/sdg", "size_gb": 50, "type": "st1"}]}}})
    cloud.render(inv)
    result = cloud.launch(inv, "web01", "web02")
    assert result.rc == 0, result.err
    assert_no_secret(result)
    ec2 = cloud.client("ec2")
    for host in ("web01", "web02"):
        [instance] = cloud.instances(host)
        iid = instance["InstanceId"]
        raw = (cloud.build / host / "user-data").read_bytes()
        attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
        assert base64.b64decode(attr["UserData"]["Value"]) == raw
        assert instance["MetadataOptions"]["HttpTokens"] == "required"
        assert instance["IamInstanceProfile"]["Arn"].endswith(f":instance-profile/{ROLE}")
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags == {"Name": host, "bootstrap:host": host, "team": "web"}
        assert instance["ImageId"] == cloud.ami
        assert instance["InstanceType"] == "t3.micro"
        # What the user sees: the id and both addresses, as EC2 reports them.
        assert (f"{host}: {iid} running, private {instance['PrivateIpAddress']}, "
                f"public {instance['PublicIpAddress']}") in result.out
    [web01] = cloud.instances("web01")
    volumes = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in web01["BlockDeviceMappings"]}
    sizes = {v["VolumeId"]: (v["Size"], v["VolumeType"], v["Encrypted"])
             for v in ec2.describe_volumes(VolumeIds=list(volumes.values()))["Volumes"]}
    assert sizes[volumes["/dev/sdf"]] == (50, "gp3", True)
    assert sizes[volumes["/dev/sdg"]] == (50, "st1", True)
    assert sizes[volumes["/dev/xvda"]][0] == 20  # the AMI's root device
    # web02's user-data is gzip: binary bytes, still identical after EC2's base64 round trip.
    assert (cloud.build / "web02" / "user-data").read_bytes()[:2] == b"\x1f\x8b"


def test_instance_role_policy_and_profile_match_the_build(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    result = cloud.launch(inv, "web01")
    assert result.rc == 0, result.err
    iam = cloud.client("iam")
    fleet = cloud.build / "_fleet" / "iam"
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"] == json.loads((fleet / f"{ROLE}.trust.json").read_text())
    policy = iam.get_role_policy(RoleName=ROLE, PolicyName=ROLE)["PolicyDocument"]
    assert policy == json.loads((fleet / f"{ROLE}.policy.json").read_text())
    profile = iam.get_instance_profile(InstanceProfileName=ROLE)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [ROLE]
    for line in (f"web01: IAM role {ROLE} created", f"web01: IAM role {ROLE}: policy {ROLE} created",
                 f"web01: instance profile {ROLE} created"):
        assert line in result.out


def test_a_host_without_chef_gets_the_role_it_names_with_the_ec2_trust_only(cloud):
    inv = inventory(cloud.tmp, cloud.ami, hosts={"pup01": {"aws": {
        "ami": cloud.ami, "region": REGION, "iam_role": "puppet-node"}}})
    cloud.render(inv)
    result = cloud.launch(inv, "pup01")
    assert result.rc == 0, result.err
    iam = cloud.client("iam")
    trust = iam.get_role(RoleName="puppet-node")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [{"Effect": "Allow", "Principal": {
        "Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert iam.list_role_policies(RoleName="puppet-node")["PolicyNames"] == []
    [instance] = cloud.instances("pup01")
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/puppet-node")


def test_a_changed_policy_or_a_stranger_in_the_profile_is_put_right(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    iam = cloud.client("iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=ROLE, PolicyName=ROLE, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                 "Resource": "*"}]}))
    iam.create_role(RoleName="stranger", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName=ROLE)
    iam.add_role_to_instance_profile(InstanceProfileName=ROLE, RoleName="stranger")
    result = cloud.launch(inv, "web01")
    assert result.rc == 0, result.err
    fleet = cloud.build / "_fleet" / "iam"
    assert iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"] == json.loads(
        (fleet / f"{ROLE}.trust.json").read_text())
    assert iam.get_role_policy(RoleName=ROLE, PolicyName=ROLE)["PolicyDocument"] == json.loads(
        (fleet / f"{ROLE}.policy.json").read_text())
    profile = iam.get_instance_profile(InstanceProfileName=ROLE)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [ROLE]
    for line in (f"IAM role {ROLE}: trust policy updated", f"policy {ROLE} updated",
                 f"instance profile {ROLE}: role stranger removed",
                 f"instance profile {ROLE}: role {ROLE} added"):
        assert line in result.out


# -- S3 ---------------------------------------------------------------------------------------


def test_validation_key_is_uploaded_encrypted_sse_s3_or_sse_kms(cloud):
    key_arn = cloud.client("kms").create_key(Description="chef bootstrap")["KeyMetadata"]["Arn"]
    cloud.client("s3").create_bucket(Bucket="kms-boot", CreateBucketConfiguration={
        "LocationConstraint": REGION})
    inv = inventory(cloud.tmp, cloud.ami)
    kms_inv = inventory(cloud.tmp / "kms", cloud.ami, chef={
        "s3": {"bucket": "kms-boot", "prefix": "chef", "region": REGION, "kms_key_arn": key_arn}})
    cloud.render(inv)
    assert cloud.launch(inv, "web01").rc == 0
    s3 = cloud.client("s3")
    head = s3.head_object(Bucket=BUCKET, Key="chef/fleet/validation.pem")
    assert head["ServerSideEncryption"] == "AES256"
    body = s3.get_object(Bucket=BUCKET, Key="chef/fleet/validation.pem")["Body"].read()
    assert body.decode() == VALIDATOR

    build = cloud.build
    cloud.build = cloud.tmp / "kms" / "build"
    cloud.render(kms_inv)
    result = cloud.launch(kms_inv, "web01")
    cloud.build = build
    assert result.rc == 0, result.err
    head = s3.head_object(Bucket="kms-boot", Key="chef/validation.pem")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_arn
    assert f"web01: s3://kms-boot/chef/validation.pem uploaded (SSE-KMS {key_arn})" in result.out
    assert_no_secret(result)


# -- idempotency ------------------------------------------------------------------------------


def test_a_second_launch_changes_nothing(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    assert cloud.launch(inv, "web01", "pup01").rc == 0
    before = cloud.client("s3").head_object(Bucket=BUCKET, Key="chef/fleet/validation.pem")
    proxy = FaultProxy(cloud.endpoint)
    try:
        again = cloud.launch(inv, "web01", "pup01", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert again.rc == 0, again.err
    assert not WRITES & set(proxy.seen), proxy.seen
    assert not [a for a in proxy.seen if a.startswith("PUT ")], proxy.seen
    for host in ("web01", "pup01"):
        assert len(cloud.instances(host)) == 1
    after = cloud.client("s3").head_object(Bucket=BUCKET, Key="chef/fleet/validation.pem")
    assert after["LastModified"] == before["LastModified"]
    [instance] = cloud.instances("web01")
    for line in (f"web01: IAM role {ROLE} unchanged", f"web01: instance profile {ROLE} unchanged",
                 "web01: s3://fleet-boot/chef/fleet/validation.pem unchanged (SSE-S3)",
                 f"web01: {instance['InstanceId']} already running (not launched again)"):
        assert line in again.out


def test_the_launch_template_gets_the_user_data_base64_encoded_exactly_once(cloud):
    inv = inventory(cloud.tmp, cloud.ami, hosts={"web02": {
        "aws": {"ami": cloud.ami, "region": REGION, "launch_template": "web02-template"}}})
    cloud.render(inv)
    result = cloud.launch(inv, "web02")
    assert result.rc == 0, result.err
    assert "web02: launch template web02-template created (version 1)" in result.out
    assert cloud.instances("web02") == []  # a template, not an instance
    ec2 = cloud.client("ec2")
    [version] = ec2.describe_launch_template_versions(
        LaunchTemplateName="web02-template", Versions=["$Latest"])["LaunchTemplateVersions"]
    data = version["LaunchTemplateData"]
    raw = (cloud.build / "web02" / "user-data").read_bytes()
    assert base64.b64decode(data["UserData"], validate=True) == raw
    assert raw[:2] == b"\x1f\x8b"  # decoded once it is the gzip itself, not base64 again
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["IamInstanceProfile"] == {"Name": ROLE}

    again = cloud.launch(inv, "web02")
    assert "web02: launch template web02-template unchanged (version 1)" in again.out

    # A change in the inventory, rendered, gives a new version that becomes the default.
    changed = inventory(cloud.tmp, cloud.ami, hosts={"web02": {
        "aws": {"ami": cloud.ami, "region": REGION, "launch_template": "web02-template",
                "instance_type": "t3.small"}}})
    cloud.render(changed)
    third = cloud.launch(changed, "web02")
    assert third.rc == 0, third.err
    assert "web02: launch template web02-template: version 2 created and made the default" \
        in third.out
    [template] = ec2.describe_launch_templates(
        LaunchTemplateNames=["web02-template"])["LaunchTemplates"]
    assert template["DefaultVersionNumber"] == 2


# -- dry run, inventory fragment, stale builds ------------------------------------------------


def test_dry_run_prints_every_call_with_secrets_redacted_and_makes_none(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    proxy = FaultProxy(cloud.endpoint)
    try:
        result = cloud.launch(inv, "web01", "--dry-run", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert result.rc == 0, result.err
    assert proxy.seen == []
    calls = re.findall(r"^web01: would call (\S+)", result.out, re.M)
    assert calls == ["ec2:DescribeImages", "iam:GetRole", "iam:CreateRole", "iam:GetRolePolicy",
                     "iam:PutRolePolicy", "iam:GetInstanceProfile", "iam:CreateInstanceProfile",
                     "iam:AddRoleToInstanceProfile", "s3:HeadObject", "s3:PutObject",
                     "ec2:DescribeInstances", "ec2:RunInstances"]
    assert "Body=<secret:file:secrets/validator.pem>" in result.out
    assert "MetadataOptions={\"HttpTokens\":\"required\"" in result.out
    assert_no_secret(result)
    assert result.out.rstrip().endswith("dry run: 1 host, no call made")


def test_write_inventory_gives_push_and_verify_the_address(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    fragment = inv / "launched.yml"
    result = cloud.launch(inv, "web01", "pup01", "--write-inventory", fragment)
    assert result.rc == 0, result.err
    shown = run_cli("inventory", inv, "--host", "web01")
    assert shown.rc == 0, shown.err
    web01 = json.loads(shown.out)
    [instance] = cloud.instances("web01")
    assert web01["ansible_host"] == instance["PublicIpAddress"]
    assert web01["ec2_instance_id"] == instance["InstanceId"]
    # The hosts keep their groups and settings: the fragment only adds to them.
    assert "chef-client" in web01["bootstrap_roles"]
    pup01 = json.loads(run_cli("inventory", inv, "--host", "pup01").out)
    assert pup01["ec2_instance_id"] == cloud.instances("pup01")[0]["InstanceId"]


def test_a_missing_or_stale_build_is_refused_before_any_call(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    result = cloud.launch(inv, "web01")
    assert result.rc == 1
    assert "host web01: " in result.err
    assert "manifest.json is missing: run bootstrap render INVENTORY -o" in result.err

    cloud.render(inv)
    inventory(cloud.tmp, cloud.ami, hosts={"web01": {"cloud_init": {"packages": ["curl"]}}})
    stale = cloud.launch(inv, "web01")
    assert stale.rc == 1
    assert "web01/user-data is older than the inventory" in stale.err
    assert cloud.instances("web01") == []
    assert cloud.client("iam").list_roles()["Roles"] == []


# -- errors -----------------------------------------------------------------------------------


def test_an_unknown_ami_is_one_message_with_its_line_and_nothing_is_created(cloud):
    inv = inventory(cloud.tmp, "ami-0000dead")
    cloud.render(inv)
    result = cloud.launch(inv, "web01")
    assert result.rc == 1
    line = line_of(inv / "hosts.yml", "ami-0000dead")
    assert result.err.count("\n") == 1, result.err
    assert f"hosts.yml:{line}: host web01: key aws.ami: ec2:DescribeImages failed: " \
           "InvalidAMIID.NotFound" in result.err
    assert result.err.rstrip().endswith("nothing was created or changed")
    assert cloud.client("iam").list_roles()["Roles"] == []
    assert "Contents" not in cloud.client("s3").list_objects_v2(Bucket=BUCKET)


def test_an_unknown_subnet_is_named_before_anything_is_created(cloud):
    inv = inventory(cloud.tmp, cloud.ami, hosts={"web01": {
        "aws": {"ami": cloud.ami, "region": REGION, "subnet_id": "subnet-0badc0de"}}})
    cloud.render(inv)
    result = cloud.launch(inv, "web01")
    assert result.rc == 1
    assert "host web01: key aws.subnet_id: ec2:DescribeSubnets failed: InvalidSubnetID.NotFound" \
        in result.err
    assert "nothing was created or changed" in result.err
    assert "Traceback" not in result.err


def test_throttling_is_retried_with_backoff(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    proxy = FaultProxy(cloud.endpoint)
    proxy.fail("RunInstances", "RequestLimitExceeded", "Request limit exceeded.", status=503,
               times=2)
    proxy.fail("CreateRole", "Throttling", "Rate exceeded", times=1)
    try:
        result = cloud.launch(inv, "web01", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert result.rc == 0, result.err
    assert proxy.count("RunInstances") == 3
    assert proxy.count("CreateRole") == 2
    assert len(cloud.instances("web01")) == 1


def test_throttling_that_persists_names_host_call_and_what_was_already_done(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    proxy = FaultProxy(cloud.endpoint)
    proxy.fail("RunInstances", "RequestLimitExceeded", "Request limit exceeded.", status=503,
               times=10)
    try:
        result = cloud.launch(inv, "web01", endpoint=proxy.url, env={"AWS_MAX_ATTEMPTS": "3"})
    finally:
        proxy.stop()
    assert result.rc == 1
    assert proxy.count("RunInstances") == 3
    err = result.err
    assert "host web01: ec2:RunInstances failed: RequestLimitExceeded" in err
    assert "still throttled after 3 attempts" in err
    assert (f"already done and left in place: web01: IAM role {ROLE} created; "
            f"web01: IAM role {ROLE}: policy {ROLE} created; ") in err
    assert "web01: s3://fleet-boot/chef/fleet/validation.pem uploaded (SSE-S3)" in err
    assert_no_secret(result)


def test_a_new_instance_profile_not_yet_visible_to_ec2_is_waited_for(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    proxy = FaultProxy(cloud.endpoint)
    proxy.fail("RunInstances", "InvalidParameterValue",
               f"Value ({ROLE}) for parameter iamInstanceProfile.name is invalid. Invalid IAM "
               "Instance Profile name", times=1)
    try:
        result = cloud.launch(inv, "web01", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert result.rc == 0, result.err
    assert "web01: instance profile not visible to EC2 yet; retrying in 1 s" in result.out
    assert len(cloud.instances("web01")) == 1


def test_an_instance_that_stays_pending_is_reported_after_the_timeout(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    proxy = FaultProxy(cloud.endpoint)
    proxy.rewrite("DescribeInstances", b"<name>running</name>", b"<name>pending</name>")
    try:
        result = cloud.launch(inv, "web01", "--timeout", "1", endpoint=proxy.url)
    finally:
        proxy.stop()
    assert result.rc == 1
    [instance] = cloud.instances("web01")
    iid = instance["InstanceId"]
    assert f"host web01: {iid} still pending after 1 s (it was launched" in result.err
    assert f"web01: {iid} launched (t3.micro, {cloud.ami})" in result.err.split("left in place:")[1]


def test_no_credentials_is_one_clear_message(cloud):
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    result = cloud.launch(inv, "web01", env={"AWS_ACCESS_KEY_ID": None,
                                             "AWS_SECRET_ACCESS_KEY": None,
                                             "AWS_SESSION_TOKEN": None})
    assert result.rc == 1
    assert "host web01: ec2:DescribeImages failed: NoCredentials: no AWS credentials found" \
        in result.err
    assert "Traceback" not in result.err


def test_access_denied_names_host_and_call_and_reports_what_was_created(cloud):
    iam = cloud.client("iam")
    iam.create_user(UserName="operator")
    iam.put_user_policy(UserName="operator", PolicyName="no-ec2-run", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["iam:*", "s3:*", "ec2:Describe*"],
                       "Resource": "*"}]}))
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    inv = inventory(cloud.tmp, cloud.ami)
    cloud.render(inv)
    # From here on moto checks every request's signature and the operator's IAM policy.
    cloud.server.authenticate_after(0)
    try:
        result = cloud.launch(inv, "web01", env={
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"], "AWS_SESSION_TOKEN": None})
    finally:
        cloud.server.authenticate_after(None)
    assert result.rc == 1
    err = result.err
    assert err.count("\n") == 1, err
    assert "host web01: ec2:RunInstances failed: AccessDenied: User: " in err
    assert "is not authorized to perform: ec2:RunInstances" in err
    assert "may not make this call" in err
    assert f"already done and left in place: web01: IAM role {ROLE} created" in err
    assert "web01: s3://fleet-boot/chef/fleet/validation.pem uploaded (SSE-S3)" in err
    assert key["SecretAccessKey"] not in result.out + err
    assert_no_secret(result)
    assert cloud.instances("web01") == []


def test_help_never_imports_boto3():
    code = ("import sys; from bootstrap.cli import parser; parser().format_help(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"
    for command in ("launch", "terminate"):
        shown = run_cli(command, "--help")
        assert shown.rc == 0 and "--endpoint-url" in shown.out
