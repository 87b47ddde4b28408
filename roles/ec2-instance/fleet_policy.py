"""IAM for ``aws.publish``: what an instance needs to pull its published build, nothing more.

For each selected host with ``aws.publish``, the fleet build gets
``_fleet/iam/<name>.trust.json`` (EC2 may assume the role) and ``<name>.policy.json``:

- ``s3:GetObject`` on ``PREFIX/objects/*``: the content-addressed files every host shares,
  which the host's manifest names by digest;
- ``s3:GetObject`` on ``PREFIX/hosts/<host>.json``: its own manifest and no other host's;
- ``kms:Decrypt`` on the location's KMS key, only through S3, when the objects use SSE-KMS
  (S3 cannot hand out an SSE-KMS object to a caller that may not decrypt it);
- ``s3:PutObject`` on ``PREFIX/status/*``: the pull's status record (``status/<instance-id>.json``),
  encrypted like the build (``kms:GenerateDataKey`` through S3 with SSE-KMS);
- with ``aws.publish.ssm: true``, what the SSM agent needs to run ``bootstrap push --via ssm``'s
  command (:data:`SSM_AGENT`).

No ``s3:ListBucket``: the pull knows every key it reads from the manifest. ``bootstrap launch``
gives the instance role this policy (the role's ``launch`` hook names it).
"""

from __future__ import annotations

import hashlib
from typing import Any

from bootstrap.hosts.loader import Target
from bootstrap.render import iam
from bootstrap.render.renderer import Artifact
from bootstrap.roles.ec2_instance.settings import IAM_NAME, Aws, Publish

ROLE = "ec2-instance"
NAMESPACE = "aws"


def policy_name(host: str) -> str:
    """``publish-<host>``, hashed when the host name is not a valid or short enough IAM name."""
    name = f"publish-{host}"
    if IAM_NAME.fullmatch(name):
        return name
    digest = hashlib.sha256(host.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    safe = "".join(c if IAM_NAME.fullmatch(c) else "-" for c in host)
    return f"publish-{safe[:iam.NAME_LIMIT - 21]}-{digest}"


def manifest_key(publish: Publish, host: str) -> str:
    return f"{publish.prefix}hosts/{host}.json"


def objects_key(publish: Publish) -> str:
    return f"{publish.prefix}objects/"


def access_policy(settings: Aws, host: str) -> dict[str, Any]:
    publish = settings.publish
    assert publish is not None
    kms_region = publish.kms_key_arn.split(":")[3] if publish.kms_key_arn else None
    region = publish.region or settings.region or kms_region
    bucket = iam.bucket_arn(publish.bucket, region)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadPublishedObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [f"{bucket}/{objects_key(publish)}*",
                         f"{bucket}/{manifest_key(publish, host)}"],
        },
    ]
    if publish.kms_key_arn:
        # The key lives in the bucket's region: SSE-KMS needs both in one region.
        statements.append(iam.kms_decrypt("DecryptPublishedObjects", publish.kms_key_arn,
                                          kms_region))
    # The pull's status record, status/<instance-id>.json: written under that prefix only.
    statements.append({"Sid": "WriteStatusRecords", "Effect": "Allow", "Action": "s3:PutObject",
                       "Resource": f"{bucket}/{publish.prefix}status/*"})
    if publish.kms_key_arn:
        statements.append({**iam.kms_decrypt("EncryptStatusRecords", publish.kms_key_arn,
                                             kms_region), "Action": "kms:GenerateDataKey"})
    if publish.ssm:
        statements += SSM_AGENT
    return iam.policy(statements)


# What the SSM agent needs to register the instance and run commands sent to it (Run Command's
# part of the managed policy AmazonSSMManagedInstanceCore). These actions name no resource the
# policy could narrow them to: IAM documents them with Resource "*".
SSM_AGENT: list[dict[str, Any]] = [
    {"Sid": "SsmAgentRegisters", "Effect": "Allow",
     "Action": ["ssm:UpdateInstanceInformation", "ssm:ListInstanceAssociations",
                "ssm:ListAssociations", "ssm:DescribeAssociation"],
     "Resource": "*"},
    {"Sid": "SsmAgentRunsCommands", "Effect": "Allow",
     "Action": ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
                "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage",
                "ec2messages:FailMessage", "ec2messages:GetEndpoint",
                "ec2messages:GetMessages", "ec2messages:SendReply"],
     "Resource": "*"},
]


def fleet(targets: list[Target]) -> list[Artifact]:
    """The role's fleet hook: a trust and an access policy per host that publishes."""
    out = []
    for target in targets:
        settings = target.settings.get(NAMESPACE)
        if settings is None or settings.publish is None:
            continue
        out += iam.instance_role_files(policy_name(target.name),
                                       access_policy(settings, target.name), ROLE)
    return out
