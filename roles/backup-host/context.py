"""Template values of the backup role: the script's settings as plain values, decided here.

Every inventory value reaches the script through the ``shell`` filter (scalars, and arrays
written word by word); the remote hosts' keys are data files beside it (``known_hosts``, and
the SSH key as a secret file, mode 0600).
"""

from __future__ import annotations

import re
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.roles.backup_host.fleet_policy import object_prefix, policy_file
from bootstrap.roles.backup_host.schedule import parse
from bootstrap.roles.backup_host.settings import Backup, BackupS3

SCRIPT = "/usr/local/sbin/bootstrap-backup"
UNIT = "bootstrap-backup"
CONFIG_DIR = "/etc/bootstrap/backup"
SSH_KEY = f"{CONFIG_DIR}/ssh_key"
KNOWN_HOSTS = f"{CONFIG_DIR}/known_hosts"
# The host name is a folder of the S3 key and a word of the log: plain characters only.
HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# Exit status of a run that found another one holding the lock (sysexits' EX_TEMPFAIL).
BUSY = 75
# Parts of the multipart upload: S3 takes 10,000 at most, each 5 MiB or more but the last.
PART_MIB = 64
MAX_PARTS = 10000
# curl signs requests itself from this version on (--aws-sigv4).
CURL_MIN = (7, 75)
ENSURE_CURL = ("if command -v apt-get >/dev/null 2>&1; then apt-get update -qq && "
               "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl ca-certificates; "
               "else dnf install -y -q curl || yum install -y -q curl; fi")


def context(target: Target, settings: Backup) -> dict[str, Any]:
    if not HOST.fullmatch(target.name):
        raise BootstrapError("a backup host's name is a folder of its S3 keys and its snapshot "
                             "tag: use letters, digits, '_', '.' and '-'", host=target.name,
                             key="backup")
    sources = settings.source_list
    remote = any(s.remote for s in sources)
    return {
        "script": SCRIPT,
        "unit": UNIT,
        "target": settings.target,
        "schedule": settings.schedule,
        "cron": settings.cron or parse(settings.schedule),
        "keep": settings.keep,
        "lock": settings.lock,
        "log": settings.log,
        "busy": BUSY,
        "host_name": target.name,
        "source_labels": [f"{s.remote}:{s.path}" if s.remote else s.path for s in sources],
        "source_args": [s.rsync for s in sources],
        "source_names": [s.name for s in sources],
        "remote": remote,
        "ssh_key": settings.ssh_key,
        "ssh_key_path": SSH_KEY if remote else "",
        "known_hosts": "".join(f"{line}\n" for line in settings.known_hosts),
        "known_hosts_path": KNOWN_HOSTS if remote else "",
        "s3": _s3(target, settings.s3) if settings.s3 else None,
        "ensure_curl": ENSURE_CURL,
        "curl_min": CURL_MIN,
    }


def _s3(target: Target, s3: BackupS3) -> dict[str, Any]:
    domain = "amazonaws.com.cn" if s3.region.startswith("cn-") else "amazonaws.com"
    # Virtual-hosted URLs, unless a dotted bucket name would not match the TLS certificate.
    url = (f"https://s3.{s3.region}.{domain}/{s3.bucket}" if "." in s3.bucket
           else f"https://{s3.bucket}.s3.{s3.region}.{domain}")
    headers = [f"x-amz-storage-class: {s3.storage_class}"]
    if s3.kms_key_arn:
        headers += ["x-amz-server-side-encryption: aws:kms",
                    f"x-amz-server-side-encryption-aws-kms-key-id: {s3.kms_key_arn}"]
    else:
        headers.append("x-amz-server-side-encryption: AES256")
    return {
        "bucket": s3.bucket,
        "region": s3.region,
        "url": url,
        "key_prefix": object_prefix(s3, target.name),
        "headers": headers,
        "policy_file": policy_file(s3, target.name),
        "part_mib": PART_MIB,
        "max_parts": MAX_PARTS,
    }
