"""What ``bootstrap inventory`` prints: Ansible's --list shape, one host, or one key explained."""

from __future__ import annotations

from typing import Any

from bootstrap.inventory import Inventory
from bootstrap.secrets import redacted


def ansible_list(inventory: Inventory) -> dict[str, Any]:
    """The JSON of ``ansible-inventory --list``: groups with hosts/children, and _meta.hostvars.

    Secret references stay as the references the inventory holds; no value is resolved.
    """
    out: dict[str, Any] = {"_meta": {"hostvars": {}}}
    for name, host in inventory.hosts.items():
        hostvars = inventory.resolve(host)
        if hostvars:
            out["_meta"]["hostvars"][name] = hostvars
    for name, group in inventory.groups.items():
        entry: dict[str, Any] = {}
        if group.hosts and name != "all":  # Ansible never lists hosts under 'all'
            entry["hosts"] = list(group.hosts)
        children = [c.name for c in group.children]
        if name == "all":  # Ansible lists 'ungrouped' first
            children.sort(key=lambda c: c != "ungrouped")
        if children:
            entry["children"] = children
        if entry:
            out[name] = entry
    return out


def host_vars(inventory: Inventory, name: str) -> dict[str, Any]:
    """A host's resolved variables, secret references shown as placeholders."""
    return redacted(inventory.resolve(inventory.host(name)))


def explain(inventory: Inventory, name: str, key: str) -> str:
    """The winning value of ``key``, the file:line it came from, and what it overrode."""
    import json

    host = inventory.host(name)
    value = inventory.explain(host, key)
    if value is None:
        return f"{name}: {key} is not set\n"
    lines = [f"{name}: {key} = {json.dumps(redacted(value.value), sort_keys=True)}",
             f"  from {value.where.origin} ({value.layer})"]
    for old, where, layer in value.overridden:
        lines.append(f"  overrides {json.dumps(redacted(old), sort_keys=True)} "
                     f"from {where.origin} ({layer})")
    if key == "bootstrap_roles" and value.overridden:
        lines.append("  (bootstrap_roles is the union of every layer's list, lowest first)")
    return "\n".join(lines) + "\n"
