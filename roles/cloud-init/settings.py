"""The ``cloud_init`` namespace: what the instance's user-data sets up itself.

Every name that ends up in a command or a system file (host names, user and group names, package
names, device paths, sudo rules, SSH keys) is checked against the syntax its consumer accepts, so
a value carrying ``$(...)``, backticks, quotes, ``;`` or a line break is an error that names the
key, never a command that runs. Values that land in a field of a line-oriented file are checked
against that file's own rules (:mod:`bootstrap.hosts.syntax`): the RAID1 mount point against
fstab's, sudo rules against sudoers', SSH keys against authorized_keys', the shell and the
comment against /etc/passwd's. Names the consumers give a meaning of their own (cloud-init's
``default`` user, system accounts, the root disk, the folders the OS lives in) are refused.
Free text (file contents, runcmd) is the operator's own program and is embedded as YAML data,
which cloud-init parses back to exactly the given value.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from bootstrap.hosts import syntax
from bootstrap.hosts.model import KeyProblem, Secret, Settings, matching
from bootstrap.roles.cloud_init.hostname import LONGEST_ID, PLACEHOLDER

# RFC 1123 label; an FQDN is labels joined by dots, at most 253 characters.
LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# useradd's default NAME_REGEX (Debian), also accepted by RHEL's shadow-utils.
ACCOUNT = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Debian and RPM package names, and versions (Debian's epoch:upstream-revision, RPM's _). A
# name never ends in '-': apt-get reads "nginx-" as "remove nginx".
PACKAGE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9+._-]*[A-Za-z0-9+._])?")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:_-]*")
DEVICE = re.compile(r"/dev/[A-Za-z0-9][A-Za-z0-9/_.:-]*")
# RFC 2046 boundary characters, 1 to 70 of them, not ending in a space.
BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]")
FILESYSTEMS = ("ext4", "xfs", "btrfs")
SUDO_ALL = "ALL=(ALL) NOPASSWD:ALL"
# Names that exist before cloud-init runs: "default" is cloud-init's own name for the image's
# user, the others are system accounts of Debian (base-passwd) and RHEL (setup). cloud-init
# would change such an account (lock its password, give it sudo and keys) instead of creating
# a user.
RESERVED_USERS = frozenset({
    "default", "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news",
    "uucp", "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "_apt", "adm",
    "halt", "shutdown", "operator", "ftp", "sshd", "messagebus", "systemd-network",
    "systemd-resolve", "systemd-timesync", "polkitd", "chrony", "_chrony", "tss",
})
# Names that mean this machine to every resolver: never a host's own name.
RESERVED_HOSTNAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# The EC2 root volume as Linux names it (Nitro NVMe, Xen) and its partitions: a mirror built
# on it would wipe the running system.
ROOT_DISKS = re.compile(r"/dev/(?:nvme0n1(?:p\d+)?|xvda\d*|sda\d*)")
# cloud_config keys that a typed field of this namespace sets: set them there, checked.
TYPED_KEYS = {"hostname": "hostname", "fqdn": "fqdn", "users": "users", "user": "users",
              "packages": "packages", "write_files": "write_files", "runcmd": "runcmd",
              "phone_home": "phone_home", "prefer_fqdn_over_hostname": "fqdn"}


def hostname_error(value: str) -> str | None:
    """Why ``value`` is not a host name (one RFC 1123 label), or None."""
    if not LABEL.fullmatch(value):
        return (f"{value!r} is not a host name: 1 to 63 letters, digits and '-', "
                f"not starting or ending with '-'")
    if value.lower() in RESERVED_HOSTNAMES:
        return f"{value!r} names the loopback address on every system, not a host"
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
    if value.rstrip(".").lower() in RESERVED_HOSTNAMES:
        raise ValueError(f"{value!r} names the loopback address on every system, not a host")
    return value.rstrip(".")


def _hostname_pattern(value: str) -> str:
    """A name with ``{instance_id}`` once: a host name, or an FQDN, once the id is in."""
    if value.count(PLACEHOLDER) != 1:
        raise KeyProblem(f"{value!r} must hold {PLACEHOLDER} exactly once (like "
                         f"app-{PLACEHOLDER} or app-{PLACEHOLDER}.example.internal)")
    rest = value.replace(PLACEHOLDER, "")
    if "{" in rest or "}" in rest:
        raise KeyProblem(f"{value!r}: {PLACEHOLDER} is the only field a host name pattern knows")
    example = value.replace(PLACEHOLDER, LONGEST_ID)
    try:
        default_names(example)
    except ValueError as exc:
        raise KeyProblem(f"{value!r} does not give a host name for instance {LONGEST_ID}: "
                         f"{exc}") from None
    return value


def _one_line(value: str) -> str:
    if any(c in value for c in "\r\n\x00"):
        raise ValueError("must be one line: a line break would add a line to the file it lands in")
    return value


def _absolute(value: str) -> str:
    _one_line(value)
    if not value.startswith("/") or "/../" in f"{value}/":
        raise ValueError(f"{value!r} must be an absolute path without '..'")
    controls = syntax.control_characters(value)
    if controls:
        raise KeyProblem(f"{value!r} holds control characters ({controls})")
    if value.endswith("/"):
        raise KeyProblem(f"{value!r} names a folder; give the path of a file")
    return value


def _checked(check: object) -> AfterValidator:
    """A field check from a :mod:`syntax` function that says why a value does not fit."""

    def run(value: str) -> str:
        problem = check(value)  # type: ignore[operator]
        if problem:
            raise KeyProblem(problem)
        return value

    return AfterValidator(run)


def _account(value: str) -> str:
    if value in RESERVED_USERS:
        raise KeyProblem(f"{value!r} names an account that exists before cloud-init runs "
                         f"(cloud-init's default user or a system account): cloud-init would "
                         f"change it instead of creating a user")
    return value


def _device(value: str) -> str:
    if "/../" in f"{value}/" or "/./" in f"{value}/":
        raise KeyProblem(f"{value!r} must be a plain device path without '.' or '..'")
    if ROOT_DISKS.fullmatch(value):
        raise KeyProblem(f"{value!r} is where an EC2 instance's root volume appears; a mirror "
                         f"built on it would wipe the running system")
    return value


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or not value.isascii() \
            or syntax.control_characters(value):
        raise KeyProblem(f"{value!r} is not a valid http(s) URL (ASCII, with a host name)")
    return value


def _command(value: str | list[str]) -> str | list[str]:
    words = [value] if isinstance(value, str) else value
    if not words:
        raise KeyProblem("an empty command runs nothing; leave it out")
    if any("\x00" in w for w in words):
        raise KeyProblem("a command cannot hold a NUL byte: no program can receive one")
    return value


Hostname = Annotated[str, AfterValidator(_hostname)]
Fqdn = Annotated[str, AfterValidator(_fqdn)]
Account = Annotated[str, matching(ACCOUNT, "user or group name (lower case letters, digits, "
                                            "'_' and '-', starting with a letter or '_')")]
NewAccount = Annotated[Account, AfterValidator(_account)]
PackageName = Annotated[str, matching(PACKAGE, "package name")]
Version = Annotated[str, matching(VERSION, "package version")]
Device = Annotated[str, matching(DEVICE, "device path under /dev"), AfterValidator(_device)]
# A package is a name or [name, version]; the shape picks the branch, so an error names the bad
# item itself. The tags are the names bootstrap.hosts.model leaves out of error key paths.
Package = Annotated[
    Annotated[PackageName, Tag("str")] | Annotated[tuple[PackageName, Version], Tag("list[str]")],
    Discriminator(lambda v: "list[str]" if isinstance(v, list | tuple) else "str"),
]
OneLine = Annotated[str, AfterValidator(_one_line)]
AbsolutePath = Annotated[str, AfterValidator(_absolute)]
SudoRule = Annotated[str, _checked(syntax.sudo_rule)]
AuthorizedKey = Annotated[str, _checked(syntax.authorized_key)]
LoginShell = Annotated[str, _checked(syntax.login_shell)]
Gecos = Annotated[str, _checked(syntax.passwd_field)]
MountPoint = Annotated[str, _checked(syntax.mount_point)]
Command = Annotated[str | list[str], AfterValidator(_command)]


class User(Settings):
    """A login created by cloud-init's users module."""

    name: NewAccount
    groups: list[Account] = Field(default_factory=list)
    # True: passwordless sudo for everything; a string: that sudoers rule; False: none.
    sudo: bool | SudoRule = False
    ssh_authorized_keys: list[AuthorizedKey] = Field(default_factory=list)
    shell: LoginShell | None = None
    gecos: Gecos | None = None


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
    mount: MountPoint
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
    url: Annotated[str, matching(re.compile(r"https?://[^\s\"'\\]+"), "http(s) URL"),
                   AfterValidator(_url)]
    tries: int = Field(default=10, ge=1, le=100)


# arn:PARTITION:sns:REGION:ACCOUNT:TOPIC; the partition follows from the region.
TOPIC_ARN = re.compile(r"arn:(aws|aws-cn|aws-us-gov):sns:([a-z]{2}(?:-[a-z]+)+-[0-9]):([0-9]{12}):"
                       r"([A-Za-z0-9_-]{1,256}(?:\.fifo)?)")


def partition(region: str) -> str:
    """The AWS partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# What SNS accepts as an email endpoint, in ASCII (no display name, no spaces).
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")


def _topic_arn(value: str) -> str:
    found = TOPIC_ARN.fullmatch(value)
    if found is None:
        raise KeyProblem(f"{value!r} is not an SNS topic ARN (like "
                         f"arn:aws:sns:eu-west-1:123456789012:boot-notices)")
    part, region, _account, name = found.groups()
    if partition(region) != part:
        raise KeyProblem(f"{value!r}: region {region} is in partition {partition(region)}, "
                         f"not {part}")
    if name.endswith(".fifo"):
        # A FIFO topic refuses a Publish without a message group id.
        raise KeyProblem(f"{value!r} is a FIFO topic; completion notices go to a standard topic")
    return value


class Notify(Settings):
    """One SNS message when the first boot is done (see bootstrap.roles.cloud_init.notify)."""

    sns_topic_arn: Annotated[str, AfterValidator(_topic_arn)]
    on: list[Literal["success", "failure"]] = Field(default_factory=lambda: ["success", "failure"],
                                                    min_length=1)
    # bootstrap launch creates the topic (in the credentials' account) when it is missing.
    create: bool = False
    # Addresses launch subscribes to the topic, once each; AWS mails each a confirmation link.
    email: list[Annotated[str, matching(EMAIL, "e-mail address")]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, value: object) -> object:
        # YAML 1.1 reads a plain `on` key as the boolean true: it can only have meant "on".
        if isinstance(value, dict) and True in value and "on" not in value:
            return {("on" if key is True else key): item for key, item in value.items()}
        return value

    @field_validator("on")
    @classmethod
    def _once(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists a result twice")
        return value

    @property
    def region(self) -> str:
        return self.sns_topic_arn.split(":")[3]

    @property
    def topic(self) -> str:
        return self.sns_topic_arn.split(":")[5]


class CloudInit(Settings):
    """Inventory namespace ``cloud_init``."""

    hostname: Hostname | None = None  # default: the inventory host name
    fqdn: Fqdn | None = None
    # The name from the instance id at boot, for user-data that many instances share (a launch
    # template, where it defaults to {instance_id}): a host name, or an FQDN, with {instance_id}.
    hostname_pattern: Annotated[str, AfterValidator(_hostname_pattern)] | None = None
    users: list[User] = Field(default_factory=list)
    packages: list[Package] = Field(default_factory=list)
    write_files: list[File] = Field(default_factory=list)
    # Commands run once, after the roles' bootstrap scripts: a string goes through sh, a list is
    # executed as is. They are the operator's own program, embedded verbatim.
    runcmd: list[Command] = Field(default_factory=list)
    raid1: Raid1 | None = None
    phone_home: PhoneHome | None = None
    # One SNS message with the result of the first boot, published with the instance role.
    notify: Notify | None = None
    # Any other cloud-config keys, merged into the one #cloud-config first (lowest precedence).
    cloud_config: dict[str, object] = Field(default_factory=dict)
    # inline: every role's files and scripts in the user-data; s3: the user-data holds the
    # cloud-config and a small stub that pulls the build bootstrap publish put in aws.publish.
    delivery: Literal["inline", "s3"] = "inline"
    gzip: Literal["auto", "never", "always"] = "auto"
    boundary: Annotated[str, matching(BOUNDARY, "MIME boundary (1 to 70 letters, digits and "
                                                 "'()+_,-./:=? characters)")] = "MIMEBOUNDARY"
    size_limit: int = Field(default=16384, ge=1)  # EC2's limit on the raw (unencoded) bytes

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, value: object) -> object:
        return syntax.refuse_lone_surrogates(value)

    @field_validator("phone_home", mode="before")
    @classmethod
    def _url_only(cls, value: object) -> object:
        return {"url": value} if isinstance(value, str) else value

    @field_validator("cloud_config")
    @classmethod
    def _untyped_only(cls, value: dict[str, object]) -> dict[str, object]:
        for key in value:
            if key in TYPED_KEYS:
                raise KeyProblem(f"set {key} with cloud_init.{TYPED_KEYS[key]}, where it is "
                                 f"checked; cloud_config is for the keys bootstrap has no "
                                 f"setting for", key)
        for index, entry in enumerate(_list(value.get("mounts"))):
            for position, field in enumerate(_list(entry)):
                problem = syntax.fstab_field(field) if isinstance(field, str) else None
                if problem:
                    raise KeyProblem(problem, "mounts", index, position)
        return value

    @model_validator(mode="after")
    def _distinct(self) -> CloudInit:
        seen: set[str] = set()
        for index, user in enumerate(self.users):
            if user.name in seen:
                raise KeyProblem(f"user {user.name!r} is listed twice (cloud-init would merge "
                                 f"the two entries)", "users", index, "name")
            seen.add(user.name)
        paths: set[str] = set()
        for index, spec in enumerate(self.write_files):
            if spec.path in paths and not spec.append:
                raise KeyProblem(f"{spec.path} is written twice; the second would replace the "
                                 f"first (set append: true to add to it)", "write_files", index,
                                 "path")
            paths.add(spec.path)
        return self


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
