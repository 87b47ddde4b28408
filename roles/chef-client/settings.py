"""The ``chef`` namespace: which client, which server, which identity, where the validator key is.

Every value that reaches the bootstrap script, client.rb or first-boot.json is checked here
against the syntax Chef itself accepts for it (node, client, environment and policy names,
run-list items), so an inventory value can never add a shell command or a Ruby statement.
Free-form values (``attributes``, the server URL's path) are embedded by the templates'
escaping filters instead, and parse back to exactly what was given.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from bootstrap.hosts import aws
from bootstrap.hosts.model import KeyProblem, Secret, Settings, matching
from bootstrap.hosts.secrets import SecretRef
from bootstrap.hosts.syntax import refuse_lone_surrogates

# Chef's own rules: lib/chef/mixin/params_validate.rb and the server's name checks
# (chef_regex.erl). A node registers a client of its own name, and the server's client names
# are [A-Za-z0-9_.-]+ (no ':', which node names alone would allow), so node names follow them.
NODE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
CLIENT_NAME = re.compile(r"[A-Za-z0-9_.-]+")
ENVIRONMENT = re.compile(r"[A-Za-z0-9_-]+")
POLICY = re.compile(r"[A-Za-z0-9_.:-]+")
# lib/chef/run_list/run_list_item.rb: a version pin has two or three parts ("@1.2", "@1.2.3").
_COOKBOOK = r"[A-Za-z0-9_.-]+(?:::[A-Za-z0-9_.-]+)?(?:@\d+(?:\.\d+){1,2})?"
# Names the server's REST paths cannot hold: /nodes/. and /nodes/.. are other URLs.
DOT_NAMES = re.compile(r"\.+")
RUN_LIST_ITEM = re.compile(rf"recipe\[{_COOKBOOK}\]|role\[[A-Za-z0-9_.-]+\]|{_COOKBOOK}")
VERSION = re.compile(r"\d+(?:\.\d+){0,2}")
# first-boot.json keys the client reads as settings, each set by its own chef.* key.
RESERVED_ATTRIBUTES = {"run_list": "run_list", "policy_name": "policy_name",
                       "policy_group": "policy_group", "chef_environment": "environment"}
SHA256 = re.compile(r"[0-9a-f]{64}")
# Characters a URL may carry that would still be dangerous or ambiguous in a config file.
URL_FORBIDDEN = set(' "`\\<>{}|^') | {chr(c) for c in range(32)} | {"\x7f"}



def _node_name(value: str) -> str:
    if value.count("%s") > 1:
        raise KeyProblem(f"{value!r}: use %s at most once (it stands for the instance id)")
    if not NODE_NAME.fullmatch(value.replace("%s", "i-0", 1)):
        raise KeyProblem(f"{value!r} is not a valid node name (letters, digits, _ . - and one "
                         f"%s; the Chef server refuses ':' in the client the node registers)")
    return _not_dots(value)


def _not_dots(value: str) -> str:
    if DOT_NAMES.fullmatch(value):
        raise KeyProblem(f"{value!r} is a path segment in the Chef server's URLs, not a name")
    return value


def _server_url(value: str) -> str:
    bad = sorted(c for c in set(value) if c in URL_FORBIDDEN)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise KeyProblem(f"{value!r} is not a URL: it contains {shown}")
    if not value.isascii():
        # Ruby's URI (what the client parses chef_server_url with) takes ASCII only.
        raise KeyProblem(f"{value!r} is not a URL Chef can parse: write a non-ASCII host name "
                         f"in its xn-- form and percent-encode the path")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise KeyProblem(f"{value!r} must be an http:// or https:// URL with a host name")
    return value


def _package_url(value: str) -> str:
    _server_url(value)
    if urlsplit(value).scheme != "https":
        raise KeyProblem(f"{value!r}: fetch the package over https")
    return value


def _symbol(value: Any) -> Any:
    return f":{value}" if isinstance(value, str) and not value.startswith(":") else value


NodeName = Annotated[str, AfterValidator(_node_name)]
ClientName = Annotated[str, matching(CLIENT_NAME, "client name (letters, digits, _ . -)"),
                       AfterValidator(_not_dots)]
Environment = Annotated[str, matching(ENVIRONMENT, "Chef environment name (letters, digits, _ -)")]
PolicyName = Annotated[str, matching(POLICY, "policy name (letters, digits, _ . : -)"),
                       AfterValidator(_not_dots)]
RunListItem = Annotated[str, matching(RUN_LIST_ITEM, "run-list item (recipe[cb::rcp], role[name])")]
Version = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int | float) else v),
                    matching(VERSION, "version pin (18, 18.5 or 18.5.0)")]


class S3Location(aws.S3Location):
    """Where ``bootstrap launch`` puts the validator key and where the node fetches it from."""

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"


class Package(Settings):
    """The client's package for the host's OS, installed at first boot only if its sha256 matches.

    The vendor's Omnitruck API gives both: ``/stable/cinc/metadata?p=debian&pv=12&m=x86_64&v=18``
    prints the package's ``url`` and ``sha256``. A URL ending in ``license_id=`` (Chef's
    commercial downloads) gets the license key appended on the node.
    """

    url: Annotated[str, AfterValidator(_package_url)]
    sha256: Annotated[str, BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v),
                      matching(SHA256, "sha256 digest (64 hex digits)")]


class Chef(Settings):
    # Field order matters: a field's validator sees the fields above it (info.data), so each
    # cross-field rule is reported at the key the user has to change.
    distribution: Literal["cinc", "chef"] = "cinc"
    license_key: Secret | None = Field(default=None, validate_default=True)
    version: Version = "18"
    server_url: Annotated[str, AfterValidator(_server_url)]
    validation_client_name: ClientName
    node_name: NodeName = "%s"
    run_list: list[RunListItem] = Field(default_factory=list)
    policy_name: PolicyName | None = None
    policy_group: PolicyName | None = Field(default=None, validate_default=True)
    environment: Environment | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    ssl_verify_mode: Annotated[Literal[":verify_peer", ":verify_none"],
                               BeforeValidator(_symbol)] = ":verify_peer"
    s3: S3Location
    validation_key: Secret | None = None
    delete_validation_key: bool = True
    # None: the client must be in the image already; nothing unverified is ever installed.
    package: Package | None = None

    @model_validator(mode="before")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        return refuse_lone_surrogates(value)

    @field_validator("license_key")
    @classmethod
    def _license(cls, value: Any, info: ValidationInfo) -> Any:
        distribution = info.data.get("distribution")
        if distribution == "chef" and value is None:
            raise KeyProblem("distribution chef needs license_key (a secret reference); "
                             "cinc needs none")
        if distribution == "cinc" and value is not None:
            raise KeyProblem("license_key is only for distribution chef")
        return value

    @field_validator("policy_name")
    @classmethod
    def _policy_or_run_list(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("run_list"):
            raise KeyProblem("set either run_list or policy_name + policy_group, not both")
        return value

    @field_validator("policy_group")
    @classmethod
    def _policy_pair(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "policy_name" in info.data and (info.data["policy_name"] is None) != (value is None):
            raise KeyProblem("policy_name and policy_group go together")
        return value

    @field_validator("environment")
    @classmethod
    def _no_environment_with_policy(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("policy_name") is not None:
            raise KeyProblem("a Policyfile node has no environment: drop environment "
                             "or use run_list")
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(RESERVED_ATTRIBUTES.keys() & value.keys())
        if taken:
            raise KeyProblem(f"attributes cannot set {', '.join(taken)}: "
                             f"use chef.{RESERVED_ATTRIBUTES[taken[0]]}")
        _json_only(value, "attributes")
        return value


def _json_only(value: Any, path: str) -> None:
    """Attributes go into first-boot.json, in user-data: plain JSON values, never a secret."""
    if isinstance(value, SecretRef):
        raise KeyProblem(f"{path} holds a secret reference; first-boot.json is readable in "
                         "user-data, so keep secrets in encrypted data bags or vaults")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise KeyProblem(f"{path}: key {key!r} is not a string")
            _json_only(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_only(item, f"{path}[{index}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise KeyProblem(f"{path} is {value}, which JSON cannot hold")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise KeyProblem(f"{path} is a {type(value).__name__}, not a JSON value; quote it")
