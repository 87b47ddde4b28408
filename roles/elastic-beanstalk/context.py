"""The host's ``cloud_init`` setup as a Beanstalk configuration file (``.ebextensions``).

Beanstalk launches the instances and writes their user-data itself, so an application gets its
host setup from a configuration file in its source bundle instead. Each ``cloud_init`` key maps
to the section Beanstalk documents for it (customize-containers-ec2.html):

- ``packages`` -> ``packages.<package_manager>`` (``name: []`` or ``name: [version]``);
- ``users`` -> ``users`` (``groups``), and each supplementary group -> ``groups`` (created when
  missing, as cloud-init creates them);
- ``write_files`` -> ``files`` (``content``, six-digit ``mode``, ``owner``, ``group``);
- ``runcmd`` -> ``commands``, named ``NN_runcmd`` because Beanstalk runs them sorted by name.

A key Beanstalk has no place for is an error naming it, never dropped: a user's sudo rule,
login shell or SSH keys (Beanstalk creates only non-interactive system users), a file appended
to, a secret (the bundle is stored in S3 and shown by the console), and the instance-level keys
(host name, RAID, phone home, notices, raw cloud-config). The user-data encoding knobs (``gzip``,
``boundary``, ``size_limit``) shape no host and do not apply.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.hosts.secrets import SecretRef
from bootstrap.roles.elastic_beanstalk.settings import ElasticBeanstalk

NAMESPACE = "cloud_init"
# cloud_init keys that describe the instance itself, not a setup Beanstalk can carry.
INSTANCE_ONLY = {
    "hostname": "Beanstalk names its instances",
    "fqdn": "Beanstalk names its instances",
    "hostname_pattern": "Beanstalk names its instances",
    "raid1": "Beanstalk has no volume setup in configuration files; use a custom AMI",
    "phone_home": "configuration files have no phone home; use container_commands",
    "notify": "Beanstalk reports deployments itself (environment events and notifications)",
    "cloud_config": "raw cloud-config has no configuration-file equivalent",
}
USER_ONLY = {
    "sudo": "Beanstalk creates non-interactive system users without sudo rules",
    "shell": "Beanstalk creates system users with /sbin/nologin",
    "ssh_authorized_keys": "Beanstalk users cannot log in; use the environment's EC2 key pair",
    "gecos": "Beanstalk users have no GECOS field",
}
SECRET = ("would be stored in the application's source bundle and shown by the console: read it "
          "at run time from Secrets Manager or Parameter Store instead")


def context(target: Target, settings: ElasticBeanstalk) -> dict[str, Any]:
    setup = target.settings.get(NAMESPACE)
    config: dict[str, Any] = {}
    if setup is not None:
        _refuse_instance_keys(target, setup)
        config.update(_host_setup(target, setup, settings.package_manager))
    if settings.services:
        config["services"] = {"sysvinit": {
            name: {"enabled": s.enabled, "ensureRunning": s.ensure_running}
            for name, s in settings.services.items()}}
    if settings.option_settings:
        config["option_settings"] = [_option(target, i, o)
                                     for i, o in enumerate(settings.option_settings)]
    if settings.container_commands:
        config["container_commands"] = {name: _container_command(c)
                                        for name, c in settings.container_commands.items()}
    return {
        "order": f"{settings.order:02d}",
        "document": yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                              allow_unicode=False, width=math.inf) if config else "{}\n",
    }


class _Dumper(yaml.SafeDumper):
    """Block YAML, with a file's lines as a literal block (``|``) so the file reads as itself."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.rstrip("\n") or value.endswith("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def _error(target: Target, message: str, *keypath: str | int) -> BootstrapError:
    return BootstrapError(message, origin=target.origin(*keypath), host=target.name,
                          key=".".join(str(k) for k in keypath))


def _refuse_instance_keys(target: Target, setup: Any) -> None:
    for key, why in INSTANCE_ONLY.items():
        if key in setup.model_fields_set:
            raise _error(target, f"has no Elastic Beanstalk equivalent: {why}", NAMESPACE, key)


def _host_setup(target: Target, setup: Any, manager: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if setup.packages:
        out["packages"] = {manager: dict(_package(p) for p in setup.packages)}
    groups = sorted({g for user in setup.users for g in user.groups})
    if groups:
        out["groups"] = {g: {} for g in groups}
    if setup.users:
        out["users"] = {u.name: _user(target, i, u) for i, u in enumerate(setup.users)}
    if setup.write_files:
        out["files"] = {f.path: _file(target, i, f) for i, f in enumerate(setup.write_files)}
    if setup.runcmd:
        width = len(str(len(setup.runcmd)))
        out["commands"] = {f"{i:0{width}d}_runcmd": {"command": list(c) if isinstance(c, list)
                                                      else c}
                           for i, c in enumerate(setup.runcmd, start=1)}
    return out


def _package(package: str | tuple[str, str]) -> tuple[str, list[str]]:
    # Beanstalk's form: name: [] for the latest, name: [version] for one version.
    return (package[0], [package[1]]) if isinstance(package, tuple) else (package, [])


def _user(target: Target, index: int, user: Any) -> dict[str, Any]:
    for key, why in USER_ONLY.items():
        if getattr(user, key):
            raise _error(target, f"has no Elastic Beanstalk equivalent: {why}",
                         NAMESPACE, "users", index, key)
    return {"groups": list(user.groups)} if user.groups else {}


def _file(target: Target, index: int, spec: Any) -> dict[str, Any]:
    if spec.append:
        raise _error(target, "has no Elastic Beanstalk equivalent: configuration files replace "
                             "a file, never append to it", NAMESPACE, "write_files", index,
                     "append")
    if isinstance(spec.content, SecretRef):
        raise _error(target, f"a secret file content {SECRET}", NAMESPACE, "write_files", index,
                     "content")
    owner, _, group = spec.owner.partition(":")
    return {"content": spec.content, "mode": f"{int(spec.mode.replace('o', ''), 8):06o}",
            "owner": owner, "group": group or "root"}


def _option(target: Target, index: int, option: Any) -> dict[str, Any]:
    if isinstance(option.value, SecretRef):
        raise _error(target, f"a secret option value {SECRET}", "elastic_beanstalk",
                     "option_settings", index, "value")
    out: dict[str, Any] = {"namespace": option.namespace, "option_name": option.option_name,
                           "value": option.value}
    if option.resource_name is not None:
        out["resource_name"] = option.resource_name
    return out


def _container_command(command: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"command": list(command.command) if isinstance(command.command, list)
                           else command.command}
    if command.leader_only:
        out["leader_only"] = True
    if command.cwd is not None:
        out["cwd"] = command.cwd
    if command.env:
        out["env"] = dict(command.env)
    if command.test is not None:
        out["test"] = command.test
    if command.ignore_errors:
        out["ignoreErrors"] = True
    return out
