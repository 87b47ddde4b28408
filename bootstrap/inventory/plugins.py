"""Inventory plugin files (a YAML file whose ``plugin:`` names one): which plugins exist, and how
what they find joins the inventory being loaded.

A plugin adds hosts, groups, group links and host variables as Ansible's inventory plugins do:
its host variables are the host's inline variables, so group_vars/ and host_vars/ files apply to
its hosts and groups, with the usual precedence, as they do to any other.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.inventory import aws_ec2, constructed, limits
from bootstrap.inventory.loading import Group, Host, Inventory, Where, _check_name, _host_inline
from bootstrap.inventory.yamlfile import KeyPath, YamlFile

SUPPORTED = (*aws_ec2.NAMES, *constructed.NAMES)


def load(inventory: Inventory, file: YamlFile) -> None:
    """Run the plugin ``file`` names over ``inventory``."""
    name = file.data.get("plugin")
    sink = InventorySink(inventory, file)
    if aws_ec2.is_plugin(name):
        aws_ec2.load(file, sink, lambda text: inventory.warnings.append(text))
    elif constructed.is_plugin(name):
        constructed.load(file, sink, list(inventory.hosts), sink.constructed_vars)
    else:
        raise BootstrapError(f"inventory plugin {name!r} is not supported (supported: "
                             f"{', '.join(SUPPORTED)})", origin=file.origin(("plugin",)))


class InventorySink:
    """What a plugin file adds, applied to the inventory, each change naming the file's line."""

    def __init__(self, inventory: Inventory, file: YamlFile) -> None:
        self.inventory = inventory
        self.file = file

    def _where(self, path: KeyPath) -> Where:
        return Where(self.file, path)

    def add_group(self, name: str, path: KeyPath) -> str:
        where = self._where(path)
        self.inventory._group(_check_name(name, "group", where), where)
        return name

    def add_child_group(self, parent: str, child: str, path: KeyPath) -> None:
        groups = self.inventory.groups
        self.inventory._add_child(groups[parent], groups[child], self._where(path))

    def _host(self, name: str, path: KeyPath) -> Host:
        inventory = self.inventory
        host = inventory.hosts.get(name)
        if host is None:
            where = self._where(path)
            if len(inventory.hosts) >= limits.HOSTS:
                raise BootstrapError(f"more than {limits.HOSTS:,} hosts in the inventory (the "
                                     "limit)", origin=where.origin)
            inventory._check_host_name(name, name, where)
            host = inventory.hosts[name] = Host(name, where)
        return host

    def add_host_to_group(self, host: str, group: str, path: KeyPath) -> None:
        found = self._host(host, path)
        target = self.inventory.groups[group]
        if host not in target.hosts:
            target.hosts[host] = None
            found.groups.append(target)

    def set_host_var(self, host: str, key: str, value: Any, path: KeyPath) -> None:
        found = self._host(host, path)
        found.inline = _host_inline(found.inline, host)
        found.inline.assign(key, value, self._where(path))

    def _groups_of(self, host: Host) -> list[Group]:
        found: dict[str, Group] = {}
        for group in host.groups:
            found[group.name] = group
            for parent in group.ancestors():
                found[parent.name] = parent
        return list(found.values())

    def host_vars(self, host: str) -> dict[str, Any]:
        found = self.inventory.hosts[host]
        own = dict(found.inline.vars) if found.inline is not None else {}
        return {**own, **self._magic(found)}

    def constructed_vars(self, host: str) -> dict[str, Any]:
        """Group inline vars by Ansible's precedence, then the host's: what ``constructed`` sees."""
        found = self.inventory.hosts[host]
        depths: dict[int, int] = {}
        out: dict[str, Any] = {}
        for group in sorted(self._groups_of(found),
                            key=lambda g: (_depth(g, depths), g.priority, g.name)):
            if group.inline is not None:
                out.update(group.inline.vars)
        return {**out, **self.host_vars(host)}

    def _magic(self, host: Host) -> dict[str, Any]:
        try:
            ipaddress.ip_address(host.name)
            short = host.name
        except ValueError:
            short = host.name.split(".")[0]
        names = sorted(g.name for g in self._groups_of(host) if g.name != "all")
        return {"inventory_hostname": host.name, "inventory_hostname_short": short,
                "group_names": names}


def _depth(group: Group, depths: dict[int, int]) -> int:
    """A group's depth so far: its longest path from a group with no parent."""
    known = depths.get(id(group))
    if known is None:
        known = depths[id(group)] = max((_depth(p, depths) + 1 for p in group.parents), default=0)
    return known
