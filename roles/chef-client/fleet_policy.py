"""IAM for the chef-client role: what an instance role needs to fetch its bootstrap secrets.

For each distinct ``chef.s3`` location of the selected hosts, the fleet build gets
``_fleet/iam/<name>.trust.json`` (EC2 may assume the role) and ``<name>.policy.json``:

- ``s3:GetObject`` on exactly ``bucket/prefix*``, nothing else in the bucket;
- ``s3:ListBucket`` on the bucket, only for keys under the prefix, so that S3 answers a missing
  key with 404 instead of the 403 it gives callers that may not list;
- ``kms:Decrypt`` on the location's KMS key, only through S3, when the objects use SSE-KMS.

``bootstrap launch`` creates the role from these two files; :func:`location_name` is the
shared name of both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.render import iam
from bootstrap.render.renderer import Artifact
from bootstrap.roles.chef_client.settings import S3Location

ROLE = "chef-client"


def location_name(location: S3Location) -> str:
    """``chef-<bucket>[_<prefix>]``: the name of the location's instance role and policy."""
    return iam.location_name("chef", location.bucket, location.prefix)


def access_policy(location: S3Location) -> dict[str, Any]:
    arn = iam.bucket_arn(location.bucket, location.region)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadBootstrapObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{arn}/{location.prefix}*",
        },
        {
            "Sid": "ListBootstrapPrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{location.prefix}*"]}},
        },
    ]
    if location.kms_key_arn:
        statements.append(iam.kms_decrypt("DecryptBootstrapObjects", location.kms_key_arn,
                                          location.region))
    return iam.policy(statements)


def locations(targets: Iterable[Target]) -> dict[str, tuple[S3Location, list[str]]]:
    """Distinct S3 locations by name, with the hosts that use each.

    Two hosts naming the same bucket and prefix must agree on its region and KMS key: one
    object cannot live in two regions or be encrypted with two keys.
    """
    return iam.shared_locations(targets, _find, _clash)


def _find(target: Target) -> tuple[str, S3Location] | None:
    settings = target.settings.get("chef")
    return None if settings is None else (location_name(settings.s3), settings.s3)


def _clash(target: Target, seen: S3Location, location: S3Location, first: str) -> None:
    if seen != location:
        raise BootstrapError(
            f"s3://{location.bucket}/{location.prefix} is also used by host {first} "
            f"with region {seen.region} and kms_key_arn {seen.kms_key_arn}; here region "
            f"is {location.region} and kms_key_arn {location.kms_key_arn}",
            origin=target.origin("chef", "s3"), host=target.name, key="chef.s3")


def fleet(targets: list[Target]) -> list[Artifact]:
    """The role's fleet hook: trust and access policy per distinct S3 location."""
    return [artifact for name, (location, _hosts) in sorted(locations(targets).items())
            for artifact in iam.instance_role_files(name, access_policy(location), ROLE)]
