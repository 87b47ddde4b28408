"""``bootstrap publish``: put each host's built files in S3 for the instance to pull.

Layout under ``s3://BUCKET/PREFIX/``:

```
objects/<sha256>     one file's bytes, named by their digest: stored once however many hosts
                     (or files of one host) share them
hosts/<host>.json    the host's manifest: each file's destination, mode, owner, digest and
                     role, and the roles' apply commands
```

Only what is missing is written, and the manifest last:

1. **Plan** (no AWS call): each host's build manifest, read under the build's lock, must match
   what the inventory renders now (a stale build is an error, as in launch); the manifest to
   publish is made from its ``files`` (what push would copy) and ``apply``.
2. **Objects**: one ``ListObjectsV2`` of ``PREFIX/objects/`` per location, paginated, tells which
   digests are there: a page answers for 1000 objects, where ``HeadObject`` would cost one
   request per object, and a content-addressed key needs no more than its name to be known
   right. Each missing object is read from the build, checked against its digest, and put with
   SSE-S3 or SSE-KMS and S3's own SHA-256 check of the upload.
3. **Manifest**: ``HeadObject`` with its checksum says whether the published one holds the same
   bytes with the same encryption; only then is it left alone. It is put after every object
   it names exists, so an instance never reads a manifest whose objects are not there yet.

A failed call stops the run with one line naming the host, the S3 key and what was already
published. ``--dry-run`` makes the reads and lists the writes it would make, and makes none.
The file contents of secret files are never printed; their digest is, as for any file.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bootstrap.build.directory import BuildDir, Tree
from bootstrap.build.manifest import MANIFEST, FileRecord
from bootstrap.cloud.client import Api, CallFailed, Shown, list_objects
from bootstrap.cloud.launch import instance_settings
from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import HostLoader
from bootstrap.hosts.secrets import withholding, withholding_active
from bootstrap.render.published import OBJECTS, host_manifest, manifest_key
from bootstrap.render.registry import Registry
from bootstrap.render.renderer import Renderer, Target

MAX_OBJECT = 5 << 30  # bytes: the largest single PutObject S3 accepts
MISSING = ("404", "NoSuchKey", "NotFound")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class PublishSettings(Protocol):
    """What publish reads from the instance settings' ``publish`` value."""

    @property
    def bucket(self) -> str: ...

    @property
    def prefix(self) -> str: ...  # '' or ending in '/'

    @property
    def region(self) -> str | None: ...

    @property
    def kms_key_arn(self) -> str | None: ...


@dataclass(frozen=True)
class Location:
    """Where a host's build goes: a bucket, a prefix in it, its region and encryption."""

    bucket: str
    prefix: str
    region: str
    kms_key_arn: str | None

    def object_key(self, digest: str) -> str:
        return f"{self.prefix}{OBJECTS}{digest}"

    def manifest_key(self, host: str) -> str:
        return manifest_key(self.prefix, host)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @property
    def encryption(self) -> str:
        return f"SSE-KMS {self.kms_key_arn}" if self.kms_key_arn else "SSE-S3"

    def put_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"ChecksumAlgorithm": "SHA256",
                                  "ServerSideEncryption": "aws:kms" if self.kms_key_arn
                                  else "AES256"}
        if self.kms_key_arn:
            params["SSEKMSKeyId"] = self.kms_key_arn
        return params


@dataclass(frozen=True)
class HostPlan:
    """One host's files and the manifest to publish for it, read from the build."""

    target: Target
    namespace: str  # of the instance settings, to name keys in errors
    location: Location
    files: tuple[FileRecord, ...]
    manifest: bytes

    @property
    def host(self) -> str:
        return self.target.name

    def error(self, message: str) -> BootstrapError:
        return BootstrapError(message, host=self.host, key=f"{self.namespace}.publish",
                              origin=self.target.origin(self.namespace, "publish"))


# -- the plan -----------------------------------------------------------------------------------


def publish_settings(renderer: Renderer, target: Target) -> tuple[str, PublishSettings, str | None]:
    """(namespace, publish settings, instance region) of the host; an error when it has none."""
    instance = instance_settings(renderer.registry, target)
    settings: PublishSettings | None = getattr(instance.settings, "publish", None)
    if settings is None:
        ns = instance.namespace
        raise BootstrapError(f"has no {ns}.publish: set {ns}.publish.bucket (and prefix, region, "
                             "kms_key_arn) to say where its build goes", host=target.name,
                             key=f"{ns}.publish", origin=target.origin(ns))
    return instance.namespace, settings, instance.settings.region


def location_of(settings: PublishSettings, instance_region: str | None,
                region: str | None) -> Location | None:
    """publish.region, else --region, else the instance's region (None: boto3's default)."""
    chosen = settings.region or region or instance_region
    if chosen is None:
        from bootstrap.cloud.client import default_region

        chosen = default_region()
    if chosen is None:
        return None
    return Location(settings.bucket, settings.prefix, chosen, settings.kms_key_arn)


def plan_hosts(renderer: Renderer, directory: BuildDir, hosts: HostLoader[Registry],
               limit: str | None, region: str | None) -> list[HostPlan]:
    """The plans of the selected hosts, each host's warnings printed as render prints them."""
    plans = []
    for target in hosts.targets(limit):
        plans.append(plan_host(renderer, directory, target, region))
        for warning in renderer.take_warnings():
            hosts.warn(warning)
    return plans


def plan_host(renderer: Renderer, directory: BuildDir, target: Target,
              region: str | None) -> HostPlan:
    """The host's plan; errors name the host and what to run to fix them."""
    namespace, settings, instance_region = publish_settings(renderer, target)
    location = location_of(settings, instance_region, region)
    host = target.name
    if location is None:
        raise BootstrapError(f"no region for its bucket: set {namespace}.publish.region, pass "
                             "--region, or set AWS_REGION", host=host,
                             key=f"{namespace}.publish.region",
                             origin=target.origin(namespace, "publish"))
    manifest = directory.manifest(host, files=True)
    shown = f"{directory.path}/{host}/{MANIFEST}"
    if manifest is None:
        raise BootstrapError(f"{shown} is missing: run bootstrap render INVENTORY -o "
                             f"{directory.path} first", host=host)
    if manifest.apply is None:
        raise BootstrapError(f"{shown} was written before render recorded the roles' apply "
                             f"steps; run bootstrap render INVENTORY -o {directory.path} again",
                             host=host)
    stale = _stale(renderer, target, manifest.files)
    if stale:
        raise BootstrapError(f"{shown} is older than the inventory (a render now gives other "
                             f"{stale}); run bootstrap render INVENTORY -o {directory.path} first",
                             host=host)
    return HostPlan(target, namespace, location, manifest.files,
                    host_manifest(host, manifest.roles, manifest.apply, manifest.files))


def _stale(renderer: Renderer, target: Target, files: Sequence[FileRecord]) -> str:
    """What differs between the build's files and a render now ('' when nothing does)."""
    # In a dry run, secrets held in AWS are not read: a file holding one then renders with its
    # placeholder, and only the build's manifest can vouch for its content.
    with withholding(withholding_active()) as withheld:
        fresh = {a.dest: a for a in renderer.render(target) if a.on_host}
    built = {r.dest: r for r in files}
    for dest in sorted(fresh.keys() | built.keys()):
        now, then = fresh.get(dest), built.get(dest)
        if now is None or then is None:
            return f"files ({dest} is {'gone' if now is None else 'new'})"
        vouched = withheld and now.secret
        if not vouched and hashlib.sha256(now.content).hexdigest() != then.sha256:
            return f"content for {dest}"
        if now.mode != then.mode or now.owner != then.owner:
            return f"mode or owner for {dest}"
    return ""


# -- the calls -----------------------------------------------------------------------------------


@dataclass
class Counts:
    hosts: int = 0
    object_puts: int = 0
    manifest_puts: int = 0
    present: set[tuple[str, str]] = field(default_factory=set)  # (location, digest) found there

    @property
    def objects_present(self) -> int:
        """Distinct objects the hosts needed that were already there."""
        return len(self.present)

    @property
    def puts(self) -> int:
        return self.object_puts + self.manifest_puts


@dataclass
class Publisher:
    """Publishes host plans one after another through ``api(region)``; ``dry_run`` reads but
    never writes, and says what it would write."""

    api: Callable[[str], Api]
    directory: BuildDir
    say: Callable[[str], None]
    dry_run: bool = False
    counts: Counts = field(default_factory=Counts)
    done: list[str] = field(default_factory=list)  # hosts whose manifest is published
    # (region, bucket, objects prefix) -> digests known to be there
    _present: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    _at: str | None = None  # the S3 key of the call under way, for an error
    # (location, digest) of the objects this run put, or would put
    _written: set[tuple[str, str]] = field(default_factory=set)

    def publish(self, plan: HostPlan) -> None:
        key = plan.location.manifest_key(plan.host)
        try:
            new = self._objects(plan)
            changed = self._manifest(plan)
        except CallFailed as exc:
            raise plan.error(f"{exc.explain()} (at {plan.location.url(self._at or key)}); "
                             f"{self._summary()}") from None
        except BootstrapError as exc:
            raise BootstrapError(f"{exc.message}; {self._summary()}", host=plan.host,
                                 key=exc.key, origin=exc.origin) from None
        self.counts.hosts += 1
        self.done.append(plan.host)
        verb = "would publish" if self.dry_run else "published"
        state = ("would be updated" if self.dry_run else "updated") if changed else "unchanged"
        self.say(f"{verb}: {plan.host} ({new} new object{'' if new == 1 else 's'}, "
                 f"manifest {state})")

    def _summary(self) -> str:
        """What this run already wrote, left in place (an error repeats it)."""
        objects = self.counts.object_puts
        if self.dry_run or (not self.done and not objects):
            return "nothing was published"
        # A fleet's worth of names would drown the error: the count and the last one do.
        done = len(self.done)
        manifests = (f"the manifest{'' if done == 1 else 's'} of {done} host"
                     f"{'' if done == 1 else 's'} published (the last: {self.done[-1]})"
                     if self.done else "no manifest published")
        return f"left in place: {objects} object{'' if objects == 1 else 's'} uploaded, {manifests}"

    def _objects(self, plan: HostPlan) -> int:
        present = self._listing(plan.location)
        new = 0
        for record in _distinct(plan.files):
            if record.sha256 in present:
                where = (plan.location.url(""), record.sha256)
                if where not in self._written:
                    self.counts.present.add(where)
                continue
            self._put_object(plan, record)
            present.add(record.sha256)
            self._written.add((plan.location.url(""), record.sha256))
            new += 1
        return new

    def _listing(self, location: Location) -> set[str]:
        """The digests under the location's objects/ (one ListObjectsV2 page per 1000)."""
        slot = (location.region, location.bucket, location.prefix)
        if slot in self._present:
            return self._present[slot]
        s3 = self.api(location.region)
        prefix = location.object_key("")
        self._at = prefix
        found: set[str] = set()
        for item in list_objects(s3, location.bucket, prefix):
            name = str(item.get("Key", ""))[len(prefix):]
            if _DIGEST.fullmatch(name):
                found.add(name)
        self._at = None
        self._present[slot] = found
        return found

    def _put_object(self, plan: HostPlan, record: FileRecord) -> None:
        location = plan.location
        key = location.object_key(record.sha256)
        what = "secret file" if record.secret else "file"
        # Read and checked in a dry run too: it would fail where the real run fails.
        body = _read(self.directory, plan.host, record)
        if self.dry_run:
            self.say(f"{plan.host}: would upload {location.url(key)} ({what} {record.dest}, "
                     f"{len(body)} bytes, {location.encryption})")
            self.counts.object_puts += 1
            return
        shown = Shown(body, f"<{what} {record.dest}: {len(body)} bytes>", secret=record.secret)
        self._at = key
        self.api(location.region).call("s3", "PutObject", Bucket=location.bucket, Key=key,
                                       Body=shown, ChecksumSHA256=_b64_digest(body),
                                       **location.put_params())
        self._at = None
        self.counts.object_puts += 1

    def _manifest(self, plan: HostPlan) -> bool:
        """Put the host's manifest unless the same bytes and encryption are there; True if put."""
        location = plan.location
        key = location.manifest_key(plan.host)
        s3 = self.api(location.region)
        self._at = key
        head = s3.call("s3", "HeadObject", missing=MISSING, Bucket=location.bucket, Key=key,
                       ChecksumMode="ENABLED")
        expected = _b64_digest(plan.manifest)
        if (head is not None and head.get("ChecksumSHA256") == expected
                and head.get("ServerSideEncryption") == location.put_params()["ServerSideEncryption"]
                and head.get("SSEKMSKeyId") == location.kms_key_arn):
            self._at = None
            return False
        if self.dry_run:
            self.say(f"{plan.host}: would upload {location.url(key)} (manifest, "
                     f"{len(plan.manifest)} bytes, {location.encryption})")
        else:
            s3.call("s3", "PutObject", Bucket=location.bucket, Key=key,
                    Body=Shown(plan.manifest, f"<manifest of {plan.host}: "
                                              f"{len(plan.manifest)} bytes>"),
                    ContentType="application/json", ChecksumSHA256=expected,
                    **location.put_params())
        self._at = None
        self.counts.manifest_puts += 1
        return True


def _distinct(files: Sequence[FileRecord]) -> list[FileRecord]:
    """One record per digest: two files with the same bytes are one object."""
    seen: dict[str, FileRecord] = {}
    for record in files:
        seen.setdefault(record.sha256, record)
    return list(seen.values())


def _read(directory: BuildDir, host: str, record: FileRecord) -> bytes:
    """The file's bytes from the build (no link followed), checked against its digest."""
    tree: Tree | None = directory.host(host)
    data = tree.read(record.path, MAX_OBJECT) if tree is not None else None
    shown = f"{directory.path}/{host}/{record.path}"
    if data is None:
        raise BootstrapError(f"{shown} cannot be read as a regular file; run: bootstrap render",
                             host=host)
    if hashlib.sha256(data).hexdigest() != record.sha256:
        raise BootstrapError(f"{shown} does not match its manifest (edited by hand?); run: "
                             "bootstrap render", host=host)
    return data


def _b64_digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
