"""Names of AWS things as settings models take them: S3 buckets, key prefixes, regions, KMS keys.

Several roles keep something in S3 for their instances (Chef's validation key, Puppet's challenge
password, a published build); each names the place with these types, checked the same way.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from bootstrap.hosts.model import KeyProblem, Settings, matching

# S3 bucket naming rules (general purpose buckets) and a conservative key prefix alphabet: the
# prefix goes into a URL path, an IAM ARN and a shell word, so only plain characters.
BUCKET = re.compile(r"(?!xn--)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
PREFIX = re.compile(r"(?:[A-Za-z0-9_.-]+/)*")
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")
# A key ARN, not an alias ARN: IAM grants nothing on an alias.
KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:key/[A-Za-z0-9-]+")


def _prefix(value: str) -> str:
    # "boot/fleet" and "boot/fleet/" name the same folder; a key is prefix + object name.
    value = value.strip("/")
    value = f"{value}/" if value else ""
    if not PREFIX.fullmatch(value) or any(p in (".", "..") for p in value.split("/")):
        raise KeyProblem(f"{value!r} is not a plain S3 key prefix (letters, digits, _ . - and /)")
    return value


Bucket = Annotated[str, matching(BUCKET, "S3 bucket name")]
KeyPrefix = Annotated[str, AfterValidator(_prefix)]
Region = Annotated[str, matching(REGION, "AWS region (like eu-west-1)")]
KmsKeyArn = Annotated[str, matching(KMS_KEY_ARN, "KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)")]


class S3Location(Settings):
    """A bucket and key prefix where launch puts objects an instance fetches with its role."""

    bucket: Bucket
    prefix: KeyPrefix = ""
    region: Region
    kms_key_arn: KmsKeyArn | None = None
