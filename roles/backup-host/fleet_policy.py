"""What AWS holds for backup hosts: the instance role's policy, the bucket's lifecycle, and the
Data Lifecycle Manager policy of the snapshots, written to the fleet build (``_fleet/``).

- ``iam/<name>.trust.json`` and ``<name>.policy.json`` per host: ``s3:PutObject`` on
  ``bucket/prefix/<host>/*`` only (a multipart upload needs nothing more; a run never reads,
  lists or deletes), and with ``kms_key_arn`` ``kms:GenerateDataKey`` and ``kms:Decrypt`` on
  that key only through S3 (S3 decrypts the parts itself when it completes a multipart upload of
  an SSE-KMS object). No EC2 right at all: the instance takes no snapshot.
- ``backup/<bucket>.lifecycle.json``: one rule per prefix (ID ``bootstrap-backup:<prefix>``):
  to GLACIER after ``glacier_after_days``, deleted after ``expire_after_days``, and unfinished
  multipart uploads dropped after a day, since the instance may not abort them itself.
- ``backup/<host>.dlm.json``: the snapshots, taken by Data Lifecycle Manager with its own role
  from AWS's side. It targets the instance by the tag launch puts on it (``bootstrap:host``, or
  ``bootstrap:template`` for a launch template) and snapshots its volumes but the boot volume,
  together (a crash-consistent set of the mirror's two halves); each snapshot is tagged
  ``bootstrap:backup=<host>``.
"""

from __future__ import annotations

import re
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.render import iam
from bootstrap.render.renderer import Artifact
from bootstrap.roles.backup_host.settings import Backup, BackupS3, Snapshots

ROLE = "backup-host"
# The tags launch puts on an instance it starts, and on the instances of a launch template.
HOST_TAG = "bootstrap:host"
TEMPLATE_TAG = "bootstrap:template"
SNAPSHOT_TAG = "bootstrap:backup"
RULE_PREFIX = "bootstrap-backup:"
# Days after which S3 drops the parts of an upload that never completed.
ABORT_AFTER_DAYS = 1


def object_prefix(s3: BackupS3, host: str) -> str:
    return f"{s3.prefix}{host}/"


def policy_name(s3: BackupS3, host: str) -> str:
    """``backup-<bucket>_<prefix+host>``: the host's instance role and policy."""
    return iam.location_name("backup", s3.bucket, object_prefix(s3, host))


def policy_file(s3: BackupS3, host: str) -> str:
    return f"_fleet/iam/{policy_name(s3, host)}.policy.json"


def access_policy(s3: BackupS3, host: str) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [{
        "Sid": "UploadBackupArchives",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": f"{iam.bucket_arn(s3.bucket, s3.region)}/{object_prefix(s3, host)}*",
    }]
    if s3.kms_key_arn:
        statements.append({
            "Sid": "EncryptBackupArchives",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": s3.kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{s3.region}.amazonaws.com"}},
        })
    return iam.policy(statements)


def lifecycle_rule(s3: BackupS3) -> dict[str, Any]:
    """The bucket's lifecycle rule for the prefix, as PutBucketLifecycleConfiguration takes it."""
    rule: dict[str, Any] = {"ID": f"{RULE_PREFIX}{s3.prefix}", "Filter": {"Prefix": s3.prefix},
                            "Status": "Enabled"}
    if s3.transition_days is not None:
        rule["Transitions"] = [{"Days": s3.transition_days, "StorageClass": "GLACIER"}]
    if s3.expire_after_days is not None:
        rule["Expiration"] = {"Days": s3.expire_after_days}
    rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": ABORT_AFTER_DAYS}
    return rule


def instance_tag(target: Target) -> dict[str, str]:
    """The tag launch puts on the host's instances: both name the inventory host."""
    template = getattr(target.settings.get("aws"), "launch_template", None)
    return {"Key": TEMPLATE_TAG if template else HOST_TAG, "Value": target.name}


def dlm_description(host: str) -> str:
    # DLM descriptions take letters, digits, spaces, '_' and '-' only.
    return f"bootstrap backup {re.sub(r'[^0-9A-Za-z_-]', '-', host)}"


def dlm_policy(target: Target, snapshots: Snapshots) -> dict[str, Any]:
    """CreateLifecyclePolicy's parameters but the execution role (see launch.py)."""
    return {
        "Description": dlm_description(target.name),
        "State": "ENABLED",
        "PolicyDetails": {
            "PolicyType": "EBS_SNAPSHOT_MANAGEMENT",
            "ResourceTypes": ["INSTANCE"],
            "TargetTags": [instance_tag(target)],
            "Parameters": {"ExcludeBootVolume": True},
            "Schedules": [{
                "Name": f"every {snapshots.every} hours",
                "CreateRule": {"Interval": snapshots.every, "IntervalUnit": "HOURS",
                               "Times": list(snapshots.times)},
                "RetainRule": {"Count": snapshots.keep},
                "CopyTags": True,
                "TagsToAdd": [{"Key": SNAPSHOT_TAG, "Value": target.name}],
            }],
        },
        "Tags": {SNAPSHOT_TAG: target.name},
    }


def _settings(target: Target) -> Backup | None:
    settings = target.settings.get("backup")
    return settings if isinstance(settings, Backup) else None


def lifecycles(targets: list[Target]) -> dict[str, dict[str, dict[str, Any]]]:
    """bucket -> rule ID -> rule; hosts sharing a prefix must ask the same of it."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    first: dict[tuple[str, str], str] = {}
    for target in targets:
        settings = _settings(target)
        if settings is None or settings.s3 is None:
            continue
        s3, rule = settings.s3, lifecycle_rule(settings.s3)
        rules = found.setdefault(s3.bucket, {})
        seen = rules.get(rule["ID"])
        if seen is not None and seen != rule:
            raise BootstrapError(
                f"s3://{s3.bucket}/{s3.prefix} has one lifecycle rule for every host under it, "
                f"and host {first[(s3.bucket, rule['ID'])]} asks for other days: give both the "
                f"same glacier_after_days and expire_after_days, or another prefix",
                origin=target.origin("backup", "s3"), host=target.name, key="backup.s3")
        rules[rule["ID"]] = rule
        first.setdefault((s3.bucket, rule["ID"]), target.name)
    return found


def _json(dest: str, doc: dict[str, Any]) -> Artifact:
    return Artifact(dest, iam.document(doc), 0o644, "root:root", ROLE)


def fleet(targets: list[Target]) -> list[Artifact]:
    """The role's fleet hook: instance policies, bucket lifecycles and snapshot policies."""
    out: list[Artifact] = []
    for target in targets:
        settings = _settings(target)
        if settings is not None and settings.s3 is not None:
            out += iam.instance_role_files(policy_name(settings.s3, target.name),
                                           access_policy(settings.s3, target.name), ROLE)
        if settings is not None and settings.snapshots is not None:
            out.append(_json(f"backup/{target.name}.dlm.json",
                             dlm_policy(target, settings.snapshots)))
    for bucket, rules in sorted(lifecycles(targets).items()):
        out.append(_json(f"backup/{bucket}.lifecycle.json",
                         {"Rules": [rules[key] for key in sorted(rules)]}))
    return out
