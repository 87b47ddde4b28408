"""What launch does for a backup host (see the ``launch`` hook in bootstrap.render.hooks): give the
instance role the upload policy, and bring the bucket's lifecycle rule and the snapshots' Data
Lifecycle Manager policy in line, each read first and written only when it differs.

A bucket has one lifecycle configuration, replaced whole by each write: the rule of this prefix
is merged by its ID into the rules already there (other prefixes', other tools'), never written
over them.
"""

from __future__ import annotations

import functools
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.render import iam
from bootstrap.render.hooks import Calls, Ensured, LaunchNeeds, Resource
from bootstrap.roles.backup_host.fleet_policy import (
    SNAPSHOT_TAG,
    dlm_policy,
    lifecycle_rule,
    policy_name,
)
from bootstrap.roles.backup_host.settings import Backup

# S3's answer for a bucket without a lifecycle configuration.
NO_LIFECYCLE = ("NoSuchLifecycleConfiguration",)
# The role DLM uses unless the settings name one (`aws dlm create-default-role` makes it).
DEFAULT_DLM_ROLE = "AWSDataLifecycleManagerDefaultRole"


def needs(target: Target, settings: Backup | None) -> LaunchNeeds:
    if settings is None:
        return LaunchNeeds()
    resources = []
    policy = None
    if settings.s3 is not None:
        s3 = settings.s3
        policy = policy_name(s3, target.name)
        resources.append(Resource(f"s3://{s3.bucket}/{s3.prefix} lifecycle", s3.region,
                                  functools.partial(ensure_lifecycle, s3.bucket,
                                                    lifecycle_rule(s3))))
    if settings.snapshots is not None:
        region = getattr(target.settings.get("aws"), "region", None)
        if region is None:
            raise BootstrapError("the snapshot policy lives in the instance's region: set "
                                 "aws.region", origin=target.origin("backup", "snapshots"),
                                 host=target.name, key="backup.snapshots")
        wanted = dlm_policy(target, settings.snapshots)
        resources.append(Resource(f"DLM policy {wanted['Description']} in {region}", region,
                                  functools.partial(ensure_dlm_policy, wanted, region,
                                                    settings.snapshots.execution_role_arn)))
    return LaunchNeeds(resources=tuple(resources), policy=policy)


def ensure_lifecycle(bucket: str, rule: dict[str, Any], api: Calls) -> Ensured:
    """The rule in the bucket's lifecycle configuration, the other rules kept as they are."""
    found = api.call("s3", "GetBucketLifecycleConfiguration", missing=NO_LIFECYCLE,
                     Bucket=bucket) or {}
    rules = list(found.get("Rules") or [])
    where = f"s3://{bucket}/{rule['Filter']['Prefix']}"
    current = next((r for r in rules if r.get("ID") == rule["ID"]), None)
    if current is not None and covers(rule, current):
        return [(False, f"{where}: lifecycle rule {rule['ID']} unchanged")]
    kept = [r for r in rules if r.get("ID") != rule["ID"]]
    api.call("s3", "PutBucketLifecycleConfiguration", Bucket=bucket,
             LifecycleConfiguration={"Rules": [*kept, rule]})
    verb = "created" if current is None else "updated"
    others = f" ({len(kept)} other rule{'s' if len(kept) != 1 else ''} kept)" if kept else ""
    return [(True, f"{where}: lifecycle rule {rule['ID']} {verb}{others}")]


def ensure_dlm_policy(wanted: dict[str, Any], region: str, role_arn: str | None,
                      api: Calls) -> Ensured:
    """The host's snapshot policy: created, updated when it differs, else left alone."""
    host = wanted["Tags"][SNAPSHOT_TAG]
    if role_arn is None:
        who = api.call("sts", "GetCallerIdentity") or {}
        role_arn = (f"arn:{iam.partition(region)}:iam::{who.get('Account', '<account>')}:role/"
                    f"{DEFAULT_DLM_ROLE}")
    listed = api.call("dlm", "GetLifecyclePolicies", missing=("ResourceNotFoundException",),
                      TagsToAdd=[f"{SNAPSHOT_TAG}={host}"]) or {}
    ours = [p for p in listed.get("Policies") or []
            if (p.get("Tags") or {}).get(SNAPSHOT_TAG) == host]
    if len(ours) > 1:
        ids = ", ".join(sorted(p["PolicyId"] for p in ours))
        raise BootstrapError(f"several DLM policies snapshot {host} ({ids}): delete all but one",
                             host=host, key="backup.snapshots")
    fields = {"ExecutionRoleArn": role_arn, "Description": wanted["Description"],
              "State": wanted["State"], "PolicyDetails": wanted["PolicyDetails"]}
    if not ours:
        made = api.call("dlm", "CreateLifecyclePolicy", **fields, Tags=wanted["Tags"]) or {}
        return [(True, f"DLM policy {made.get('PolicyId', '(new)')} created: snapshots of "
                       f"{host} every {_every(wanted)} hours")]
    policy_id = ours[0]["PolicyId"]
    current = (api.call("dlm", "GetLifecyclePolicy", PolicyId=policy_id) or {}).get("Policy", {})
    if covers(fields, current):
        return [(False, f"DLM policy {policy_id} of {host} unchanged")]
    api.call("dlm", "UpdateLifecyclePolicy", PolicyId=policy_id, **fields)
    return [(True, f"DLM policy {policy_id} of {host} updated")]


def _every(wanted: dict[str, Any]) -> int:
    return int(wanted["PolicyDetails"]["Schedules"][0]["CreateRule"]["Interval"])


def covers(wanted: Any, current: Any) -> bool:
    """Whether ``current`` says everything ``wanted`` says; AWS may add defaults of its own."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(
            k in current and covers(v, current[k]) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (isinstance(current, list) and len(wanted) == len(current)
                and all(covers(w, c) for w, c in zip(wanted, current, strict=True)))
    return bool(wanted == current)
