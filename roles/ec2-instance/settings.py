"""The ``aws`` namespace: how ``bootstrap launch`` starts a host on EC2.

Checked at render time (the ``ec2-instance`` role owns the namespace), so a typo in an AMI id,
a subnet or a tag is an error naming its file:line before any API call is made. The syntax
rules are the EC2 and IAM APIs' own; whether the AMI or subnet exists is only known to the
API, and ``bootstrap launch`` asks it before creating anything.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from bootstrap.hosts import aws
from bootstrap.hosts.model import KeyProblem, Settings, matching
from bootstrap.hosts.syntax import refuse_lone_surrogates

AMI = re.compile(r"ami-[0-9a-f]{8}(?:[0-9a-f]{9})?")
SUBNET = re.compile(r"subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?")
SECURITY_GROUP = re.compile(r"sg-[0-9a-f]{8}(?:[0-9a-f]{9})?")
INSTANCE_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+")
# IAM role names: 1-64 of [\w+=,.@-]; launch template names: 3-128 of [a-zA-Z0-9().\-/_].
# IAM names are ASCII: Python's \w would also take any Unicode letter.
IAM_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")
TEMPLATE_NAME = re.compile(r"[A-Za-z0-9().\-/_]{3,128}")
KEY_NAME = re.compile(r"[ -~]{1,255}")
# Devices EC2 accepts for extra EBS volumes on current (Nitro and Xen) instance types.
EBS_DEVICE = re.compile(r"/dev/(?:sd[f-p]|xvd[f-p])")
# EC2 allows 50 tags per resource; launch adds Name and bootstrap:host itself.
OWN_TAGS = ("Name", "bootstrap:host")
TAG_LIMIT = 50 - len(OWN_TAGS)
# The one tag a launch template gives its instances instead (to the host name).
TEMPLATE_TAG = "bootstrap:template"
VolumeType = Literal["gp3", "gp2", "io1", "io2", "st1", "sc1", "standard"]



Region = aws.Region
AmiId = Annotated[str, matching(AMI, "AMI id (ami- and 8 or 17 hex digits)")]
SubnetId = Annotated[str, matching(SUBNET, "subnet id (subnet- and 8 or 17 hex digits)")]
SecurityGroupId = Annotated[str, matching(SECURITY_GROUP, "security group id (sg- and 8 or 17 "
                                                          "hex digits)")]
InstanceType = Annotated[str, matching(INSTANCE_TYPE, "instance type (like t3.micro)")]
RoleName = Annotated[str, matching(IAM_NAME, "IAM role name (1-64 of letters, digits, +=,.@_-)")]
TemplateName = Annotated[str, matching(TEMPLATE_NAME, "launch template name (3-128 of letters, "
                                                      "digits, ( ) . - / _)")]
KeyName = Annotated[str, matching(KEY_NAME, "key pair name (1-255 printable ASCII characters)")]
Device = Annotated[str, matching(EBS_DEVICE, "device name for an EBS volume (/dev/sdf to "
                                             "/dev/sdp, or /dev/xvdf to /dev/xvdp)")]


class RootVolume(Settings):
    """The root EBS volume; the AMI's own root device name is looked up at launch."""

    size_gb: int = Field(ge=1, le=16384)
    type: VolumeType = "gp3"
    encrypted: bool = True


class EbsVolume(Settings):
    """An extra EBS volume, e.g. one of the two halves of the cloud-init RAID1 recipe."""

    device: Device
    size_gb: int = Field(ge=1, le=16384)
    type: VolumeType = "gp3"
    encrypted: bool = True
    delete_on_termination: bool = True


# Target group and load balancer names: 1-32 letters, digits and hyphens, no hyphen at either end.
ELB_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?")
VPC = re.compile(r"vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?")
# Auto Scaling group names: 1-255 characters, no colon (ARNs use it as a separator).
GROUP_NAME = re.compile(r"[A-Za-z0-9 ().\-/_@+=,]{1,255}")
ElbName = Annotated[str, matching(ELB_NAME, "name (1-32 letters, digits and hyphens, not "
                                            "starting or ending with a hyphen)")]
VpcId = Annotated[str, matching(VPC, "VPC id (vpc- and 8 or 17 hex digits)")]
HealthPath = Annotated[str, matching(re.compile(r"/[!-~]{0,1023}"), "health check path (/ then "
                                                                     "printable ASCII)")]
GroupName = Annotated[str, matching(GROUP_NAME, "Auto Scaling group name")]


class TargetGroup(Settings):
    """The group's instances behind a load balancer, with the health check that decides it.

    The defaults are the seed recipe: HTTP on port 80, ``/`` answering 200."""

    name: ElbName
    vpc_id: VpcId
    port: int = Field(default=80, ge=1, le=65535)
    protocol: Literal["HTTP", "HTTPS"] = "HTTP"
    path: HealthPath = "/"
    interval_seconds: int = Field(default=30, ge=5, le=300)
    timeout_seconds: int = Field(default=5, ge=2, le=120)
    healthy_threshold: int = Field(default=5, ge=2, le=10)
    unhealthy_threshold: int = Field(default=2, ge=2, le=10)
    matcher: Annotated[str, matching(re.compile(r"[0-9]{3}(?:[-,][0-9]{3})*"),
                                     "HTTP codes (200, 200-299 or 200,302)")] = "200"

    @model_validator(mode="after")
    def _timeout(self) -> TargetGroup:
        if self.timeout_seconds >= self.interval_seconds:
            raise KeyProblem("must be less than interval_seconds", "timeout_seconds")
        return self


class LoadBalancer(Settings):
    """An Application Load Balancer launch creates, with a listener forwarding to the group."""

    name: ElbName
    subnets: list[SubnetId] = Field(min_length=2)  # an ALB spans two Availability Zones at least
    security_group_ids: list[SecurityGroupId] = Field(default_factory=list)
    scheme: Literal["internet-facing", "internal"] = "internet-facing"
    listener_port: int = Field(default=80, ge=1, le=65535)


class HealthCheck(Settings):
    type: Literal["EC2", "ELB"] = "EC2"
    grace_seconds: int = Field(default=300, ge=0, le=7200)


class InstanceRefresh(Settings):
    """Replace the group's instances after its launch template changed, some at a time."""

    min_healthy_percentage: int = Field(default=90, ge=0, le=100)
    warmup_seconds: int | None = Field(default=None, ge=0, le=86400)


class AutoScaling(Settings):
    """The host is a group template: launch keeps an Auto Scaling group on its launch template."""

    name: GroupName | None = None  # default: the launch template's name
    min: int = Field(ge=0, le=10000)
    max: int = Field(ge=0, le=10000)
    desired: int | None = Field(default=None, ge=0, le=10000)
    subnets: list[SubnetId] = Field(min_length=1)
    health_check: HealthCheck = Field(default_factory=HealthCheck)
    target_group: TargetGroup | None = None
    # A load balancer launch creates, or the name of an existing one to add a listener to.
    load_balancer: LoadBalancer | ElbName | None = None
    instance_refresh: InstanceRefresh | None = None

    @model_validator(mode="after")
    def _sizes(self) -> AutoScaling:
        if self.max < self.min:
            raise KeyProblem(f"max {self.max} is below min {self.min}", "max")
        if self.desired is not None and not self.min <= self.desired <= self.max:
            raise KeyProblem(f"desired {self.desired} is outside min {self.min} .. max "
                             f"{self.max}", "desired")
        if self.load_balancer is not None and self.target_group is None:
            raise KeyProblem("a load balancer forwards to a target group: set target_group",
                             "load_balancer")
        if self.health_check.type == "ELB" and self.target_group is None:
            raise KeyProblem("ELB health checks come from a target group: set target_group",
                             "health_check", "type")
        return self


class Publish(Settings):
    """Where ``bootstrap publish`` puts the host's built files for the instance to pull."""

    bucket: aws.Bucket
    prefix: aws.KeyPrefix = ""
    region: Region | None = None  # default: the instance's region
    kms_key_arn: aws.KmsKeyArn | None = None
    # bootstrap push --via ssm updates the instance: its role gets what the SSM agent needs.
    ssm: bool = False


class Aws(Settings):
    region: Region | None = None
    ami: AmiId
    instance_type: InstanceType = "t3.micro"
    subnet_id: SubnetId | None = None
    security_group_ids: list[SecurityGroupId] = Field(default_factory=list)
    key_name: KeyName | None = None
    # Defaults to the name of the host's Chef S3 location, whose policy the role then carries.
    iam_role: RoleName | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    # When set, launch creates a new version of this template instead of an instance; its
    # instances are tagged bootstrap:template (not Name and bootstrap:host) and named at boot.
    launch_template: TemplateName | None = None
    root_volume: RootVolume | None = None
    ebs_volumes: list[EbsVolume] = Field(default_factory=list)
    # When set, bootstrap publish puts the host's files in S3 for the instance to pull.
    publish: Publish | None = None
    # When set, the host is a group template: launch keeps an Auto Scaling group (and its target
    # group and load balancer) on the launch template.
    autoscaling: AutoScaling | None = None

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, value: object) -> object:
        # Tags travel as JSON to the EC2 API, which cannot encode a lone surrogate.
        return refuse_lone_surrogates(value)

    @model_validator(mode="after")
    def _rules(self) -> Aws:
        for key, value in self.tags.items():
            if key in (*OWN_TAGS, TEMPLATE_TAG):
                raise KeyProblem(f"launch sets the {key} tag itself (to the host name)", "tags", key)
            if key.lower().startswith("aws:"):
                raise KeyProblem("tag keys starting with aws: are reserved by AWS", "tags", key)
            if not 1 <= len(key) <= 128 or len(value) > 256:
                raise KeyProblem("a tag key has 1-128 characters and its value at most 256",
                                 "tags", key)
        if len(self.tags) > TAG_LIMIT:
            raise KeyProblem(f"{len(self.tags)} tags; EC2 allows {TAG_LIMIT} besides "
                             f"{' and '.join(OWN_TAGS)}", "tags")
        seen: set[str] = set()
        for index, volume in enumerate(self.ebs_volumes):
            # /dev/sdf and /dev/xvdf are the same attachment point.
            slot = volume.device[-1]
            if slot in seen:
                raise KeyProblem(f"{volume.device} is used by another volume", "ebs_volumes",
                                 index, "device")
            seen.add(slot)
        if self.autoscaling is not None:
            if self.launch_template is None:
                raise KeyProblem("a group template needs its launch template: set launch_template",
                                 "autoscaling")
            if self.subnet_id is not None:
                # The group places each instance in one of its subnets; a subnet in the
                # template would pin them all to one.
                raise KeyProblem("a group template's instances go in autoscaling.subnets: drop "
                                 "subnet_id", "subnet_id")
        return self
