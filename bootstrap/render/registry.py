"""The role registry: ``roles/<name>/role.yml`` declares a role's artifacts, defaults and model.

```yaml
description: one line
namespace: puppet                      # the inventory key the role owns (optional)
model: settings.py:Puppet             # pydantic model of that namespace (optional): a module
                                      # of the role's own folder, or package.module:Name
context: context.py:context           # Python that derives template values (optional);
                                      # a "warnings" list in its result is printed by render
defaults: {runinterval: 30m}          # merged under the host's namespace value, host wins
artifacts:
  - template: puppet-agent/puppet.conf.j2  # under templates/, in the role's folder
    dest: /etc/puppetlabs/puppet/puppet.conf   # may use the template context
    mode: "0644"
    owner: root:root
    when: has_csr_attributes          # optional: a context value that must be true
    foreach: vlans                    # optional: a context list; one file per item, named
                                      # ``item`` in the template and in dest
    userdata: script                  # optional: how the cloud-init role embeds it in user-data:
                                      # script = an x-shellscript part, file = a write_files entry,
                                      # cloud-config = a fragment (relative dest) merged into the
                                      # one #cloud-config and dropped from the build
finalize: userdata.py:finalize        # optional: sees all the host's artifacts, may add/replace
fleet: fleet_policy.py:fleet          # optional: fleet-wide artifacts from all hosts' targets
apply: systemctl reload frr           # optional: shell command `bootstrap push --apply` runs
                                      # once on a host where this role's files changed
checkers: checkers.py:CHECKERS        # optional: bootstrap validate's checkers of this role's
                                      # files (see bootstrap.validate.checker); an artifact's
                                      # ``check: [name, ...]`` says which checkers consume it:
                                      # this role's, another built-in role's or a generic one
ready: ready.py:wait                  # optional: what push waits for on a host before it copies
forget: forget.py:commands            # optional: what terminate prints to forget a node
launch: launch.py:needs               # optional: what launch uploads to S3 and grants the
                                      # instance role for this role
rehearsal: rehearsal.py:REHEARSAL     # optional: `bootstrap lab NAME HOST` rehearses a host of
                                      # this role against a peer machine (bootstrap.lab.rehearse)
disks: lab.py:disks                   # optional: disks(target, settings) -> the device names
                                      # the host expects; bootstrap lab up attaches blank disks
commands: {dx: command.py}            # optional, built-in roles: CLI commands the role adds
                                      # (a module with HELP, add_arguments(parser), run(args))
reads: [cloud_init]                   # optional: other roles' namespaces it reads, typed on its
                                      # hosts even when their owner is not one of the host's roles
```

``roles/<name>/checks.py`` holds the role's testinfra checks for ``bootstrap verify``
(``def test_x(host, hostvars, manifest)``, see :mod:`bootstrap.fleet.checks`).

``finalize(target, settings, artifacts) -> artifacts`` runs after every role of the host has
rendered (the cloud-init role assembles user-data from the others' ``userdata`` artifacts).
``fleet(targets) -> artifacts`` runs once per render over the selected hosts; its artifacts land
under ``DIR/_fleet/`` with relative ``dest``.

A role folder next to the inventory with the same name replaces a built-in ``role.yml``;
a template of the same path under the inventory's ``templates/`` replaces a built-in one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bootstrap.errors import BootstrapError, Origin, did_you_mean
from bootstrap.inventory.yamlfile import YamlFile
from bootstrap.paths import builtin, search_path
from bootstrap.render.packages import package_name

# Keys whose value is Python, ``file.py:name`` in the role's folder or ``package.module:name``.
HOOKS = ("model", "context", "finalize", "fleet", "checkers", "ready", "forget", "launch",
         "rehearsal", "disks")
ROLE_KEYS = {"description", "namespace", "defaults", "artifacts", "apply", "commands", "reads",
             *HOOKS}
ARTIFACT_KEYS = {"template", "dest", "mode", "owner", "when", "userdata", "foreach", "check"}
USERDATA_KINDS = {"script", "file", "cloud-config"}


@dataclass(frozen=True, slots=True)
class ArtifactSpec:
    template: str
    dest: str
    mode: int
    owner: str
    when: str | None
    userdata: str | None
    origin: Origin
    foreach: str | None = None
    # Names of the checkers of bootstrap validate that consume this file.
    check: tuple[str, ...] = ()


@dataclass(frozen=True)
class Role:
    name: str
    folder: Path
    description: str
    namespace: str | None
    refs: dict[str, str]  # hook -> reference, for the hooks role.yml names
    defaults: dict[str, Any]
    artifacts: tuple[ArtifactSpec, ...]
    apply: str | None
    origin: Origin
    commands: dict[str, str] = field(default_factory=dict)  # CLI command name -> module file
    # Namespaces of other roles this role reads, typed on its hosts even without their owner.
    reads: tuple[str, ...] = ()

    def hook(self, name: str) -> Any:
        """The Python object role.yml names for ``name`` (one of :data:`HOOKS`), or None."""
        ref = self.refs.get(name)
        return _import(ref, self) if ref else None

    @cached_property
    def model(self) -> Any:
        return self.hook("model")

    @cached_property
    def context(self) -> Any:
        return self.hook("context")

    @cached_property
    def finalize(self) -> Any:
        return self.hook("finalize")

    @cached_property
    def fleet(self) -> Any:
        return self.hook("fleet")

    @cached_property
    def checkers(self) -> list[Any]:
        return list(self.hook("checkers") or [])

    def file(self, name: str) -> Path | None:
        path = self.folder / name
        return path if path.exists() else None


class Registry:
    """Roles found on the search path, loaded on first use."""

    def __init__(self, inventory_dir: Path | None) -> None:
        """``None``: the built-in roles alone (``bootstrap validate`` reads a build, not an
        inventory)."""
        self.folders = search_path("roles", inventory_dir) if inventory_dir else [builtin("roles")]
        self._roles: dict[str, Role] = {}

    def names(self) -> list[str]:
        found = {p.name for folder in self.folders for p in folder.iterdir()
                 if (p / "role.yml").is_file()}
        return sorted(found)

    def declaring(self, key: str) -> list[Role]:
        """The roles, by name, that may set ``key`` (one of :data:`ROLE_KEYS`): only a role.yml
        that holds the word at all is parsed. The command line asks before every run, ``--help``
        included, which roles add commands; most roles do not, and need not be read for it."""
        word = key.encode()
        out = []
        for name in self.names():
            for folder in self.folders:
                path = folder / name / "role.yml"
                if path.is_file():
                    if word in path.read_bytes():
                        out.append(self.get(name))
                    break
        return out

    def get(self, name: str) -> Role:
        role = self._roles.get(name)
        if role is None:
            role = self._roles[name] = self._load(name)
        return role

    def _load(self, name: str) -> Role:
        for folder in self.folders:
            path = folder / name / "role.yml"
            if path.is_file():
                return _parse(name, YamlFile.load(path))
        raise BootstrapError(f"unknown role {name!r}{did_you_mean(name, self.names())}; "
                             f"known roles: {', '.join(self.names())}")


def _parse(name: str, file: YamlFile) -> Role:
    data = file.data or {}
    if not isinstance(data, dict):
        raise BootstrapError("role.yml must be a mapping", origin=file.origin(()))
    for key in data:
        if key not in ROLE_KEYS:
            raise BootstrapError(f"unknown key {key!r} in role.yml{did_you_mean(key, ROLE_KEYS)}",
                                 origin=file.origin((key,)))
    specs = []
    for index, item in enumerate(data.get("artifacts") or []):
        where = file.origin(("artifacts", index))
        if not isinstance(item, dict) or not {"template", "dest"} <= item.keys():
            raise BootstrapError("an artifact needs 'template' and 'dest'", origin=where)
        for key in item:
            if key not in ARTIFACT_KEYS:
                raise BootstrapError(f"unknown artifact key {key!r}"
                                     f"{did_you_mean(key, ARTIFACT_KEYS)}", origin=where)
        userdata = item.get("userdata")
        if userdata is not None and userdata not in USERDATA_KINDS:
            raise BootstrapError(f"userdata must be one of {sorted(USERDATA_KINDS)}", origin=where)
        try:
            mode = int(str(item.get("mode", "0644")), 8)
        except ValueError:
            raise BootstrapError(f"mode {item.get('mode')!r} is not octal", origin=where) from None
        if userdata == "script" and not mode & 0o111:
            # The host runs it from its dest, where it lands with this mode.
            raise BootstrapError(f"a userdata: script must be executable: mode {mode:04o} has no "
                                 f"execute bit", origin=where)
        check = item.get("check") or []
        check = [check] if isinstance(check, str) else check
        if not isinstance(check, list) or not all(isinstance(c, str) for c in check):
            raise BootstrapError("check must be a checker name or a list of them", origin=where)
        specs.append(ArtifactSpec(str(item["template"]), str(item["dest"]), mode,
                                  str(item.get("owner", "root:root")), item.get("when"), userdata,
                                  where, item.get("foreach"), tuple(check)))
    return Role(
        name=name,
        folder=file.path.parent,
        description=str(data.get("description", "")),
        namespace=data.get("namespace"),
        refs={key: str(data[key]) for key in HOOKS if data.get(key)},
        commands=_commands(file),
        reads=_reads(data.get("reads"), file),
        defaults=dict(data.get("defaults") or {}),
        artifacts=tuple(specs),
        apply=data.get("apply"),
        origin=file.origin(()),
    )


def _commands(file: YamlFile) -> dict[str, str]:
    commands = file.data.get("commands") or {}
    if not isinstance(commands, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.endswith(".py") and "/" not in v
            for k, v in commands.items()):
        raise BootstrapError("commands must map a command name to a .py file of the role's folder",
                             origin=file.origin(("commands",)))
    return dict(commands)


def _reads(value: Any, file: YamlFile) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BootstrapError("reads must list the namespaces of other roles this role reads",
                             origin=file.origin(("reads",)))
    return tuple(value)


def command_module(role: Role, command: str) -> Any:
    """The module of a command a role adds to the CLI (``HELP``, ``add_arguments``, ``run``)."""
    return importlib.import_module(f"{package_name(role.folder)}.{role.commands[command][:-3]}")


def _import(ref: str, role: Role) -> Any:
    """``file.py:name`` for a module in the role's own folder (its package, see
    :mod:`bootstrap.render.packages`), or ``package.module:name`` for any importable module."""
    module_name, _, attr = ref.partition(":")
    try:
        if module_name.endswith(".py"):
            module_name = f"{package_name(role.folder)}.{module_name[:-3]}"
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, OSError) as exc:
        raise BootstrapError(f"cannot load {ref!r}: {exc}", origin=role.origin) from None
