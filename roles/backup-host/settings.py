"""Inventory namespace ``backup``: what a backup host copies, where, when, and how long it keeps it.

Every value ends up in a shell script, a systemd unit, a cron line, an SSH option or an S3 key,
so each is checked against the narrowest syntax its consumer reads: paths are absolute and plain
(no spaces, quotes, ``:`` or ``..``), remote hosts are host names, and the schedule is an
``OnCalendar`` expression of the forms described in :mod:`bootstrap.roles.backup_host.schedule`.
The SSH key is a secret reference, and every remote host must be listed in ``known_hosts``:
the script never accepts an unknown host key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from bootstrap.hosts.aws import KeyPrefix, S3Location
from bootstrap.hosts.model import KeyProblem, Secret, Settings, matching
from bootstrap.roles.backup_host.schedule import check_calendar, check_cron, parse

# An absolute path of plain characters: it is a shell word, an rsync argument on the remote
# side, a systemd path and a cron field, and none of them may read a space or ':' differently.
PATH = re.compile(r"/(?:[A-Za-z0-9_.@+-]+(?:/[A-Za-z0-9_.@+-]+)*)?/?")
# [user@]host, host an RFC 1123 name or an IPv4 address.
REMOTE = re.compile(r"(?:([a-z_][a-z0-9_-]{0,31})@)?([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)")
# One known_hosts line: host patterns, a key type and its base64 key (an optional comment).
KNOWN_HOST = re.compile(r"(?:@(?:cert-authority|revoked) )?[^\s#@][^\s]* "
                        r"(?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)"
                        r"(?:-cert-v01@openssh\.com)? [A-Za-z0-9+/]+={0,2}(?: [ -~]*)?")
STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR",
                   "GLACIER", "DEEP_ARCHIVE")
GLACIERS = ("GLACIER", "DEEP_ARCHIVE")
GLACIER_DAYS = 30
# Folders whose copy is never wanted or never finishes: kernel and runtime views.
LIVE_FOLDERS = ("/proc", "/sys", "/dev", "/run")


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise KeyProblem(f"{value!r} is not an absolute path: write it from / (like /etc)")
    if not PATH.fullmatch(value):
        raise KeyProblem(f"{value!r} is not a plain absolute path (letters, digits and _ . @ + - "
                         f"between slashes; no spaces, quotes or ':')")
    if any(part in (".", "..") for part in value.split("/")):
        raise KeyProblem(f"{value!r} has a '.' or '..' part: name the folder itself")
    return value.rstrip("/") or "/"


AbsolutePath = Annotated[str, AfterValidator(_path)]


class Source(Settings):
    """One source as the script reads it: a local folder, or a folder of a remote host."""

    remote: str | None  # [user@]host, None for a local folder
    path: str

    @property
    def host(self) -> str | None:
        return None if self.remote is None else self.remote.rpartition("@")[2]

    @property
    def name(self) -> str:
        """The source's folder inside a snapshot: ``local/etc``, ``db01/var/lib/pg``."""
        return f"{self.host or 'local'}{self.path if self.path != '/' else '/root-fs'}"

    @property
    def rsync(self) -> str:
        """rsync's source argument: the folder's content (trailing slash)."""
        where = f"{self.path.rstrip('/')}/"
        return f"{self.remote}:{where}" if self.remote else where


def _source(value: object) -> Source:
    if not isinstance(value, str):
        raise KeyProblem("a source is a path (/etc) or a remote host's path (db01:/var/lib/pg)")
    remote, colon, path = value.partition(":")
    if not colon:
        return Source(remote=None, path=_path(value))
    if not REMOTE.fullmatch(remote):
        raise KeyProblem(f"{remote!r} is not a host name ([user@]host before the ':')")
    return Source(remote=remote, path=_path(path))


class Keep(Settings):
    """How many rotated copies stay: the newest of each of the last N days, weeks, months."""

    daily: int = Field(default=7, ge=1, le=366)
    weekly: int = Field(default=4, ge=0, le=520)
    monthly: int = Field(default=6, ge=0, le=240)


class BackupS3(S3Location):
    """Where each new snapshot goes as one archive: s3://bucket/prefix/<host>/<snapshot>.tar.gz."""

    prefix: KeyPrefix = "backup/"
    storage_class: Literal[STORAGE_CLASSES] = "STANDARD_IA"  # type: ignore[valid-type]
    # The bucket's lifecycle rule for this prefix: archive to Glacier, then delete (null: never).
    # Default: 30 days, or none for archives stored in a Glacier class already.
    glacier_after_days: int | None = Field(default=GLACIER_DAYS, ge=0, le=36500)
    expire_after_days: int | None = Field(default=365, ge=1, le=36500)

    @property
    def transition_days(self) -> int | None:
        """Days to the move to GLACIER, None for no move."""
        if "glacier_after_days" not in self.model_fields_set and self.storage_class in GLACIERS:
            return None
        return self.glacier_after_days

    @model_validator(mode="after")
    def _lifecycle(self) -> BackupS3:
        days, expire = self.transition_days, self.expire_after_days
        if days is not None and expire is not None and expire <= days:
            raise KeyProblem(f"expires after {expire} days, before the archive moves to Glacier "
                             f"after {days}: make expire_after_days larger", "expire_after_days")
        if days is not None and self.storage_class in GLACIERS:
            raise KeyProblem(f"archives are stored as {self.storage_class} already: leave "
                             f"glacier_after_days out", "glacier_after_days")
        if not self.prefix:
            raise KeyProblem("give the archives a prefix: the bucket's lifecycle rule applies to "
                             "it, not to the whole bucket", "prefix")
        return self


class Snapshots(Settings):
    """EBS snapshots of the instance's data volumes, taken by Data Lifecycle Manager."""

    every: Literal[1, 2, 3, 4, 6, 8, 12, 24] = 24  # hours, as DLM's CreateRule takes them
    keep: int = Field(default=7, ge=1, le=1000)
    # Start times (UTC, HH:MM) of the first snapshot of each day; DLM takes one.
    times: list[Annotated[str, matching(re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d"), "time (HH:MM)")]] \
        = Field(default_factory=lambda: ["03:00"], min_length=1, max_length=1)
    # The role DLM works with; default: AWSDataLifecycleManagerDefaultRole of the account
    # (`aws dlm create-default-role` makes it).
    execution_role_arn: Annotated[str, matching(
        re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}"), "IAM role ARN")] | None \
        = None


class Backup(Settings):
    """Inventory namespace ``backup``."""

    sources: list[Annotated[object, AfterValidator(_source)]] = Field(min_length=1)
    target: AbsolutePath
    # systemd OnCalendar; the cron fallback runs it when it can be written in cron's fields.
    schedule: Annotated[str, AfterValidator(check_calendar)] = "*-*-* 02:30:00"
    # The cron form of the schedule, for schedules cron cannot say the same way.
    cron: Annotated[str, AfterValidator(check_cron)] | None = None
    keep: Keep = Field(default_factory=Keep)
    ssh_key: Secret | None = None
    known_hosts: list[Annotated[str, matching(KNOWN_HOST, "known_hosts line")]] = Field(
        default_factory=list)
    s3: BackupS3 | None = None
    snapshots: Snapshots | None = None
    # The script's lock and log; a second run while one holds the lock exits with status 75.
    lock: AbsolutePath = "/run/lock/bootstrap-backup.lock"
    log: AbsolutePath = "/var/log/bootstrap-backup.log"

    @model_validator(mode="after")
    def _consistent(self) -> Backup:
        sources: list[Source] = self.sources  # type: ignore[assignment]
        if self.target == "/" or self.target in LIVE_FOLDERS:
            raise KeyProblem(f"{self.target} cannot hold the copies: use the mirror's mount "
                             f"point (like /backup)", "target")
        names: dict[str, int] = {}
        for index, source in enumerate(sources):
            if source.name in names:
                raise KeyProblem(f"copies the same folder as source {names[source.name]}",
                                 "sources", index)
            names[source.name] = index
            if source.remote is None and _inside(source.path, self.target):
                raise KeyProblem(f"{source.path} holds the target {self.target}: the copies "
                                 f"would copy themselves", "sources", index)
            if source.remote is None and _inside(self.target, source.path):
                raise KeyProblem(f"{source.path} is inside the target {self.target}",
                                 "sources", index)
        if self.cron is None and parse(self.schedule) is None:
            raise KeyProblem(f"{self.schedule!r} has no cron form for hosts without systemd (cron "
                             f"has no seconds or years, and reads a day and a weekday as either "
                             f"one): write it as backup.cron (like '30 2 * * *')", "schedule")
        remote = [(i, s) for i, s in enumerate(sources) if s.remote is not None]
        if remote and self.ssh_key is None:
            raise KeyProblem("remote sources are pulled over SSH: give the key as a secret "
                             "reference ({file: path} or {env: NAME})", "ssh_key")
        for index, source in remote:
            if not _known(str(source.host), self.known_hosts):
                raise KeyProblem(f"{source.host} has no line in backup.known_hosts: add its host "
                                 f"key (ssh-keyscan {source.host}, checked by hand); unknown host "
                                 f"keys are never accepted", "sources", index)
        return self

    @property
    def source_list(self) -> list[Source]:
        return list(self.sources)  # type: ignore[arg-type]


def _inside(folder: str, path: str) -> bool:
    return folder == "/" or path == folder or path.startswith(folder.rstrip("/") + "/")


def _known(host: str, lines: list[str]) -> bool:
    for line in lines:
        fields = line.split()
        patterns = fields[1] if fields[0].startswith("@") else fields[0]
        for pattern in patterns.split(","):
            # A hashed name (|1|...) cannot be read back: it may be this host's.
            if pattern.startswith("|") or pattern.strip("[]").split("]:")[0] == host:
                return True
    return False
