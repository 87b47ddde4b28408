"""The IAM documents roles' fleet hooks write for an instance role (``_fleet/iam/``).

A role whose instances fetch something from S3 at boot (Chef's validation key, Puppet's challenge
password, a published build) renders a trust policy (EC2 may assume the role) and an access
policy naming exactly what the instance may read; ``bootstrap launch`` gives them to the
instance role. What the documents have in common lives here: the partition of a region, names
that fit IAM's rules, the KMS statement that lets S3 decrypt for the instance, and the two files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from bootstrap.hosts.loader import Target
from bootstrap.render.hooks import instance_trust_policy
from bootstrap.render.renderer import Artifact

Location = TypeVar("Location")

POLICY_VERSION = "2012-10-17"
# IAM role and policy names: at most 64 characters of [\w+=,.@-].
NAME_LIMIT = 64


def partition(region: str | None) -> str:
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def bucket_arn(bucket: str, region: str | None) -> str:
    return f"arn:{partition(region)}:s3:::{bucket}"


def location_name(kind: str, bucket: str, prefix: str) -> str:
    """``<kind>-<bucket>[_<prefix>]`` with ``/`` as ``+``, hashed when over IAM's 64 characters.

    Bucket names have no ``_`` and prefixes no ``+``, so two locations never share a name.
    """
    slug = prefix.strip("/").replace("/", "+")
    name = f"{kind}-{bucket}" + (f"_{slug}" if slug else "")
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(f"{bucket}/{prefix}".encode()).hexdigest()[:8]
    return f"{name[:NAME_LIMIT - 9]}-{digest}"


def kms_decrypt(sid: str, key_arn: str, region: str | None) -> dict[str, Any]:
    """``kms:Decrypt`` on the key, only when S3 asks for it (SSE-KMS objects)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
    }


def policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": statements}


def document(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def instance_role_files(name: str, access: dict[str, Any], role: str) -> list[Artifact]:
    """``iam/<name>.trust.json`` and ``iam/<name>.policy.json``, as launch reads them."""
    return [Artifact(f"iam/{name}.trust.json", document(instance_trust_policy()), 0o644,
                     "root:root", role),
            Artifact(f"iam/{name}.policy.json", document(access), 0o644, "root:root", role)]


def shared_locations(
    targets: Iterable[Target],
    find: Callable[[Target], tuple[str, Location] | None],
    clash: Callable[[Target, Location, Location, str], None],
) -> dict[str, tuple[Location, list[str]]]:
    """Distinct locations by name, with the hosts that use each, in the order hosts come.

    ``find`` names a host's location (None when it has none). Hosts that share a name share one
    object, so ``clash(target, seen, location, first_host)`` raises when the host's location
    disagrees with the one the first host named (another region, key or secret).
    """
    found: dict[str, tuple[Location, list[str]]] = {}
    for target in targets:
        hit = find(target)
        if hit is None:
            continue
        name, location = hit
        if name in found:
            seen, hosts = found[name]
            clash(target, seen, location, hosts[0])
            hosts.append(target.name)
        else:
            found[name] = (location, [target.name])
    return found
