"""Inventory namespace ``elastic_beanstalk``: what a Beanstalk application adds to its host setup.

The host setup itself (packages, users, files, commands) comes from the host's ``cloud_init``
settings, so an application on Beanstalk and a plain instance share one description. This
namespace holds only what Beanstalk has and cloud-init has not: environment options, commands
run with the application's source (``container_commands``), services, and the file's name.

The keys and their types follow AWS's documentation of configuration files:
https://docs.aws.amazon.com/elasticbeanstalk/latest/dg/customize-containers-ec2.html and
https://docs.aws.amazon.com/elasticbeanstalk/latest/dg/ebextensions-optionsettings.html
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from bootstrap.hosts.model import KeyProblem, Secret, Settings, matching

# Option namespaces are AWS's (aws:autoscaling:asg, aws:elasticbeanstalk:application:environment).
NAMESPACE = re.compile(r"aws:[a-z0-9]+(?::[a-z0-9-]+)*")
# Names of commands and services: Beanstalk sorts commands by name, and a name is a YAML key.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
OPTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _command(value: str | list[str]) -> str | list[str]:
    words = [value] if isinstance(value, str) else value
    if not words or not all(w.strip() for w in words):
        raise KeyProblem("an empty command runs nothing; leave it out")
    if any("\x00" in w for w in words):
        raise KeyProblem("a command cannot hold a NUL byte: no program can receive one")
    return value


Command = Annotated[str | list[str], AfterValidator(_command)]
Name = Annotated[str, matching(NAME, "name (letters, digits, '_', '.' and '-')")]


class OptionSetting(Settings):
    """One ``option_settings`` entry: an environment option Beanstalk applies."""

    namespace: Annotated[str, matching(NAMESPACE, "option namespace such as aws:autoscaling:asg")]
    option_name: Annotated[str, matching(OPTION, "option name")]
    # A secret here would be stored in the source bundle and shown by the console and
    # DescribeConfigurationSettings: the type admits it only to refuse it by name.
    value: str | int | bool | Secret
    resource_name: Annotated[str, matching(NAME, "CloudFormation logical resource name")] | None \
        = None


class ContainerCommand(Settings):
    """A command run with the application's source, after it is extracted, before it goes live."""

    command: Command
    leader_only: bool = False
    cwd: str | None = None
    env: dict[Annotated[str, matching(ENV, "environment variable name")], str] = Field(
        default_factory=dict)
    test: str | None = None
    ignore_errors: bool = False


class Service(Settings):
    """A sysvinit service Beanstalk enables and keeps running."""

    enabled: bool = True
    ensure_running: bool = True


class ElasticBeanstalk(Settings):
    """Inventory namespace ``elastic_beanstalk``."""

    # The file is .ebextensions/NN-bootstrap.config; Beanstalk reads configuration files in
    # alphabetical order, so NN places it among the application's own.
    order: int = Field(default=10, ge=0, le=99)
    # The platform's package manager for cloud_init.packages (Amazon Linux platforms: yum).
    package_manager: Literal["yum", "rpm", "rubygems", "python"] = "yum"
    option_settings: list[OptionSetting] = Field(default_factory=list)
    container_commands: dict[Name, ContainerCommand] = Field(default_factory=dict)
    services: dict[Name, Service] = Field(default_factory=dict)
