"""The ``cloud_init`` namespace: what the instance's user-data sets up itself.

Every name that ends up in a command or a system file (host names, user and group names, package
names, device paths, sudo rules, SSH keys) is checked against the syntax its consumer accepts, so
a value carrying ``$(...)``, backticks, quotes, ``;`` or a line break is an error that names the
key, never a command that runs. Free text (file contents, runcmd) is the operator's own program
and is embedded as YAML data, which cloud-init parses back to exactly the given value.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, field_validator, model_validator

from bootstrap.model import Secret, Settings, matching

# RFC 1123 label; an FQDN is labels joined by dots, at most 253 characters.
LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# useradd's default NAME_REGEX (Debian), also accepted by RHEL's shadow-utils.
ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Debian and RPM package names, and versions (Debian's epoch:upstream-revision, RPM's _).
PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:_-]*")
DEVICE = re.compile(r"/dev/[A-Za-z0-9][A-Za-z0-9/_.:-]*")
# RFC 2046 boundary characters, 1 to 70 of them, not ending in a space.
BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]")
FILESYSTEMS = ("ext4", "xfs", "btrfs")
SUDO_ALL = "ALL=(ALL) NOPASSWD:ALL"


def hostname_error(value: str) -> str | None:
    """Why ``value`` is not a host name (one RFC 1123 label), or None."""
    if not LABEL.fullmatch(value):
        return (f"{value!r} is not a host name: 1 to 63 letters, digits and '-', "
                f"not starting or ending with '-'")
    return None


def default_names(name: str) -> tuple[str, str | None]:
    """(hostname, fqdn) from an inventory host name: a label is the hostname, an FQDN gives both.

    Raises ValueError saying why the name is neither.
    """
    if hostname_error(name) is None:
        return name, None
    try:
        fqdn = _fqdn(name)
    except ValueError:
        raise ValueError(hostname_error(name)) from None
    return fqdn.split(".")[0], fqdn


def _hostname(value: str) -> str:
    problem = hostname_error(value)
    if problem:
        raise ValueError(problem)
    return value


def _fqdn(value: str) -> str:
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or len(labels) < 2 or not all(LABEL.fullmatch(p) for p in labels):
        raise ValueError(f"{value!r} is not a fully qualified domain name (labels of letters, "
                         f"digits and '-' joined by dots)")
    return value.rstrip(".")


def _one_line(value: str) -> str:
    if any(c in value for c in "\r\n\x00"):
        raise ValueError("must be one line: a line break would add a line to the file it lands in")
    return value


def _absolute(value: str) -> str:
    _one_line(value)
    if not value.startswith("/") or "/../" in f"{value}/":
        raise ValueError(f"{value!r} must be an absolute path without '..'")
    return value


Hostname = Annotated[str, AfterValidator(_hostname)]
Fqdn = Annotated[str, AfterValidator(_fqdn)]
Account = Annotated[str, matching(ACCOUNT, "user or group name (lower case letters, digits, "
                                            "'_' and '-', starting with a letter or '_')")]
PackageName = Annotated[str, matching(PACKAGE, "package name")]
Version = Annotated[str, matching(VERSION, "package version")]
Device = Annotated[str, matching(DEVICE, "device path under /dev")]
# A package is a name or [name, version]; the shape picks the branch, so an error names the bad
# item itself. The tags are the names bootstrap.model leaves out of error key paths.
Package = Annotated[
    Annotated[PackageName, Tag("str")] | Annotated[tuple[PackageName, Version], Tag("list[str]")],
    Discriminator(lambda v: "list[str]" if isinstance(v, list | tuple) else "str"),
]
OneLine = Annotated[str, AfterValidator(_one_line)]
AbsolutePath = Annotated[str, AfterValidator(_absolute)]


class User(Settings):
    """A login created by cloud-init's users module."""

    name: Account
    groups: list[Account] = Field(default_factory=list)
    # True: passwordless sudo for everything; a string: that sudoers rule; False: none.
    sudo: bool | OneLine = False
    ssh_authorized_keys: list[OneLine] = Field(default_factory=list)
    shell: AbsolutePath | None = None
    gecos: OneLine | None = None


class File(Settings):
    """A file written by cloud-init's write_files module."""

    path: AbsolutePath
    content: str | Secret = ""
    mode: str = "0644"
    owner: str = "root:root"
    append: bool = False

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if not re.fullmatch(r"0?o?[0-7]{3,4}", value):
            raise ValueError(f"{value!r} is not an octal mode such as '0644'")
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        user, _, group = value.partition(":")
        if not ACCOUNT.fullmatch(user) or (group and not ACCOUNT.fullmatch(group)):
            raise ValueError(f"{value!r} is not 'user' or 'user:group'")
        return value


class Raid1(Settings):
    """Two block devices mirrored with mdadm, formatted once, mounted by label."""

    devices: list[Device] = Field(min_length=2, max_length=2)
    mount: AbsolutePath
    fstype: Literal["ext4", "xfs", "btrfs"] = "ext4"
    name: Annotated[str, matching(re.compile(r"md[0-9]{1,3}"), "md device name such as md0")] = "md0"
    label: Annotated[str, matching(re.compile(r"[A-Za-z0-9_-]{1,12}"),
                                    "filesystem label (1 to 12 letters, digits, '_', '-')")] = "raid1"

    @model_validator(mode="after")
    def _distinct(self) -> Raid1:
        if self.devices[0] == self.devices[1]:
            raise ValueError("the two devices of a mirror must differ")
        return self


class PhoneHome(Settings):
    url: Annotated[str, matching(re.compile(r"https?://[^\s\"'\\]+"), "http(s) URL")]
    tries: int = Field(default=10, ge=1, le=100)


class CloudInit(Settings):
    """Inventory namespace ``cloud_init``."""

    hostname: Hostname | None = None  # default: the inventory host name
    fqdn: Fqdn | None = None
    users: list[User] = Field(default_factory=list)
    packages: list[Package] = Field(default_factory=list)
    write_files: list[File] = Field(default_factory=list)
    # Commands run once, after the roles' bootstrap scripts: a string goes through sh, a list is
    # executed as is. They are the operator's own program, embedded verbatim.
    runcmd: list[str | list[str]] = Field(default_factory=list)
    raid1: Raid1 | None = None
    phone_home: PhoneHome | None = None
    # Any other cloud-config keys, merged into the one #cloud-config first (lowest precedence).
    cloud_config: dict[str, object] = Field(default_factory=dict)
    gzip: Literal["auto", "never", "always"] = "auto"
    boundary: Annotated[str, matching(BOUNDARY, "MIME boundary (1 to 70 letters, digits and "
                                                 "'()+_,-./:=? characters)")] = "MIMEBOUNDARY"
    size_limit: int = Field(default=16384, ge=1)  # EC2's limit on the raw (unencoded) bytes

    @field_validator("phone_home", mode="before")
    @classmethod
    def _url_only(cls, value: object) -> object:
        return {"url": value} if isinstance(value, str) else value
