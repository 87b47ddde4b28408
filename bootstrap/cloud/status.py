"""The fleet's convergence, read from the status records the pull writes back to S3.

Each instance that pulls writes ``PREFIX/status/<instance-id>.json``: the manifest it applied,
the one it was asked for (``wanted``), the time, the result, and on failure the step and its last
lines of output. The published manifest of each host is ``PREFIX/hosts/<host>.json``; its sha256
is S3's own checksum of it (``bootstrap publish`` uploads it with one), so one ``HeadObject`` per
host and one ``GetObject`` per instance tell, per instance:

- **converged**: its last pull succeeded and applied the manifest published now;
- **behind**: its last pull succeeded, with an older manifest (publish ran since; the next pull,
  or ``bootstrap push --via ssm``, brings it up to date);
- **failed**: its last pull failed, with the step and the reason;
- **waiting** (per host): no instance of the host has written a record yet.

A record is input from an instance, read as untrusted: anything that is not a record the pull
writes shows as **unreadable** with the key, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bootstrap.cloud.client import Api, list_objects
from bootstrap.cloud.publish import MISSING, Location
from bootstrap.render.published import STATUS

CONVERGED, BEHIND, FAILED, WAITING, UNREADABLE = (
    "converged", "behind", "failed", "waiting", "unreadable")
_KEY = re.compile(r"(i-[0-9a-f]{8,17})\.json")
_DIGEST = re.compile(r"[0-9a-f]{64}")
MAX_RECORD = 64 << 10  # bytes: a record is a few hundred; a bigger object is not one


@dataclass(frozen=True)
class Record:
    """One instance's status record, as read."""

    instance_id: str
    host: str | None
    result: str
    manifest: str | None  # applied
    wanted: str | None
    time: datetime | None
    step: str | None = None
    output: str = ""


@dataclass(frozen=True)
class Row:
    """One line of the report."""

    host: str
    instance: str
    state: str
    applied: str | None
    published: str | None
    age: float | None  # seconds since the record was written
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"host": self.host, "instance": self.instance, "state": self.state,
                "applied": self.applied, "published": self.published,
                "age_seconds": None if self.age is None else round(self.age),
                "detail": self.detail}


def parse_record(instance_id: str, data: bytes) -> Record | None:
    """The record, or None when ``data`` is not one the pull writes."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("result") not in ("ok", "failed"):
        return None

    def text(name: str) -> str | None:
        value = doc.get(name)
        return value if isinstance(value, str) and value else None

    applied, wanted = text("manifest"), text("wanted")
    if any(d is not None and not _DIGEST.fullmatch(d) for d in (applied, wanted)):
        return None
    when = None
    stamp = text("time")
    if stamp is not None:
        try:
            when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
    return Record(instance_id, text("host"), str(doc["result"]), applied, wanted, when,
                  text("step"), text("output") or "")


def status_records(api: Api, location: Location) -> tuple[list[Record], list[str]]:
    """(records, keys that hold no readable record) under the location's status/."""
    prefix = f"{location.prefix}{STATUS}"
    keys: list[tuple[str, str]] = []
    for item in list_objects(api, location.bucket, prefix):
        key = str(item.get("Key", ""))
        found = _KEY.fullmatch(key[len(prefix):])
        if found and int(item.get("Size") or 0) <= MAX_RECORD:
            keys.append((found.group(1), key))
        else:
            keys.append(("", key))
    records, unreadable = [], []
    for instance, key in keys:
        answer = api.call("s3", "GetObject", missing=MISSING, Bucket=location.bucket,
                          Key=key) if instance else None
        record = parse_record(instance, answer["Body"].read(MAX_RECORD)) if answer else None
        if record is None:
            unreadable.append(location.url(key))
        else:
            records.append(record)
    return records, unreadable


def published_digest(api: Api, location: Location, host: str) -> str | None:
    """The sha256 of the host's published manifest (S3's checksum of it), None if none is."""
    key = location.manifest_key(host)
    head = api.call("s3", "HeadObject", missing=MISSING, Bucket=location.bucket, Key=key,
                    ChecksumMode="ENABLED")
    if head is None:
        return None
    checksum = head.get("ChecksumSHA256")
    if isinstance(checksum, str) and "-" not in checksum:
        try:
            return base64.b64decode(checksum, validate=True).hex()
        except (binascii.Error, ValueError):
            pass
    # Uploaded by something else than publish: read it to know.
    body = api.call("s3", "GetObject", Bucket=location.bucket, Key=key)
    return hashlib.sha256(body["Body"].read()).hexdigest() if body else None


def convergence(published: dict[str, str | None], records: Sequence[Record],
                now: datetime) -> list[Row]:
    """One row per instance of the selected hosts (``published``: host -> its digest), and a
    ``waiting`` row per host no instance reported for."""
    by_digest = {digest: host for host, digest in published.items() if digest}
    rows: list[Row] = []
    seen: set[str] = set()
    for record in sorted(records, key=lambda r: (r.host or "", r.instance_id)):
        # A record the stub wrote before it could read the manifest names no host: the digest
        # it was asked for does.
        host = record.host or by_digest.get(record.wanted or "") or ""
        if host not in published:
            continue
        seen.add(host)
        target = published[host]
        age = (now - record.time).total_seconds() if record.time else None
        if record.result != "ok":
            state = FAILED
            last = record.output.strip().splitlines()[-1:] if record.output else []
            detail = f"{record.step or 'pull'}: {last[0] if last else 'no output'}"
        elif target is not None and record.manifest == target:
            state, detail = CONVERGED, ""
        else:
            state, detail = BEHIND, "applied an older manifest"
        rows.append(Row(host, record.instance_id, state, record.manifest, target, age, detail))
    for host in sorted(set(published) - seen):
        detail = "no instance has reported" if published[host] else "not published"
        rows.append(Row(host, "-", WAITING, None, published[host], None, detail))
    return rows


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"
