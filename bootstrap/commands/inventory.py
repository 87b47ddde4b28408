"""``bootstrap inventory SOURCE``: Ansible's --list shape, one host, or one key explained."""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bootstrap.hosts.secrets import add_vault_options, redacted, vault_keys
from bootstrap.inventory.vault import Vaulted
from bootstrap.inventory.yamlfile import json_key

if TYPE_CHECKING:
    from bootstrap.inventory.loading import Inventory

HELP = "show the inventory as Ansible resolves it"

# Names Ansible computes itself (inventory_hostname, groups, ...): ansible-inventory drops them
# from a host's vars whatever the inventory says (constants.py INTERNAL_STATIC_VARS).
ANSIBLE_INTERNAL_VARS = frozenset({
    "ansible_async_path", "ansible_collection_name", "ansible_config_file",
    "ansible_dependent_role_names", "ansible_diff_mode", "ansible_facts", "ansible_forks",
    "ansible_inventory_sources", "ansible_limit", "ansible_play_batch", "ansible_play_hosts",
    "ansible_play_hosts_all", "ansible_play_role_names", "ansible_playbook_python",
    "ansible_role_name", "ansible_role_names", "ansible_run_tags", "ansible_skip_tags",
    "ansible_verbosity", "ansible_version", "inventory_dir", "inventory_file", "inventory_hostname",
    "inventory_hostname_short", "groups", "group_names", "hostvars", "playbook_dir", "play_hosts",
    "role_name", "role_names", "role_path", "role_uuid",
})



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="inventory file or folder")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true",
                      help="all groups and host vars, in ansible-inventory --list shape (default)")
    mode.add_argument("--host", metavar="NAME", help="one host's resolved vars, secrets redacted")
    mode.add_argument("--explain", nargs=2, metavar=("NAME", "KEY"),
                      help="which file:line set KEY for host NAME, and what it overrode")
    add_vault_options(parser)


def run(args: argparse.Namespace) -> int:
    from bootstrap.inventory.loading import Inventory

    inv = Inventory(Path(args.inventory), vault_keys(args))
    for warning in inv.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.explain:
        host, key = args.explain
        for warning in inv.conflicts(inv.host(host)):
            if f"key {key}:" in warning:
                print(f"warning: {warning}", file=sys.stderr)
        sys.stdout.write(explain(inv, host, key))
    elif args.host:
        for warning in inv.conflicts(inv.host(args.host)):
            print(f"warning: {warning}", file=sys.stderr)
        print(json.dumps(host_vars(inv, args.host), indent=4, sort_keys=True))
    else:
        seen: set[str] = set()
        for host in inv.hosts.values():
            for warning in inv.conflicts(host):
                if warning not in seen:
                    seen.add(warning)
                    print(f"warning: {warning}", file=sys.stderr)
        print(json.dumps(ansible_list(inv), indent=4, sort_keys=True))
    return 0


def ansible_list(inventory: Inventory) -> dict[str, Any]:
    """The JSON of ``ansible-inventory --list``: groups with hosts/children, and _meta.hostvars.

    Secret references stay as the references the inventory holds; no value is resolved, and a
    value decrypted from vault shows as its placeholder.
    """
    out: dict[str, Any] = {"_meta": {"hostvars": {}}}
    for name, host in inventory.hosts.items():
        hostvars = _shown(inventory.resolve(host))
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
    return _shown(redacted(inventory.resolve(inventory.host(name))))


def explain(inventory: Inventory, name: str, key: str) -> str:
    """The winning value of ``key``, the file:line it came from, and what it overrode."""
    host = inventory.host(name)
    value = inventory.explain(host, key)
    if value is None:
        return f"{name}: {key} is not set\n"
    lines = [f"{name}: {key} = {_json(value.value)}",
             f"  from {value.where.origin} ({value.layer})"]
    for old, where, layer in value.overridden:
        lines.append(f"  overrides {_json(old)} from {where.origin} ({layer})")
    if key == "bootstrap_roles" and value.overridden:
        lines.append("  (bootstrap_roles is the union of every layer's list, lowest first)")
    return "\n".join(lines) + "\n"


def _json(value: Any) -> str:
    return json.dumps(_plain(redacted(value)), sort_keys=True)


def _shown(hostvars: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in hostvars.items() if k not in ANSIBLE_INTERNAL_VARS}


def _plain(value: Any) -> Any:
    """JSON-ready, the way ansible-inventory prints YAML's other types."""
    if isinstance(value, Vaulted):
        return value.label
    if isinstance(value, dict):
        return {json_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date):  # datetime too: YAML timestamps print as ISO 8601
        return value.isoformat()
    if isinstance(value, bytes):  # !!binary: printed as the base64 the file held
        return base64.b64encode(value).decode()
    return value
