"""IAM for the puppet-agent role: what an instance role needs to fetch its challenge password.

For each distinct ``puppet.s3`` location of the selected hosts that fetch a password from S3,
the fleet build gets ``_fleet/iam/<name>.trust.json`` (EC2 may assume the role) and
``<name>.policy.json``:

- ``s3:GetObject`` on exactly the password object (``bucket/prefix`` + ``challenge_password``),
  nothing else in the bucket;
- ``kms:Decrypt`` on the location's KMS key, only through S3, when the object uses SSE-KMS.

``bootstrap launch`` creates the role from these two files; :func:`location_name` is the
shared name of both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.render import iam
from bootstrap.render.renderer import Artifact
from bootstrap.roles.puppet_agent.settings import S3Location

if TYPE_CHECKING:
    from collections.abc import Iterable

ROLE = "puppet-agent"


def location_name(location: S3Location) -> str:
    """``puppet-<bucket>[_<prefix>]``: the name of the location's instance role and policy."""
    return iam.location_name("puppet", location.bucket, location.prefix)


def access_policy(location: S3Location) -> dict[str, Any]:
    arn = iam.bucket_arn(location.bucket, location.region)
    statements: list[dict[str, Any]] = [{
        "Sid": "ReadChallengePassword",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"{arn}/{location.key}",
    }]
    if location.kms_key_arn:
        statements.append(iam.kms_decrypt("DecryptChallengePassword", location.kms_key_arn,
                                          location.region))
    return iam.policy(statements)


def locations(targets: Iterable[Target]) -> dict[str, tuple[S3Location, list[str]]]:
    """Distinct S3 locations of the hosts that fetch their password, by name, with those hosts.

    Hosts naming the same bucket and prefix share one object: they must agree on its region,
    its KMS key and the password itself.
    """
    found = iam.shared_locations(targets, _find, _clash)
    return {name: (location, hosts) for name, ((location, _password), hosts) in found.items()}


def _find(target: Target) -> tuple[str, tuple[S3Location, Any]] | None:
    from bootstrap.roles.puppet_agent.context import password_location

    settings = target.settings.get("puppet")
    location = password_location(target, settings) if settings is not None else None
    if location is None:
        return None
    return location_name(location), (location, settings.challenge_password)


def _clash(target: Target, seen: tuple[S3Location, Any], here: tuple[S3Location, Any],
           first: str) -> None:
    (seen_location, seen_password), (location, password) = seen, here
    if seen_location != location:
        raise BootstrapError(
            f"s3://{location.bucket}/{location.key} is also used by host {first} with "
            f"region {seen_location.region} and kms_key_arn {seen_location.kms_key_arn}; "
            f"here region is {location.region} and kms_key_arn {location.kms_key_arn}",
            origin=target.origin("puppet", "s3"), host=target.name, key="puppet.s3")
    if seen_password != password:
        raise BootstrapError(
            f"s3://{location.bucket}/{location.key} holds the challenge password of host "
            f"{first}, which is another secret: give this host its own puppet.s3.prefix",
            origin=target.origin("puppet", "challenge_password"), host=target.name,
            key="puppet.challenge_password")


def fleet(targets: list[Target]) -> list[Artifact]:
    """The role's fleet hook: trust and access policy per distinct S3 location."""
    return [artifact for name, (location, _hosts) in sorted(locations(targets).items())
            for artifact in iam.instance_role_files(name, access_policy(location), ROLE)]
