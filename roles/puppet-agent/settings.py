"""The ``puppet`` namespace: which server, which identity, which packages, which CSR attributes.

Every value that reaches puppet.conf or the bootstrap script is checked here against the syntax
Puppet itself accepts for it (host names, certnames, environment names, durations), so an
inventory value can never add a shell command, a setting or a ``[section]``. Extension request
values are free text: csr_attributes.yaml embeds them as quoted YAML strings, which parse back
to exactly what was given.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from bootstrap.hosts import aws
from bootstrap.hosts.model import KeyProblem, Secret, Settings, matching
from bootstrap.hosts.syntax import refuse_lone_surrogates

# RFC 1123 host names (an IPv4 address matches too): what puppet.conf's server settings hold.
HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
# Puppet requires lower case certnames; this is the portable subset every CA and file system takes.
CERTNAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,252})")
# Puppet's own rule for environment names (lib/puppet/node/environment.rb: VALID_ENV_NAME).
ENVIRONMENT = re.compile(r"[a-z0-9_]+")
# Puppet durations: seconds, or a number with s, m, h, d or y.
DURATION = re.compile(r"\d+[smhdy]?")
# A collection ("8") or an exact release ("8.10.0").
VERSION = re.compile(r"\d+(?:\.\d+\.\d+)?")
SHA256 = re.compile(r"[0-9a-f]{64}")
# Collections the official and OpenVox repositories publish.
MAJORS = (7, 8)
DEFAULT_MAJOR = 8

# Registered short names of Puppet's certificate extensions (lib/puppet/ssl/oids.rb).
SHORT_NAMES = (
    "pp_uuid", "pp_instance_id", "pp_image_name", "pp_preshared_key", "pp_cost_center",
    "pp_product", "pp_project", "pp_application", "pp_service", "pp_employee", "pp_created_by",
    "pp_environment", "pp_role", "pp_software_version", "pp_department", "pp_cluster",
    "pp_provisioner", "pp_region", "pp_datacenter", "pp_zone", "pp_network",
    "pp_securitypolicy", "pp_cloudplatform", "pp_apptier", "pp_hostname", "pp_owner",
    "pp_authorization", "pp_auth_role",
)
# The arcs a CA accepts in extension requests: registered, private and authorization.
EXTENSION_OID = re.compile(r"1\.3\.6\.1\.4\.1\.34380\.1\.[123](?:\.\d+)+")
# Filled by the bootstrap script from the instance metadata, never by the inventory.
BOOT_EXTENSION = "pp_instance_id"
# The CA's own certificate is named "ca" (Puppet::SSL::CA_NAME): an agent of that name would
# ask for the CA certificate when it means its own.
RESERVED_CERTNAMES = ("ca",)
# puppet.conf's section names, which Puppet's documentation reserves: an environment of that
# name reads as a section of the agent's own settings.
RESERVED_ENVIRONMENTS = ("main", "master", "server", "agent", "user")
# The object under puppet.s3.prefix that holds the challenge password.
PASSWORD_OBJECT = "challenge_password"



def _duration(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # rejected below: True is not a duration
    if isinstance(value, int) and value >= 0:
        return str(value)
    return value


def _not_in(reserved: tuple[str, ...], why: str) -> AfterValidator:
    def check(value: str) -> str:
        if value in reserved:
            raise KeyProblem(f"{value!r} is reserved by Puppet: {why}")
        return value

    return AfterValidator(check)


def _text(value: Any) -> Any:
    # YAML reads `pp_cost_center: 1234` as a number; Puppet stores every extension as a string.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Hostname = Annotated[str, matching(HOSTNAME, "host name (letters, digits, '-' and '.')")]
Certname = Annotated[str, matching(CERTNAME, "certname (lower case letters, digits, '.', '_' "
                                             "and '-')"),
                     _not_in(RESERVED_CERTNAMES, "it is the name of the CA's own certificate")]
Environment = Annotated[str, matching(ENVIRONMENT, "Puppet environment name (lower case "
                                                   "letters, digits and '_')"),
                        _not_in(RESERVED_ENVIRONMENTS, "it is a section name of puppet.conf")]
Duration = Annotated[str, BeforeValidator(_duration),
                     matching(DURATION, "Puppet duration (seconds, or a number with s, m, h, "
                                        "d or y)")]
ExtensionValue = Annotated[str, BeforeValidator(_text)]
Sha256 = Annotated[str, BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v),
                   matching(SHA256, "sha256 digest (64 hex digits)")]
Version = Annotated[str, BeforeValidator(_text),
                    matching(VERSION, "version: a major release such as 8, or an exact one such "
                                      "as 8.10.0")]


class S3Location(aws.S3Location):
    """Where ``bootstrap launch`` puts the challenge password and the instance fetches it from."""

    @property
    def key(self) -> str:
        return f"{self.prefix}{PASSWORD_OBJECT}"


class Puppet(Settings):
    """The agent's puppet.conf settings, its package source and its certificate request."""

    server: Hostname
    serverport: int | None = Field(default=None, ge=1, le=65535)
    ca_server: Hostname | None = None
    environment: Environment | None = None
    # None: the EC2 instance id, read through IMDSv2 when the instance boots.
    certname: Certname | None = None
    runinterval: Duration | None = None
    waitforcert: Duration | None = None
    package_source: Literal["distro", "puppet", "openvox"] = "distro"
    # "8" picks the collection; "8.10.0" also pins the package version.
    version: Version | None = None
    # The vendor's release package (it adds the repository and its signing key, running its
    # maintainer scripts as root) is installed only with the sha256 pinned here, by file name.
    release_sha256: dict[str, Sha256] = Field(default_factory=dict)
    extension_requests: dict[str, ExtensionValue] = Field(default_factory=dict)
    # Sent as the CSR's challengePassword, for a policy-based autosigner to check.
    challenge_password: Secret | None = None
    # Where the password waits for the instance when user-data delivers the host: user-data is
    # readable by anyone on the instance (IMDS) and through DescribeInstanceAttribute.
    s3: S3Location | None = None

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        return refuse_lone_surrogates(value)

    @field_validator("version")
    @classmethod
    def _known_collection(cls, value: str | None) -> str | None:
        if value is not None and int(value.split(".")[0]) not in MAJORS:
            raise KeyProblem(f"{value!r}: packages exist for Puppet "
                             f"{' and '.join(map(str, MAJORS))} only")
        return value

    @field_validator("extension_requests")
    @classmethod
    def _known_extensions(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name == BOOT_EXTENSION:
                raise KeyProblem(f"{BOOT_EXTENSION} is filled in at boot with the EC2 instance "
                                 "id; leave it out", name)
            if name not in SHORT_NAMES and not EXTENSION_OID.fullmatch(name):
                raise KeyProblem(f"{name!r} is neither a registered extension name (pp_role, "
                                 "pp_environment, ...) nor an OID under 1.3.6.1.4.1.34380.1.1, "
                                 ".1.2 or .1.3", name)
            if "\x00" in value[name]:
                raise KeyProblem("a certificate extension cannot hold a NUL byte", name)
        return value
