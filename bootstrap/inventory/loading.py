"""Ansible-compatible YAML inventory: groups, host ranges, group_vars/host_vars, precedence, provenance.

The rules follow ansible-core (``plugins/inventory/yaml.py``, ``plugins/vars/host_group_vars.py``,
``inventory/helpers.py`` and ``vars/manager.py``) so that the resolved variables of every host equal
what ``ansible-inventory --list`` prints. Lowest to highest precedence:

1. inline vars of group ``all`` (in the inventory file)
2. inline vars of the host's other groups, sorted by (depth, ansible_group_priority, name)
3. ``group_vars/all``
4. ``group_vars/<group>`` for the same sorted groups
5. inline vars of the host
6. ``host_vars/<host>``

Each layer replaces whole top-level keys (Ansible's default ``hash_behaviour=replace``). The one
deliberate difference in values: ``bootstrap_roles`` is the union of every list that applies to the
host (each layer's, and one layer's earlier lists too), lowest first, each role once.

Where Ansible only warns or silently does something never meant, bootstrap stops with an error:
a name that is both a host and a group, a range that expands to no host (``web[3:1]``), an
unreadable group_vars/ or host_vars/ folder.

A file ending in ``.yml``, ``.yaml`` or ``.json`` is YAML; any other file is Ansible's INI format
(``bootstrap.inventory.ini``), as Ansible's default plugin order (yaml before ini) decides. A YAML
file with a ``plugin:`` key runs that inventory plugin (``bootstrap.inventory.plugins``: aws_ec2,
constructed) over what the files before it defined. A
folder given as the inventory is read as the files directly in it, in name order, but for those
Ansible skips (hidden names, ``*.txt``, ``*.md``, ``*.cfg``, backups, ...). Ansible would also read
its subfolders, such as secrets/, as inventory sources; they are skipped. A file Ansible would run
as an inventory script (executable, starting with ``#!``) or read as TOML is an error.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootstrap.errors import BootstrapError, Origin
from bootstrap.inventory import hostnames, ini, limits, vaultpass
from bootstrap.inventory.vault import Vaulted
from bootstrap.inventory.yamlfile import KeyPath, YamlFile, json_key

ROLES_KEY = "bootstrap_roles"
# Extensions Ansible's host_group_vars plugin tries, in order; the first that exists wins.
VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
INVENTORY_EXTENSIONS = (".yml", ".yaml", ".json")
# What Ansible skips in an inventory folder (INVENTORY_IGNORE_EXTS, and the names it always skips).
IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig",
                    ".cfg", ".retry")
IGNORED_NAMES = ("host_vars", "group_vars", "vars_plugins")
GROUP_KEYS = ("hosts", "vars", "children")


@dataclass(frozen=True, slots=True)
class Where:
    """A lazy origin: the file and the key path of a value; its line is looked up on demand."""

    file: YamlFile
    keypath: KeyPath

    @property
    def origin(self) -> Origin:
        return self.file.origin(self.keypath)


@dataclass(slots=True)
class Layer:
    """One source of variables for a host (a group's inline vars, its group_vars files, ...).

    A key set twice within one layer (the files of a group_vars directory, a group defined in
    two places, a host listed in two groups) keeps the last value; ``shadowed`` keeps the
    earlier ones, lowest first, for ``explain`` and the ``bootstrap_roles`` union.
    """

    name: str  # the label, or the host's name for a host's inline vars
    vars: dict[str, Any]
    where: dict[str, Where]
    group: Group | None = None
    # None until a key is set twice: most layers (a host's inline vars) never need one.
    shadowed: dict[str, list[tuple[Any, Where]]] | None = None
    inline_host: bool = False

    @property
    def label(self) -> str:
        """Where the layer's values come from, as ``explain`` shows it."""
        return f"host {self.name} (inline)" if self.inline_host else self.name

    def assign(self, key: str, value: Any, where: Where) -> None:
        if key in self.vars:
            if self.shadowed is None:
                self.shadowed = {}
            self.shadowed.setdefault(key, []).append((self.vars[key], self.where[key]))
        self.vars[key] = value
        self.where[key] = where

    def values(self, key: str) -> list[tuple[Any, Where]]:
        """Every value this layer gave ``key``, lowest first (the last one is in effect)."""
        earlier = self.shadowed.get(key, ()) if self.shadowed is not None else ()
        return [*earlier, (self.vars[key], self.where[key])]


@dataclass(eq=False)
class Group:
    name: str
    defined: Where
    depth: int = 0
    priority: int = 1
    parents: list[Group] = field(default_factory=list)
    children: list[Group] = field(default_factory=list)
    # An ordered set: a host is looked up in it each time a group lists it (a list would make
    # loading a group of n hosts cost n * n).
    hosts: dict[str, None] = field(default_factory=dict)
    inline: Layer | None = None
    files: Layer | None = None

    def ancestors(self) -> Iterator[Group]:
        seen: set[str] = set()
        stack = list(self.parents)
        while stack:
            group = stack.pop()
            if group.name not in seen:
                seen.add(group.name)
                yield group
                stack.extend(group.parents)

    def descendants_or_self(self) -> Iterator[Group]:
        seen: set[int] = set()
        stack = [self]
        while stack:
            current = stack.pop()
            if id(current) not in seen:
                seen.add(id(current))
                yield current
                stack.extend(current.children)

    @property
    def sort_key(self) -> tuple[int, int, str]:
        # Ansible's whole precedence rule among groups (inventory/helpers.py: sort_groups).
        return (self.depth, self.priority, self.name)


@dataclass(eq=False, slots=True)
class Host:
    name: str
    defined: Where
    groups: list[Group] = field(default_factory=list)  # direct membership, in order of appearance
    inline: Layer | None = None
    files: Layer | None = None


@dataclass(frozen=True, slots=True)
class Value:
    """A resolved variable: its value, where the winner came from, and what it overrode."""

    value: Any
    where: Where
    layer: str
    overridden: tuple[tuple[Any, Where, str], ...] = ()


class Inventory:
    """A loaded inventory. ``resolve(host)`` gives a host's variables with their provenance."""

    def __init__(self, source: Path, vault: vaultpass.VaultKeys | None = None) -> None:
        self.source = source
        self.basedir = source if source.is_dir() else source.parent
        # Passwords of encrypted files and !vault values: the command's, unless given here.
        self.vault = vault if vault is not None else vaultpass.current()
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, Host] = {}
        self.warnings: list[str] = []
        # Caches by a host's membership (its direct groups, and whether it left 'ungrouped'):
        # the hosts of a big fleet share a few memberships, so ancestors, precedence, ties and
        # the merged group variables are worked out once for each, not once per host.
        self._host_groups: dict[tuple[Any, ...], list[Group]] = {}
        self._group_vars: dict[tuple[Any, ...], tuple[dict[str, Any], list[Any]]] = {}
        self._folders: dict[str, str] = {}  # hostnames.folder_key -> the host name that has it
        # Hosts listed in 'ungrouped' and in another group: Ansible drops 'ungrouped' from their
        # groups altogether, even where it is the parent of one of their other groups.
        self._out_of_ungrouped: set[str] = set()
        self._group_cache: dict[tuple[Any, ...], tuple[list[Layer], list[tuple[str, str]]]] = {}
        files = _inventory_files(source)
        for file in files:
            if is_yaml(file):
                self._parse_file(file)
            else:
                self._parse_ini(file)
        if not files:
            raise BootstrapError("no inventory file found", origin=Origin(str(source)))
        self._reconcile()
        self._load_vars_files()

    # -- parsing ---------------------------------------------------------------------------

    def _parse_file(self, path: Path) -> None:
        file = YamlFile.load(path, self._display(path), self.vault, self._secret_name(path))
        data = file.data
        if data is None:
            return
        if not isinstance(data, dict):
            raise BootstrapError(
                f"an inventory must be a mapping of groups, found {_kind(data)}",
                origin=file.origin(()),
            )
        if "plugin" in data:
            # Imported here: the plugins build on this module's model.
            from bootstrap.inventory import plugins

            plugins.load(self, file)
            return
        for name, body in data.items():
            self._parse_group(file, name, body, (name,))

    def _parse_group(
        self, file: YamlFile, name: Any, body: Any, path: KeyPath, parent: Group | None = None
    ) -> None:
        where = Where(file, path)
        if not isinstance(body, dict | None):
            # Ansible skips such a group with a warning (and never creates it).
            self.warnings.append(f"{where.origin}: skipping group {name!r}: not a valid group "
                                 f"definition (a mapping of hosts, vars and children)")
            known = self.groups.get(name) if isinstance(name, str) else None
            if parent is not None and known is None:
                raise BootstrapError(f"child {name!r} of group {parent.name!r} is not a valid "
                                     "group definition", origin=where.origin)
            if parent is not None and known is not None:
                self._add_child(parent, known, where)
            return
        group = self._group(_check_name(name, "group", where), where)
        if parent is not None:
            # Linked before its body is read, so a cycle is reported where it closes.
            self._add_child(parent, group, where)
        if body is None:
            return
        for key, value in body.items():
            sub = (*path, key)
            if key in GROUP_KEYS:
                # As in Ansible, a section given as one string names one entry with no value.
                if isinstance(value, str):
                    value = {value: None}
                if value is None:
                    continue
                if not isinstance(value, dict):
                    raise BootstrapError(
                        f"{key!r} of group {group.name!r} must be a mapping, found {_kind(value)}",
                        origin=file.origin(sub),
                    )
            else:
                self.warnings.append(
                    f"{file.origin(sub)}: skipping unexpected key {key!r} in group {group.name!r}"
                    " (only 'hosts', 'vars' and 'children' are valid)"
                )
                continue
            if key == "vars":
                for var, val in value.items():
                    self._group_var(group, var, val, Where(file, (*sub, var)))
            elif key == "children":
                for child_name, child_body in value.items():
                    self._parse_group(file, child_name, child_body, (*sub, child_name), group)
            else:
                for pattern, host_vars in value.items():
                    self._parse_hosts(file, group, pattern, host_vars, (*sub, pattern))

    def _group_var(self, group: Group, var: Any, val: Any, where: Where) -> None:
        if var == "ansible_group_priority":
            # As in Ansible: inline it sets the priority and is not a variable.
            group.priority = _priority(val, where.origin)
            return
        group.inline = _set(group.inline, f"group {group.name} (inline)", group)
        group.inline.assign(json_key(var), val, where)

    def _parse_ini(self, path: Path) -> None:
        """Apply an INI file's steps, in the order Ansible's ini plugin takes them."""
        file = ini.load(path, self._display(path), self.groups, self.vault,
                        self._secret_name(path))
        for step in file.steps:
            where = Where(file, (step.line,))
            if isinstance(step, ini.Child):
                parent = self._group(_check_name(step.parent, "group", where), where)
                child = self._group(_check_name(step.child, "group", where), where)
                self._add_child(parent, child, where)
                continue
            group = self._group(_check_name(step.group, "group", where), where)
            if isinstance(step, ini.Hosts):
                self._parse_hosts(file, group, step.pattern, step.vars, (step.line,))
            elif isinstance(step, ini.GroupVar):
                self._group_var(group, step.key, step.value, Where(file, (step.line, step.key)))

    def _parse_hosts(
        self, file: YamlFile, group: Group, pattern: Any, host_vars: Any, path: KeyPath
    ) -> None:
        where = Where(file, path)
        if not isinstance(pattern, str):
            raise BootstrapError(f"host name {pattern!r} must be a string; quote it",
                                 origin=where.origin)
        try:
            names, port = expand_host_pattern(pattern)
        except ValueError as exc:
            raise BootstrapError(f"host pattern {pattern!r}: {exc}", origin=where.origin) from None
        host_vars = host_vars or {}  # Ansible reads any empty value as no vars
        if not isinstance(host_vars, dict):
            raise BootstrapError(
                f"vars of host {pattern!r} must be a mapping, found {_kind(host_vars)}",
                origin=where.origin,
            )
        if len(self.hosts) + len(names) > limits.HOSTS and (
                len(self.hosts) + sum(name not in self.hosts for name in names) > limits.HOSTS):
            raise BootstrapError(f"more than {limits.HOSTS:,} hosts in the inventory (the limit)",
                                 origin=where.origin)
        for name in names:
            host = self.hosts.get(name)
            if host is None:
                self._check_host_name(name, pattern, where)
                host = self.hosts[name] = Host(name, where)
                if port:  # as in Ansible, a port counts only where the host first appears
                    host.inline = _host_inline(host.inline, name)
                    host.inline.assign("ansible_port", port, where)
            if name not in group.hosts:  # the two memberships always change together
                group.hosts[name] = None
                host.groups.append(group)
            for var, val in host_vars.items():
                host.inline = _host_inline(host.inline, name)
                host.inline.assign(json_key(var), val, Where(file, (*path, var)))

    def _check_host_name(self, name: str, pattern: str, where: Where) -> None:
        """Refuse a name that cannot be a folder of the build, or would share one."""
        shown = repr(name) if name == pattern else f"{name!r} (from {pattern!r})"
        problem = hostnames.problem(name)
        if problem:
            raise BootstrapError(f"host name {shown} {problem}", origin=where.origin)
        key = hostnames.folder_key(name)
        other = self._folders.setdefault(key, name)
        if other != name:
            raise BootstrapError(
                f"host names {other!r} (at {self.hosts[other].defined.origin}) and {shown} differ "
                "only in case or Unicode normalisation: they would share one folder on a "
                "case-insensitive or normalising file system; rename one",
                origin=where.origin,
            )

    def _group(self, name: str, where: Where) -> Group:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name, where)
        return group

    def _add_child(self, parent: Group, child: Group, where: Where) -> None:
        # The two lists change together; a group's parents are few, its children may be
        # thousands (every group under 'all'), so membership is looked up among the parents.
        if parent in child.parents:
            return
        loop = _path_down(child, parent)
        if loop:
            cycle = " > ".join(g.name for g in (parent, *loop))
            raise BootstrapError(f"group {child.name!r} under {parent.name!r} makes a cycle in "
                                 f"'children': {cycle}", origin=where.origin)
        parent.children.append(child)
        child.parents.append(parent)

    def _reconcile(self) -> None:
        """Implicit groups and depths, as Ansible's InventoryData.reconcile_inventory does."""
        all_group = self.groups.get("all")
        if all_group is None:
            first = next(iter(self.groups.values()), None)
            anchor = first.defined if first else Where(YamlFile(self.source, str(self.source), {}), ())
            all_group = self.groups["all"] = Group("all", anchor)
        ungrouped = self._group("ungrouped", all_group.defined)
        for group in list(self.groups.values()):
            if group is not all_group and not group.parents:
                self._add_child(all_group, group, group.defined)
        if ungrouped not in all_group.children:
            self._add_child(all_group, ungrouped, all_group.defined)
        for host in self.hosts.values():
            others = [g for g in host.groups if g is not all_group and g is not ungrouped]
            if not others and host.name not in ungrouped.hosts:
                host.groups.append(ungrouped)
                ungrouped.hosts[host.name] = None
            elif others and host.name in ungrouped.hosts:
                # Ansible keeps in 'ungrouped' only hosts that are in no other group.
                host.groups.remove(ungrouped)
                del ungrouped.hosts[host.name]
                self._out_of_ungrouped.add(host.name)
        clash = sorted(set(self.groups) & set(self.hosts))
        if clash:
            name = clash[0]
            raise BootstrapError(
                f"{name!r} is both a host and a group (the group is at "
                f"{self.groups[name].defined.origin}); give them different names",
                origin=self.hosts[name].defined.origin,
            )
        _set_depths(all_group)

    def _load_vars_files(self) -> None:
        listings = {kind: self._listing(self.basedir / kind) for kind in ("group_vars", "host_vars")}
        for group in self.groups.values():
            group.files = self._vars_layer("group_vars", group.name, group, listings["group_vars"])
        for host in self.hosts.values():
            host.files = self._vars_layer("host_vars", host.name, None, listings["host_vars"])

    def _listing(self, base: Path) -> frozenset[str]:
        """The names in a group_vars/ or host_vars/ folder, read once rather than stat'ing four
        names for every group and host."""
        try:
            return frozenset(entry.name for entry in os.scandir(base))
        except FileNotFoundError:
            return frozenset()
        except NotADirectoryError:
            self.warnings.append(f"{self._display(base)}: not a folder; no vars files read from it")
            return frozenset()
        except OSError as exc:  # Ansible would silently read nothing here: say so instead
            raise BootstrapError(f"cannot read folder: {exc.strerror}",
                                 origin=Origin(self._display(base))) from None

    def _vars_layer(
        self, kind: str, name: str, group: Group | None, listing: frozenset[str]
    ) -> Layer | None:
        layer: Layer | None = None
        if name.startswith("/"):  # Ansible never looks up vars files for a path-like name
            return None
        if not any(f"{name}{ext}" in listing for ext in VARS_EXTENSIONS):
            return None  # the usual case for a host: no vars file, and no path to build
        for path in find_vars_files(self.basedir / kind, name, listing):
            file = YamlFile.load(path, self._display(path), self.vault, self._secret_name(path))
            if not file.data:  # Ansible skips empty files, whatever their empty value
                continue
            if not isinstance(file.data, dict):
                raise BootstrapError(f"a vars file must be a mapping, found {_kind(file.data)}",
                                     origin=file.origin(()), host=None if group else name)
            layer = _set(layer, f"{kind}/{name}", group)
            for var, val in file.data.items():
                layer.assign(json_key(var), val, Where(file, (var,)))
        return layer

    def _display(self, path: Path) -> str:
        return _display_path(path)

    def _secret_name(self, path: Path) -> str:
        """How a decrypted value of ``path`` is named in placeholders: by its path from the
        inventory folder, so the name does not depend on where the command runs."""
        try:
            return path.relative_to(self.basedir).as_posix()
        except ValueError:
            return path.name

    # -- queries ---------------------------------------------------------------------------

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            from bootstrap.errors import did_you_mean

            raise BootstrapError(
                f"no host {name!r} in the inventory{did_you_mean(name, set(self.hosts))}",
                origin=Origin(str(self.source)),
            ) from None

    def host_groups(self, host: Host) -> list[Group]:
        """Every group of the host but ``all`` (direct and ancestors), in precedence order."""
        return list(self._ordered_groups(host))

    def _membership(self, host: Host) -> tuple[Any, ...]:
        """What decides the host's groups: its direct groups, and whether it left 'ungrouped'."""
        return (host.name in self._out_of_ungrouped, *(g.name for g in host.groups))

    def _ordered_groups(self, host: Host, key: tuple[Any, ...] | None = None) -> list[Group]:
        # Asked several times per host in a render (variables, conflicts, target); the groups
        # are final once the inventory is loaded.
        key = self._membership(host) if key is None else key
        cached = self._host_groups.get(key)
        if cached is None:
            found: dict[str, Group] = {}
            for group in host.groups:
                found[group.name] = group
                for parent in group.ancestors():
                    found[parent.name] = parent
            found.pop("all", None)
            if key[0]:
                found.pop("ungrouped", None)
            cached = self._host_groups[key] = sorted(found.values(), key=lambda g: g.sort_key)
        return cached

    def layers(self, host: Host) -> list[Layer]:
        """The host's variable layers, lowest precedence first."""
        group_layers, _ = self._group_layers(host)
        return [*group_layers, *(x for x in (host.inline, host.files) if x is not None)]

    def _group_layers(self, host: Host) -> tuple[list[Layer], list[tuple[str, str]]]:
        key = self._membership(host)
        cached = self._group_cache.get(key)
        if cached is None:
            groups = self._ordered_groups(host, key)
            all_group = self.groups["all"]
            ordered = [all_group.inline, *(g.inline for g in groups), all_group.files]
            ordered += [g.files for g in groups]
            layers = [layer for layer in ordered if layer is not None]
            cached = self._group_cache[key] = (layers, _conflicts(groups, layers))
        return cached

    def resolve(self, host: Host) -> dict[str, Any]:
        """The host's variables, exactly as Ansible resolves them (plus the roles union)."""
        # The group layers folded once per membership, then the host's own on a copy: the same
        # fold over the same layers in the same order as one pass over all of them.
        shared, roles = self.group_vars(host)
        out, roles = _fold(own_layers(host), dict(shared), list(roles))
        if ROLES_KEY in out and isinstance(out[ROLES_KEY], list):
            out[ROLES_KEY] = roles
        return out

    def group_vars(self, host: Host) -> tuple[dict[str, Any], list[Any]]:
        """The variables the host's groups give it, and the roles they name, folded once for
        all the hosts in the same groups: shared, never to be changed."""
        key = self._membership(host)
        cached = self._group_vars.get(key)
        if cached is None:
            cached = self._group_vars[key] = _fold(self._group_layers(host)[0], {}, [])
        return cached

    def explain(self, host: Host, key: str) -> Value | None:
        """The winning value of ``key`` for the host, its origin, and the values it overrode."""
        found = [(value, where, layer.label) for layer in self.layers(host) if key in layer.vars
                 for value, where in layer.values(key)]
        if not found:
            return None
        value, where, label = found[-1]
        if key == ROLES_KEY:
            value = self.resolve(host)[ROLES_KEY]
        return Value(value, where, label, tuple(reversed(found[:-1])))

    def conflicts(self, host: Host) -> list[str]:
        """Warnings for keys whose value a tie between two groups decides (see ``_conflicts``).

        A key the host sets itself is decided by the host, so its group tie does not matter.
        """
        _, warnings = self._group_layers(host)
        own = [layer.vars for layer in (host.inline, host.files) if layer is not None]
        return [f"host {host.name}: {w}" for key, w in warnings if not any(key in v for v in own)]

    def ordered_groups(self) -> list[Group]:
        return list(self.groups.values())


def own_layers(host: Host) -> list[Layer]:
    """The host's own variable layers (inline, then host_vars), lowest precedence first."""
    return [layer for layer in (host.inline, host.files) if layer is not None]


def _fold(layers: list[Layer], out: dict[str, Any],
          roles: list[Any]) -> tuple[dict[str, Any], list[Any]]:
    """``layers`` merged into ``out`` (the last one wins), and the union of the role lists they
    name, in order, added to ``roles``."""
    for layer in layers:
        out.update(layer.vars)
        if ROLES_KEY in layer.vars:
            for value, _ in layer.values(ROLES_KEY):
                if isinstance(value, list):
                    roles.extend(r for r in value if r not in roles)
    return out, roles


def _conflicts(groups: list[Group], layers: list[Layer]) -> list[tuple[str, str]]:
    """(key, warning) for each key whose group value is decided by a tie on name alone.

    Ansible sorts a host's groups by (depth, priority, name) and lets the last one win, silently.
    A tie only matters where the tied group's layer is the one that wins the key: when a deeper
    group or a higher tier (group_vars/ over inline) sets it too, the tie decides nothing.
    """
    winners: dict[str, Layer] = {}
    for layer in layers:
        for key in layer.vars:
            winners[key] = layer
    # The groups that set each key, per tier, in precedence order: looking a key up here rather
    # than in every group keeps a host in thousands of groups linear in its keys.
    setters: dict[tuple[str, str], list[Group]] = {}
    for peer in groups:
        for tier in ("inline", "files"):
            peer_layer: Layer | None = getattr(peer, tier)
            for key in peer_layer.vars if peer_layer is not None else ():
                setters.setdefault((tier, key), []).append(peer)
    out: list[tuple[str, str]] = []
    for key, layer in winners.items():
        group = layer.group
        if key == ROLES_KEY or group is None or group.name == "all":
            continue
        tier = "inline" if layer is group.inline else "files"
        value = layer.vars[key]
        rank = group.sort_key[:2]
        for peer in setters.get((tier, key), ()):
            peer_layer = getattr(peer, tier)
            if peer is group or peer.sort_key[:2] != rank or peer_layer.vars[key] == value:
                continue
            out.append((key, f"key {key}: groups {peer.name!r} ({peer_layer.where[key].origin}) "
                             f"and {group.name!r} ({layer.where[key].origin}) have the same depth "
                             f"and priority and set different values; {group.name!r} wins by name"))
    return out


def _path_down(top: Group, target: Group) -> list[Group]:
    """The groups from ``top`` down its children to ``target`` (both included), or []."""
    stack: list[tuple[Group, list[Group]]] = [(top, [top])]
    seen: set[int] = set()
    while stack:
        group, path = stack.pop()
        if group is target:
            return path
        if id(group) not in seen:
            seen.add(id(group))
            stack.extend((child, [*path, child]) for child in reversed(group.children))
    return []


def _set(layer: Layer | None, label: str, group: Group | None = None) -> Layer:
    return layer if layer is not None else Layer(label, {}, {}, group)


def _host_inline(layer: Layer | None, host: str) -> Layer:
    """The inline vars layer of ``host``: its label is made when read, from the host's own name
    (one more string per host of a big fleet, otherwise)."""
    return layer if layer is not None else Layer(host, {}, {}, None, inline_host=True)


def _set_depths(root: Group) -> None:
    """A group's depth is its longest path from 'all', as Ansible raises depths while linking."""
    pending = {id(root): 0}
    for group in root.descendants_or_self():
        for child in group.children:
            pending[id(child)] = pending.get(id(child), 0) + 1
    # Kahn's order: a group is placed once every parent's depth is final.
    ready = [root]
    root.depth = 0
    depth: dict[int, int] = {}
    while ready:
        group = ready.pop()
        for child in group.children:
            depth[id(child)] = max(depth.get(id(child), 0), group.depth + 1)
            pending[id(child)] -= 1
            if not pending[id(child)]:
                child.depth = depth[id(child)]
                ready.append(child)


def _priority(value: Any, origin: Origin) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BootstrapError(
            f"ansible_group_priority must be an integer, found {value!r}", origin=origin
        ) from None


def _check_name(name: Any, what: str, where: Where) -> str:
    if not isinstance(name, str) or not name:
        raise BootstrapError(f"{what} name {name!r} must be a non-empty string; quote it",
                             origin=where.origin)
    if name in (".", "..") or _UNSAFE_GROUP_NAME.search(name):
        # Its vars are looked up as group_vars/<name>: such a name would read files elsewhere.
        raise BootstrapError(f"{what} name {name!r} cannot name a file in group_vars/ (no '/', "
                             "control character, '.' or '..')", origin=where.origin)
    return name


_UNSAFE_GROUP_NAME = re.compile(r"[/\x00-\x1f\x7f]")


def _kind(value: Any) -> str:
    if isinstance(value, Vaulted):
        return "an encrypted value"
    return {str: "a string", list: "a list", int: "a number", float: "a number",
            bool: "a boolean"}.get(type(value), type(value).__name__)


def is_yaml(path: Path) -> bool:
    """Whether Ansible reads the inventory file as YAML (else as INI): by its extension."""
    return os.path.splitext(path.name)[1] in INVENTORY_EXTENSIONS


def _inventory_files(source: Path) -> list[Path]:
    """The inventory file, or the inventory files directly in the folder, in name order.

    Folders are skipped; anything else Ansible would read is, so that a FIFO or a dangling link
    is an error rather than a file silently missing.
    """
    if not source.is_dir():
        if not source.exists() and not source.is_symlink():
            raise BootstrapError("inventory not found", origin=Origin(str(source)))
        _refuse_unread(source, _display_path(source))
        return [source]
    found: list[Path] = []
    with os.scandir(source) as entries:
        for entry in entries:
            if (entry.name.startswith(".") or entry.name in IGNORED_NAMES
                    or entry.name.endswith(IGNORED_SUFFIXES) or entry.is_dir()):
                continue
            _refuse_unread(Path(entry.path), _display_path(Path(entry.path)))
            if len(found) == limits.INVENTORY_FILES:
                raise BootstrapError(f"more than {limits.INVENTORY_FILES:,} inventory files in the "
                                     "folder (the limit)", origin=Origin(_display_path(source)))
            found.append(Path(entry.path))
    return sorted(found)


def _refuse_unread(path: Path, shown: str) -> None:
    """Refuse a file Ansible would read with a plugin other than yaml and ini: run it as an
    inventory script, or read it as TOML. Reading it as INI would give another inventory."""
    if path.suffix == ".toml":
        raise BootstrapError("TOML inventories are not supported; write it as YAML or INI",
                             origin=Origin(shown))
    if is_yaml(path) or not os.access(path, os.X_OK) or not path.is_file():
        return
    try:
        with path.open("rb") as handle:
            script = handle.read(2) == b"#!"
    except OSError:
        return  # reading it as INI says what is wrong with it
    if script:
        raise BootstrapError("an executable script: Ansible would run it as a dynamic inventory "
                             "script, which is not supported; give a YAML or INI file",
                             origin=Origin(shown))


def _display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# Host patterns, after Ansible's parsing/utils/addresses.py: a [begin:end(:step)] range may stand
# for any part of a name or address.
_NUM_RANGE = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]"
_HEX_RANGE = r"\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_V4 = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUM_RANGE})"
_V6 = rf"(?:[0-9a-f]{{1,4}}|{_HEX_RANGE})"
_V4_DOTTED = rf"(?:{_V4}\.){{3}}{_V4}"
_V6_DOTTED = rf"(?:{_V6}\.){{3}}{_V6}"
_LABEL = rf"(?:\w|{_ALNUM_RANGE})(?:[\w-]|{_ALNUM_RANGE})*(?<![_-])"
_BRACKETED_HOSTPORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_IPV4 = re.compile(rf"^{_V4_DOTTED}$", re.I)
_IPV6 = re.compile(
    "^(?:" + "|".join([
        rf"(?:{_V6}:){{7}}{_V6}",  # 1:2:3:4:5:6:7:8
        rf"(?:{_V6}:){{1,6}}:",  # a:b::
        *(rf"(?:{_V6}:){{{n}}}(?::{_V6}){{1,{7 - n}}}" for n in range(1, 7)),  # a::b
        rf":(?::{_V6}){{1,6}}",  # ::a
        rf"{_V6}?::",  # a::, ::
        rf"(?:0:){{6}}{_V6_DOTTED}",  # IPv4 in IPv6 (its parts matched loosely, as Ansible does)
        rf"::(?:ffff:)?{_V6_DOTTED}",
        rf"(?:0:){{5}}ffff:{_V6_DOTTED}",
    ]) + ")$",
    re.I,
)
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.I)
_PORT_DIGITS = 10  # beyond, int() of the digits costs more than a port is worth, or fails
# A pattern this long cannot expand to a name of at most limits.HOST_NAME_BYTES bytes; refusing it
# before the address regexes spares them megabytes of text.
_PATTERN_CHARS = 4096


def find_vars_files(base: Path, name: str, listing: frozenset[str] | None = None) -> list[Path]:
    """Ansible's discovery: the first of NAME, NAME.yml, NAME.yaml, NAME.json; a directory merges.

    ``listing``, the names in ``base`` when already known, spares a stat for each absent name.
    """
    for ext in VARS_EXTENSIONS:
        if listing is not None and f"{name}{ext}" not in listing:
            continue
        candidate = base / f"{name}{ext}"
        if candidate.is_dir():
            found: list[Path] = []
            _dir_vars_files(candidate, candidate, found, [], [0])
            return found
        # A dangling link or a FIFO is returned too: reading it says what is wrong with it.
        if candidate.exists() or candidate.is_symlink():
            return [candidate]
    return []


def _dir_vars_files(top: Path, path: Path, found: list[Path], above: list[tuple[int, int]],
                    listed: list[int]) -> None:
    """The vars files of a group's or host's folder, subfolders included, in name order.

    Links are followed, as Ansible does, but one leading back to a folder above it is an error
    (Ansible would recurse until Python gives up); so are more than ``limits.VARS_FOLDER_FILES``
    entries or subfolders deeper than ``limits.VARS_FOLDER_DEPTH``. ``listed`` counts the
    entries of the whole tree so far.
    """
    try:
        info = path.stat()
    except OSError as exc:
        raise BootstrapError(f"cannot read folder: {exc.strerror}",
                             origin=Origin(_display_path(path))) from None
    here = (info.st_dev, info.st_ino)
    if here in above:
        raise BootstrapError("a symbolic link loop: this folder leads back to one above it",
                             origin=Origin(_display_path(path)))
    if len(above) > limits.VARS_FOLDER_DEPTH:
        raise BootstrapError(f"vars folders nested more than {limits.VARS_FOLDER_DEPTH} deep "
                             "(the limit)", origin=Origin(_display_path(path)))
    try:
        entries = _listing_of(top, path, listed)
    except OSError as exc:
        raise BootstrapError(f"cannot read folder: {exc.strerror}",
                             origin=Origin(_display_path(path))) from None
    for entry in entries:
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        # Ansible's extension is os.path.splitext's: "." for a name ending with a dot, which
        # Path.suffix calls no extension; such a file or folder is skipped.
        ext = os.path.splitext(entry.name)[1]
        if entry.is_dir():
            if not ext:
                _dir_vars_files(top, entry, found, [*above, here], listed)
        elif ext in VARS_EXTENSIONS:
            found.append(entry)  # a FIFO or a dangling link: reading it says what is wrong


def _listing_of(top: Path, path: Path, listed: list[int]) -> list[Path]:
    """The entries of one vars folder, sorted; listing stops past the limit of the whole tree."""
    out: list[Path] = []
    with os.scandir(path) as entries:
        for entry in entries:
            listed[0] += 1
            if listed[0] > limits.VARS_FOLDER_FILES:
                raise BootstrapError(f"more than {limits.VARS_FOLDER_FILES:,} files and folders in "
                                     "this vars folder (the limit)",
                                     origin=Origin(_display_path(top)))
            out.append(Path(entry.path))
    return sorted(out, key=lambda p: p.name)


def parse_address(text: str) -> tuple[str, int | None] | None:
    """Ansible's parse_address: ``(host, port)`` of a host name, IPv4 or IPv6 address (ranges
    allowed) with an optional ``:port`` (``[...]:port`` for IPv6); None when it is none of those.
    """
    address, port = text, None
    for split in (_BRACKETED_HOSTPORT, _HOSTPORT):  # Ansible tries both, in turn
        match = split.match(address)
        if match:
            if len(match.group(2)) > _PORT_DIGITS:
                return None  # no port: the whole text is a name (too long to be a host's)
            address, port = match.group(1), int(match.group(2))
    if any(form.match(address) for form in (_IPV4, _IPV6, _HOSTNAME)):
        return address, port
    return None


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """``web[01:03].x:2222`` → ([web01.x, web02.x, web03.x], 2222), as Ansible expands them.

    As in Ansible, a ``:port`` counts only when what precedes it is a valid address (see
    :func:`parse_address`); otherwise the whole pattern is the name.
    """
    if not pattern:
        raise ValueError("a host name must not be empty")
    if len(pattern) > _PATTERN_CHARS:
        raise ValueError(f"longer than {_PATTERN_CHARS} characters, while a host name has at most "
                         f"{limits.HOST_NAME_BYTES} bytes")
    # Without a ':' no port can follow, and the address is the pattern whatever its form.
    address, port = (parse_address(pattern) or (pattern, None)) if ":" in pattern \
        else (pattern, None)
    names = _expand_ranges(address)
    if not names:  # Ansible silently defines no host for [3:1]; that is never what was meant
        raise ValueError("the range expands to no host (is begin greater than end?)")
    return names, port


def _expand_ranges(name: str) -> list[str]:
    """Every name a pattern with ``[begin:end(:step)]`` ranges stands for, first range slowest.

    The count is known before anything is expanded, so ``web[1:99999999]`` fails at once.
    """
    if "[" not in name:
        return [name]
    texts: list[str] = []  # the text around the ranges: one more than there are ranges
    ranges: list[tuple[int, Callable[[], list[str]]]] = []
    rest = name
    while "[" in rest:
        head, _, after = rest.partition("[")
        body, close, rest = after.partition("]")
        if not close:
            raise ValueError("unclosed '['")
        texts.append(head)
        ranges.append(_host_range(body))
    texts.append(rest)
    total = math.prod(count for count, _ in ranges)
    if total > limits.HOSTS_PER_PATTERN:
        raise ValueError(f"the pattern stands for {total:,} hosts, more than the limit of "
                         f"{limits.HOSTS_PER_PATTERN:,}")
    if not total:
        return []
    choices = [listing() for _, listing in ranges]
    return ["".join(itertools.chain.from_iterable(zip(texts, (*picked, ""), strict=True)))
            for picked in itertools.product(*choices)]


def _host_range(body: str) -> tuple[int, Callable[[], list[str]]]:
    """How many items the range ``[body]`` has, and how to list them."""
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError("a host range must be begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]
    if not end:
        raise ValueError("a host range must give its end")
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
        if step < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"bad host range [{body}]") from None
    if begin[0] == "0" and len(begin) > 1:
        if len(begin) != len(end):
            raise ValueError("a zero-padded host range needs begin and end of equal length")
        width = len(begin)
    else:
        width = 0
    letters = string.ascii_letters
    if begin in letters and end in letters and len(begin) == len(end) == 1:
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise ValueError("a host range must have begin <= end")
        seq = list(letters[first : last + 1 : step])
        return len(seq), lambda: seq
    try:
        low, high = int(begin), int(end)
    except ValueError:
        raise ValueError(f"bad host range [{body}]") from None
    count = (high - low) // step + 1 if high >= low else 0
    return count, lambda: [str(i).zfill(width) for i in range(low, high + 1, step)]
