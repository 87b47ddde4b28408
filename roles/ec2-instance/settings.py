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


class Publish(Settings):
    """Where ``bootstrap publish`` puts the host's built files for the instance to pull."""

    bucket: aws.Bucket
    prefix: aws.KeyPrefix = ""
    region: Region | None = None  # default: the instance's region
    kms_key_arn: aws.KmsKeyArn | None = None


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
        return self
